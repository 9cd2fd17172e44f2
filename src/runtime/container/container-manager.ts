// Application containers: Create/Start/Stop/Remove/Status/List/Update/ReopenLog/ExecSync on top
// of the image snapshots (overlay rootfs), the OCI spec builder, the conmon monitor + OCI runtime
// the sandboxes use (unchanged), and the shared exit watcher. Each container's changes run under
// its own lock; Stop waits without the lock (the exit handler takes it to record the exit). The
// work of Create, Remove and recovery lives in container-create.ts, container-teardown.ts and
// container-recovery.ts. Records live in ContainerStore (memory + atomic files). A Create whose
// caller went away keeps going and is handed to the caller's identical retry (CreateHandoff).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { AlreadyExistsError, DeadlineExceededError, FailedPreconditionError, InvalidArgumentError, NotFoundError, errorMessage } from '../../lib/errors.js';
import { readJsonIfExists } from '../../lib/fsutil.js';
import { BackoffRetry } from '../../lib/backoff-retry.js';
import { CreateHandoff, fingerprint } from '../../lib/create-handoff.js';
import { KeyedLock } from '../../lib/keyed-lock.js';
import { nowNs } from '../../lib/time.js';
import type { ContainerConfig, LinuxContainerResources } from './container-config.js';
import { createContainer, type ContainerRequest } from './container-create.js';
import type { ContainerManagerOptions } from './container-deps.js';
import { containerOomKills, containerOpDuration, execSyncDuration, execSyncTimeouts, since } from './container-metrics.js';
import { execInContainer, type ExecSyncResult } from './container-exec.js';
import { wasOomKilled } from './container-oom.js';
import { finishedAtNs, type Container, type ContainerEventType, type ContainerFilter, type ContainerState, type ContainerStatusRecord } from './container-record.js';
import { recoverContainers } from './container-recovery.js';
import { checkpointRunning, sweepCheckpointLeftovers, type CheckpointResult } from './container-checkpoint.js';
import { prepareRestore, startRestored } from './container-restore.js';
import { ContainerStore } from './container-store.js';
import { cleanedUpStatus, discardDir, releaseContainerResources, releaseExited, sweepTrash, trashDirs } from './container-teardown.js';
import { startCreated } from '../engine/exec-fifo.js';
import type { ExitInfo } from '../engine/exit-watcher.js';
import { missingExecutable } from '../engine/oci-runtime.js';
import { buildResources } from '../oci-spec/resources.js';
import type { Spec } from '../oci-spec/types.js';
import type { Sandbox } from '../sandbox/sandbox-config.js';
import type { ContainerStatsSource, StatsContainerInfo } from '../stats/provider.js';
import type { AttachLocator, AttachTarget } from '../streaming/conmon-attach.js';
import type { ContainerLocator, ExecTarget } from '../streaming/runc-exec.js';

export type { ContainerManagerOptions } from './container-deps.js';

export class ContainerManager implements ContainerStatsSource, ContainerLocator, AttachLocator {
  private listed: { version: number; items: readonly Container[] } | undefined;
  readonly store: ContainerStore;
  private readonly lock = new KeyedLock();
  private readonly stopping = new Map<string, Promise<void>>();
  /** Releases of exited containers in progress (never rejected: failures go to releaseRetry). */
  private readonly releasing = new Map<string, Promise<void>>();
  /** Exited containers whose bundle has nothing mounted any more (memory only: a restart checks again). */
  private readonly unmounted = new Set<string>();
  private readonly handoff: CreateHandoff<Container>;
  private readonly cleanupRetry: BackoffRetry;
  /** Retries of an exited container's runtime delete / unmount that failed (Remove also finishes them). */
  private readonly releaseRetry: BackoffRetry;
  private unsubscribe: (() => void) | undefined;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly o: ContainerManagerOptions) {
    this.store = new ContainerStore(join(o.rootDir, 'containers'));
    this.handoff = new CreateHandoff<Container>({
      holdMs: o.handoffHoldMs ?? 120_000,
      operation: 'CreateContainer',
      log: o.log,
      deliver: (c) => {
        this.store.reveal(c.id);
        this.publish(this.store.get(c.id) ?? c, 'CREATED');
      },
      expire: (c) => this.removeById(c.id),
    });
    this.cleanupRetry = new BackoffRetry({ initialMs: o.cleanupRetry?.initialMs ?? 5_000, maxMs: o.cleanupRetry?.maxMs ?? 300_000, log: o.log });
    this.releaseRetry = new BackoffRetry({ initialMs: o.cleanupRetry?.initialMs ?? 5_000, maxMs: o.cleanupRetry?.maxMs ?? 300_000, log: o.log });
  }

  // ---- reads (memory only) ----

  get(idOrPrefix: string): Container {
    const c = this.store.find(idOrPrefix);
    if (!c) throw new NotFoundError(`container "${idOrPrefix}" not found`);
    return c;
  }

  /**
   * Visible containers, oldest first. The unfiltered list (the kubelet's relist, every second) is
   * kept sorted until the store changes: answering it builds and sorts nothing.
   */
  list(filter: ContainerFilter = {}): readonly Container[] {
    if (filter.id || filter.state || filter.podSandboxId || filter.labelSelector) return byCreation(this.store.list(filter));
    const version = this.store.version;
    if (this.listed?.version !== version) this.listed = { version, items: byCreation(this.store.list()) };
    return this.listed.items;
  }

  /** The OCI spec as written (verbose ContainerStatus). */
  async spec(id: string): Promise<Spec | undefined> {
    return readJsonIfExists<Spec>(join(this.get(id).bundle, 'config.json'));
  }

  /** Containers by state for the containers gauge (visible ones; the daemon wiring registers this). */
  stateCounts(): Map<ContainerState, number> {
    const counts = new Map<ContainerState, number>();
    for (const c of this.store.visible()) counts.set(c.status.state, (counts.get(c.status.state) ?? 0) + 1);
    return counts;
  }

  // ---- CreateContainer ----

  /**
   * `cancelled` is the call's: a Create whose caller went away still finishes and is handed to the
   * identical retry (same pod and config: same id), or undone completely when none comes.
   */
  async create(podSandboxId: string, config: ContainerConfig, cancelled?: AbortSignal): Promise<Container> {
    const started = process.hrtime.bigint();
    if (podSandboxId === '') throw new InvalidArgumentError('CreateContainer: pod_sandbox_id is required');
    if (config.metadata.name === '') throw new InvalidArgumentError('CreateContainer: container metadata.name is required');
    if (config.image.image === '') throw new InvalidArgumentError(`container "${config.metadata.name}": image is required`);
    const sandbox = this.o.sandboxes.get(podSandboxId);
    if (sandbox.state !== 'READY') {
      throw new FailedPreconditionError(`pod sandbox "${sandbox.id}" is not ready (${sandbox.state}); cannot create container "${config.metadata.name}"`);
    }
    // An image that is a checkpoint archive's path: the container is restored from it (container-restore.ts).
    const restore = await prepareRestore(this.o, sandbox, config);
    const found = restore ? undefined : await this.o.images.resolve(config.image.image);
    if (!restore && !found) throw new NotFoundError(`image "${config.image.image}" not found (pull it first)`);
    const image = restore?.image ?? { id: found!.id, ref: found!.repoDigests[0] ?? found!.id, config: found!.config };
    const key = ContainerStore.nameKey(sandbox.id, config.metadata.name, config.metadata.attempt);
    const what = `container "${config.metadata.name}" (attempt ${config.metadata.attempt}) in pod sandbox "${sandbox.id}"`;
    const print = fingerprint({ podSandboxId: sandbox.id, config });
    const inFlight = this.handoff.fingerprintOf(key);
    if (inFlight !== undefined) {
      if (inFlight !== print) throw new AlreadyExistsError(`${what} is being created by another request with a different configuration`);
      if (!this.handoff.abandoned(key)) throw new AlreadyExistsError(`${what} is already being created by another request`);
      return this.handoff.join(key, cancelled);
    }
    this.handoff.throwIfGone(cancelled);
    const runtime = this.o.runtimeFor(sandbox.runtimeHandler);
    const id = randomBytes(32).toString('hex');
    this.store.reserveName(key, id, what);
    const req: ContainerRequest = { id, sandbox, config: restore?.config ?? config, image, runtime, ...(restore ? { restore: restore.hooks } : {}) };
    return this.handoff.run(key, print, cancelled, () => this.createLocked(key, req, started));
  }

  /** The creation itself, which goes on when its caller leaves; it owns the name until it ends. */
  private async createLocked(key: string, req: ContainerRequest, started: bigint): Promise<Container> {
    try {
      const c = await this.lock.with(req.id, () => createContainer(this.o, this.store, req));
      containerOpDuration.observe({ operation: 'create' }, since(started));
      return c;
    } catch (err) {
      // An UNKNOWN record (cleanup left) keeps the name; anything else gives it back.
      const kept = this.store.get(req.id);
      if (kept?.status.cleanup) this.scheduleCleanup(req.id);
      else if (!kept) this.store.releaseName(key, req.id);
      throw err;
    }
  }

  /** Finish the cleanup an UNKNOWN container owes, in the background, backing off between tries. */
  private scheduleCleanup(id: string): void {
    this.cleanupRetry.schedule(id, () =>
      this.lock.with(id, async () => {
        if (this.store.get(id)?.status.cleanup) await this.finishCleanupLocked(id);
        return true;
      }),
    );
  }

  private async finishCleanupLocked(id: string): Promise<void> {
    const c = this.store.get(id);
    if (!c?.status.cleanup) return;
    await releaseContainerResources(this.o, c);
    await this.store.setStatus(id, cleanedUpStatus(c));
    this.cleanupRetry.cancel(id);
    this.o.log.info({ containerId: id }, 'cleanup left by a failed CreateContainer is done; the container is EXITED');
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
      let restored: { pid: number; monitorPid: number } | undefined;
      try {
        if (cur.restore) restored = await startRestored(this.o, this.store.recordDir(cur.id), cur);
        // Through runc's exec fifo when it can: no `runc start` process.
        else await startCreated(runtime, cur.id, cur.status.pid);
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
        this.releaseExitedLater(cur.id); // queued behind this lock: the runtime's record and the rootfs mount
        throw err;
      }
      const next = await this.store.setStatus(cur.id, { ...cur.status, ...restored, state: 'RUNNING', startedAtNs });
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
    return this.stopById(c.id, timeoutSec);
  }

  private stopById(id: string, timeoutSec: number): Promise<void> {
    const running = this.stopping.get(id);
    if (running) return running;
    const p = this.doStop(id, timeoutSec)
      .then(() => this.releasing.get(id))
      .finally(() => this.stopping.delete(id));
    this.stopping.set(id, p);
    return p;
  }

  private async doStop(id: string, timeoutSec: number): Promise<void> {
    const started = process.hrtime.bigint();
    const c = this.store.get(id);
    if (!c || c.status.state === 'EXITED') return;
    if (c.status.cleanup) {
      // A CreateContainer whose undo failed: Stop finishes that cleanup (nothing ever ran).
      await this.lock.with(id, () => this.finishCleanupLocked(id));
      return;
    }
    if (c.status.state === 'CREATED' && c.restore) {
      // A restore never started: nothing runs and the runtime does not know the container.
      await this.recordExit({ id, exitCode: 0, finishedAtNs: BigInt(nowNs()) }, 'stopped before its restore was started');
      return;
    }
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
    const found = this.store.find(idOrPrefix);
    if (found) await this.removeById(found.id);
  }

  /** Also for containers hidden for a retry (their pod's removal, an unclaimed handoff): no events for those. */
  private async removeById(id: string): Promise<void> {
    const started = process.hrtime.bigint();
    const found = this.store.get(id);
    if (!found) return;
    if (found.status.state !== 'EXITED') await this.stopById(found.id, 0);
    let removed: Container | undefined;
    let hidden = false;
    await this.lock.with(found.id, async () => {
      const c = this.store.get(found.id);
      if (!c) return;
      hidden = this.store.isHidden(c.id);
      await releaseContainerResources(this.o, c, this.unmounted.has(c.id));
      // The record dir (with the writable layer) is renamed away, then deleted in the background.
      await discardDir(this.store.recordDir(c.id), trashDirs(this.o).records, this.o.log);
      this.store.forget(c.id);
      this.cleanupRetry.cancel(c.id);
      this.releaseRetry.cancel(c.id);
      this.unmounted.delete(c.id);
      if (hidden) this.handoff.discard(ContainerStore.nameKey(c.podSandboxId, c.config.metadata.name, c.config.metadata.attempt));
      removed = c;
      this.o.log.info({ containerId: c.id }, 'container removed');
    });
    containerOpDuration.observe({ operation: 'remove' }, since(started));
    if (removed && !hidden) this.publish(removed, 'DELETED');
  }

  // ---- pod hooks (StopPodSandbox / RemovePodSandbox) ----

  /** Hidden containers too: they belong to the pod. */
  async stopAll(podSandboxId: string, timeoutSec: number): Promise<void> {
    const live = this.store.ofSandbox(podSandboxId).filter((c) => c.status.state !== 'EXITED');
    await Promise.all(live.map((c) => this.stopById(c.id, timeoutSec)));
  }

  async removeAll(podSandboxId: string): Promise<void> {
    await Promise.all(this.store.ofSandbox(podSandboxId).map((c) => this.removeById(c.id)));
  }

  // ---- CheckpointContainer ----

  /** A CRIU checkpoint archive at `location`; the container keeps running (container-checkpoint.ts). */
  async checkpoint(idOrPrefix: string, location: string, timeoutSec: number): Promise<CheckpointResult> {
    const found = this.get(idOrPrefix);
    return this.lock.with(found.id, () => checkpointRunning(this.o, this.store.get(found.id) ?? found, location, timeoutSec));
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
    return { runtimePath: runtime.binary, runtimeArgs: runtime.globalArgs(), bundle: c.bundle };
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
    let recorded = false;
    await this.lock.with(e.id, async () => {
      const c = this.store.get(e.id);
      if (!c || c.status.state === 'EXITED' || c.status.cleanup) return;
      const oom = await wasOomKilled(c.bundle, this.o.cgroupLayout, this.o.cgroupDriver, c.cgroupsPath);
      if (oom) containerOomKills.inc();
      const status: ContainerStatusRecord = {
        ...c.status,
        state: 'EXITED',
        pid: 0,
        exitCode: e.exitCode,
        finishedAtNs: finishedAtNs(e.finishedAtNs, c.status.startedAtNs),
        reason: oom ? 'OOMKilled' : e.exitCode === 0 ? 'Completed' : 'Error',
        ...(message ? { message } : {}),
      };
      const changed = await this.store.setStatus(c.id, status);
      this.o.log.info({ containerId: c.id, exitCode: e.exitCode, reason: status.reason }, 'container exited');
      if (changed && !this.store.isHidden(c.id)) this.publish(changed, 'STOPPED');
      recorded = true;
    });
    if (recorded) this.releaseExitedLater(e.id);
  }

  /**
   * The runtime's record (and cgroup) and the rootfs mount go once the exit is recorded, as
   * containerd deletes the task on exit: under the container's lock, retried with backoff when it
   * fails (Remove finishes whatever is left). StopContainer waits for it, as containerd's does for
   * the task delete, so the kubelet's RemoveContainer right after finds only directories left; an
   * exit nobody asked for is released in the background.
   */
  private releaseExitedLater(id: string): void {
    const p: Promise<void> = this.lock
      .with(id, () => this.releaseExitedLocked(id))
      .catch((err: unknown) => {
        this.o.log.warn({ err, containerId: id }, 'releasing an exited container (runtime delete, rootfs unmount) failed; retrying in the background');
        this.releaseRetry.schedule(id, () => this.lock.with(id, () => this.releaseExitedLocked(id)).then(() => true));
      })
      .finally(() => {
        if (this.releasing.get(id) === p) this.releasing.delete(id);
      });
    this.releasing.set(id, p);
  }

  private async releaseExitedLocked(id: string): Promise<void> {
    const c = this.store.get(id);
    if (!c || c.status.state !== 'EXITED' || c.status.cleanup) return;
    if (await releaseExited(this.o, c)) await this.store.setStatus(id, { ...c.status, runtimeDeleted: true });
    this.unmounted.add(id);
    this.releaseRetry.cancel(id);
  }

  // ---- recovery ----

  /** Rebuild the store from disk + exit files + runtime state; clean what no record owns. */
  async recover(): Promise<void> {
    for (const id of await recoverContainers(this.o, this.store)) this.scheduleCleanup(id);
    void sweepTrash(this.o);
    await sweepCheckpointLeftovers(this.o, this.store);
    this.unsubscribe = this.o.exits.on((e) => void this.onExit(e));
    // Safety net for exits fs.watch did not report (inotify queue overflow under load).
    this.sweeper = setInterval(() => void this.sweepExits(), this.o.exitSweepMs ?? 5_000);
    this.sweeper.unref();
    // Exits that landed between the scan above and the subscription; exited containers whose
    // runtime record or rootfs mount outlived a crash.
    for (const c of [...this.store.all()]) {
      if (c.status.state === 'EXITED') {
        if (!c.status.cleanup) this.releaseExitedLater(c.id);
        continue;
      }
      const exit = await this.o.exits.read(c.id);
      if (exit) await this.onExit(exit);
    }
  }

  private async sweepExits(): Promise<void> {
    let checked = 0;
    for (const c of [...this.store.all()]) {
      if (c.status.state !== 'RUNNING') continue;
      // A stat per container, synchronous: hundreds in a row held the kubelet's polls for
      // milliseconds, so the loop gets a turn every few dozen.
      if (++checked % 32 === 0) await new Promise((r) => setImmediate(r));
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
    this.handoff.close();
    this.cleanupRetry.close();
    this.releaseRetry.close();
  }

  // ---- events ----

  private publish(c: Container, type: ContainerEventType): void {
    const siblings = this.store.ofSandbox(c.podSandboxId).filter((x) => x.id !== c.id && !this.store.isHidden(x.id));
    const sandbox = this.o.sandboxes.find(c.podSandboxId);
    this.o.events.publish({ id: c.id, type, podSandboxId: c.podSandboxId, createdAtNs: nowNs(), containers: [c, ...siblings], ...(sandbox ? { sandbox } : {}) });
  }

  /** Pod events (the sandboxes' hook): the event's id is the pod's, as containerd sends them. */
  publishSandbox(sandbox: Sandbox, type: ContainerEventType): void {
    const containers = this.store.ofSandbox(sandbox.id).filter((c) => !this.store.isHidden(c.id));
    this.o.events.publish({ id: sandbox.id, type, podSandboxId: sandbox.id, createdAtNs: nowNs(), containers, sandbox });
  }

  // ---- stats source ----

  listContainers(): StatsContainerInfo[] {
    return [...this.store.visible()].map(statsInfo);
  }

  getContainer(id: string): StatsContainerInfo | undefined {
    try {
      const c = this.store.find(id);
      return c ? statsInfo(c) : undefined;
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

/** Decimal ns strings: shorter is older, same length compares as text (no BigInt per comparison). */
function byCreation(items: Container[]): Container[] {
  return items.sort((a, b) => a.createdAtNs.length - b.createdAtNs.length || (a.createdAtNs < b.createdAtNs ? -1 : a.createdAtNs > b.createdAtNs ? 1 : 0));
}
