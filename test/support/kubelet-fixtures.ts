// Kubelet request fixtures (test/fixtures/kubelet/*.json): the CRI requests the kubelet builds for
// common pods, in the proto's snake_case names, with ${PLACEHOLDERS} for values only known at run
// time. This module loads and fills them, and lays out on the node what the kubelet lays out before
// it calls the runtime: the pod cgroup, the pod dir with etc-hosts, termination-log files, emptyDir,
// hostPath and projected service-account token volumes.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { ContainerConfig } from '../../src/cri/generated/runtime/v1/ContainerConfig.js';
import type { ExecSyncRequest } from '../../src/cri/generated/runtime/v1/ExecSyncRequest.js';
import type { ImageSpec } from '../../src/cri/generated/runtime/v1/ImageSpec.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { buildImage, busyboxEntries, layer, pushImage, type PushTarget } from './image-builder.js';

export const FIXTURE_DIR = resolve(import.meta.dirname, '../fixtures/kubelet');

/** A probe as the prober runs it: ExecSync(cmd, timeout) every period_seconds. */
export interface ProbeFixture {
  container: string;
  probe: 'liveness' | 'readiness' | 'startup';
  period_seconds: number;
  rounds: number;
  request: Omit<ExecSyncRequest, 'container_id'>;
}

export interface ProjectedToken {
  dir: string;
  files: Record<string, string>;
}

/** What the kubelet makes on the node before RunPodSandbox / CreateContainer. */
export interface NodeLayout {
  pod_cgroup: string;
  pod_dir: string;
  empty_dirs?: string[];
  host_path_dirs?: string[];
  projected_tokens?: ProjectedToken[];
}

/** A container config as the fixture holds it: filled when the kubelet would generate it. */
export type ContainerTemplate = Record<string, unknown> & { metadata: { name: string } };

/** A lifecycle exec hook as the handler runner calls it: ExecSync with timeout 0 (none). */
export interface HookFixture {
  container: string;
  hook: 'postStart' | 'preStop';
  request: Omit<ExecSyncRequest, 'container_id'>;
}

export interface KubeletFixture {
  node: NodeLayout;
  sandbox: PodSandboxConfig;
  image_spec: ImageSpec;
  init_containers: ContainerTemplate[];
  containers: ContainerTemplate[];
  ephemeral_containers: ContainerTemplate[];
  probes: ProbeFixture[];
  hooks: HookFixture[];
  stop: { timeout: number };
}

export type Vars = Record<string, unknown>;

const PLACEHOLDER = /\$\{([A-Z_]+)\}/g;
const WHOLE = /^\$\{([A-Z_]+)\}$/;

/**
 * Fill placeholders and drop the documentation keys ("_comment", "_source", "_pod"...). A string
 * that is exactly one placeholder takes the variable's value as is (a number, a list); inside a
 * longer string it is interpolated. An unknown placeholder throws, so a fixture never sends one.
 */
export function fill<T>(value: T, vars: Vars): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      const whole = WHOLE.exec(v);
      if (whole) return lookup(whole[1]!, vars);
      return v.replace(PLACEHOLDER, (_m, name: string) => String(lookup(name, vars)));
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) if (!k.startsWith('_')) out[k] = walk(x);
      return out;
    }
    return v;
  };
  return walk(value) as T;
}

function lookup(name: string, vars: Vars): unknown {
  if (!(name in vars)) throw new Error(`fixture placeholder \${${name}} has no value`);
  return vars[name];
}

/** The raw fixture (documentation keys included). */
export function readFixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, `${name}.json`), 'utf8')) as Record<string, unknown>;
}

/**
 * A fixture with the pod-level parts filled from `vars`; containers stay templates for
 * `renderContainer`, since the kubelet generates each container config only when it starts that
 * container (the image ID and a fresh termination-log name are known then).
 */
export function loadFixture(name: string, vars: Vars): KubeletFixture {
  const raw = readFixture(name) as Record<string, unknown>;
  const { init_containers: init, containers, ephemeral_containers: ephemeral, ...rest } = raw;
  const f = fill(rest, vars) as unknown as Omit<KubeletFixture, 'init_containers' | 'containers' | 'ephemeral_containers'>;
  return {
    ...f,
    probes: f.probes ?? [],
    hooks: f.hooks ?? [],
    init_containers: (init ?? []) as ContainerTemplate[],
    containers: containers as ContainerTemplate[],
    ephemeral_containers: (ephemeral ?? []) as ContainerTemplate[],
  };
}

/** One container config, filled. KeyValue.value is `bytes` in runtime.v1: env text goes as UTF-8. */
export function renderContainer(template: ContainerTemplate, vars: Vars): ContainerConfig {
  const cfg = fill(template, vars) as unknown as ContainerConfig;
  cfg.envs = (cfg.envs ?? []).map((e) => ({ key: e.key, value: Buffer.from(String(e.value ?? ''), 'utf8') }));
  return cfg;
}

/**
 * The node's huge page sizes as the kubelet names them (libcontainer HugePageSizes: one per
 * /sys/kernel/mm/hugepages/hugepages-<n>kB, in directory order, "2MB"/"1GB"), each with limit 0:
 * what GetHugepageLimitsFromResources sends for a container that asks for no huge pages.
 */
export function nodeHugepageLimits(): { page_size: string; limit: number }[] {
  const dir = '/sys/kernel/mm/hugepages';
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .map((d) => /^hugepages-(\d+)kB$/.exec(d))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ page_size: pageSizeName(Number(m[1]) * 1024), limit: 0 }));
}

function pageSizeName(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v}${units[i]}`;
}

/** The node's memory capacity as cAdvisor reports it (MemTotal). */
export function memoryCapacity(): number {
  const m = /^MemTotal:\s+(\d+) kB$/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  if (!m) throw new Error('no MemTotal in /proc/meminfo');
  return Number(m[1]) * 1024;
}

/** pkg/kubelet/qos GetContainerOOMScoreAdjust for a Burstable pod's container. */
export function burstableOomScoreAdj(memoryRequest: number, capacity = memoryCapacity()): number {
  const adj = 1000 - Math.floor((1000 * memoryRequest) / capacity);
  if (adj < 1000 - 997) return 1000 - 997;
  if (adj === 1000) return 999;
  return adj;
}

/**
 * The cgroup hierarchies the kubelet's cgroupfs driver (libcontainer's fs manager) creates pod
 * cgroups in: every v1 controller, and on a hybrid node the unified one too (runc puts containers
 * there as well).
 */
function hierarchies(): string[] {
  const root = '/sys/fs/cgroup';
  if (!existsSync(root)) return [];
  return readdirSync(root).filter((c) => existsSync(join(root, c, 'cgroup.procs')));
}

/**
 * The kubelet's pod cgroup (cm.podContainerManager.EnsureExists with the cgroupfs driver): the
 * same path in every hierarchy, cpuset values copied down so children can run. Returns the dirs
 * this call created (outermost first), which `removePodCgroup` takes back.
 */
export function createPodCgroup(path: string): string[] {
  const made: string[] = [];
  for (const ctrl of hierarchies()) {
    const parts = path.split('/').filter((p) => p !== '');
    let dir = join('/sys/fs/cgroup', ctrl);
    for (const p of parts) {
      const parent = dir;
      dir = join(dir, p);
      if (existsSync(dir)) continue;
      mkdirSync(dir);
      made.push(dir);
      if (ctrl === 'cpuset') {
        for (const f of ['cpuset.cpus', 'cpuset.mems']) writeFileSync(join(dir, f), readFileSync(join(parent, f), 'utf8').trim() || '\n');
      }
    }
  }
  return made;
}

/** Child cgroups left under the pod cgroup in any hierarchy (the runtime's containers must be gone). */
export function podCgroupChildren(path: string): string[] {
  const out: string[] = [];
  for (const ctrl of hierarchies()) {
    const dir = join('/sys/fs/cgroup', ctrl, path);
    if (!existsSync(dir)) continue;
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) out.push(join(dir, e.name));
  }
  return out;
}

/** Remove what createPodCgroup made (innermost first); a dir still in use elsewhere is left. */
export function removePodCgroup(made: string[]): void {
  for (const dir of [...made].reverse()) {
    try {
      rmdirSync(dir);
    } catch {
      // busy or shared with another pod: not ours to force
    }
  }
}

/** The pod dir, volumes and hostPath dirs of `node` (volumemanager, before the sandbox exists). */
export function layOutPodDir(node: NodeLayout): void {
  mkdirSync(join(node.pod_dir, 'containers'), { recursive: true, mode: 0o750 });
  for (const d of node.empty_dirs ?? []) {
    // emptyDir (default medium): a plain dir, 0777 so any container user can write
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o777);
  }
  // hostPath type DirectoryOrCreate: 0755
  for (const d of node.host_path_dirs ?? []) mkdirSync(d, { recursive: true, mode: 0o755 });
  for (const p of node.projected_tokens ?? []) projectedVolume(p);
}

/**
 * A projected volume as the kubelet's AtomicWriter leaves it: a tmpfs holding a timestamped dir
 * with the files, `..data` pointing at it, and one top-level symlink per file through `..data`.
 */
function projectedVolume(p: ProjectedToken): void {
  mkdirSync(p.dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0755', 'tmpfs', p.dir]);
  const ts = `..${new Date().toISOString().replace(/[-:]/g, '_').replace('T', '_').replace(/\.(\d+)Z$/, '.$1000000')}`;
  mkdirSync(join(p.dir, ts), { mode: 0o755 });
  for (const [name, content] of Object.entries(p.files)) writeFileSync(join(p.dir, ts, name), content, { mode: 0o644 });
  symlinkSync(ts, join(p.dir, '..data'));
  for (const name of Object.keys(p.files)) symlinkSync(join('..data', name), join(p.dir, name));
}

/** Unmount the projected volumes (the volume manager's TearDown after the pod is gone). */
export function tearDownPodDir(node: NodeLayout): void {
  for (const p of node.projected_tokens ?? []) {
    if (readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${p.dir} `)) execFileSync('umount', [p.dir]);
  }
}

/**
 * kubelet_pods.go ensureHostsFile, what makeHostsMount writes to <pod dir>/etc-hosts: for a pod
 * network managedHostsFileContent (localhost entries and the pod IP), for the host network
 * nodeHostsFileContent (the node's /etc/hosts under its own header).
 */
export function writeEtcHosts(podDir: string, podIp: string, hostname: string, hostNetwork = false): string {
  const path = join(podDir, 'etc-hosts');
  const text = hostNetwork
    ? `# Kubernetes-managed hosts file (host network).\n${readFileSync('/etc/hosts', 'utf8')}`
    : [
        '# Kubernetes-managed hosts file.',
        '127.0.0.1\tlocalhost',
        '::1\tlocalhost ip6-localhost ip6-loopback',
        'fe00::0\tip6-localnet',
        'fe00::0\tip6-mcastprefix',
        'fe00::1\tip6-allnodes',
        'fe00::2\tip6-allrouters',
        `${podIp}\t${hostname}`,
        '',
      ].join('\n');
  writeFileSync(path, text, { mode: 0o644 });
  return text;
}

/** The node's resolv.conf as the kubelet's dns configurer reads it for dnsPolicy Default. */
export function nodeDns(path = '/etc/resolv.conf'): { servers: string[]; searches: string[]; options: string[] } {
  const out = { servers: [] as string[], searches: [] as string[], options: [] as string[] };
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const [key, ...rest] = line.trim().split(/\s+/);
    if (key === 'nameserver' && rest[0]) out.servers.push(rest[0]);
    if (key === 'search') out.searches = rest;
    if (key === 'options') out.options.push(...rest);
  }
  return out;
}

/** makeUID in kuberuntime_container.go: 8 hex digits naming one termination-log file. */
export function terminationLogId(): string {
  return randomBytes(4).toString('hex');
}

/**
 * What makeMounts and generateContainerConfig do on the node for one container instance: the
 * container's log dir under the pod log dir, and the termination-log file (0666) its mount names.
 */
export function prepareContainer(config: ContainerConfig, logDirectory: string): void {
  mkdirSync(join(logDirectory, dirname(config.log_path ?? '')), { recursive: true, mode: 0o755 });
  const tmp = config.annotations?.['io.kubernetes.container.terminationMessagePath'];
  const m = (config.mounts ?? []).find((x) => x.container_path === tmp);
  if (m?.host_path) {
    mkdirSync(dirname(m.host_path), { recursive: true });
    writeFileSync(m.host_path, '');
    chmodSync(m.host_path, 0o666);
  }
}

/** A web server image: busybox httpd on :8080 serving /www, PID 1 a shell that exits on SIGTERM. */
export async function pushWebImage(target: PushTarget): Promise<void> {
  const base = await layer(busyboxEntries(), 'gzip');
  const www = await layer([
    { path: 'www/', type: 'dir' },
    { path: 'www/index.html', content: 'hello from the kubelet replay\n' },
    { path: 'www/healthz', content: 'ok\n' },
  ]);
  const img = buildImage({
    layers: [base, www],
    config: {
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: ['trap "exit 0" TERM; /bin/busybox httpd -f -p 8080 -h /www & wait'],
      ExposedPorts: { '8080/tcp': {} },
    },
  });
  await pushImage(target, 'test/web', ['1.0'], img);
}
