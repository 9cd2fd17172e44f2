// CreateContainer's work once the request is checked and the container's id and name are
// reserved, as named steps: dirs -> image lease + overlay rootfs -> image volumes -> host paths ->
// OCI spec -> monitor + `runtime create` beside the persisted meta -> status. Each step registers
// its undo as soon as it is done. On failure the undo runs; when an undo step fails too, the
// container is kept as an UNKNOWN record naming what is left (its name stays reserved), and
// Stop/Remove or the background retry finish the cleanup. In a pod with its own user namespace the
// rootfs, the image volumes and the bind sources are idmapped (userns-mounts.ts) and the bundle is
// opened to the pod's root.
import { chmod, chown, mkdir, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, errorMessage } from '../../lib/errors.js';
import { writeVolatileJson } from '../../lib/fsutil.js';
import type { Logger } from '../../lib/log.js';
import { nowNs } from '../../lib/time.js';
import { describeLeftovers, rollback, type RollbackResult, type Undo } from '../../lib/undo.js';
import { NativeIdmap, type IdmapMounts } from '../engine/idmap-mounts.js';
import type { MonitorStarted } from '../engine/monitor.js';
import { missingExecutable, type OciRuntime } from '../engine/oci-runtime.js';
import { cdiEditsFor } from '../oci-spec/cdi.js';
import { completeDeviceNodes, loadCdiSpecs } from '../oci-spec/cdi-loader.js';
import { buildContainerSpec } from '../oci-spec/container-spec.js';
import { listDevices, resolveDevices } from '../oci-spec/device-info.js';
import { ensureHostPropagation } from '../oci-spec/mount-propagation.js';
import { keepLockedFlags } from '../oci-spec/mount-locks.js';
import { hostMountRequirements } from '../oci-spec/mounts.js';
import { readUserFiles, resolveInRoot } from '../oci-spec/rootfs-files.js';
import { loadLocalhostSeccomp } from '../oci-spec/seccomp-localhost.js';
import type { Spec } from '../oci-spec/types.js';
import type { ResolvedUser } from '../oci-spec/user.js';
import { hostRoot } from '../oci-spec/userns.js';
import type { Sandbox } from '../sandbox/sandbox-config.js';
import type { ContainerConfig, ContainerMount, IdMappings, SandboxFacts } from './container-config.js';
import { containerBundlesDir, hostRootfsMounts, type ContainerManagerOptions, type RootfsMounts } from './container-deps.js';
import { normalizeSignal, resolveLogPath, sandboxFacts } from './container-inputs.js';
import type { Container, ContainerMeta } from './container-record.js';
import type { ContainerStore } from './container-store.js';
import type { RestoreHooks } from './container-restore.js';
import { idmapBindSources, mountIdmappedImage, mountIdmappedRootfs } from './userns-mounts.js';

export interface ImageConfigFields {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  StopSignal?: string;
}

export interface ContainerRequest {
  id: string;
  sandbox: Sandbox;
  config: ContainerConfig;
  image: { id: string; ref: string; config: ImageConfigFields };
  runtime: OciRuntime;
  /** Set when the container is restored from a checkpoint archive (container-restore.ts). */
  restore?: RestoreHooks;
}

/** Undo step names (the UNKNOWN record says which are left). */
export const STEP = {
  recordDir: 'record dir',
  bundle: 'bundle',
  imageLease: 'image lease',
  rootfs: 'rootfs mount',
  runtime: 'runtime container',
  monitorFiles: 'monitor files',
  volumeLease: (i: number) => `image volume lease ${i}`,
  volumeMount: (i: number) => `image volume mount ${i}`,
  idmappedBinds: 'idmapped bind sources',
} as const;

interface Paths {
  recordDir: string;
  bundle: string;
  rootfs: string;
  /** The pod's own user namespace, when it has one (the container joins it). */
  userns: IdMappings | undefined;
}

/** What the steps produced so far (a kept UNKNOWN record is built from it). */
interface Progress {
  upperDir?: string;
  workDir?: string;
  volumeHolders: string[];
  logPath?: string;
}

/** Build the container; its record is added hidden (the caller reveals it to whoever gets it). */
export async function createContainer(o: ContainerManagerOptions, store: ContainerStore, req: ContainerRequest): Promise<Container> {
  const { id, sandbox, config } = req;
  const log = o.log.child({ containerId: id, podSandboxId: sandbox.id, container: config.metadata.name });
  const mounts = o.mounts ?? hostRootfsMounts;
  const bundle = join(containerBundlesDir(o), id);
  const facts = sandboxFacts(sandbox);
  const p: Paths = { recordDir: store.recordDir(id), bundle, rootfs: join(bundle, 'rootfs'), userns: facts.userns };
  const undo: Undo[] = [];
  const progress: Progress = { volumeHolders: [] };
  try {
    await prepareDirs(p, undo);
    await req.restore?.unpack(p.recordDir);
    Object.assign(progress, await leaseAndMountRootfs(o, mounts, req, p, undo));
    await req.restore?.afterMount(p.recordDir, p.rootfs);
    let resolvedMounts = await mountImageVolumes(o, mounts, req, p, progress.volumeHolders, undo);
    await prepareHostPaths(resolvedMounts);
    let specFacts = facts;
    if (p.userns) ({ mounts: resolvedMounts, sandbox: specFacts } = await idmapBinds(o, p, p.userns, resolvedMounts, facts, undo));
    const { spec, user } = await writeSpec(o, store, req, p, resolvedMounts, specFacts);
    progress.logPath = resolveLogPath(sandbox.config.logDirectory, config.logPath ?? '');
    const meta: ContainerMeta = { ...containerMeta(req, p, progress as Required<Progress>, spec, user), ...req.restore?.meta };
    // The meta is persisted while the monitor runs the runtime's create (the undo of the record
    // dir takes it back); both settle before anything goes on.
    const logPath = progress.logPath;
    const [monitored, persisted] = await Promise.allSettled([
      req.restore ? req.restore.created(p.recordDir, logPath, undo) : startMonitor(o, req, p, logPath, spec, undo),
      store.writeMeta(meta),
    ]);
    if (monitored.status === 'rejected') throw monitored.reason;
    if (persisted.status === 'rejected') throw persisted.reason;
    const mon = monitored.value;
    const c: Container = { ...meta, status: { state: 'CREATED', pid: mon.pid, monitorPid: mon.monitorPid } };
    store.hide(id);
    await store.addCreated(c);
    log.info({ pid: mon.pid, image: config.image.image, handler: sandbox.runtimeHandler }, 'container created');
    return c;
  } catch (err) {
    store.reveal(id);
    log.warn({ error: errorMessage(err) }, 'CreateContainer failed; undoing');
    const left = await rollback(undo, log, 'CreateContainer');
    if (left.failed.length > 0) await keepUnknown(store, req, p, progress, left, err, log);
    throw err;
  }
}

/** The record dir (writable layer) and the bundle; both stay while anything else is left. */
async function prepareDirs(p: Paths, undo: Undo[]): Promise<void> {
  await mkdir(p.recordDir, { recursive: true, mode: 0o700 });
  undo.push({ what: STEP.recordDir, run: () => rm(p.recordDir, { recursive: true, force: true }), after: 'all' });
  await mkdir(p.bundle, { recursive: true, mode: 0o700 });
  undo.push({ what: STEP.bundle, run: () => rm(p.bundle, { recursive: true, force: true }), after: 'all' });
  if (p.userns) {
    // runc mounts the rootfs and binds from inside the pod's user namespace: its root (group) must get through.
    await chown(p.bundle, 0, hostRoot(p.userns).gid);
    await chmod(p.bundle, 0o710);
  }
}

function idmapOf(o: ContainerManagerOptions): IdmapMounts {
  return o.idmap ?? new NativeIdmap();
}

/** Lease the image (GC keeps its layers) and mount the overlay rootfs on them. */
async function leaseAndMountRootfs(o: ContainerManagerOptions, mounts: RootfsMounts, req: ContainerRequest, p: Paths, undo: Undo[]): Promise<{ upperDir: string; workDir: string }> {
  // Both undos first, in their order (releasing a lease not taken and unmounting what is not
  // mounted do nothing): the layers stay leased while the overlay may still be mounted on them.
  undo.push({ what: STEP.imageLease, run: () => o.images.release(req.id), after: [STEP.rootfs] });
  undo.push({ what: STEP.rootfs, run: () => mounts.unmountRootfs(p.rootfs), after: [STEP.runtime] });
  // The lease is persisted while the overlay is mounted; both settle before anything goes on.
  const leased = o.images.lease(req.id, req.image.id);
  const mounted = o.images
    .layerDirs(req.image.id)
    .then((layers) =>
      p.userns ? mountIdmappedRootfs(idmapOf(o), mounts, p.userns, layers, join(p.bundle, 'layers'), p.recordDir, p.rootfs) : mounts.mountRootfs(layers, p.recordDir, p.rootfs),
    );
  const [lease, mount] = await Promise.allSettled([leased, mounted]);
  if (lease.status === 'rejected') throw lease.reason;
  if (mount.status === 'rejected') throw mount.reason;
  return mount.value;
}

/** CRI image volumes: each image mounted read-only under the bundle (leased while the container exists). */
async function mountImageVolumes(o: ContainerManagerOptions, mounts: RootfsMounts, req: ContainerRequest, p: Paths, holders: string[], undo: Undo[]): Promise<ContainerMount[]> {
  const out: ContainerMount[] = [];
  for (const [i, m] of (req.config.mounts ?? []).entries()) {
    if (!m.image || m.image.image === '') {
      out.push(m);
      continue;
    }
    const img = await o.images.resolve(m.image.image);
    if (!img) throw new NotFoundError(`image volume "${m.image.image}" for mount "${m.containerPath}" not found (pull it first)`);
    const holder = `${req.id}/volume/${i}`;
    await o.images.lease(holder, img.id);
    holders.push(holder);
    undo.push({ what: STEP.volumeLease(i), run: () => o.images.release(holder), after: [STEP.volumeMount(i)] });
    const target = join(p.bundle, 'volumes', String(i));
    const layers = await o.images.layerDirs(img.id);
    const workDir = join(p.recordDir, 'volumes', String(i));
    undo.push({ what: STEP.volumeMount(i), run: () => mounts.unmountRootfs(target), after: [STEP.runtime] });
    if (p.userns) await mountIdmappedImage(idmapOf(o), mounts, p.userns, layers, join(p.bundle, 'volume-layers', String(i)), workDir, target);
    else await mounts.mountImageReadOnly(layers, workDir, target);
    const hostPath = m.imageSubPath ? await resolveInRoot(target, m.imageSubPath) : target;
    if (m.imageSubPath && !(await stat(hostPath).then(() => true, () => false))) {
      throw new InvalidArgumentError(`image volume "${m.image.image}": sub path "${m.imageSubPath}" does not exist in the image`);
    }
    out.push({ ...m, hostPath, readonly: true });
  }
  return out;
}

/** Host-path mounts must be absolute; a missing one becomes an empty directory, as containerd does. */
async function prepareHostPaths(mounts: readonly ContainerMount[]): Promise<void> {
  for (const m of mounts) {
    if (m.image) continue;
    if (!isAbsolute(m.hostPath)) throw new InvalidArgumentError(`mount "${m.containerPath}": host path "${m.hostPath}" must be absolute`);
    if (!(await stat(m.hostPath).then(() => true, () => false))) await mkdir(m.hostPath, { recursive: true, mode: 0o755 });
  }
}

/** Idmapped clones of the bind sources under the bundle (a pod with its own user namespace). */
async function idmapBinds(o: ContainerManagerOptions, p: Paths, userns: IdMappings, resolved: ContainerMount[], facts: SandboxFacts, undo: Undo[]): Promise<{ mounts: ContainerMount[]; sandbox: SandboxFacts }> {
  const dir = join(p.bundle, 'mounts');
  undo.push({ what: STEP.idmappedBinds, run: () => idmapOf(o).unmount(dir), after: [STEP.runtime] });
  return idmapBindSources(idmapOf(o), userns, resolved, facts, dir);
}

/** The OCI spec from the request, the image config, the pod and the host, written to the bundle. */
async function writeSpec(
  o: ContainerManagerOptions,
  store: ContainerStore,
  req: ContainerRequest,
  p: Paths,
  resolvedMounts: ContainerMount[],
  facts: SandboxFacts,
): Promise<{ spec: Spec; user: ResolvedUser }> {
  const { config } = req;
  const sc = config.linux?.securityContext ?? {};
  const privileged = sc.privileged === true;
  const cdiNames = (config.cdiDevices ?? []).map((d) => d.name);
  const cdiEdits = cdiNames.length > 0 ? await completeDeviceNodes(cdiEditsFor(cdiNames, (await loadCdiSpecs()).specs)) : undefined;
  const targetId = sc.namespaceOptions?.pid === 'TARGET' ? sc.namespaceOptions.targetId : undefined;
  let targetPid: number | undefined;
  if (targetId !== undefined) {
    const target = store.find(targetId);
    if (!target || target.status.state !== 'RUNNING') throw new FailedPreconditionError(`pid namespace target container "${targetId}" is not running`);
    targetPid = target.status.pid;
  }
  const built = buildContainerSpec({
    id: req.id,
    config: { ...config, mounts: resolvedMounts },
    image: req.image.config,
    sandbox: facts,
    host: o.host,
    rootfsPath: p.rootfs,
    userFiles: await readUserFiles(p.rootfs),
    devices: await resolveDevices(config.devices ?? []),
    ...(privileged ? { hostDevices: await listDevices() } : {}),
    ...(sc.seccomp?.profileType === 'Localhost' ? { localhostSeccomp: await loadLocalhostSeccomp(sc.seccomp.localhostRef ?? '') } : {}),
    ...(targetPid !== undefined ? { targetPid } : {}),
    ...(o.pidsLimit ? { pidsLimit: o.pidsLimit } : {}),
    ...(cdiEdits ? { cdiEdits } : {}),
  });
  // After the (pure) spec checks, so a bad mount is INVALID_ARGUMENT before any host precondition.
  await ensureHostPropagation(hostMountRequirements(config.mounts ?? [], o.host));
  if (p.userns) await keepLockedFlags(built.spec);
  await writeVolatileJson(join(p.bundle, 'config.json'), built.spec);
  return built;
}

/** conmon runs `runtime create`: the container is CREATED when this resolves. */
async function startMonitor(o: ContainerManagerOptions, req: ContainerRequest, p: Paths, logPath: string, spec: Spec, undo: Undo[]): Promise<MonitorStarted> {
  const { id, config, runtime } = req;
  if (logPath !== '') await mkdir(dirname(logPath), { recursive: true, mode: 0o755 });
  undo.push({ what: STEP.runtime, run: () => runtime.delete(id, { force: true }) });
  undo.push({ what: STEP.monitorFiles, run: () => Promise.all([o.monitor.cleanup(id), o.exits.remove(id)]) });
  return o.monitor
    .start({
      id,
      bundle: p.bundle,
      runtime,
      logPath,
      exitDir: o.exits.dir,
      terminal: config.tty === true,
      stdin: config.stdin === true,
      leaveStdinOpen: config.stdin === true && config.stdinOnce !== true,
    })
    .catch((err: unknown) => {
      // runc 1.1 looks the command up at create: a user error, not an internal one.
      throw missingExecutable(err, `container "${config.metadata.name}" (attempt ${config.metadata.attempt}) in pod sandbox "${req.sandbox.id}"`, spec.process?.args ?? []) ?? err;
    });
}

function baseRecord(req: ContainerRequest, p: Paths, progress: Progress): Omit<Container, 'status' | 'cgroupsPath' | 'user'> {
  const { config } = req;
  return {
    id: req.id,
    podSandboxId: req.sandbox.id,
    config,
    image: { requested: config.image.image, id: req.image.id, ref: req.image.ref },
    runtimeHandler: req.sandbox.runtimeHandler,
    createdAtNs: nowNs(),
    bundle: p.bundle,
    rootfs: p.rootfs,
    upperDir: progress.upperDir ?? join(p.recordDir, 'upper'),
    workDir: progress.workDir ?? join(p.recordDir, 'work'),
    logPath: progress.logPath ?? '',
    stopSignal: normalizeSignal(config.stopSignal || req.image.config.StopSignal || 'SIGTERM'),
    mounts: config.mounts ?? [],
    ...(progress.volumeHolders.length > 0 ? { imageVolumeLeases: [...progress.volumeHolders] } : {}),
    ...(config.linux?.resources ? { resources: config.linux.resources } : {}),
    ...(p.userns ? { userns: p.userns } : {}),
  };
}

function containerMeta(req: ContainerRequest, p: Paths, progress: Required<Progress>, spec: Spec, user: ResolvedUser): ContainerMeta {
  return { ...baseRecord(req, p, progress), cgroupsPath: spec.linux?.cgroupsPath ?? '', user };
}

/** An undo step failed: keep the container as UNKNOWN with what is left, its name reserved. */
async function keepUnknown(store: ContainerStore, req: ContainerRequest, p: Paths, progress: Progress, left: RollbackResult, err: unknown, log: Logger): Promise<void> {
  const leftSteps = new Set<string>([...left.failed.map((f) => f.what), ...left.skipped]);
  const reason = `CreateContainer failed (${errorMessage(err)}) and its cleanup did not finish: ${describeLeftovers(left)}`;
  // Only the leases whose release did not run stay recorded (released ones must not be released twice).
  const holders = progress.volumeHolders.filter((_h, i) => leftSteps.has(STEP.volumeLease(i)));
  const c: Container = {
    ...baseRecord(req, p, { ...progress, volumeHolders: holders }),
    cgroupsPath: '',
    user: { uid: 0, gid: 0, additionalGids: [] },
    status: {
      state: 'UNKNOWN',
      pid: 0,
      monitorPid: 0,
      runtimeDeleted: !leftSteps.has(STEP.runtime),
      reason: 'CreateContainerError',
      message: reason,
      cleanup: { reason, sinceNs: nowNs() },
    },
  };
  log.error({ reason }, 'CreateContainer left cleanup undone; the container is kept as UNKNOWN until Stop/Remove or the background retry finish it');
  await store.add(c).catch((saveErr: unknown) => {
    log.error({ err: saveErr }, 'the UNKNOWN container record could not be written; it is kept in memory');
    store.restore(c);
  });
}
