// The shape of nexcage's configuration: one schema drives file validation, NEXCAGE_* environment
// variables, command-line flags and the README's reference, so they can never disagree.

export type Spec =
  | { kind: 'string'; doc: string; check?: (v: string) => string | undefined }
  | { kind: 'enum'; doc: string; values: readonly string[] }
  | { kind: 'int'; doc: string; min: number; max: number }
  | { kind: 'bool'; doc: string }
  | { kind: 'strings'; doc: string; check?: (v: string) => string | undefined }
  | { kind: 'object'; doc: string; fields: Record<string, Spec> }
  | { kind: 'record'; doc: string; value: Spec };

const absolutePath = (v: string): string | undefined => (v.startsWith('/') ? undefined : 'must be an absolute path');
const optionalAbsolutePath = (v: string): string | undefined => (v === '' ? undefined : absolutePath(v));

function hostPort(v: string): string | undefined {
  if (v === '') return undefined;
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) > 65535) return 'must be HOST:PORT (or empty to turn it off)';
  return undefined;
}

function socketPath(v: string): string | undefined {
  const path = v.startsWith('unix://') ? v.slice('unix://'.length) : v;
  return path.startsWith('/') ? undefined : 'must be an absolute path or unix:///absolute/path';
}

function httpUrl(v: string): string | undefined {
  if (v === '') return undefined;
  return /^https?:\/\/[^\s/]+(\/\S*)?$/.test(v) ? undefined : 'must be an http:// or https:// URL (or empty to turn it off)';
}

function cidr(v: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(v);
  if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 30) return 'must be an IPv4 CIDR like 10.88.0.0/16';
  return undefined;
}

function ifName(v: string): string | undefined {
  return /^[A-Za-z0-9_.-]{1,15}$/.test(v) ? undefined : 'must be a network interface name (1-15 letters, digits, _ . -)';
}

const runtimeHandler: Spec = {
  kind: 'object',
  doc: 'An OCI runtime with the runc CLI contract, published as a RuntimeClass handler.',
  fields: {
    path: { kind: 'string', doc: 'Binary: a name looked up on PATH or an absolute path.' },
    root: { kind: 'string', doc: 'Its --root state directory; empty = <stateDir>/<handler name>.', check: optionalAbsolutePath },
    systemdCgroup: { kind: 'bool', doc: 'Pass --systemd-cgroup (set automatically when the cgroup driver is systemd).' },
  },
};

export const configSchema = {
  kind: 'object',
  doc: 'nexcage configuration',
  fields: {
    socket: { kind: 'string', doc: 'CRI gRPC socket (path or unix:// URL).', check: socketPath },
    socketGroup: {
      kind: 'string',
      doc: 'Group owning the socket (mode 0660): a group name or numeric gid; empty = the daemon\'s own group.',
      check: (v) => (/^([0-9]+|[A-Za-z_][A-Za-z0-9_.-]*\$?)?$/.test(v) ? undefined : 'must be a group name or a numeric gid'),
    },
    rootDir: { kind: 'string', doc: 'Persistent data: images, snapshots, container and sandbox records.', check: absolutePath },
    stateDir: { kind: 'string', doc: 'Runtime state (tmpfs): runtime roots, bundles, exit files, netns pins.', check: absolutePath },
    logLevel: { kind: 'enum', doc: 'Log level.', values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] },
    logFormat: { kind: 'enum', doc: 'json (one object per line) or text (for humans).', values: ['json', 'text'] },
    metricsAddress: { kind: 'string', doc: 'HOST:PORT for /metrics, /healthz, /readyz; empty = off.', check: hostPort },
    metricsSocket: {
      kind: 'string',
      doc: 'Unix socket serving the same /metrics, /healthz, /readyz (0660, socketGroup), for the node agent to relay; empty = off.',
      check: optionalAbsolutePath,
    },
    cgroupDriver: {
      kind: 'enum',
      doc: 'auto = systemd when the host runs systemd on cgroup v2, else cgroupfs.',
      values: ['auto', 'systemd', 'cgroupfs'],
    },
    defaultRuntime: { kind: 'string', doc: 'Handler used when a pod names none (the empty RuntimeClass handler).' },
    runtimes: { kind: 'record', doc: 'RuntimeClass handler name -> OCI runtime.', value: runtimeHandler },
    shutdownTimeoutSeconds: { kind: 'int', doc: 'How long SIGTERM waits for in-flight calls.', min: 0, max: 3600 },
    memoryReclaimIdleSeconds: {
      kind: 'int',
      doc: "After this many seconds without work (the kubelet's polls and probes do not count), hand the daemon's cold file pages (the Node binary's) back to the kernel; 0 = never.",
      min: 0,
      max: 86400,
    },
    memoryCollectIdleSeconds: {
      kind: 'int',
      doc: "After this many seconds without work (the kubelet's polls and probes do not count), collect the JavaScript heap's garbage once (V8's gc(), given by --expose-gc), so what pod starts and pulls left is not collected in a pause among the kubelet's later polls; 0 = never.",
      min: 0,
      max: 86400,
    },
    pauseImage: { kind: 'string', doc: 'Infra image to pull and pin; empty = the built-in infra rootfs.' },
    criuPath: { kind: 'string', doc: 'CRIU binary for CheckpointContainer and restores: a name looked up on PATH or an absolute path.' },
    cni: {
      kind: 'object',
      doc: 'Pod networking.',
      fields: {
        confDirs: { kind: 'strings', doc: 'Where CNI network configs are read from.', check: absolutePath },
        binDirs: { kind: 'strings', doc: 'Where CNI plugin binaries are found.', check: absolutePath },
        defaultNetwork: {
          kind: 'bool',
          doc: 'With no CNI config, put pods on the built-in bridge network (a zero-config node). Off: NetworkReady stays false until a CNI config appears, as containerd and CRI-O report it.',
        },
        defaultSubnet: { kind: 'string', doc: 'Subnet of the built-in bridge network used when no CNI config exists.', check: cidr },
        defaultBridge: { kind: 'string', doc: 'Bridge device of the built-in default network (at most 15 characters).', check: ifName },
      },
    },
    registry: {
      kind: 'object',
      doc: 'Image pulls.',
      fields: {
        mirrors: {
          kind: 'record',
          doc: 'Registry host -> ordered mirror endpoints (e.g. "docker.io": ["http://127.0.0.1:5000"]).',
          value: { kind: 'strings', doc: 'Mirror endpoints.' },
        },
        insecure: { kind: 'strings', doc: 'Hosts reached over plain HTTP or with unverified TLS.' },
        caFiles: { kind: 'strings', doc: 'Extra CA certificates (PEM) trusted for registries.', check: absolutePath },
        credentialsFile: { kind: 'string', doc: 'Docker-style config.json with registry credentials.', check: optionalAbsolutePath },
        maxConcurrentDownloads: { kind: 'int', doc: 'Layers fetched at once per image.', min: 1, max: 64 },
        noProgressTimeoutSeconds: { kind: 'int', doc: 'A download that moves no byte for this long fails.', min: 1, max: 86400 },
        minBlobBytesPerSecond: {
          kind: 'int',
          doc: 'A blob connection averaging less than this over a window (minBlobRateWindowSeconds) is dropped and resumed; a registry this slow on every retry fails the pull. 0 = no floor.',
          min: 0,
          max: 1073741824,
        },
        minBlobRateWindowSeconds: { kind: 'int', doc: 'The window over which minBlobBytesPerSecond is averaged (and a new connection\'s grace).', min: 1, max: 3600 },
        maxDecompressionRatio: { kind: 'int', doc: 'A compressed layer that unpacks to more than this many times its size is refused (a decompression bomb); 0 = no limit.', min: 0, max: 1000000 },
      },
    },
    streaming: {
      kind: 'object',
      doc: 'Exec/attach/port-forward server.',
      fields: {
        address: { kind: 'string', doc: 'Listen address.' },
        port: { kind: 'int', doc: 'Listen port; 0 = random.', min: 0, max: 65535 },
        tlsCert: { kind: 'string', doc: 'PEM certificate; empty = plain HTTP.', check: optionalAbsolutePath },
        tlsKey: { kind: 'string', doc: 'PEM key for tlsCert.', check: optionalAbsolutePath },
        idleTimeoutSeconds: { kind: 'int', doc: 'Close an exec/attach/port-forward session that moves nothing for this long; 0 = never.', min: 0, max: 604800 },
      },
    },
    stats: {
      kind: 'object',
      doc: 'Container and pod stats.',
      fields: {
        fsUsageRefreshSeconds: { kind: 'int', doc: 'How often writable layers are walked for their disk usage (in the background).', min: 1, max: 86400 },
        containerMetrics: { kind: 'bool', doc: 'Also serve per-container container_* gauges on /metrics (high cardinality; off by default).' },
      },
    },
    peers: {
      kind: 'object',
      doc: 'Nodes sharing image blobs with each other (read-only OCI distribution endpoint, by digest).',
      fields: {
        listenAddress: { kind: 'string', doc: 'HOST:PORT serving this node\'s blobs and manifests to peers, by digest; empty = not served.', check: hostPort },
        serveAuthenticated: { kind: 'bool', doc: 'Also serve blobs of images pulled with credentials (private images become readable by anyone reaching listenAddress).' },
        maxUploads: { kind: 'int', doc: 'Blob responses served at once (more get 503); a peer may hold at most a quarter of them.', min: 1, max: 1024 },
        minUploadBytesPerSecond: { kind: 'int', doc: 'A peer reading a blob slower than this (averaged over 10 s) is cut off.', min: 0, max: 1073741824 },
        static: { kind: 'strings', doc: 'Peers (HOST:PORT) always asked for blobs before mirrors and upstream.', check: hostPort },
        file: { kind: 'string', doc: 'JSON file {"peers": ["HOST:PORT", ...]} kept up to date by the node agent; re-read when it changes.', check: optionalAbsolutePath },
        fetchFrom: { kind: 'int', doc: 'Peers asked for one blob before falling back to mirrors and upstream.', min: 0, max: 16 },
        connectTimeoutMs: { kind: 'int', doc: 'A peer that does not answer within this is skipped.', min: 50, max: 60000 },
        tagsWhenUpstreamDown: { kind: 'bool', doc: 'When every registry endpoint is unreachable, resolve a tag through peers (trusts a peer for what the tag names, not for content).' },
      },
    },
    tracing: {
      kind: 'object',
      doc: 'OpenTelemetry tracing of CRI calls.',
      fields: {
        endpoint: { kind: 'string', doc: 'OTLP/HTTP collector base URL (spans go to <endpoint>/v1/traces); empty = tracing off.', check: httpUrl },
      },
    },
  },
} as const satisfies Spec;

export interface RuntimeHandlerConfig {
  path: string;
  root: string;
  systemdCgroup: boolean;
}

export interface Config {
  socket: string;
  socketGroup: string;
  rootDir: string;
  stateDir: string;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  logFormat: 'json' | 'text';
  metricsAddress: string;
  metricsSocket: string;
  cgroupDriver: 'auto' | 'systemd' | 'cgroupfs';
  defaultRuntime: string;
  runtimes: Record<string, RuntimeHandlerConfig>;
  shutdownTimeoutSeconds: number;
  memoryReclaimIdleSeconds: number;
  memoryCollectIdleSeconds: number;
  pauseImage: string;
  criuPath: string;
  cni: { confDirs: string[]; binDirs: string[]; defaultNetwork: boolean; defaultSubnet: string; defaultBridge: string };
  registry: {
    mirrors: Record<string, string[]>;
    insecure: string[];
    caFiles: string[];
    credentialsFile: string;
    maxConcurrentDownloads: number;
    noProgressTimeoutSeconds: number;
    minBlobBytesPerSecond: number;
    minBlobRateWindowSeconds: number;
    maxDecompressionRatio: number;
  };
  streaming: { address: string; port: number; tlsCert: string; tlsKey: string; idleTimeoutSeconds: number };
  stats: { fsUsageRefreshSeconds: number; containerMetrics: boolean };
  tracing: { endpoint: string };
  peers: {
    listenAddress: string;
    serveAuthenticated: boolean;
    maxUploads: number;
    minUploadBytesPerSecond: number;
    static: string[];
    file: string;
    fetchFrom: number;
    connectTimeoutMs: number;
    tagsWhenUpstreamDown: boolean;
  };
}

/** Embedded defaults: what `make run` starts with when no config file exists. */
export function defaultConfig(): Config {
  return {
    socket: '/run/nexcage/sock/nexcage.sock',
    socketGroup: '',
    rootDir: '/var/lib/nexcage',
    stateDir: '/run/nexcage',
    logLevel: 'info',
    logFormat: 'json',
    metricsAddress: '127.0.0.1:9101',
    metricsSocket: '',
    cgroupDriver: 'auto',
    defaultRuntime: 'runc',
    runtimes: { runc: { path: 'runc', root: '', systemdCgroup: false } },
    shutdownTimeoutSeconds: 10,
    memoryReclaimIdleSeconds: 60,
    memoryCollectIdleSeconds: 2,
    pauseImage: '',
    criuPath: 'criu',
    cni: { confDirs: ['/etc/cni/net.d'], binDirs: ['/opt/cni/bin', '/usr/lib/cni'], defaultNetwork: true, defaultSubnet: '10.88.0.0/16', defaultBridge: 'nexcage0' },
    registry: {
      mirrors: {},
      insecure: [],
      caFiles: [],
      credentialsFile: '',
      maxConcurrentDownloads: 3,
      noProgressTimeoutSeconds: 300,
      minBlobBytesPerSecond: 1024,
      minBlobRateWindowSeconds: 30,
      maxDecompressionRatio: 1000,
    },
    streaming: { address: '127.0.0.1', port: 0, tlsCert: '', tlsKey: '', idleTimeoutSeconds: 14400 },
    stats: { fsUsageRefreshSeconds: 60, containerMetrics: false },
    tracing: { endpoint: '' },
    peers: { listenAddress: '', serveAuthenticated: false, maxUploads: 16, minUploadBytesPerSecond: 65536, static: [], file: '', fetchFrom: 3, connectTimeoutMs: 1000, tagsWhenUpstreamDown: false },
  };
}

/** Defaults for one entry of a record, filled in before validation of a partial entry. */
export function defaultRuntimeHandler(): RuntimeHandlerConfig {
  return { path: '', root: '', systemdCgroup: false };
}
