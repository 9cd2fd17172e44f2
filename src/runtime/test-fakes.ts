// Fakes of every seam the sandbox and container managers use (OCI runtime, monitor, exit files,
// network plugin, netns pins, shm, rootfs and idmapped mounts, image lookups, infra source), for their unit
// tests: each records what it was asked in one shared call log and fails on request (`faults`),
// so a test can break any step and see what the undo left. Files go to a temp dir.
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ImageRecord, Lease } from '../images/image-store.js';
import { InvalidArgumentError } from '../lib/errors.js';
import type { ContainerImages, RootfsMounts } from './container/container-deps.js';
import type { IdMappings } from './container/container-config.js';
import type { ExitInfo, ExitListener } from './engine/exit-watcher.js';
import type { IdmapMounts, IdmapPair } from './engine/idmap-mounts.js';
import type { Monitor, MonitorStartOptions, MonitorStarted } from './engine/monitor.js';
import type { CheckpointOptions, CreateOptions, ExecOptions, ExecResult, OciRuntime, OciState, OciStatus } from './engine/oci-runtime.js';
import type { RuntimeHandler } from './engine/runtime-handlers.js';
import type { NetworkPlugin, NetworkReadiness, PodNetworkRequest, PodNetworkStatus } from './network/network-plugin.js';
import type { InfraRootfs, InfraSource } from './sandbox/infra-source.js';
import type { ShmMounts } from './sandbox/sandbox-deps.js';

/** Armed failures by call name ("network.setUp"); each fires `times` times (default once). */
export class Faults {
  private readonly armed = new Map<string, { err: Error; times: number }>();
  /** Called before a faultable call runs (e.g. to abort a request in the middle of the work). */
  readonly hooks = new Map<string, () => void>();

  fail(name: string, err: Error = new Error(`${name} failed (injected)`), times = 1): void {
    this.armed.set(name, { err, times });
  }

  clear(): void {
    this.armed.clear();
  }

  check(name: string): void {
    this.hooks.get(name)?.();
    const a = this.armed.get(name);
    if (!a) return;
    if (--a.times <= 0) this.armed.delete(name);
    throw a.err;
  }
}

export class World {
  readonly calls: string[] = [];
  readonly faults = new Faults();
  constructor(readonly dir: string) {}
  /** Record the call, then fail if a fault is armed for it. */
  step(name: string, detail = ''): void {
    this.calls.push(detail ? `${name} ${detail}` : name);
    this.faults.check(name);
  }
  /** Calls whose name starts with one of `prefixes`, in order. */
  callsOf(...prefixes: string[]): string[] {
    return this.calls.filter((c) => prefixes.some((p) => c.startsWith(p)));
  }
}

let nextPid = 4_000_000;

export class FakeRuntime implements OciRuntime {
  readonly containers = new Map<string, OciState>();
  readonly root: string;
  readonly binary: string = '/usr/bin/fake-runc';
  readonly systemdCgroup = false;
  /** Called by kill (e.g. to write the exit file a real monitor would). */
  onKill: ((id: string, signal: string) => void) | undefined;

  constructor(
    protected readonly w: World,
    readonly handler = 'runc',
  ) {
    this.root = join(w.dir, 'runc');
  }

  add(id: string, bundle: string, status: OciStatus, pid = nextPid++): void {
    this.containers.set(id, { id, pid, status, bundle });
  }

  async create(id: string, o: CreateOptions): Promise<void> {
    this.w.step('runtime.create', id.slice(0, 6));
    this.add(id, o.bundle, 'created');
  }
  async start(id: string): Promise<void> {
    this.w.step('runtime.start', id.slice(0, 6));
    const c = this.containers.get(id);
    if (c) c.status = 'running';
  }
  async state(id: string): Promise<OciState | undefined> {
    this.w.step('runtime.state', id.slice(0, 6));
    return this.containers.get(id);
  }
  async list(): Promise<OciState[]> {
    this.w.step('runtime.list');
    return [...this.containers.values()];
  }
  async kill(id: string, signal: string): Promise<void> {
    this.w.step('runtime.kill', `${id.slice(0, 6)} ${signal}`);
    const c = this.containers.get(id);
    if (!c) throw new Error(`container "${id}" does not exist`);
    // SIGKILL always ends the process (what the monitor reports is up to the test's onKill).
    if (signal === 'SIGKILL' || signal === 'KILL') c.status = 'stopped';
    this.onKill?.(id, signal);
  }
  async delete(id: string): Promise<void> {
    this.w.step('runtime.delete', id.slice(0, 6));
    this.containers.delete(id);
  }
  async exec(_id: string, _o: ExecOptions): Promise<ExecResult> {
    return { stdout: '', stderr: '', exitCode: 0 };
  }
  async update(id: string): Promise<void> {
    this.w.step('runtime.update', id.slice(0, 6));
  }
  async pause(_id: string): Promise<void> {}
  async resume(_id: string): Promise<void> {}
  async ps(): Promise<number[]> {
    return [];
  }
  async features(): Promise<unknown> {
    return {};
  }
  globalArgs(): string[] {
    return ['--root', this.root];
  }
}

/** A CRIU image file: common magic, the image's magic, one length-prefixed protobuf entry. */
export function criuImage(magic: number, entry: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt32LE(0x54564319, 0);
  head.writeUInt32LE(magic, 4);
  head.writeUInt32LE(entry.length, 8);
  return Buffer.concat([head, entry]);
}

/** A CRIU core image (CoreEntry with only mtype) dumped on `goArch` (amd64, arm64, ...). */
export function criuCoreImage(goArch: string): Buffer {
  const march: Record<string, number> = { amd64: 1, arm: 2, arm64: 3, ppc64le: 4, s390x: 5, riscv64: 8 };
  return criuImage(0x55053847, Buffer.from([0x08, march[goArch] ?? 99]));
}

/**
 * The stand-in runtime binary of CheckpointingRuntime: records "<command> <args>" to <dir>/calls
 * and runs <dir>/<command>.sh when present ($image, $work and $log set for a checkpoint). Without
 * one, `checkpoint` does what runc and CRIU do: core image and dump.log in the image/work paths.
 */
const FAKE_CHECKPOINT_RUNTIME = `#!/bin/sh
dir=$(dirname "$0")
image="" work="" log=""
while [ $# -gt 0 ]; do
  case "$1" in
    --root|--criu) shift;;
    --log) log=$2; shift;;
    --*) ;;
    *) break;;
  esac
  shift
done
cmd=$1; shift
echo "$cmd $*" >> "$dir/calls"
while [ $# -gt 1 ]; do
  case "$1" in
    --image-path) image=$2; shift;;
    --work-path) work=$2; shift;;
  esac
  shift
done
if [ -f "$dir/$cmd.sh" ]; then . "$dir/$cmd.sh"; exit $?; fi
if [ "$cmd" = checkpoint ]; then
  mkdir -p "$image" && cp "$dir/core.img" "$image/core-1.img" && echo "dump ok" > "$image/pages-1.img" && echo "(00.01) Dumping finished successfully" > "$work/dump.log"
fi
`;

/**
 * A FakeRuntime that can checkpoint: its binary is a real script (the checkpoint helper runs
 * pause, checkpoint and resume as commands) under <w.dir>/<name>/. `script(cmd, sh)` replaces what
 * a command does; `core` is the CRIU core image a checkpoint writes.
 */
export class CheckpointingRuntime extends FakeRuntime {
  override readonly binary: string;
  private readonly home: string;
  constructor(w: World, handler = 'runc') {
    super(w, handler);
    this.home = join(w.dir, 'ckpt-runtime');
    this.binary = join(this.home, 'runtime');
  }
  /** Write the stand-in binary and the core image its checkpoints contain. */
  async install(core: Buffer): Promise<void> {
    await mkdir(this.home, { recursive: true });
    await writeFile(this.binary, FAKE_CHECKPOINT_RUNTIME);
    await chmod(this.binary, 0o755);
    await writeFile(join(this.home, 'core.img'), core);
  }
  /** What `cmd` (pause, checkpoint, resume) does instead: a shell snippet. */
  async script(cmd: string, sh: string): Promise<void> {
    await writeFile(join(this.home, `${cmd}.sh`), sh);
  }
  /** The binary's calls, "<command> <args>" each. */
  async binaryCalls(): Promise<string[]> {
    const { readFile } = await import('node:fs/promises');
    return (await readFile(join(this.home, 'calls'), 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
  }
  override async resume(id: string): Promise<void> {
    this.w.step('runtime.resume', id.slice(0, 6));
  }
  checkpointArgs(id: string, o: CheckpointOptions): string[] {
    return [...this.globalArgs(), '--log', o.logPath, '--criu', o.criu, 'checkpoint', '--image-path', o.imagePath, '--work-path', o.workPath, ...(o.leaveRunning ? ['--leave-running'] : []), id];
  }
}

export class FakeMonitor implements Monitor {
  constructor(private readonly w: World) {}
  /** The options of every start asked for, in order. */
  readonly started: MonitorStartOptions[] = [];
  async start(o: MonitorStartOptions): Promise<MonitorStarted> {
    this.started.push(o);
    this.w.step('monitor.start', o.id.slice(0, 6));
    if (o.restore && o.runtime instanceof FakeRuntime) {
      // conmon runs `runtime restore`: the container runs when it reports the pid.
      o.runtime.add(o.id, o.bundle, 'running');
      return { pid: o.runtime.containers.get(o.id)?.pid ?? 0, monitorPid: nextPid++ };
    }
    // conmon runs `runtime create` and reports the pid.
    await o.runtime.create(o.id, { bundle: o.bundle, pidFile: join(o.bundle, 'pidfile') });
    const st = await o.runtime.state(o.id);
    return { pid: st?.pid ?? 0, monitorPid: nextPid++ };
  }
  attachSocketPath(id: string): string {
    return join(this.w.dir, 'attach', id);
  }
  ctlPath(bundle: string): string {
    return join(bundle, 'ctl');
  }
  async resize(): Promise<void> {}
  async reopenLog(): Promise<void> {
    this.w.step('monitor.reopenLog');
  }
  async monitorPid(): Promise<number | undefined> {
    return undefined;
  }
  async cleanup(id: string): Promise<void> {
    this.w.step('monitor.cleanup', id.slice(0, 6));
  }
}

export class FakeExits {
  readonly dir: string;
  private readonly files = new Map<string, ExitInfo>();
  private readonly listeners = new Set<ExitListener>();
  constructor(private readonly w: World) {
    this.dir = join(w.dir, 'exits');
  }
  on(l: ExitListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
  async read(id: string): Promise<ExitInfo | undefined> {
    return this.files.get(id);
  }
  async remove(id: string): Promise<void> {
    this.w.step('exits.remove', id.slice(0, 6));
    this.files.delete(id);
  }
  /** The monitor wrote the exit file (at `atNs`, now by default); listeners hear of it unless `quiet` (a missed inotify event). */
  write(id: string, exitCode: number, quiet = false, atNs = BigInt(Date.now()) * 1_000_000n): void {
    const info = { id, exitCode, finishedAtNs: atNs };
    this.files.set(id, info);
    if (!quiet) for (const l of this.listeners) l(info);
  }
  has(id: string): boolean {
    return this.files.has(id);
  }
  get listening(): number {
    return this.listeners.size;
  }
}

export class FakeNetwork implements NetworkPlugin {
  /** pod id -> its IP while the network is up (the CNI cache). */
  readonly up = new Map<string, string>();
  private n = 1;
  constructor(private readonly w: World) {}
  async readiness(): Promise<NetworkReadiness> {
    return { ready: true, reason: '', message: '' };
  }
  async setUp(req: PodNetworkRequest): Promise<PodNetworkStatus> {
    // As CNI: the cache entry is written before the plugins run (DEL must find it after a failed ADD).
    this.up.set(req.podId, `10.88.0.${++this.n}`);
    this.w.step('network.setUp', req.podId.slice(0, 6));
    return { ips: [this.up.get(req.podId) ?? ''], network: 'fake' };
  }
  async tearDown(podId: string, netnsPath: string): Promise<void> {
    this.w.step('network.tearDown', `${podId.slice(0, 6)} ${netnsPath === '' ? '-' : 'netns'}`);
    this.up.delete(podId);
  }
  async check(): Promise<void> {}
  async cachedPods(): Promise<string[]> {
    return [...this.up.keys()];
  }
}

export class FakeNetns {
  readonly dir: string;
  constructor(private readonly w: World) {
    this.dir = join(w.dir, 'netns');
  }
  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }
  pathFor(id: string): string {
    return join(this.dir, id);
  }
  async create(id: string, from?: string): Promise<string> {
    this.w.step('netns.create', from ? `${id.slice(0, 6)} from ${from}` : id.slice(0, 6));
    await mkdir(this.dir, { recursive: true });
    await writeFile(this.pathFor(id), '');
    return this.pathFor(id);
  }
  async remove(path: string): Promise<void> {
    this.w.step('netns.remove', path.slice(this.dir.length + 1, this.dir.length + 7));
    await rm(path, { force: true });
  }
  async list(): Promise<string[]> {
    const { readdir } = await import('node:fs/promises');
    return readdir(this.dir).catch(() => []);
  }
  async releaseIfEmpty(): Promise<boolean> {
    return true;
  }
  async close(): Promise<void> {
    this.w.step('netns.close');
  }
}

export class FakeShm implements ShmMounts {
  readonly mounted = new Set<string>();
  constructor(private readonly w: World) {}
  async mount(path: string): Promise<void> {
    this.w.step('shm.mount');
    await mkdir(path, { recursive: true });
    this.mounted.add(path);
  }
  async unmount(path: string): Promise<void> {
    if (!this.mounted.has(path)) return;
    this.w.step('shm.unmount');
    this.mounted.delete(path);
  }
}

export class FakeMounts implements RootfsMounts {
  readonly mounted = new Set<string>();
  /** What each rootfs was mounted on (target -> lower dirs, owner of the upper dir). */
  readonly rootfs = new Map<string, { layers: string[]; owner?: { uid: number; gid: number } }>();
  constructor(private readonly w: World) {}
  async mountRootfs(layers: readonly string[], recordDir: string, target: string, owner?: { uid: number; gid: number }): Promise<{ upperDir: string; workDir: string }> {
    this.w.step('mounts.rootfs');
    this.rootfs.set(target, { layers: [...layers], ...(owner ? { owner } : {}) });
    // As the real one: the writable layer's dirs exist under the record dir (a restore has made upper/ already).
    await mkdir(join(recordDir, 'upper'), { recursive: true });
    await mkdir(join(recordDir, 'work'), { recursive: true });
    await mkdir(target, { recursive: true });
    this.mounted.add(target);
    return { upperDir: join(recordDir, 'upper'), workDir: join(recordDir, 'work') };
  }
  async mountImageReadOnly(_layers: readonly string[], _workDir: string, target: string): Promise<void> {
    this.w.step('mounts.volume');
    await mkdir(target, { recursive: true });
    this.mounted.add(target);
  }
  async unmountRootfs(target: string): Promise<void> {
    if (!this.mounted.has(target)) return;
    this.w.step('mounts.unmount');
    this.mounted.delete(target);
  }
  async unmountAll(dir: string): Promise<void> {
    this.w.step('mounts.unmountAll');
    for (const m of [...this.mounted]) if (m === dir || m.startsWith(`${dir}/`)) this.mounted.delete(m);
  }
  async isMounted(target: string): Promise<boolean> {
    return this.mounted.has(target);
  }
}

/**
 * Idmapped clones: the targets are made (like the real helper) and remembered until unmounted.
 * With `mounted` (FakeMounts.mounted) they are mounts there too, so its unmountAll takes them.
 */
export class FakeIdmap implements IdmapMounts {
  /** target -> source and mappings of each clone attached. */
  readonly clones = new Map<string, { source: string; mappings: IdMappings; recursive: boolean }>();
  constructor(
    private readonly w: World,
    private readonly mounted?: Set<string>,
  ) {}
  async bind(mappings: IdMappings, pairs: readonly IdmapPair[], recursive: boolean): Promise<void> {
    this.w.step('idmap.bind', `${pairs.length}${recursive ? ' -r' : ''}`);
    for (const p of pairs) {
      await mkdir(p.target, { recursive: true });
      this.clones.set(p.target, { source: p.source, mappings, recursive });
      this.mounted?.add(p.target);
    }
  }
  async unmount(dir: string): Promise<void> {
    const gone = this.attached().filter((t) => t === dir || t.startsWith(`${dir}/`));
    if (gone.length === 0) return;
    this.w.step('idmap.unmount', String(gone.length));
    for (const t of gone) {
      this.clones.delete(t);
      this.mounted?.delete(t);
    }
  }
  /** Targets still attached (a shared `mounted` set may have lost some to unmountAll). */
  attached(): string[] {
    return [...this.clones.keys()].filter((t) => !this.mounted || this.mounted.has(t));
  }
}

export class FakeImages implements ContainerImages {
  readonly images = new Map<string, ImageRecord>();
  readonly leased = new Map<string, Lease>();
  constructor(private readonly w: World) {}
  addImage(ref: string, config: ImageRecord['config'] = {}): ImageRecord {
    const id = `sha256:${ref.replace(/[^a-z0-9]/g, '').padEnd(64, '0').slice(0, 64)}`;
    const rec = { id, repoTags: [ref], repoDigests: [], size: 1, config, diffIds: [], chainIds: ['c1'], layers: [], manifestDigest: id } as unknown as ImageRecord;
    this.images.set(ref, rec);
    return rec;
  }
  async resolve(ref: string): Promise<ImageRecord | undefined> {
    this.w.step('images.resolve', ref);
    return this.images.get(ref) ?? [...this.images.values()].find((r) => r.id === ref);
  }
  async lease(holder: string, imageId: string): Promise<Lease> {
    this.w.step('images.lease', holder.slice(0, 6));
    const l = { holder, imageId, chainIds: [] };
    this.leased.set(holder, l);
    return l;
  }
  async release(holder: string): Promise<void> {
    this.w.step('images.release', holder.slice(0, 6));
    this.leased.delete(holder);
  }
  async layerDirs(): Promise<string[]> {
    this.w.step('images.layerDirs');
    return [join(this.w.dir, 'layers', '0')];
  }
  leases(): Lease[] {
    return [...this.leased.values()];
  }
}

export class FakeInfra implements InfraSource {
  constructor(private readonly w: World) {}
  async get(): Promise<InfraRootfs> {
    this.w.step('infra.get');
    return { path: join(this.w.dir, 'infra'), args: ['/pause'] };
  }
  async close(): Promise<void> {}
}

/** One handler ("runc") plus "gone" whose binary is missing (runtimeFor throws for it). */
export function fakeHandlers(runtime: FakeRuntime): {
  defaultName: string;
  get(name: string): RuntimeHandler;
  list(): RuntimeHandler[];
  runtimeFor(name: string): OciRuntime;
} {
  const make = (name: string, binary: string | undefined): RuntimeHandler => ({ name, path: binary ?? '/nonexistent', root: runtime.root, systemdCgroup: false, binary, features: { recursiveReadOnlyMounts: false, userNamespaces: false } });
  const all = new Map([
    ['runc', make('runc', runtime.binary)],
    ['gone', make('gone', undefined)],
  ]);
  const get = (name: string): RuntimeHandler => {
    const h = all.get(name === '' ? 'runc' : name);
    if (!h) throw new InvalidArgumentError(`runtime handler "${name}" is not configured`);
    return h;
  };
  return {
    defaultName: 'runc',
    get,
    list: () => [...all.values()],
    runtimeFor: (name) => {
      const h = get(name);
      if (!h.binary) throw new InvalidArgumentError(`runtime handler "${h.name}": binary missing`);
      return runtime;
    },
  };
}

/** Poll until `check` holds (tests never sleep a fixed time). */
export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
