// Pod sandboxes: RunPodSandbox / Stop / Remove / status / list. The manager looks pods up, takes
// each pod's lock and hands the work to its steps: sandbox-create.ts (Run, with its undo),
// sandbox-teardown.ts (Stop, Remove, and the retry of cleanup a failed Run left), sandbox-recovery.ts
// (after a restart). Records live in SandboxStore (memory for reads, atomic files). A Run whose
// caller went away keeps going and is handed to the caller's identical retry (CreateHandoff).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { AlreadyExistsError, FailedPreconditionError, NotFoundError } from '../../lib/errors.js';
import { readJsonIfExists } from '../../lib/fsutil.js';
import { KeyedLock } from '../../lib/keyed-lock.js';
import { BackoffRetry } from '../../lib/backoff-retry.js';
import { CreateHandoff, fingerprint } from '../../lib/create-handoff.js';
import type { IdMappings, LinuxContainerResources } from '../container/container-config.js';
import { describeMappings, hostRangesOverlap, podUserns } from '../oci-spec/userns.js';
import type { ExitInfo } from '../engine/exit-watcher.js';
import type { SandboxStatsSource, StatsSandboxInfo } from '../stats/provider.js';
import type { ContainerHooks, Sandbox, SandboxConfig, SandboxFilter } from './sandbox-config.js';
import { applyPodLimits, createSandbox, type SandboxRequest } from './sandbox-create.js';
import type { SandboxManagerOptions } from './sandbox-deps.js';
import { recoverSandboxes } from './sandbox-recovery.js';
import { SandboxStore } from './sandbox-store.js';
import { exitedRecord, needsStop, removeStoppedSandbox, stopSandbox } from './sandbox-teardown.js';
import { validateSandboxConfig, validateUsernsHandler } from './sandbox-validate.js';

export type { SandboxManagerOptions } from './sandbox-deps.js';

export class SandboxManager implements SandboxStatsSource {
  readonly store: SandboxStore;
  private readonly lock = new KeyedLock();
  private readonly handoff: CreateHandoff<Sandbox>;
  private readonly cleanupRetry: BackoffRetry;
  private hooks: ContainerHooks | undefined;
  private unsubscribe: (() => void) | undefined;
  /** Host id ranges of user namespaces being created (not in the store yet), by pod id. */
  private readonly usernsInFlight = new Map<string, IdMappings>();

  constructor(private readonly o: SandboxManagerOptions) {
    this.store = new SandboxStore(join(o.rootDir, 'sandboxes'));
    this.handoff = new CreateHandoff<Sandbox>({
      holdMs: o.handoffHoldMs ?? 120_000,
      operation: 'RunPodSandbox',
      log: o.log,
      deliver: (s) => this.revealCreated(s),
      expire: (s) => this.removeById(s.id),
    });
    this.cleanupRetry = new BackoffRetry({ initialMs: o.cleanupRetry?.initialMs ?? 5_000, maxMs: o.cleanupRetry?.maxMs ?? 300_000, log: o.log });
  }

  setContainerHooks(hooks: ContainerHooks): void {
    this.hooks = hooks;
  }

  // ---- reads (memory only: the kubelet polls these) ----

  /** By full id or unique prefix. */
  get(idOrPrefix: string): Sandbox {
    const s = this.find(idOrPrefix);
    if (!s) throw new NotFoundError(`pod sandbox "${idOrPrefix}" not found`);
    return s;
  }

  find(idOrPrefix: string): Sandbox | undefined {
    return this.store.find(idOrPrefix);
  }

  list(filter: SandboxFilter = {}): Sandbox[] {
    return this.store.list(filter);
  }

  // ---- RunPodSandbox ----

  /**
   * `cancelled` is the call's: a Run whose caller went away still finishes and is handed to the
   * identical retry (same config and handler: same id), or undone completely when none comes.
   */
  async run(config: SandboxConfig, runtimeHandler: string, cancelled?: AbortSignal): Promise<Sandbox> {
    const started = process.hrtime.bigint();
    validateSandboxConfig(config, this.o.host);
    const handler = runtimeHandler === '' ? this.o.handlers.defaultName : runtimeHandler;
    validateUsernsHandler(config, this.o.handlers.get(handler)); // unknown handler -> InvalidArgument naming it
    const runtime = this.o.runtimeFor(handler);
    const key = SandboxStore.nameKey(config.metadata);
    const print = fingerprint({ config, handler });
    const what = `pod sandbox ${config.metadata.namespace}/${config.metadata.name} (uid ${config.metadata.uid}, attempt ${config.metadata.attempt})`;
    const inFlight = this.handoff.fingerprintOf(key);
    if (inFlight !== undefined) {
      if (inFlight !== print) throw new AlreadyExistsError(`${what} is being created by another request with a different configuration`);
      if (!this.handoff.abandoned(key)) throw new AlreadyExistsError(`${what} is already being created by another request`);
      return this.handoff.join(key, cancelled);
    }
    this.handoff.throwIfGone(cancelled);
    const userns = podUserns(config.namespaceOptions);
    if (userns) this.checkUsernsFree(userns, what);
    const id = randomBytes(32).toString('hex');
    this.store.reserveName(key, id, what);
    if (userns) this.usernsInFlight.set(id, userns);
    return this.handoff.run(key, print, cancelled, () => this.createLocked(key, { id, config, handler, runtime, started }));
  }

  /** Two live pods never share host ids: each pod's root must be a stranger to every other pod. */
  private checkUsernsFree(userns: IdMappings, what: string): void {
    const taken = [...this.store.all()]
      .filter((s) => s.state !== 'NOTREADY')
      .map((s) => ({ owner: `pod sandbox ${s.metadata.namespace}/${s.metadata.name} (${s.id.slice(0, 13)})`, m: podUserns(s.namespaceOptions) }))
      .concat([...this.usernsInFlight].map(([id, m]) => ({ owner: `pod sandbox ${id.slice(0, 13)} (being created)`, m })));
    for (const t of taken) {
      if (t.m && hostRangesOverlap(userns, t.m)) {
        throw new FailedPreconditionError(
          `${what}: namespace_options.userns_options host ids (${describeMappings(userns)}) overlap those of running ${t.owner} (${describeMappings(t.m)})`,
        );
      }
    }
  }

  /** The creation itself, which goes on when its caller leaves; it owns the name until it ends. */
  private async createLocked(key: string, req: SandboxRequest): Promise<Sandbox> {
    try {
      return await this.lock.with(req.id, async () => {
        const s = await createSandbox(this.o, this.store, req);
        // The infra may have died between start and now; the exit watcher saw it before we knew the id.
        const early = await this.o.exits.read(s.id);
        const exited = early ? exitedRecord(s, early) : undefined;
        if (exited) await this.store.save(exited);
        return exited ?? s;
      });
    } catch (err) {
      // An UNKNOWN record (cleanup left) keeps the name; anything else gives it back.
      const kept = this.store.get(req.id);
      if (kept?.state === 'UNKNOWN') this.scheduleCleanup(req.id);
      else if (!kept) this.store.releaseName(key, req.id);
      throw err;
    } finally {
      this.usernsInFlight.delete(req.id);
    }
  }

  /** The pod reached a caller: visible from now on, and its events go out. */
  private revealCreated(s: Sandbox): void {
    this.store.reveal(s.id);
    this.hooks?.sandboxEvent?.(s, 'CREATED');
    this.hooks?.sandboxEvent?.(s, 'STARTED');
    const now = this.store.get(s.id);
    if (now && now.state !== 'READY') this.hooks?.sandboxEvent?.(now, 'STOPPED');
  }

  // ---- StopPodSandbox ----

  /** Idempotent: stopping a stopped or unknown pod is success (the kubelet and critest rely on it). */
  async stop(idOrPrefix: string): Promise<void> {
    const found = this.find(idOrPrefix);
    if (!found) {
      this.o.log.debug({ podSandboxId: idOrPrefix }, 'StopPodSandbox of an unknown pod: nothing to do');
      return;
    }
    await this.lock.with(found.id, () => this.stopLocked(found.id));
  }

  private async stopLocked(id: string): Promise<void> {
    const before = this.store.get(id);
    const next = await stopSandbox(this.o, this.store, this.hooks, id);
    this.cleanupRetry.cancel(id);
    if (next && before?.state === 'READY' && !this.store.isHidden(id)) this.hooks?.sandboxEvent?.(next, 'STOPPED');
  }

  // ---- RemovePodSandbox ----

  /** Idempotent: removing a removed pod is success. */
  async remove(idOrPrefix: string): Promise<void> {
    const found = this.find(idOrPrefix);
    if (found) await this.removeById(found.id);
  }

  /** Also for a pod held for a retry that never came (hidden: no events). */
  private async removeById(id: string): Promise<void> {
    await this.lock.with(id, async () => {
      const s = this.store.get(id);
      if (!s) return;
      const hidden = this.store.isHidden(id);
      if (this.hooks) await this.hooks.removeAll(id);
      if (needsStop(s)) await this.stopLocked(id);
      const last = this.store.get(id) ?? s;
      await removeStoppedSandbox(this.o, this.store, last);
      this.cleanupRetry.cancel(id);
      if (hidden) this.handoff.discard(SandboxStore.nameKey(s.config.metadata));
      this.o.log.info({ podSandboxId: id }, 'pod sandbox removed');
      if (!hidden) this.hooks?.sandboxEvent?.(last, 'DELETED');
    });
  }

  // ---- UpdatePodSandboxResources ----

  /** Applies the pod-level overhead/resources the kubelet sent to the pod cgroup and records them. */
  async updateResources(idOrPrefix: string, r: { overhead?: LinuxContainerResources; resources?: LinuxContainerResources }): Promise<void> {
    const found = this.get(idOrPrefix);
    await this.lock.with(found.id, async () => {
      const s = this.store.get(found.id);
      if (!s) throw new NotFoundError(`pod sandbox "${idOrPrefix}" not found`);
      const config: SandboxConfig = { ...s.config };
      if (r.overhead) config.overhead = r.overhead;
      if (r.resources) config.resources = r.resources;
      await applyPodLimits(this.o, config);
      await this.store.save({ ...s, config });
    });
  }

  // ---- verbose status ----

  /** The infra's OCI spec as written (for verbose PodSandboxStatus). */
  async infraSpec(id: string): Promise<unknown> {
    return readJsonIfExists(join(this.get(id).bundle, 'config.json'));
  }

  // ---- recovery and shutdown ----

  /** Load records, check each infra, clean orphans. Called before the socket is bound. */
  async recover(): Promise<void> {
    for (const id of await recoverSandboxes(this.o, this.store)) this.scheduleCleanup(id);
    this.unsubscribe = this.o.exits.on((e) => void this.onExit(e));
    for (const s of [...this.store.all()]) {
      if (s.state !== 'READY') continue;
      const exit = await this.o.exits.read(s.id);
      if (exit) await this.onExit(exit);
    }
  }

  /** Graceful shutdown: pods keep running; only the watcher goes, the spare netns, and the netns dir if unused. */
  async close(): Promise<void> {
    this.unsubscribe?.();
    this.handoff.close();
    this.cleanupRetry.close();
    await this.o.netns.close().catch(() => undefined);
    await this.o.infra.close();
  }

  /** Finish the cleanup an UNKNOWN pod owes, in the background, backing off between tries. */
  private scheduleCleanup(id: string): void {
    this.cleanupRetry.schedule(id, () =>
      this.lock.with(id, async () => {
        if (this.store.get(id)?.state !== 'UNKNOWN') return true;
        await this.stopLocked(id);
        return true;
      }),
    );
  }

  private async onExit(e: ExitInfo): Promise<void> {
    if (!this.store.has(e.id)) return;
    await this.lock.with(e.id, async () => {
      const next = exitedRecord(this.store.get(e.id), e);
      if (!next) return;
      await this.store.save(next);
      this.o.log.warn({ podSandboxId: next.id, exitCode: e.exitCode }, 'pod sandbox infra exited; pod is NOTREADY');
      if (!this.store.isHidden(next.id)) this.hooks?.sandboxEvent?.(next, 'STOPPED');
    });
  }

  /** Pods by state for the pods gauge (visible ones; the daemon wiring registers this). */
  states(): Iterable<Sandbox> {
    return this.store.visible();
  }

  // ---- stats source ----

  listSandboxes(): StatsSandboxInfo[] {
    return [...this.store.visible()].map(statsInfo);
  }

  getSandbox(id: string): StatsSandboxInfo | undefined {
    try {
      const s = this.find(id);
      return s ? statsInfo(s) : undefined;
    } catch {
      return undefined;
    }
  }
}

function statsInfo(s: Sandbox): StatsSandboxInfo {
  return {
    id: s.id,
    metadata: s.metadata,
    labels: s.labels,
    annotations: s.annotations,
    ready: s.state === 'READY',
    cgroupParent: s.cgroupParent,
    infraCgroupsPath: s.cgroupsPath,
    ...(s.pid > 0 ? { infraPid: s.pid } : {}),
    ...(s.netnsPath && !s.networkDown ? { netnsPath: s.netnsPath } : {}),
  };
}
