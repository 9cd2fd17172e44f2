// RunPodSandbox's work once the request is checked and the pod's id and name are reserved, as
// named steps: dirs -> pod files, /dev/shm, the pinned netns and the infra's spec side by side ->
// CNI ADD once the netns exists, and the infra container (conmon + runc create/start) once
// /dev/shm and its spec are there too, side by side -> record. Only the IP has to be there before
// the pod is READY, not before its infra process starts; the pod files are only waited for at the end.
// A pod with its own user namespace differs: its infra runs on an idmapped view of the infra
// rootfs, creates the user namespace and the network namespace inside it, and the network (pin,
// CNI ADD) comes once the infra is created, before it starts (as containerd does).
// Each step registers its undo as soon as it is done. On failure the undo runs; when an undo step
// fails too, the pod is kept as an UNKNOWN record naming what is left (its name stays reserved),
// and Stop/Remove or the background retry finish the cleanup.
import { hostname as osHostname } from 'node:os';
import { chmod, chown, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../../lib/errors.js';
import { writeVolatileJson } from '../../lib/fsutil.js';
import type { Logger } from '../../lib/log.js';
import { nowNs, secondsSince } from '../../lib/time.js';
import { describeLeftovers, rollback, type Undo } from '../../lib/undo.js';
import type { IdMappings } from '../container/container-config.js';
import { NativeIdmap } from '../engine/idmap-mounts.js';
import { startCreated } from '../engine/exec-fifo.js';
import type { MonitorStarted } from '../engine/monitor.js';
import type { OciRuntime } from '../engine/oci-runtime.js';
import { buildSandboxSpec } from '../oci-spec/sandbox-spec.js';
import { keepLockedFlags } from '../oci-spec/mount-locks.js';
import { loadLocalhostSeccomp } from '../oci-spec/seccomp-localhost.js';
import type { Spec } from '../oci-spec/types.js';
import { hostRoot, podUserns } from '../oci-spec/userns.js';
import { mountImageReadOnly } from '../container/container-rootfs.js';
import type { InfraRootfs } from './infra-source.js';
import { applyPodCgroup, podCgroupWrites, podLimits } from './pod-cgroup.js';
import { writePodFiles, type PodFilePaths } from './pod-files.js';
import type { Sandbox, SandboxConfig } from './sandbox-config.js';
import { bundlesDir, hostShmMounts, type SandboxManagerOptions } from './sandbox-deps.js';
import { sandboxCreateDuration } from './sandbox-metrics.js';
import type { SandboxStore } from './sandbox-store.js';

/** Undo step names (the UNKNOWN record says which are left). */
export const STEP = {
  recordDir: 'record dir',
  bundleDir: 'bundle dir',
  shm: 'shm mount',
  netns: 'netns',
  cniDel: 'CNI DEL',
  infra: 'infra container',
  monitorFiles: 'monitor files',
  infraRootfs: 'idmapped infra rootfs',
} as const;

export interface SandboxRequest {
  id: string;
  config: SandboxConfig;
  handler: string;
  runtime: OciRuntime;
  /** process.hrtime.bigint() when the call came in. */
  started: bigint;
}

interface Paths {
  recordDir: string;
  bundle: string;
  hostNetwork: boolean;
  hostname: string;
  shmPath: string | undefined;
  /** The pod's own user namespace, when it has one. */
  userns: IdMappings | undefined;
}

interface PodEnvironment {
  files: PodFilePaths;
  netnsPath: string | undefined;
  ips: string[];
  network: string | undefined;
  /** The pin brought `lo` up (no loopback plugin needed). */
  loopbackUp?: boolean;
  /** Pinning the netns. */
  pinSeconds: number;
  /** CNI ADD (overlapping the infra's start, except in a pod with its own user namespace). */
  netSeconds: number;
}

interface Infra {
  spec: Spec;
  mon: MonitorStarted;
  infraSeconds: number;
}

/** Build the pod; the record is saved hidden (the caller reveals it to whoever gets it). */
export async function createSandbox(o: SandboxManagerOptions, store: SandboxStore, req: SandboxRequest): Promise<Sandbox> {
  const log = o.log.child({ podSandboxId: req.id, pod: `${req.config.metadata.namespace}/${req.config.metadata.name}` });
  const undo: Undo[] = [];
  const paths = planPaths(o, store, req);
  const env: Partial<PodEnvironment> = {};
  try {
    const source = await o.infra.get();
    await prepareDirs(paths, undo);
    const infra = paths.userns ? await createUsernsPod(o, req, paths, paths.userns, source, undo, env, log) : await createPod(o, req, paths, source, undo, env, log);
    const sandbox = sandboxRecord(req, paths, env as PodEnvironment, infra);
    store.hide(sandbox.id);
    await store.save(sandbox);
    sandboxCreateDuration.observe({ step: 'netns' }, (env as PodEnvironment).pinSeconds);
    sandboxCreateDuration.observe({ step: 'network' }, (env as PodEnvironment).netSeconds);
    sandboxCreateDuration.observe({ step: 'infra' }, infra.infraSeconds);
    sandboxCreateDuration.observe({ step: 'total' }, secondsSince(req.started));
    log.info({ ips: sandbox.ips, pid: sandbox.pid, handler: req.handler }, 'pod sandbox ready');
    return sandbox;
  } catch (err) {
    store.reveal(req.id);
    log.warn({ error: errorMessage(err) }, 'RunPodSandbox failed; undoing');
    const left = await rollback(undo, log, 'RunPodSandbox');
    if (left.failed.length > 0) await keepUnknown(store, req, paths, env, left, err, log);
    throw err;
  }
}

function planPaths(o: SandboxManagerOptions, store: SandboxStore, req: SandboxRequest): Paths {
  const hostNetwork = req.config.namespaceOptions.network === 'NODE';
  const bundle = join(bundlesDir(o), req.id);
  return {
    recordDir: store.recordDir(req.id),
    bundle,
    hostNetwork,
    hostname: hostNetwork ? osHostname() : req.config.hostname || req.config.metadata.name.slice(0, 63),
    shmPath: req.config.namespaceOptions.ipc !== 'NODE' ? join(bundle, 'shm') : undefined,
    userns: podUserns(req.config.namespaceOptions),
  };
}

/** The record dir (pod files, sandbox.json) and the bundle; both stay while anything else is left. */
async function prepareDirs(p: Paths, undo: Undo[]): Promise<void> {
  await mkdir(p.recordDir, { recursive: true, mode: 0o700 });
  undo.push({ what: STEP.recordDir, run: () => rm(p.recordDir, { recursive: true, force: true }), after: 'all' });
  await mkdir(p.bundle, { recursive: true, mode: 0o700 });
  undo.push({ what: STEP.bundleDir, run: () => rm(p.bundle, { recursive: true, force: true }), after: 'all' });
  if (p.userns) {
    // runc mounts the rootfs from inside the pod's user namespace: its root (group) must get through.
    await chown(p.bundle, 0, hostRoot(p.userns).gid);
    await chmod(p.bundle, 0o710);
  }
}

/**
 * Every step below runs side by side with its siblings, each registering its own undo as soon as
 * it is done, and `env` filled as they go (what a kept UNKNOWN record must name). A failure is
 * thrown only once every sibling has settled: none may still run while the undo does.
 */
async function settleAll(tasks: readonly Promise<unknown>[]): Promise<void> {
  for (const r of await Promise.allSettled(tasks)) if (r.status === 'rejected') throw r.reason;
}

/**
 * A pod without its own user namespace: the infra's spec is written while /dev/shm and the netns
 * are made (its netns path is known ahead); CNI ADD starts as soon as the netns exists (the
 * longest step), conmon + runc start the infra once /dev/shm and the spec are there too.
 */
async function createPod(o: SandboxManagerOptions, req: SandboxRequest, p: Paths, source: InfraRootfs, undo: Undo[], env: Partial<PodEnvironment>, log: Logger): Promise<Infra> {
  initEnv(env);
  const netnsPath = p.hostNetwork ? undefined : o.netns.pathFor(req.id);
  // The pin first: CNI ADD and the infra wait for it.
  const pinTask = netnsPath ? pinNetns(o, req, undo, env) : Promise.resolve();
  const shmTask = mountPodShm(o, p, undo);
  let spec: Spec | undefined;
  const specTask = writeInfraSpec(o, req, p, netnsPath, source).then((s) => {
    spec = s;
  });
  const filesTask = podFiles(req, p, env);
  const netTask = pinTask.then(() => (env.netnsPath ? attachNetwork(o, req, env, env.netnsPath) : undefined));
  let infra: Infra | undefined;
  const infraTask = Promise.allSettled([shmTask, pinTask, specTask]).then(async (rs) => {
    for (const r of rs) if (r.status === 'rejected') throw r.reason;
    infra = await runInfra(o, req, p, spec as Spec, undo, log);
  });
  await settleAll([filesTask, netTask, infraTask]);
  return infra as Infra;
}

/**
 * A pod with its own user namespace: its infra runs on an idmapped view of the infra rootfs and
 * creates the network namespace inside the user namespace; that one is pinned and gets CNI ADD
 * once the infra is created, before it starts (as containerd does).
 */
async function createUsernsPod(o: SandboxManagerOptions, req: SandboxRequest, p: Paths, userns: IdMappings, source: InfraRootfs, undo: Undo[], env: Partial<PodEnvironment>, log: Logger): Promise<Infra> {
  initEnv(env);
  await settleAll([podFiles(req, p, env), mountPodShm(o, p, undo)]);
  const rootfs = await idmappedInfraRootfs(o, p, userns, source, undo);
  const spec = await writeInfraSpec(o, req, p, undefined, rootfs);
  const network = (pid: number): Promise<void> => pinAndAttach(o, req, undo, env, `/proc/${pid}/ns/net`);
  return runInfra(o, req, p, spec, undo, log, network);
}

function initEnv(env: Partial<PodEnvironment>): void {
  env.ips = [];
  env.pinSeconds = 0;
  env.netSeconds = 0;
}

async function podFiles(req: SandboxRequest, p: Paths, env: Partial<PodEnvironment>): Promise<void> {
  const { dns } = req.config;
  env.files = await writePodFiles(p.recordDir, { hostname: p.hostname, hostNetwork: p.hostNetwork, ...(dns ? { dns } : {}) });
}

async function mountPodShm(o: SandboxManagerOptions, p: Paths, undo: Undo[]): Promise<void> {
  if (!p.shmPath) return;
  const shm = o.shm ?? hostShmMounts;
  const shmPath = p.shmPath;
  await (p.userns ? shm.mount(shmPath, hostRoot(p.userns)) : shm.mount(shmPath));
  undo.push({ what: STEP.shm, run: () => shm.unmount(shmPath) });
}

/**
 * The pinned netns (a new one, or `from` pinned), with the undo of it and of CNI ADD (registered
 * before ADD runs: DEL releases what a half-done ADD allocated); `env` says what exists.
 */
async function pinNetns(o: SandboxManagerOptions, req: SandboxRequest, undo: Undo[], env: Partial<PodEnvironment>, from?: string): Promise<string> {
  const pinStart = process.hrtime.bigint();
  const netnsPath = await o.netns.create(req.id, from);
  env.netnsPath = netnsPath;
  env.loopbackUp = !from && o.netns.bringsUpLoopback === true;
  // The plugins need the netns for DEL: it goes only once DEL went through.
  undo.push({ what: STEP.netns, run: () => o.netns.remove(netnsPath), after: [STEP.cniDel] });
  undo.push({ what: STEP.cniDel, run: () => o.network.tearDown(req.id, netnsPath) });
  env.pinSeconds = secondsSince(pinStart);
  return netnsPath;
}

/** CNI ADD in the pinned netns; `env` gets the pod's IPs. */
async function attachNetwork(o: SandboxManagerOptions, req: SandboxRequest, env: Partial<PodEnvironment>, netnsPath: string): Promise<void> {
  const { config, id } = req;
  const netStart = process.hrtime.bigint();
  const st = await o.network.setUp({
    podId: id,
    netnsPath,
    podName: config.metadata.name,
    podNamespace: config.metadata.namespace,
    podUid: config.metadata.uid,
    portMappings: config.portMappings,
    ...(config.dns ? { dns: config.dns } : {}),
    ...(env.loopbackUp ? { loopbackUp: true } : {}),
  });
  env.ips = st.ips;
  env.network = st.network;
  env.netSeconds = secondsSince(netStart);
}

async function pinAndAttach(o: SandboxManagerOptions, req: SandboxRequest, undo: Undo[], env: Partial<PodEnvironment>, from: string): Promise<void> {
  await attachNetwork(o, req, env, await pinNetns(o, req, undo, env, from));
}

/**
 * The infra rootfs as the pod's root sees it: an idmapped clone of the built-in rootfs, or of each
 * pause image layer under a read-only overlay (an overlay mount itself cannot be idmapped). The
 * layer clones go once the overlay holds its own references to them.
 */
async function idmappedInfraRootfs(o: SandboxManagerOptions, p: Paths, userns: IdMappings, source: InfraRootfs, undo: Undo[]): Promise<InfraRootfs> {
  const idmap = o.idmap ?? new NativeIdmap();
  const target = join(p.bundle, 'rootfs');
  const layersDir = join(p.bundle, 'layers');
  undo.push({ what: STEP.infraRootfs, run: async () => { await idmap.unmount(layersDir); await idmap.unmount(target); } });
  const layers = source.layers ?? [source.path];
  if (layers.length === 1) {
    await idmap.bind(userns, [{ source: layers[0] as string, target }], false);
  } else {
    const clones = layers.map((l, i) => ({ source: l, target: join(layersDir, String(i)) }));
    await idmap.bind(userns, clones, false);
    await mountImageReadOnly(clones.map((c) => c.target), join(p.bundle, 'overlay-work'), target);
    await idmap.unmount(layersDir);
  }
  return { ...source, path: target };
}

/** The infra's OCI spec, written to the bundle (`netnsPath`: the pinned netns it joins). */
async function writeInfraSpec(o: SandboxManagerOptions, req: SandboxRequest, p: Paths, netnsPath: string | undefined, infra: InfraRootfs): Promise<Spec> {
  const { config, id } = req;
  const spec = buildSandboxSpec({
    id,
    name: config.metadata.name,
    namespace: config.metadata.namespace,
    uid: config.metadata.uid,
    hostname: p.hostname,
    args: infra.args,
    ...(infra.env ? { env: infra.env } : {}),
    rootfsPath: infra.path,
    ...(netnsPath ? { netnsPath } : {}),
    ...(p.userns ? { userns: p.userns } : {}),
    namespaceOptions: config.namespaceOptions,
    cgroupParent: config.cgroupParent,
    ...(p.shmPath ? { shmPath: p.shmPath } : {}),
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
    host: o.host,
    ...(config.logDirectory ? { logDirectory: config.logDirectory } : {}),
  });
  if (p.userns) await keepLockedFlags(spec);
  await writeVolatileJson(join(p.bundle, 'config.json'), spec);
  return spec;
}

/**
 * conmon + `runtime create`, `beforeStart` (the network of a pod with its own user namespace),
 * `runtime start`, then the pod cgroup limits.
 */
async function runInfra(o: SandboxManagerOptions, req: SandboxRequest, p: Paths, spec: Spec, undo: Undo[], log: Logger, beforeStart?: (pid: number) => Promise<void>): Promise<Infra> {
  const { config, id, runtime } = req;
  const infraStart = process.hrtime.bigint();
  undo.push({ what: STEP.infra, run: () => runtime.delete(id, { force: true }) });
  undo.push({ what: STEP.monitorFiles, run: () => Promise.all([o.monitor.cleanup(id), o.exits.remove(id)]) });
  const mon = await o.monitor.start({ id, bundle: p.bundle, runtime, logPath: '', exitDir: o.exits.dir });
  if (beforeStart) await beforeStart(mon.pid);
  // Through runc's exec fifo when it can: no `runc start` process on the pod's critical path.
  await startCreated(runtime, id, mon.pid);
  // Pod-level limits on the pod cgroup (runc created the parent if the kubelet had not).
  await applyPodLimits(o, config).catch((err: unknown) => log.warn({ error: errorMessage(err) }, 'pod cgroup limits not applied'));
  return { spec, mon, infraSeconds: secondsSince(infraStart) };
}

export async function applyPodLimits(o: Pick<SandboxManagerOptions, 'cgroupLayout' | 'host'>, config: SandboxConfig): Promise<string[]> {
  const limits = podLimits(config.resources, config.overhead);
  return applyPodCgroup(podCgroupWrites(o.cgroupLayout, o.host.cgroupDriver, config.cgroupParent, limits));
}

function baseRecord(req: SandboxRequest, p: Paths, files: PodFilePaths): Omit<Sandbox, 'state' | 'pid' | 'monitorPid' | 'ips' | 'cgroupsPath' | 'networkDown'> {
  const { config } = req;
  return {
    id: req.id,
    config,
    metadata: config.metadata,
    runtimeHandler: req.handler,
    createdAtNs: nowNs(),
    hostNetwork: p.hostNetwork,
    bundle: p.bundle,
    cgroupParent: config.cgroupParent,
    namespaceOptions: config.namespaceOptions,
    hostname: p.hostname,
    hostnamePath: files.hostname,
    hostsPath: files.hosts,
    resolvConfPath: files.resolvConf,
    labels: config.labels,
    annotations: config.annotations,
    sysctls: config.sysctls,
    security: config.security,
  };
}

function sandboxRecord(req: SandboxRequest, p: Paths, env: PodEnvironment, infra: Infra): Sandbox {
  return {
    ...baseRecord(req, p, env.files),
    state: 'READY',
    ...(env.netnsPath ? { netnsPath: env.netnsPath } : {}),
    cgroupsPath: infra.spec.linux?.cgroupsPath ?? '',
    ...(p.shmPath ? { shmPath: p.shmPath } : {}),
    pid: infra.mon.pid,
    monitorPid: infra.mon.monitorPid,
    ips: env.ips,
    ...(env.network ? { network: env.network } : {}),
    networkDown: false,
  };
}

/**
 * An undo step failed: keep the pod as UNKNOWN with what is left (a netns or shm mount only when
 * their undo did not run through, the network up only when DEL did not), its name reserved.
 */
async function keepUnknown(store: SandboxStore, req: SandboxRequest, p: Paths, env: Partial<PodEnvironment>, left: Awaited<ReturnType<typeof rollback>>, err: unknown, log: Logger): Promise<void> {
  const leftSteps = new Set<string>([...left.failed.map((f) => f.what), ...left.skipped]);
  const files = env.files ?? { hostname: join(p.recordDir, 'hostname'), hosts: join(p.recordDir, 'hosts'), resolvConf: join(p.recordDir, 'resolv.conf') };
  const reason = `RunPodSandbox failed (${errorMessage(err)}) and its cleanup did not finish: ${describeLeftovers(left)}`;
  const rec: Sandbox = {
    ...baseRecord(req, p, files),
    state: 'UNKNOWN',
    ...(env.netnsPath && leftSteps.has(STEP.netns) ? { netnsPath: env.netnsPath } : {}),
    cgroupsPath: '',
    ...(p.shmPath && leftSteps.has(STEP.shm) ? { shmPath: p.shmPath } : {}),
    pid: 0,
    monitorPid: 0,
    ips: env.ips ?? [],
    ...(env.network ? { network: env.network } : {}),
    networkDown: !leftSteps.has(STEP.cniDel),
    cleanup: { reason, sinceNs: nowNs() },
  };
  log.error({ reason }, 'RunPodSandbox left cleanup undone; the pod is kept as UNKNOWN until Stop/Remove or the background retry finish it');
  await store.save(rec).catch((saveErr: unknown) => {
    log.error({ err: saveErr }, 'the UNKNOWN pod record could not be written; it is kept in memory');
    store.restore(rec);
  });
}
