// `nexcage agent` options: one table drives flags, environment variables (what the Helm chart
// sets) and --help, like the daemon's config schema does for `serve`.
import { parseArgs } from 'node:util';
import { ConfigError } from '../lib/errors.js';

export interface RuntimeClassSpec {
  /** RuntimeClass object name (what pods put in runtimeClassName). */
  name: string;
  /** The CRI handler it selects (a key of the daemon's `runtimes`). */
  handler: string;
}

export interface AgentOptions {
  socket: string;
  nodeName: string;
  kubeconfig: string;
  runtimeClasses: RuntimeClassSpec[];
  prePull: string[];
  healthAddress: string;
  /** The daemon's metrics socket relayed on /daemon/metrics; '' = no relay. */
  daemonMetricsSocket: string;
  resyncSeconds: number;
  retryInitialMs: number;
  retryMaxMs: number;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  logFormat: 'json' | 'text';
  peersService: string;
  peersNamespace: string;
  peersPortName: string;
  peersFile: string;
}

interface Option {
  key: keyof AgentOptions;
  flag: string;
  env: string;
  doc: string;
  parse: (raw: string, where: string) => unknown;
}

const text = (raw: string): string => raw.trim();
const list = (raw: string): string[] =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
const int = (min: number, max: number) => (raw: string, where: string): number => {
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || n < min || n > max) throw new ConfigError(`${where}: must be a whole number from ${min} to ${max}, got "${raw}"`);
  return n;
};
const oneOf = (values: readonly string[]) => (raw: string, where: string): string => {
  if (!values.includes(raw)) throw new ConfigError(`${where}: must be one of ${values.join(', ')}, got "${raw}"`);
  return raw;
};

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** "runc,kata=nexcage-kata": HANDLER or HANDLER=RUNTIMECLASS, the class named after the handler by default. */
export function parseRuntimeClasses(raw: string, where: string): RuntimeClassSpec[] {
  return list(raw).map((entry) => {
    const [handler = '', name = handler] = entry.split('=').map((s) => s.trim());
    if (!DNS_LABEL.test(handler)) throw new ConfigError(`${where}: handler "${handler}" must be a lowercase DNS label (RFC 1123)`);
    if (!DNS_SUBDOMAIN.test(name)) throw new ConfigError(`${where}: RuntimeClass name "${name}" must be a lowercase DNS subdomain`);
    return { name, handler };
  });
}

export const AGENT_OPTIONS: Option[] = [
  { key: 'socket', flag: 'socket', env: 'NEXCAGE_SOCKET', doc: 'the daemon CRI socket', parse: (r) => r.replace(/^unix:\/\//, '') },
  { key: 'nodeName', flag: 'node-name', env: 'NODE_NAME', doc: 'this Node object (the chart sets it from spec.nodeName)', parse: text },
  { key: 'kubeconfig', flag: 'kubeconfig', env: 'KUBECONFIG', doc: 'kubeconfig file; empty = in-cluster service account', parse: text },
  {
    key: 'runtimeClasses',
    flag: 'runtime-classes',
    env: 'NEXCAGE_AGENT_RUNTIME_CLASSES',
    doc: 'HANDLER[=NAME],... RuntimeClasses to publish; empty = one per handler the daemon reports',
    parse: parseRuntimeClasses,
  },
  { key: 'prePull', flag: 'pre-pull', env: 'NEXCAGE_AGENT_PRE_PULL', doc: 'images to pull through the daemon, comma separated', parse: list },
  { key: 'healthAddress', flag: 'health-address', env: 'NEXCAGE_AGENT_HEALTH_ADDRESS', doc: 'HOST:PORT for /healthz, /readyz, /metrics; empty = off', parse: text },
  {
    key: 'daemonMetricsSocket',
    flag: 'daemon-metrics-socket',
    env: 'NEXCAGE_AGENT_DAEMON_METRICS_SOCKET',
    doc: "the daemon's metricsSocket, relayed on /daemon/metrics of --health-address; empty = no relay",
    parse: (r) => r.trim().replace(/^unix:\/\//, ''),
  },
  { key: 'resyncSeconds', flag: 'resync-seconds', env: 'NEXCAGE_AGENT_RESYNC_SECONDS', doc: 'how often the Node and RuntimeClasses are re-checked', parse: int(1, 86400) },
  { key: 'retryInitialMs', flag: 'retry-initial-ms', env: 'NEXCAGE_AGENT_RETRY_INITIAL_MS', doc: 'first retry delay after a failure', parse: int(1, 600_000) },
  { key: 'retryMaxMs', flag: 'retry-max-ms', env: 'NEXCAGE_AGENT_RETRY_MAX_MS', doc: 'longest retry delay (exponential backoff)', parse: int(1, 3_600_000) },
  { key: 'logLevel', flag: 'log-level', env: 'NEXCAGE_LOG_LEVEL', doc: 'trace, debug, info, warn, error, fatal', parse: oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal']) },
  { key: 'logFormat', flag: 'log-format', env: 'NEXCAGE_LOG_FORMAT', doc: 'json or text', parse: oneOf(['json', 'text']) },
  { key: 'peersService', flag: 'peers-service', env: 'NEXCAGE_AGENT_PEERS_SERVICE', doc: 'headless Service whose EndpointSlices list the nodes sharing images; empty = no discovery', parse: text },
  { key: 'peersNamespace', flag: 'peers-namespace', env: 'NEXCAGE_AGENT_PEERS_NAMESPACE', doc: 'namespace of --peers-service (the chart sets its own)', parse: text },
  { key: 'peersPortName', flag: 'peers-port-name', env: 'NEXCAGE_AGENT_PEERS_PORT_NAME', doc: 'the peer port\'s name in the Service; empty = its first port', parse: text },
  { key: 'peersFile', flag: 'peers-file', env: 'NEXCAGE_AGENT_PEERS_FILE', doc: 'where the peer list is written (the daemon\'s peers.file)', parse: text },
];

export function defaultAgentOptions(): AgentOptions {
  return {
    socket: '/run/nexcage/sock/nexcage.sock',
    nodeName: '',
    kubeconfig: '',
    runtimeClasses: [],
    prePull: [],
    healthAddress: '0.0.0.0:9102',
    daemonMetricsSocket: '/run/nexcage/sock/metrics.sock',
    resyncSeconds: 60,
    retryInitialMs: 1000,
    retryMaxMs: 60_000,
    logLevel: 'info',
    logFormat: 'json',
    peersService: '',
    peersNamespace: 'default',
    peersPortName: 'peers',
    peersFile: '/run/nexcage/peers.json',
  };
}

/** Defaults < environment < flags. Returns undefined for --help. `cleanup` needs no node name. */
export function parseAgentOptions(argv: string[], env: NodeJS.ProcessEnv, needs: { nodeName: boolean } = { nodeName: true }): AgentOptions | undefined {
  const spec: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } };
  for (const o of AGENT_OPTIONS) spec[o.flag] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: argv, options: spec, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw new ConfigError((err as Error).message);
  }
  if (values.help) return undefined;
  const out = defaultAgentOptions() as unknown as Record<string, unknown>;
  for (const o of AGENT_OPTIONS) {
    const fromEnv = env[o.env];
    if (fromEnv !== undefined && fromEnv !== '') out[o.key] = o.parse(fromEnv, `environment ${o.env}`);
    const fromFlag = values[o.flag];
    if (typeof fromFlag === 'string') out[o.key] = o.parse(fromFlag, `flag --${o.flag}`);
  }
  const options = out as unknown as AgentOptions;
  if (options.nodeName === '' && needs.nodeName) throw new ConfigError('the node name is required: --node-name or NODE_NAME');
  if (options.retryMaxMs < options.retryInitialMs) throw new ConfigError('--retry-max-ms must not be below --retry-initial-ms');
  return options;
}

export function agentUsage(): string {
  const rows = AGENT_OPTIONS.map((o) => `  ${`--${o.flag} VALUE`.padEnd(28)} ${o.doc} (env ${o.env})`);
  return (
    'usage: nexcage agent [flags]\n       nexcage agent cleanup [--kubeconfig PATH]\n\n' +
    'The node agent (run by the Helm chart as a DaemonSet): reads the local daemon over its CRI socket,\n' +
    'labels and annotates this Node, publishes RuntimeClasses and pre-pulls images.\n' +
    '`cleanup` (the chart\'s uninstall hook) deletes the RuntimeClasses the agents created and removes\n' +
    'their labels and annotations from every Node, then exits (1 if a step failed).\n\nflags:\n' +
    rows.join('\n') +
    '\n  --help                       show this help\n'
  );
}
