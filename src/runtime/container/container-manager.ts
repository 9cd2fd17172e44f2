// Application containers: Create/Start/Stop/Remove/Status/List/Update/ReopenLog/ExecSync on top
// of the image snapshots (overlay rootfs), the OCI spec builder, the conmon monitor + OCI runtime
// the sandboxes use (unchanged), and the shared exit watcher. Each container's changes run under
// its own lock; Stop waits without the lock (the exit handler takes it to record the exit).
// Records live in ContainerStore (memory + atomic files); recover() rebuilds them after a restart
// from the records, conmon's exit files and `runtime state`, before the socket is bound.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { DeadlineExceededError, FailedPreconditionError, InvalidArgumentError, NotFoundError, errorMessage } from '../../lib/errors.js';
import { atomicWriteJson, readJsonIfExists } from '../../lib/fsutil.js';
import type { ImageManager } from '../../images/image-manager.js';
import type { Logger } from '../../lib/log.js';
import type { CgroupDriver } from '../engine/cgroup-driver.js';
import type { ContainerConfig, ContainerMount, HostFacts, LinuxContainerResources } from './container-config.js';
import type { ContainerEventBus } from './container-events.js';
import { containerOomKills, containerOpDuration, execSyncDuration, execSyncTimeouts, setContainerStateSource, since } from './container-metrics.js';
import { execInContainer, type ExecSyncResult } from './container-exec.js';
import { normalizeSignal, resolveLogPath, sandboxFacts } from './container-inputs.js';
import { wasOomKilled } from './container-oom.js';
import type { Container, ContainerEventType, ContainerFilter, ContainerMeta, ContainerState, ContainerStatusRecord } from './container-record.js';
import { isMounted, mountImageReadOnly, mountRootfs, unmountAll, unmountRootfs } from './container-rootfs.js';
import { ContainerStore } from './container-store.js';
import type { ExitInfo, ExitWatcher } from '../engine/exit-watcher.js';
import type { RuntimeHandlers } from '../engine/runtime-handlers.js';
import { KeyedLock } from '../../lib/keyed-lock.js';
import type { Monitor } from '../engine/monitor.js';
import { missingExecutable, type OciRuntime } from '../engine/oci-runtime.js';
import { cdiEditsFor } from '../oci-spec/cdi.js';
import { completeDeviceNodes, loadCdiSpecs } from '../oci-spec/cdi-loader.js';
import { buildContainerSpec } from '../oci-spec/container-spec.js';
import { listDevices, resolveDevices } from '../oci-spec/device-info.js';
import { HUGETLB_MISSING } from '../oci-spec/host-facts.js';
import { ensureHostPropagation } from '../oci-spec/mount-propagation.js';
import { hostMountRequirements } from '../oci-spec/mounts.js';
import { buildResources } from '../oci-spec/resources.js';
import { readUserFiles, resolveInRoot } from '../oci-spec/rootfs-files.js';
import { loadLocalhostSeccomp } from '../oci-spec/seccomp-localhost.js';
import type { Spec } from '../oci-spec/types.js';
import type { Sandbox } from '../sandbox/sandbox-config.js';
import type { SandboxManager } from '../sandbox/sandbox-manager.js';
import type { CgroupLayout } from '../stats/cgroup-paths.js';
import { detectCgroupLayout } from '../stats/cgroup-paths.js';
import type { ContainerStatsSource, StatsContainerInfo } from '../stats/provider.js';
import type { AttachLocator, AttachTarget } from '../streaming/conmon-attach.js';
import type { ContainerLocator, ExecTarget } from '../streaming/runc-exec.js';
import { rollback, type Undo } from '../../lib/undo.js';

export interface ContainerManagerOptions {
  rootDir: string;
  stateDir: string;
  handlers: RuntimeHandlers;
  runtimeFor(handler: string): OciRuntime;
  monitor: Monitor;
  exits: ExitWatcher;
  sandboxes: SandboxManager;
  images: ImageManager;
  host: HostFacts;
  cgroupDriver: CgroupDriver;
  events: ContainerEventBus;
  log: Logger;
  /** pids.max for every container; 0 = none. */
  pidsLimit?: number;
  /** How long Stop waits for the exit after SIGKILL before giving up. */
  killWaitMs?: number;
}


/** How often running containers' exit files are checked besides fs.watch. */
const EXIT_SWEEP_MS = 5_000;

export class ContainerManager implements ContainerStatsSource, ContainerLocator, AttachLocator {
  readonly store: ContainerStore;
  private readonly lock = new KeyedLock();
  private readonly stopping = new Map<string, Promise<void>>();
  private unsubscribe: (() => void) | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private layout: CgroupLayout | undefined;

  constructor(private readonly o: ContainerManagerOptions) {
    this.store = new ContainerStore(join(o.rootDir, 'containers'));
    if (o.host.hugetlb === false) o.log.warn(HUGETLB_MISSING);
    try {
      this.layout = detectCgroupLayout();
    } catch {
      this.layout = undefined;
    }
    setContainerStateSource(() => {
      const counts = new Map<ContainerState, number>();
      for (const c of this.store.all()) counts.set(c.status.state, (counts.get(c.status.state) ?? 0) + 1);
      return counts;
    });
  }

  private get bundlesDir(): string {
    return join(this.o.stateDir, 'containers');
  }

  // ---- reads (memory only) ----

  get(idOrPrefix: string): Container {
    const c = this.store.find(idOrPrefix);
    if (!c) throw new NotFoundError(`container "${idOrPrefix}" not found`);
    return c;
  }

  list(filter: ContainerFilter = {}): Container[] {
    // Decimal ns strings: shorter is older, same length compares as text (no BigInt per comparison).
    return this.store.list(filter).sort((a, b) => a.createdAtNs.length - b.createdAtNs.length || (a.createdAtNs < b.createdAtNs ? -1 : a.createdAtNs > b.createdAtNs ? 1 : 0));
  }

  /** The OCI spec as written (verbose ContainerStatus). */
  async spec(id: string): Promise<Spec | undefined> {
    return readJsonIfExists<Spec>(join(this.get(id).bundle, 'config.json'));
  }

  // ---- CreateContainer ----

  async create(podSandboxId: string, config: ContainerConfig): Promise<Container> {
    const started = process.hrtime.bigint();
    if (podSandboxId === '') throw new InvalidArgumentError('CreateContainer: pod_sandbox_id is required');
    if (config.metadata.name === '') throw new InvalidArgumentError('CreateContainer: container metadata.name is required');
    if (config.image.image === '') throw new InvalidArgumentError(`container "${config.metadata.name}": image is required`);
    const sandbox = this.o.sandboxes.get(podSandboxId);
    if (sandbox.state !== 'READY') {
      throw new FailedPreconditionError(`pod sandbox "${sandbox.id}" is not ready (${sandbox.state}); cannot create container "${config.metadata.name}"`);
    }
    const image = await this.o.images.resolve(config.image.image);
    if (!image) throw new NotFoundError(`image "${config.image.image}" not found (pull it first)`);
    const id = randomBytes(32).toString('hex');
    const key = ContainerStore.nameKey(sandbox.id, config.metadata.name, config.metadata.attempt);
    this.store.reserveName(key, id, `container "${config.metadata.name}" (attempt ${config.metadata.attempt}) in pod sandbox "${sandbox.id}"`);
    try {
      const c = await this.lock.with(id, () => this.createLocked(id, sandbox, config, image.id, image.repoDigests[0] ?? image.id, image.config));
      containerOpDuration.observe({ operation: 'create' }, since(started));
      this.publish(c, 'CREATED');
      return c;
    } catch (err) {
      this.store.releaseName(key, id);
      throw err;
    }
  }

  private async createLocked(
    id: string,
    sandbox: Sandbox,
    config: ContainerConfig,
    imageId: string,
    imageRef: string,
    imageConfig: { User?: string; Env?: string[]; Entrypoint?: string[]; Cmd?: string[]; WorkingDir?: string; StopSignal?: string },
  ): Promise<Container> {
    const log = this.o.log.child({ containerId: id, podSandboxId: sandbox.id, container: config.metadata.name });
    const handler = sandbox.runtimeHandler;
    const runtime = this.o.runtimeFor(handler);
    const recordDir = this.store.recordDir(id);
    const bundle = join(this.bundlesDir, id);
    const rootfs = join(bundle, 'rootfs');
    const undo: Undo[] = [];
    try {
      await mkdir(recordDir, { recursive: true, mode: 0o700 });
      undo.push({ what: 'record dir', run: () => rm(recordDir, { recursive: true, force: true }) });
      await mkdir(bundle, { recursive: true, mode: 0o700 });
      undo.push({ what: 'bundle', run: () => rm(bundle, { recursive: true, force: true }) });
      await this.o.images.lease(id, imageId);
      undo.push({ what: 'image lease', run: () => this.o.images.release(id) });
      const layers = await this.o.images.layerDirs(imageId);
      const { upperDir, workDir } = await mountRootfs(layers, recordDir, rootfs);
      undo.push({ what: 'rootfs mount', run: () => unmountRootfs(rootfs) });

      const sc = config.linux?.securityContext ?? {};
      const mounts = config.mounts ?? [];
      const volumeHolders: string[] = [];
      const resolvedMounts = await this.mountImageVolumes(id, recordDir, bundle, mounts, volumeHolders, undo);
      for (const m of resolvedMounts) {
        if (m.image) continue;
        if (!isAbsolute(m.hostPath)) throw new InvalidArgumentError(`mount "${m.containerPath}": host path "${m.hostPath}" must be absolute`);
        // as containerd: a missing host path becomes an empty directory
        if (!(await stat(m.hostPath).then(() => true, () => false))) await mkdir(m.hostPath, { recursive: true, mode: 0o755 });
      }
      const privileged = sc.privileged === true;
      const cdiNames = (config.cdiDevices ?? []).map((d) => d.name);
      const cdiEdits = cdiNames.length > 0 ? await completeDeviceNodes(cdiEditsFor(cdiNames, (await loadCdiSpecs()).specs)) : undefined;
      const targetId = sc.namespaceOptions?.pid === 'TARGET' ? sc.namespaceOptions.targetId : undefined;
      let targetPid: number | undefined;
      if (targetId !== undefined) {
        const target = this.store.find(targetId);
        if (!target || target.status.state !== 'RUNNING') throw new FailedPreconditionError(`pid namespace target container "${targetId}" is not running`);
        targetPid = target.status.pid;
      }
      const { spec, user } = buildContainerSpec({
        id,
        config: { ...config, mounts: resolvedMounts },
        image: imageConfig,
        sandbox: sandboxFacts(sandbox),
        host: this.o.host,
        rootfsPath: rootfs,
        userFiles: await readUserFiles(rootfs),
        devices: await resolveDevices(config.devices ?? []),
        ...(privileged ? { hostDevices: await listDevices() } : {}),
        ...(sc.seccomp?.profileType === 'Localhost' ? { localhostSeccomp: await loadLocalhostSeccomp(sc.seccomp.localhostRef ?? '') } : {}),
        ...(targetPid !== undefined ? { targetPid } : {}),
        ...(this.o.pidsLimit ? { pidsLimit: this.o.pidsLimit } : {}),
        ...(cdiEdits ? { cdiEdits } : {}),
      });
      // After the (pure) spec checks, so a bad mount is INVALID_ARGUMENT before any host precondition.
      await ensureHostPropagation(hostMountRequirements(mounts, this.o.host));
      await atomicWriteJson(join(bundle, 'config.json'), spec);

      const logPath = resolveLogPath(sandbox.config.logDirectory, config.logPath ?? '');
      if (logPath !== '') await mkdir(dirname(logPath), { recursive: true, mode: 0o755 });
      undo.push({ what: 'runtime container', run: () => runtime.delete(id, { force: true }) });
      undo.push({ what: 'monitor files', run: () => Promise.all([this.o.monitor.cleanup(id), this.o.exits.remove(id)]) });
      const mon = await this.o.monitor.start({
        id,
        bundle,
        runtime,
        logPath,
        exitDir: this.o.exits.dir,
        terminal: config.tty === true,
        stdin: config.stdin === true,
        leaveStdinOpen: config.stdin === true && config.stdinOnce !== true,
      }).catch((err: unknown) => {
        // runc 1.1 looks the command up at create: a user error, not an internal one.
        throw missingExecutable(err, `container "${config.metadata.name}" (attempt ${config.metadata.attempt}) in pod sandbox "${sandbox.id}"`, spec.process?.args ?? []) ?? err;
      });
      const c: Container = {
        id,
        podSandboxId: sandbox.id,
        config,
        image: { requested: config.image.image, id: imageId, ref: imageRef },
        runtimeHandler: handler,
        createdAtNs: nowNs(),
        bundle,
        rootfs,
        upperDir,
        workDir,
        logPath,
        cgroupsPath: spec.linux?.cgroupsPath ?? '',
        user,
        stopSignal: normalizeSignal(config.stopSignal || imageConfig.StopSignal || 'SIGTERM'),
        mounts,
        ...(volumeHolders.length > 0 ? { imageVolumeLeases: volumeHolders } : {}),
        ...(config.linux?.resources ? { resources: config.linux.resources } : {}),
        status: { state: 'CREATED', pid: mon.pid, monitorPid: mon.monitorPid },
      };
      await this.store.add(c);
      log.info({ pid: mon.pid, image: config.image.image, handler }, 'container created');
      return c;
    } catch (err) {
      log.warn({ error: errorMessage(err) }, 'CreateContainer failed; undoing');
      await rollback(undo, log, 'CreateContainer');
      throw err;
    }
  }

  /** CRI image volumes: each image mounted read-only under the bundle (leased while the container exists). */
  private async mountImageVolumes(id: string, recordDir: string, bundle: string, mounts: readonly ContainerMount[], holders: string[], undo: Undo[]): Promise<ContainerMount[]> {
    const out: ContainerMount[] = [];
    for (const [i, m] of mounts.entries()) {
      if (!m.image || m.image.image === '') {
        out.push(m);
        continue;
      }
      const img = await this.o.images.resolve(m.image.image);
      if (!img) throw new NotFoundError(`image volume "${m.image.image}" for mount "${m.containerPath}" not found (pull it first)`);
      const holder = `${id}/volume/${i}`;
      await this.o.images.lease(holder, img.id);
      holders.push(holder);
      undo.push({ what: 'image volume lease', run: () => this.o.images.release(holder) });
      const target = join(bundle, 'volumes', String(i));
      await mountImageReadOnly(await this.o.images.layerDirs(img.id), join(recordDir, 'volumes', String(i)), target);
      undo.push({ what: 'image volume mount', run: () => unmountRootfs(target) });
      const hostPath = m.imageSubPath ? await resolveInRoot(target, m.imageSubPath) : target;
      if (m.imageSubPath && !(await stat(hostPath).then(() => true, () => false))) {
        throw new InvalidArgumentError(`image volume "${m.image.image}": sub path "${m.imageSubPath}" does not exist in the image`);
      }
      out.push({ ...m, hostPath, readonly: true });
    }
    return out;
  }

  // ---- StartContainer ----

  async start(idOrPrefix: string): Promise<void> {
    const started = process.hrtime.bigint();
    const found = this.get(idOrPrefix);
    await this.lock.with(found.id, async () => {
      const cur = this.store.get(found.id);
      if (!cur) throw new NotFoundError(`container "${idOrPrefix}" not found`);
      if (cur.status.state !== 'CREATED') throw new FailedPreconditionError(`container "${cur.id}" is ${cur.status.state}, not CREATED; cannot start it`);
      const runtime = this.o.runtimeFor(cur.runtimeHandler);
      // Taken before `start`: a short-lived process may exit (exit file time) before start returns.
      const startedAtNs = (BigInt(Date.now()) * 1_000_000n).toString();
      try {
        await runtime.start(cur.id);
      } catch (startErr) {
        // Runtimes that look the command up only at start (not runc 1.1) report it here.
        const args = (await readJsonIfExists<Spec>(join(cur.bundle, 'config.json')).catch(() => undefined))?.process?.args ?? [];
        const err = missingExecutable(startErr, `container "${cur.id}" (${cur.config.metadata.name})`, args) ?? startErr;
        const exit = await this.o.exits.read(cur.id);
        await this.store.setStatus(cur.id, {
          ...cur.status,
          state: 'EXITED',
          pid: 0,
          exitCode: exit?.exitCode ?? 128,
          finishedAtNs: exit?.finishedAtNs.toString() ?? nowNs(),
          reason: 'StartError',
          message: errorMessage(err),
        });
        await runtime.delete(cur.id, { force: true }).catch(() => undefined);
        throw err;
      }
      const next = await this.store.setStatus(cur.id, { ...cur.status, state: 'RUNNING', startedAtNs });
      // Inside the lock: a process that exits at once cannot have its STOPPED event go out first.
      if (next) this.publish(next, 'STARTED');
    });
    containerOpDuration.observe({ operation: 'start' }, since(started));
  }

  // ---- StopContainer ----

  /** Signal (StopSignal, then SIGKILL after `timeoutSec`) and wait for the exit. Idempotent, also for unknown ids. */
  async stop(idOrPrefix: string, timeoutSec: number): Promise<void> {
    // As critest's idempotence checks expect: stopping an unknown (e.g. already removed) container is success.
    const c = this.store.find(idOrPrefix);
    if (!c) return;
    const running = this.stopping.get(c.id);
    if (running) return running;
    const p = this.doStop(c.id, timeoutSec).finally(() => this.stopping.delete(c.id));
    this.stopping.set(c.id, p);
    return p;
  }

  private async doStop(id: string, timeoutSec: number): Promise<void> {
    const started = process.hrtime.bigint();
    const c = this.store.get(id);
    if (!c || c.status.state === 'EXITED') return;
    const runtime = this.o.runtimeFor(c.runtimeHandler);
    const kill = async (signal: string): Promise<void> => {
      await runtime.kill(id, signal, { all: false }).catch((err: unknown) => this.o.log.debug({ err, containerId: id, signal }, 'kill failed (already gone?)'));
    };
    if (c.status.state === 'RUNNING' && timeoutSec > 0) {
      await kill(c.stopSignal);
      if (await this.waitExit(id, timeoutSec * 1000)) {
        containerOpDuration.observe({ operation: 'stop' }, since(started));
        return;
      }
      this.o.log.info({ containerId: id, timeoutSec, signal: c.stopSignal }, 'container did not stop in time; sending SIGKILL');
    }
    await kill('SIGKILL');
    if (!(await this.waitExit(id, this.o.killWaitMs ?? 30_000))) {
      // The runtime may know it is gone although conmon wrote nothing (conmon killed): record it.
      const st = await runtime.state(id).catch(() => undefined);
      if (!st || st.status === 'stopped') {
        await this.recordExit({ id, exitCode: 137, finishedAtNs: BigInt(nowNs()) }, 'container stopped but its monitor reported no exit code');
        return;
      }
      throw new DeadlineExceededError(`container "${id}" did not exit after SIGKILL`);
    }
    containerOpDuration.observe({ operation: 'stop' }, since(started));
  }

  /** Wait until the container is EXITED; also reads the exit file itself (fs.watch may miss one). */
  private async waitExit(id: string, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    let delay = 5;
    for (;;) {
      const c = this.store.get(id);
      if (!c || c.status.state === 'EXITED') return true;
      const exit = await this.o.exits.read(id);
      if (exit) {
        await this.onExit(exit);
        return true;
      }
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, Math.min(delay, Math.max(1, deadline - Date.now()))));
      delay = Math.min(delay * 2, 50);
    }
  }

  // ---- RemoveContainer ----

  /** Stops first if needed; removing an unknown container is success. */
  async remove(idOrPrefix: string): Promise<void> {
    const started = process.hrtime.bigint();
    const found = this.store.find(idOrPrefix);
    if (!found) return;
    if (found.status.state !== 'EXITED') await this.stop(found.id, 0);
    let removed: Container | undefined;
    await this.lock.with(found.id, async () => {
      const c = this.store.get(found.id);
      if (!c) return;
      if (!c.status.runtimeDeleted) await this.o.runtimeFor(c.runtimeHandler).delete(c.id, { force: true });
      await this.o.monitor.cleanup(c.id);
      await unmountAll(c.bundle); // the rootfs and any image volumes
      await rm(c.bundle, { recursive: true, force: true });
      // Leases before the record: a crash in between leaves a record whose remove is retried, never a lease nobody owns.
      for (const holder of [c.id, ...(c.imageVolumeLeases ?? [])]) {
        await this.o.images.release(holder).catch((err: unknown) => this.o.log.warn({ err, containerId: c.id, holder }, 'image lease release failed'));
      }
      await this.o.exits.remove(c.id);
      await this.store.delete(c.id);
      removed = c;
      this.o.log.info({ containerId: c.id }, 'container removed');
    });
    containerOpDuration.observe({ operation: 'remove' }, since(started));
    if (removed) this.publish(removed, 'DELETED');
  }

  // ---- pod hooks (StopPodSandbox / RemovePodSandbox) ----

  async stopAll(podSandboxId: string, timeoutSec: number): Promise<void> {
    const live = this.store.ofSandbox(podSandboxId).filter((c) => c.status.state !== 'EXITED');
    await Promise.all(live.map((c) => this.stop(c.id, timeoutSec)));
  }

  async removeAll(podSandboxId: string): Promise<void> {
    await Promise.all(this.store.ofSandbox(podSandboxId).map((c) => this.remove(c.id)));
  }

  // ---- UpdateContainerResources ----

  async updateResources(idOrPrefix: string, resources: LinuxContainerResources): Promise<void> {
    const found = this.get(idOrPrefix);
    await this.lock.with(found.id, async () => {
      const c = this.store.get(found.id);
      if (!c) throw new NotFoundError(`container "${idOrPrefix}" not found`);
      if (c.status.state !== 'RUNNING' && c.status.state !== 'CREATED') {
        throw new FailedPreconditionError(`container "${c.id}" is ${c.status.state}; resources can only be updated while it is created or running`);
      }
      const oci = buildResources(resources, this.o.host, { pidsLimit: this.o.pidsLimit ?? 0 });
      await this.o.runtimeFor(c.runtimeHandler).update(c.id, oci);
      const { status: _status, ...meta } = c;
      await this.store.setMeta(c.id, { ...meta, resources });
    });
  }

  // ---- ReopenContainerLog ----

  async reopenLog(idOrPrefix: string): Promise<void> {
    const c = this.get(idOrPrefix);
    if (c.status.state !== 'RUNNING') throw new FailedPreconditionError(`container "${c.id}" is ${c.status.state}, not RUNNING; cannot reopen its log`);
    if (c.logPath === '') return;
    await this.o.monitor.reopenLog(c.bundle, c.logPath);
  }

  // ---- ExecSync ----

  async execSync(idOrPrefix: string, cmd: readonly string[], timeoutSec: number): Promise<ExecSyncResult> {
    const started = process.hrtime.bigint();
    const c = this.get(idOrPrefix);
    if (cmd.length === 0) throw new InvalidArgumentError('ExecSync: cmd is required');
    if (c.status.state !== 'RUNNING') throw new FailedPreconditionError(`container "${c.id}" is ${c.status.state}, not RUNNING; cannot exec in it`);
    try {
      const res = await execInContainer(this.o.runtimeFor(c.runtimeHandler), c, cmd, timeoutSec);
      execSyncDuration.observe(since(started));
      return res;
    } catch (err) {
      if (err instanceof DeadlineExceededError) execSyncTimeouts.inc();
      throw err;
    }
  }

  // ---- streaming (exec and attach backend seams) ----

  async locate(containerId: string): Promise<ExecTarget> {
    const c = this.get(containerId);
    if (c.status.state !== 'RUNNING') throw new FailedPreconditionError(`container "${c.id}" is ${c.status.state}, not RUNNING`);
    const runtime = this.o.runtimeFor(c.runtimeHandler);
    return { runtimePath: runtime.binary, runtimeArgs: runtime.globalArgs() };
  }

  async locateAttach(containerId: string): Promise<AttachTarget> {
    const c = this.get(containerId);
    if (c.status.state !== 'RUNNING') throw new FailedPreconditionError(`container "${c.id}" is ${c.status.state}, not RUNNING`);
    return {
      attachSocket: this.o.monitor.attachSocketPath(c.id),
      stdin: c.config.stdin === true,
      stdinOnce: c.config.stdinOnce === true,
      resize: (width, height) => this.o.monitor.resize(c.bundle, height, width),
    };
  }

  // ---- exits ----

  private async onExit(e: ExitInfo): Promise<void> {
    if (!this.store.get(e.id)) return;
    await this.recordExit(e);
  }

  private async recordExit(e: ExitInfo, message?: string): Promise<void> {
    await this.lock.with(e.id, async () => {
      const c = this.store.get(e.id);
      if (!c || c.status.state === 'EXITED') return;
      const oom = await wasOomKilled(c.bundle, this.layout, this.o.cgroupDriver, c.cgroupsPath);
      if (oom) containerOomKills.inc();
      const status: ContainerStatusRecord = {
        ...c.status,
        state: 'EXITED',
        pid: 0,
        exitCode: e.exitCode,
        finishedAtNs: e.finishedAtNs.toString(),
        reason: oom ? 'OOMKilled' : e.exitCode === 0 ? 'Completed' : 'Error',
        ...(message ? { message } : {}),
      };
      // The runtime's record and the cgroup go now (as containerd deletes the task on exit).
      status.runtimeDeleted = await this.o
        .runtimeFor(c.runtimeHandler)
        .delete(c.id, { force: true })
        .then(
          () => true,
          (err: unknown) => {
            this.o.log.warn({ err, containerId: c.id }, 'runtime delete after exit failed');
            return false;
          },
        );
      const changed = await this.store.setStatus(c.id, status);
      this.o.log.info({ containerId: c.id, exitCode: e.exitCode, reason: status.reason }, 'container exited');
      if (changed) this.publish(changed, 'STOPPED');
    });
  }

  // ---- recovery ----

  /** Rebuild the store from disk + exit files + runtime state; clean what no record owns. */
  async recover(): Promise<void> {
    await mkdir(this.bundlesDir, { recursive: true, mode: 0o700 });
    for (const r of await this.store.load()) {
      if (!r.meta) {
        this.o.log.warn({ containerId: r.id, error: r.error }, 'container dir without a readable record (crash during CreateContainer?): removing');
        await this.cleanOrphan(r.id);
        await rm(this.store.recordDir(r.id), { recursive: true, force: true });
        continue;
      }
      const before: ContainerStatusRecord = r.status ?? { state: 'UNKNOWN', pid: 0, monitorPid: 0 };
      let status = before;
      if (before.state !== 'EXITED') status = await this.liveStatus(r.meta, before);
      const c: Container = { ...r.meta, status };
      this.store.restore(c);
      if (status !== before) await this.store.setStatus(c.id, status);
      if (status.state !== 'EXITED' && !(await isMounted(c.rootfs))) {
        this.o.log.warn({ containerId: c.id }, 'container rootfs was not mounted after restart: mounting it again');
        await mountRootfs(await this.o.images.layerDirs(c.image.id), this.store.recordDir(c.id), c.rootfs).catch((err: unknown) =>
          this.o.log.error({ err, containerId: c.id }, 'remounting the rootfs failed'),
        );
      }
      this.o.log.info({ containerId: c.id, state: status.state, pid: status.pid }, 'container recovered');
    }
    await this.cleanOrphans();
    this.unsubscribe = this.o.exits.on((e) => void this.onExit(e));
    // Safety net for exits fs.watch did not report (inotify queue overflow under load).
    this.sweeper = setInterval(() => void this.sweepExits(), EXIT_SWEEP_MS);
    this.sweeper.unref();
    // Exits that landed between the scan above and the subscription.
    for (const c of this.store.all()) {
      if (c.status.state === 'EXITED') continue;
      const exit = await this.o.exits.read(c.id);
      if (exit) await this.onExit(exit);
    }
  }

  private async liveStatus(meta: ContainerMeta, before: ContainerStatusRecord): Promise<ContainerStatusRecord> {
    const { id, runtimeHandler: handler } = meta;
    const exit = await this.o.exits.read(id);
    if (exit) {
      // Read before the runtime delete removes the cgroup (its oom_kill counter).
      const oom = await wasOomKilled(meta.bundle, this.layout, this.o.cgroupDriver, meta.cgroupsPath);
      if (oom) containerOomKills.inc();
      await this.runtimeOrUndefined(handler)?.delete(id, { force: true }).catch(() => undefined);
      return {
        ...before,
        state: 'EXITED',
        pid: 0,
        exitCode: exit.exitCode,
        finishedAtNs: exit.finishedAtNs.toString(),
        reason: oom ? 'OOMKilled' : exit.exitCode === 0 ? 'Completed' : 'Error',
      };
    }
    const st = await this.runtimeOrUndefined(handler)
      ?.state(id)
      .catch(() => undefined);
    if (st && (st.status === 'running' || st.status === 'paused')) return { ...before, state: 'RUNNING', pid: st.pid, ...(before.startedAtNs ? {} : { startedAtNs: nowNs() }) };
    if (st && st.status === 'created') return { ...before, state: 'CREATED', pid: st.pid };
    await this.runtimeOrUndefined(handler)?.delete(id, { force: true }).catch(() => undefined);
    return { ...before, state: 'EXITED', pid: 0, exitCode: 255, finishedAtNs: nowNs(), reason: 'Unknown', message: 'the container was gone after a daemon restart and left no exit code' };
  }

  private async cleanOrphans(): Promise<void> {
    for (const h of this.o.handlers.list()) {
      const runtime = this.runtimeOrUndefined(h.name);
      if (!runtime) continue;
      for (const st of await runtime.list().catch(() => [])) {
        if (this.store.get(st.id) || !st.bundle.startsWith(this.bundlesDir + '/')) continue;
        this.o.log.warn({ containerId: st.id, status: st.status }, 'orphan container in the runtime: deleting');
        await runtime.delete(st.id, { force: true }).catch((err: unknown) => this.o.log.warn({ err, containerId: st.id }, 'orphan delete failed'));
      }
    }
    for (const name of await readdir(this.bundlesDir).catch(() => [] as string[])) {
      if (this.store.get(name)) continue;
      this.o.log.warn({ containerId: name }, 'orphan container bundle: removing');
      await this.cleanOrphan(name);
    }
  }

  private async cleanOrphan(id: string): Promise<void> {
    const bundle = join(this.bundlesDir, id);
    await unmountAll(bundle).catch((err: unknown) => this.o.log.warn({ err, containerId: id }, 'orphan rootfs unmount failed'));
    await rm(bundle, { recursive: true, force: true });
    await this.o.monitor.cleanup(id);
    await this.o.exits.remove(id);
    for (const l of this.o.images.leases()) {
      if (l.holder === id || l.holder.startsWith(`${id}/`)) await this.o.images.release(l.holder).catch(() => undefined);
    }
  }

  private async sweepExits(): Promise<void> {
    for (const c of [...this.store.all()]) {
      if (c.status.state !== 'RUNNING') continue;
      const exit = await this.o.exits.read(c.id);
      if (!exit) continue;
      // Logged: exits the watcher keeps missing point at inotify trouble (queue overflow, a replaced dir).
      this.o.log.info({ containerId: c.id, exitCode: exit.exitCode }, 'exit found by the periodic sweep: fs.watch did not report it');
      await this.onExit(exit);
    }
  }

  /** Graceful shutdown: containers keep running under conmon; only the exit subscription goes. */
  close(): void {
    this.unsubscribe?.();
    clearInterval(this.sweeper);
  }

  // ---- events ----

  private publish(c: Container, type: ContainerEventType): void {
    const siblings = this.store.ofSandbox(c.podSandboxId).filter((x) => x.id !== c.id);
    const sandbox = this.o.sandboxes.find(c.podSandboxId);
    this.o.events.publish({ id: c.id, type, podSandboxId: c.podSandboxId, createdAtNs: nowNs(), containers: [c, ...siblings], ...(sandbox ? { sandbox } : {}) });
  }

  /** Pod events (the sandboxes' hook): the event's id is the pod's, as containerd sends them. */
  publishSandbox(sandbox: Sandbox, type: ContainerEventType): void {
    this.o.events.publish({ id: sandbox.id, type, podSandboxId: sandbox.id, createdAtNs: nowNs(), containers: this.store.ofSandbox(sandbox.id), sandbox });
  }

  // ---- stats source ----

  listContainers(): StatsContainerInfo[] {
    return [...this.store.all()].map(statsInfo);
  }

  getContainer(id: string): StatsContainerInfo | undefined {
    try {
      const c = this.store.find(id);
      return c ? statsInfo(c) : undefined;
    } catch {
      return undefined;
    }
  }

  private runtimeOrUndefined(handler: string): OciRuntime | undefined {
    try {
      return this.o.runtimeFor(handler);
    } catch {
      return undefined;
    }
  }
}

function statsInfo(c: Container): StatsContainerInfo {
  const state = c.status.state === 'CREATED' ? 'created' : c.status.state === 'RUNNING' ? 'running' : c.status.state === 'EXITED' ? 'exited' : 'unknown';
  return {
    id: c.id,
    podSandboxId: c.podSandboxId,
    metadata: { ...c.config.metadata },
    labels: c.config.labels ?? {},
    annotations: c.config.annotations ?? {},
    image: c.image.requested,
    state,
    cgroupsPath: c.cgroupsPath,
    upperDir: c.upperDir,
  };
}

function nowNs(): string {
  return (BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n)).toString();
}
