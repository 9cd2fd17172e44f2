// Pod sandboxes: RunPodSandbox / Stop / Remove / status / list on top of the pinned netns, the
// network plugin (CNI), the infra container (conmon + OCI runtime) and the pod files. Each
// operation takes the pod's lock; Run undoes every finished step when a later one fails. Records
// are persisted atomically under <rootDir>/sandboxes/<id>/sandbox.json and recovered at start:
// infra running = READY, else NOTREADY; netns pins, CNI state, runc containers and bundles that
// no record owns are cleaned up and logged. Reads (get/list) answer from memory.
import { randomBytes } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Gauge, Histogram } from 'prom-client';
import { AlreadyExistsError, InvalidArgumentError, NotFoundError, errorMessage } from '../../lib/errors.js';
import { atomicWriteJson, readJsonIfExists } from '../../lib/fsutil.js';
import type { Logger } from '../../lib/log.js';
import { registry } from '../../lib/metrics.js';
import type { HostFacts, LinuxContainerResources } from '../container/container-config.js';
import type { ExitInfo, ExitWatcher } from '../engine/exit-watcher.js';
import type { RuntimeHandlers } from '../engine/runtime-handlers.js';
import type { InfraSource } from './infra-source.js';
import { KeyedLock } from '../../lib/keyed-lock.js';
import type { Monitor } from '../engine/monitor.js';
import type { NetnsPins } from '../network/netns.js';
import type { NetworkPlugin } from '../network/network-plugin.js';
import type { OciRuntime } from '../engine/oci-runtime.js';
import { cgroupsPathFor } from '../oci-spec/resources.js';
import { buildSandboxSpec } from '../oci-spec/sandbox-spec.js';
import { loadLocalhostSeccomp } from '../oci-spec/seccomp-localhost.js';
import { applyPodCgroup, podCgroupWrites, podLimits } from './pod-cgroup.js';
import { listIds, mountShm, unmountShm, validateSysctls, writePodFiles } from './pod-files.js';
import type { CgroupLayout } from '../stats/cgroup-paths.js';
import type { ContainerHooks, Sandbox, SandboxConfig, SandboxFilter } from './sandbox-config.js';
import type { SandboxStatsSource, StatsSandboxInfo } from '../stats/provider.js';
import { rollback, type Undo } from '../../lib/undo.js';

/** Fills the pods gauge at scrape time from the daemon's manager (one per daemon). */
let gaugeSource: (() => void) | undefined;

const podsGauge = new Gauge({
  name: 'nexcage_pod_sandboxes',
  help: 'Pod sandboxes known to the daemon, by state (ready, notready).',
  labelNames: ['state'] as const,
  registers: [registry],
  collect() {
    gaugeSource?.();
  },
});

const createDuration = new Histogram({
  name: 'nexcage_sandbox_create_duration_seconds',
  help: 'RunPodSandbox time by step: network (netns + CNI ADD), infra (conmon + runc create/start), total.',
  labelNames: ['step'] as const,
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

export interface SandboxManagerOptions {
  rootDir: string;
  stateDir: string;
  handlers: RuntimeHandlers;
  /** The OciRuntime of a handler (resolved binary); throws when it cannot run. */
  runtimeFor(handler: string): OciRuntime;
  monitor: Monitor;
  exits: ExitWatcher;
  network: NetworkPlugin;
  netns: NetnsPins;
  host: HostFacts;
  /** The infra rootfs and command (built-in, or the configured pause image). */
  infra: InfraSource;
  log: Logger;
  /** How long Stop waits for the killed infra to be reaped. */
  stopTimeoutMs?: number;
  /** The host's cgroup hierarchy (pod-level limits go on the pod cgroup). */
  cgroupLayout: CgroupLayout;
}


export class SandboxManager implements SandboxStatsSource {
  private readonly sandboxes = new Map<string, Sandbox>();
  /** name_namespace_uid_attempt -> id: a second RunPodSandbox for the same pod attempt is refused. */
  private readonly names = new Map<string, string>();
  private readonly lock = new KeyedLock();
  private hooks: ContainerHooks | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly o: SandboxManagerOptions) {
    gaugeSource = () => this.updateGauge();
  }

  setContainerHooks(hooks: ContainerHooks): void {
    this.hooks = hooks;
  }

  private get recordsDir(): string {
    return join(this.o.rootDir, 'sandboxes');
  }
  private get bundlesDir(): string {
    return join(this.o.stateDir, 'sandboxes');
  }

  // ---- reads (memory only: the kubelet polls these) ----

  /** By full id or unique prefix. */
  get(idOrPrefix: string): Sandbox {
    const s = this.find(idOrPrefix);
    if (!s) throw new NotFoundError(`pod sandbox "${idOrPrefix}" not found`);
    return s;
  }

  find(idOrPrefix: string): Sandbox | undefined {
    if (idOrPrefix === '') return undefined;
    const exact = this.sandboxes.get(idOrPrefix);
    if (exact) return exact;
    const matches = [...this.sandboxes.values()].filter((s) => s.id.startsWith(idOrPrefix));
    if (matches.length > 1) throw new InvalidArgumentError(`pod sandbox id prefix "${idOrPrefix}" is ambiguous (${matches.length} pods)`);
    return matches[0];
  }

  list(filter: SandboxFilter = {}): Sandbox[] {
    return [...this.sandboxes.values()]
      .filter((s) => !filter.id || s.id.startsWith(filter.id))
      .filter((s) => !filter.state || s.state === filter.state)
      .filter((s) => Object.entries(filter.labelSelector ?? {}).every(([k, v]) => s.labels[k] === v))
      .sort((a, b) => (BigInt(a.createdAtNs) < BigInt(b.createdAtNs) ? -1 : 1));
  }

  // ---- RunPodSandbox ----

  async run(config: SandboxConfig, runtimeHandler: string): Promise<Sandbox> {
    const started = process.hrtime.bigint();
    this.validate(config);
    const handlerName = runtimeHandler === '' ? this.o.handlers.defaultName : runtimeHandler;
    this.o.handlers.get(handlerName); // unknown handler -> InvalidArgument naming it
    const runtime = this.o.runtimeFor(handlerName);
    const key = nameKey(config);
    const existing = this.names.get(key);
    if (existing) {
      throw new AlreadyExistsError(
        `pod sandbox ${config.metadata.namespace}/${config.metadata.name} (uid ${config.metadata.uid}, attempt ${config.metadata.attempt}) already exists as "${existing}"`,
      );
    }
    const id = randomBytes(32).toString('hex');
    this.names.set(key, id);
    try {
      return await this.lock.with(id, () => this.create(id, config, handlerName, runtime, started));
    } catch (err) {
      this.names.delete(key);
      throw err;
    }
  }

  private validate(c: SandboxConfig): void {
    const m = c.metadata;
    if (m.name === '') throw new InvalidArgumentError('pod sandbox metadata.name is required');
    if (m.namespace === '') throw new InvalidArgumentError('pod sandbox metadata.namespace is required');
    if (m.uid === '') throw new InvalidArgumentError('pod sandbox metadata.uid is required');
    // They travel to CNI plugins in CNI_ARGS ("K=V;K=V"): a ";" or "=" broke the plugin's parsing
    // (INTERNAL "invalid pair"), and Kubernetes never sends one (nor NUL or control characters).
    for (const [field, v] of [['name', m.name], ['namespace', m.namespace], ['uid', m.uid]] as const) {
      const bad = [...v].find((ch) => ch === ';' || ch === '=' || ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f);
      if (bad !== undefined) throw new InvalidArgumentError(`pod sandbox metadata.${field} ${JSON.stringify(v.slice(0, 256))} contains ${JSON.stringify(bad)}, which is not allowed (it could not be passed to CNI plugins)`);
    }
    validateSysctls(c.sysctls, c.namespaceOptions);
    for (const [k, v] of Object.entries(c.namespaceOptions)) {
      if (v === 'TARGET') throw new InvalidArgumentError(`pod sandbox namespace option ${k}: TARGET is only valid for containers`);
    }
    if (c.namespaceOptions.network === 'CONTAINER' || c.namespaceOptions.ipc === 'CONTAINER') {
      throw new InvalidArgumentError('pod sandbox network/ipc namespace mode must be POD or NODE');
    }
    cgroupsPathFor(this.o.host.cgroupDriver, c.cgroupParent, 'x'); // throws InvalidArgument naming the parent
    for (const p of c.portMappings) {
      if (p.containerPort <= 0 || p.containerPort > 65535) throw new InvalidArgumentError(`port mapping: container_port ${p.containerPort} is out of range`);
      if (p.hostPort < 0 || p.hostPort > 65535) throw new InvalidArgumentError(`port mapping: host_port ${p.hostPort} is out of range`);
    }
    if (c.hostname.length > 64) throw new InvalidArgumentError(`pod sandbox hostname "${c.hostname}" is longer than 64 characters`);
  }

  private async create(id: string, config: SandboxConfig, handler: string, runtime: OciRuntime, started: bigint): Promise<Sandbox> {
    const log = this.o.log.child({ podSandboxId: id, pod: `${config.metadata.namespace}/${config.metadata.name}` });
    const undo: Undo[] = [];
    const hostNetwork = config.namespaceOptions.network === 'NODE';
    const recordDir = join(this.recordsDir, id);
    const bundle = join(this.bundlesDir, id);
    try {
      const infra = await this.o.infra.get();
      await mkdir(recordDir, { recursive: true, mode: 0o700 });
      undo.push({ what: 'record dir', run: () => rm(recordDir, { recursive: true, force: true }) });
      await mkdir(bundle, { recursive: true, mode: 0o700 });
      undo.push({ what: 'bundle dir', run: () => rm(bundle, { recursive: true, force: true }) });

      const hostname = hostNetwork ? osHostname() : config.hostname || config.metadata.name.slice(0, 63);
      const shmPath = config.namespaceOptions.ipc !== 'NODE' ? join(bundle, 'shm') : undefined;
      // Pod files, the shm mount and the network are independent: set them up side by side. Each
      // task registers its own undo as soon as a step is done.
      const netStart = process.hrtime.bigint();
      let netSeconds = 0;
      let netnsPath: string | undefined;
      let ips: string[] = [];
      let network: string | undefined;
      const filesTask = writePodFiles(recordDir, { hostname, hostNetwork, ...(config.dns ? { dns: config.dns } : {}) });
      const shmTask = (async () => {
        if (!shmPath) return;
        await mountShm(shmPath);
        undo.push({ what: 'shm mount', run: () => unmountShm(shmPath) });
      })();
      // The infra joins the pinned netns, and the IP must exist before the pod is READY.
      const netTask = (async () => {
        if (hostNetwork) return;
        const p = await this.o.netns.create(id);
        netnsPath = p;
        undo.push({ what: 'netns', run: () => this.o.netns.remove(p) });
        undo.push({ what: 'CNI DEL', run: () => this.o.network.tearDown(id, p) });
        const st = await this.o.network.setUp({
          podId: id,
          netnsPath: p,
          podName: config.metadata.name,
          podNamespace: config.metadata.namespace,
          podUid: config.metadata.uid,
          portMappings: config.portMappings,
          ...(config.dns ? { dns: config.dns } : {}),
        });
        ips = st.ips;
        network = st.network;
        netSeconds = Number(process.hrtime.bigint() - netStart) / 1e9;
      })();
      // allSettled: a failure must not leave a sibling task running while the undo runs.
      for (const r of await Promise.allSettled([filesTask, shmTask, netTask])) if (r.status === 'rejected') throw r.reason;
      const files = await filesTask;

      const infraStart = process.hrtime.bigint();
      const spec = buildSandboxSpec({
        id,
        name: config.metadata.name,
        namespace: config.metadata.namespace,
        uid: config.metadata.uid,
        hostname,
        args: infra.args,
        ...(infra.env ? { env: infra.env } : {}),
        rootfsPath: infra.path,
        ...(netnsPath ? { netnsPath } : {}),
        namespaceOptions: config.namespaceOptions,
        cgroupParent: config.cgroupParent,
        ...(shmPath ? { shmPath } : {}),
        sysctls: config.sysctls,
        securityContext: {
          privileged: config.security.privileged,
          readonlyRootfs: true,
          ...(config.security.runAsUser !== undefined ? { runAsUser: config.security.runAsUser } : {}),
          ...(config.security.runAsGroup !== undefined ? { runAsGroup: config.security.runAsGroup } : {}),
          supplementalGroups: config.security.supplementalGroups,
          ...(config.security.seccomp ? { seccomp: config.security.seccomp } : {}),
          ...(config.security.apparmor ? { apparmor: config.security.apparmor } : {}),
        },
        // The pod's own Localhost profile confines its infra process too (the kubelet sends it here).
        ...(config.security.seccomp?.profileType === 'Localhost' && !config.security.privileged
          ? { localhostSeccomp: await loadLocalhostSeccomp(config.security.seccomp.localhostRef ?? '') }
          : {}),
        host: this.o.host,
        ...(config.logDirectory ? { logDirectory: config.logDirectory } : {}),
      });
      await atomicWriteJson(join(bundle, 'config.json'), spec);
      undo.push({ what: 'infra container', run: () => runtime.delete(id, { force: true }) });
      undo.push({ what: 'monitor files', run: () => Promise.all([this.o.monitor.cleanup(id), this.o.exits.remove(id)]) });
      const mon = await this.o.monitor.start({ id, bundle, runtime, logPath: '', exitDir: this.o.exits.dir });
      await runtime.start(id);
      // Pod-level limits on the pod cgroup (runc created the parent if the kubelet had not).
      await this.applyPodLimits(config).catch((err: unknown) => log.warn({ error: errorMessage(err) }, 'pod cgroup limits not applied'));
      const infraSeconds = Number(process.hrtime.bigint() - infraStart) / 1e9;

      const sandbox: Sandbox = {
        id,
        config,
        metadata: config.metadata,
        runtimeHandler: handler,
        createdAtNs: nowNs(),
        state: 'READY',
        hostNetwork,
        ...(netnsPath ? { netnsPath } : {}),
        bundle,
        cgroupsPath: spec.linux?.cgroupsPath ?? '',
        cgroupParent: config.cgroupParent,
        namespaceOptions: config.namespaceOptions,
        hostname,
        hostnamePath: files.hostname,
        hostsPath: files.hosts,
        resolvConfPath: files.resolvConf,
        ...(shmPath ? { shmPath } : {}),
        pid: mon.pid,
        monitorPid: mon.monitorPid,
        ips,
        ...(network ? { network } : {}),
        labels: config.labels,
        annotations: config.annotations,
        sysctls: config.sysctls,
        security: config.security,
        networkDown: false,
      };
      await this.persist(sandbox);
      this.sandboxes.set(id, sandbox);
      createDuration.observe({ step: 'network' }, netSeconds);
      createDuration.observe({ step: 'infra' }, infraSeconds);
      createDuration.observe({ step: 'total' }, Number(process.hrtime.bigint() - started) / 1e9);
      log.info({ ips, pid: mon.pid, handler }, 'pod sandbox ready');
      this.hooks?.sandboxEvent?.(sandbox, 'CREATED');
      this.hooks?.sandboxEvent?.(sandbox, 'STARTED');
      // The infra may have died between start and now; the exit watcher saw it before we knew the id.
      const early = await this.o.exits.read(id);
      if (early) await this.onExit(early);
      return sandbox;
    } catch (err) {
      log.warn({ error: errorMessage(err) }, 'RunPodSandbox failed; undoing');
      await rollback(undo, log, 'RunPodSandbox');
      throw err;
    }
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
    const s = this.sandboxes.get(id);
    if (!s) return; // removed while we waited for the lock
    if (this.hooks) await this.hooks.stopAll(id, 0);
    const runtime = this.runtimeOrUndefined(s.runtimeHandler);
    if (runtime) {
      if (s.pid > 0) {
        // SIGKILL as containerd does for the infra; the exit file (written by conmon once it reaped
        // the process) says when it is gone, without spawning `runc state` in a loop.
        await runtime.kill(id, 'KILL').catch((err: unknown) => this.o.log.debug({ err, podSandboxId: id }, 'kill of infra failed (already gone?)'));
        await this.waitExited(id, s.pid);
      }
    }
    // With the infra dead, deleting it and tearing the network down are independent: run both.
    // DEL always runs on stop, even when the infra or netns is already gone (releases the IP).
    const netnsPath = s.netnsPath;
    const steps = await Promise.allSettled([
      runtime ? runtime.delete(id, { force: true }) : Promise.resolve(),
      !s.hostNetwork && !s.networkDown && netnsPath ? this.o.network.tearDown(id, netnsPath) : Promise.resolve(),
    ]);
    for (const step of steps) if (step.status === 'rejected') throw step.reason;
    if (s.netnsPath) await this.o.netns.remove(s.netnsPath);
    if (s.shmPath) await unmountShm(s.shmPath);
    await this.o.monitor.cleanup(id);
    const exit = await this.o.exits.read(id);
    const next: Sandbox = { ...s, state: 'NOTREADY', pid: 0, networkDown: true };
    if (exit) {
      next.exitCode = exit.exitCode;
      next.finishedAtNs = exit.finishedAtNs.toString();
    }
    await this.persist(next);
    this.sandboxes.set(id, next);
    if (s.state === 'READY') this.hooks?.sandboxEvent?.(next, 'STOPPED');
  }

  /** Until conmon wrote the exit file, or the process is gone or a zombie (its conmon died too). */
  private async waitExited(id: string, pid: number): Promise<void> {
    const deadline = Date.now() + (this.o.stopTimeoutMs ?? 10_000);
    let delay = 2;
    while (Date.now() < deadline) {
      if (await this.o.exits.read(id)) return;
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
      if (stat === '' || /^\d+ \(.*\) Z /.test(stat)) return;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 50);
    }
    this.o.log.warn({ podSandboxId: id }, 'infra still there after SIGKILL; deleting with --force');
  }

  // ---- RemovePodSandbox ----

  async remove(idOrPrefix: string): Promise<void> {
    const found = this.find(idOrPrefix);
    if (!found) return; // idempotent: removing a removed pod is success
    await this.lock.with(found.id, async () => {
      const s = this.sandboxes.get(found.id);
      if (!s) return;
      if (this.hooks) await this.hooks.removeAll(s.id);
      if (s.state === 'READY' || !s.networkDown || s.pid !== 0) await this.stopLocked(s.id);
      await rm(s.bundle, { recursive: true, force: true });
      await rm(join(this.recordsDir, s.id), { recursive: true, force: true });
      await this.o.exits.remove(s.id);
      const last = this.sandboxes.get(s.id) ?? s;
      this.sandboxes.delete(s.id);
      this.names.delete(nameKey(s.config));
      this.o.log.info({ podSandboxId: s.id }, 'pod sandbox removed');
      this.hooks?.sandboxEvent?.(last, 'DELETED');
    });
  }

  // ---- UpdatePodSandboxResources ----

  /** Applies the pod-level overhead/resources the kubelet sent to the pod cgroup and records them. */
  async updateResources(idOrPrefix: string, r: { overhead?: LinuxContainerResources; resources?: LinuxContainerResources }): Promise<void> {
    const found = this.get(idOrPrefix);
    await this.lock.with(found.id, async () => {
      const s = this.sandboxes.get(found.id);
      if (!s) throw new NotFoundError(`pod sandbox "${idOrPrefix}" not found`);
      const config: SandboxConfig = { ...s.config };
      if (r.overhead) config.overhead = r.overhead;
      if (r.resources) config.resources = r.resources;
      const next = { ...s, config };
      await this.applyPodLimits(config);
      await this.persist(next);
      this.sandboxes.set(s.id, next);
    });
  }

  private async applyPodLimits(config: SandboxConfig): Promise<string[]> {
    const limits = podLimits(config.resources, config.overhead);
    return applyPodCgroup(podCgroupWrites(this.o.cgroupLayout, this.o.host.cgroupDriver, config.cgroupParent, limits));
  }

  // ---- verbose status ----

  /** The infra's OCI spec as written (for verbose PodSandboxStatus). */
  async infraSpec(id: string): Promise<unknown> {
    return readJsonIfExists(join(this.get(id).bundle, 'config.json'));
  }

  // ---- recovery and shutdown ----

  /** Load records, check each infra, clean orphans. Called before the socket is bound. */
  async recover(): Promise<void> {
    await mkdir(this.recordsDir, { recursive: true, mode: 0o700 });
    await mkdir(this.bundlesDir, { recursive: true, mode: 0o700 });
    await this.o.netns.init();
    for (const id of await listIds(this.recordsDir)) {
      const rec = await readJsonIfExists<Sandbox>(join(this.recordsDir, id, 'sandbox.json')).catch((err: unknown) => {
        this.o.log.error({ err, podSandboxId: id }, 'unreadable sandbox record; treating the pod as an orphan');
        return undefined;
      });
      if (!rec) {
        this.o.log.warn({ podSandboxId: id }, 'sandbox dir without a record (crash during RunPodSandbox): removing');
        await rm(join(this.recordsDir, id), { recursive: true, force: true });
        continue;
      }
      let state = rec.state;
      let pid = rec.pid;
      if (rec.state === 'READY') {
        const runtime = this.runtimeOrUndefined(rec.runtimeHandler);
        const st = runtime ? await runtime.state(id).catch(() => undefined) : undefined;
        if (!st || st.status !== 'running') {
          state = 'NOTREADY';
          pid = 0;
        }
      }
      const next: Sandbox = { ...rec, state, pid };
      if (state !== rec.state) await this.persist(next);
      this.sandboxes.set(id, next);
      this.names.set(nameKey(rec.config), id);
      this.o.log.info({ podSandboxId: id, state, ips: rec.ips }, 'pod sandbox recovered');
    }
    await this.cleanOrphans();
    this.unsubscribe = this.o.exits.on((e) => void this.onExit(e));
    for (const s of this.sandboxes.values()) {
      if (s.state !== 'READY') continue;
      const exit = await this.o.exits.read(s.id);
      if (exit) await this.onExit(exit);
    }
  }

  private async cleanOrphans(): Promise<void> {
    const known = (id: string): boolean => this.sandboxes.has(id);
    for (const id of await this.o.netns.list()) {
      if (known(id)) continue;
      this.o.log.warn({ podSandboxId: id }, 'orphan network namespace: removing');
      await this.o.network.tearDown(id, this.o.netns.pathFor(id)).catch((err: unknown) => this.o.log.warn({ err, podSandboxId: id }, 'orphan CNI DEL failed'));
      await this.o.netns.remove(this.o.netns.pathFor(id));
    }
    for (const id of await this.o.network.cachedPods()) {
      if (known(id)) continue;
      this.o.log.warn({ podSandboxId: id }, 'orphan CNI state: running DEL');
      await this.o.network.tearDown(id, this.o.netns.pathFor(id)).catch((err: unknown) => this.o.log.warn({ err, podSandboxId: id }, 'orphan CNI DEL failed'));
    }
    for (const h of this.o.handlers.list()) {
      const runtime = this.runtimeOrUndefined(h.name);
      if (!runtime) continue;
      const states = await runtime.list().catch(() => []);
      for (const st of states) {
        // Only infra containers of ours: their bundle lives in our sandboxes state dir.
        if (known(st.id) || !st.bundle.startsWith(this.bundlesDir + '/')) continue;
        this.o.log.warn({ podSandboxId: st.id, status: st.status }, 'orphan infra container: deleting');
        await runtime.delete(st.id, { force: true }).catch((err: unknown) => this.o.log.warn({ err, podSandboxId: st.id }, 'orphan delete failed'));
        await this.o.monitor.cleanup(st.id);
      }
    }
    for (const id of await listIds(this.bundlesDir)) {
      if (known(id)) continue;
      this.o.log.warn({ podSandboxId: id }, 'orphan sandbox bundle: removing');
      await unmountShm(join(this.bundlesDir, id, 'shm'));
      await rm(join(this.bundlesDir, id), { recursive: true, force: true });
      await this.o.exits.remove(id);
    }
  }

  /** Graceful shutdown: pods keep running; only the watcher goes, and the netns dir if unused. */
  async close(): Promise<void> {
    this.unsubscribe?.();
    await this.o.netns.releaseIfEmpty().catch(() => false);
    await this.o.infra.close();
  }

  private async onExit(e: ExitInfo): Promise<void> {
    if (!this.sandboxes.has(e.id)) return;
    await this.lock.with(e.id, async () => {
      const s = this.sandboxes.get(e.id);
      if (!s || s.state !== 'READY') return;
      const next: Sandbox = { ...s, state: 'NOTREADY', pid: 0, exitCode: e.exitCode, finishedAtNs: e.finishedAtNs.toString() };
      await this.persist(next);
      this.sandboxes.set(s.id, next);
      this.o.log.warn({ podSandboxId: s.id, exitCode: e.exitCode }, 'pod sandbox infra exited; pod is NOTREADY');
      this.hooks?.sandboxEvent?.(next, 'STOPPED');
    });
  }

  private runtimeOrUndefined(handler: string): OciRuntime | undefined {
    try {
      return this.o.runtimeFor(handler);
    } catch {
      return undefined;
    }
  }

  private async persist(s: Sandbox): Promise<void> {
    await atomicWriteJson(join(this.recordsDir, s.id, 'sandbox.json'), s, 0o600);
  }

  /** Sets the pods gauge from memory (called at scrape time). */
  updateGauge(): void {
    let ready = 0;
    let notReady = 0;
    for (const s of this.sandboxes.values()) {
      if (s.state === 'READY') ready++;
      else notReady++;
    }
    podsGauge.set({ state: 'ready' }, ready);
    podsGauge.set({ state: 'notready' }, notReady);
  }

  // ---- stats source ----

  listSandboxes(): StatsSandboxInfo[] {
    return [...this.sandboxes.values()].map(statsInfo);
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

function nameKey(c: SandboxConfig): string {
  const m = c.metadata;
  return `${m.name}_${m.namespace}_${m.uid}_${m.attempt}`;
}

function nowNs(): string {
  return (BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n)).toString();
}
