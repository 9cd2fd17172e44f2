// Restoring a checkpoint, as CRI-O does it: CreateContainer whose image is the path of a checkpoint
// archive creates the container from the archive's record in the given pod, and StartContainer
// restores its processes (conmon --restore: runc restore under the same monitor, exit file and
// CRI log as any container).
//   CreateContainer: the archive is checked (container-checkpoint-archive.ts), the image the
//     checkpoint was made from resolved (pulled when missing, and it must be the same image), the
//     container config taken from the archive with the request's name, labels, annotations, log
//     path, resources and mounts (re-bound by container path) over it; then the usual create
//     steps with three hooks: the archive unpacked into the record dir and its rootfs diff into the
//     empty upper dir, the deleted files removed once the rootfs is mounted, and instead of
//     `runtime create` the checkpointed log copied to the new log path. The container is CREATED.
//   StartContainer: restore, RUNNING; the unpacked archive is removed.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join } from 'node:path';
import { FailedPreconditionError, errorMessage } from '../../lib/errors.js';
import { atomicWriteJson } from '../../lib/fsutil.js';
import type { Undo } from '../../lib/undo.js';
import type { MonitorStarted } from '../engine/monitor.js';
import type { Spec } from '../oci-spec/types.js';
import { containerCgroup } from '../stats/cgroup-paths.js';
import type { Sandbox } from '../sandbox/sandbox-config.js';
import { CONTAINER_LOG, readArchiveMetadata, setUtsNodename, unpackArchive } from './container-checkpoint-archive.js';
import { checkpointsDir, criuRestoreOpts, requireCheckpointSupport } from './container-checkpoint-support.js';
import { removeDeletedFiles, unpackRootfsDiff } from './container-checkpoint-rootfs.js';
import type { ContainerConfig } from './container-config.js';
import type { ImageConfigFields } from './container-create.js';
import { hostRootfsMounts, type ContainerManagerOptions } from './container-deps.js';
import type { Container, ContainerMeta } from './container-record.js';

/** How long unpacking an archive may take (CRIU images are as big as the container's memory). */
const UNPACK_TIMEOUT_MS = 10 * 60_000;
/** How long StartContainer waits for a restore (the kubelet's own CRI timeout is 2 min by default). */
const RESTORE_TIMEOUT_MS = 110_000;

/** What createContainer calls for a restore (container-create.ts). */
export interface RestoreHooks {
  /** Right after the record dir exists: the archive unpacked there, the rootfs diff into the upper dir. */
  unpack(recordDir: string): Promise<void>;
  /** Once the rootfs is mounted: what the checkpointed container had deleted goes. */
  afterMount(recordDir: string, rootfs: string): Promise<void>;
  /** In place of `runtime create`: the checkpointed log at the new log path; nothing runs yet. */
  created(recordDir: string, logPath: string, undo: Undo[]): Promise<MonitorStarted>;
  /** Added to the container's record. */
  meta: Pick<ContainerMeta, 'restore'>;
}

export interface PreparedRestore {
  config: ContainerConfig;
  image: { id: string; ref: string; config: ImageConfigFields };
  hooks: RestoreHooks;
}

/** Where a restored container's unpacked archive lives until it is started. */
export function restoreDir(recordDir: string): string {
  return join(recordDir, 'restore');
}

/** A CreateContainer image that names a checkpoint archive: an absolute path to a regular file. */
export async function isCheckpointArchive(image: string): Promise<boolean> {
  if (!isAbsolute(image)) return false;
  return stat(image).then((s) => s.isFile(), () => false);
}

/** Undefined unless `request.image.image` is a checkpoint archive; otherwise what create needs to restore it. */
export async function prepareRestore(o: ContainerManagerOptions, sandbox: Sandbox, request: ContainerConfig): Promise<PreparedRestore | undefined> {
  const archive = request.image.image;
  if (!(await isCheckpointArchive(archive))) return undefined;
  await requireCheckpointSupport(o, o.runtimeFor(sandbox.runtimeHandler), `restore container "${request.metadata.name}" from "${archive}"`);
  const tmp = join(checkpointsDir(o), `restore-${randomBytes(6).toString('hex')}`);
  await mkdir(tmp, { recursive: true, mode: 0o700 });
  const meta = await readArchiveMetadata(archive, tmp, UNPACK_TIMEOUT_MS).finally(() => rm(tmp, { recursive: true, force: true }));
  const { nexcage } = meta;
  const image = await checkpointImage(o, nexcage.image, archive);
  const config = restoredConfig(nexcage.config, request);
  const hooks: RestoreHooks = {
    unpack: async (recordDir) => {
      const dir = restoreDir(recordDir);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await unpackArchive(archive, dir, UNPACK_TIMEOUT_MS);
      await unpackRootfsDiff(dir, join(recordDir, 'upper'), UNPACK_TIMEOUT_MS);
    },
    afterMount: async (recordDir, rootfs) => {
      await removeDeletedFiles(restoreDir(recordDir), rootfs);
    },
    created: async (recordDir, logPath, undo) => {
      const saved = join(restoreDir(recordDir), CONTAINER_LOG);
      if (logPath !== '' && (await stat(saved).then((s) => s.isFile(), () => false))) {
        await mkdir(dirname(logPath), { recursive: true, mode: 0o755 });
        await copyFile(saved, logPath);
        undo.push({ what: 'restored log', run: () => rm(logPath, { force: true }) });
      }
      return { pid: 0, monitorPid: 0 };
    },
    meta: { restore: { archive, sourceContainerId: nexcage.containerId, checkpointedAt: nexcage.checkpointedAt } },
  };
  return { config, image, hooks };
}

/**
 * The container config of a restore: the checkpointed container's, with what the new pod decides
 * taken from the request (as CRI-O does): name and attempt, labels and annotations (the request's
 * win), log path, resources and security context when given, and each mount's host side when the
 * request has a mount at the same container path. Mounts at paths the checkpoint did not have are
 * left out: CRIU restores exactly the mount tree it dumped.
 */
export function restoredConfig(original: ContainerConfig, request: ContainerConfig): ContainerConfig {
  const byPath = new Map((request.mounts ?? []).map((m) => [m.containerPath, m]));
  const linux = { ...original.linux, ...(request.linux?.resources ? { resources: request.linux.resources } : {}), ...(request.linux?.securityContext ? { securityContext: request.linux.securityContext } : {}) };
  return {
    ...original,
    metadata: { ...request.metadata },
    image: { ...original.image },
    labels: { ...original.labels, ...request.labels },
    annotations: { ...original.annotations, ...request.annotations },
    mounts: (original.mounts ?? []).map((m) => byPath.get(m.containerPath) ?? m),
    logPath: request.logPath !== undefined && request.logPath !== '' ? request.logPath : (original.logPath ?? ''),
    ...(Object.keys(linux).length > 0 ? { linux } : {}),
  };
}

/** The image the checkpoint was made from: by id when present, else pulled; it must be that image. */
async function checkpointImage(o: ContainerManagerOptions, want: Container['image'], archive: string): Promise<PreparedRestore['image']> {
  const byId = await o.images.resolve(want.id);
  if (byId) return { id: byId.id, ref: want.ref, config: byId.config };
  const pullRef = want.ref.includes('@sha256:') ? want.ref : want.requested;
  if (!o.checkpoint) throw new FailedPreconditionError(`image "${want.requested}" of checkpoint "${archive}" is not on this node (pull it first)`);
  await o.checkpoint.pull(pullRef);
  const pulled = await o.images.resolve(pullRef);
  if (!pulled) throw new FailedPreconditionError(`image "${pullRef}" of checkpoint "${archive}" could not be found after pulling it`);
  if (pulled.id !== want.id) throw new FailedPreconditionError(`image "${pullRef}" is now ${pulled.id}, not ${want.id} the checkpoint "${archive}" was made from`);
  return { id: pulled.id, ref: want.ref, config: pulled.config };
}

/** StartContainer of a restored container: conmon runs `runtime restore`; resolves once it runs. */
export async function startRestored(o: ContainerManagerOptions, recordDir: string, c: Container): Promise<MonitorStarted> {
  const runtime = o.runtimeFor(c.runtimeHandler);
  const criu = await requireCheckpointSupport(o, runtime, `restore container "${c.id}"`);
  const dir = restoreDir(recordDir);
  await joinPodNamespaces(c.bundle, dir, o.sandboxes.find(c.podSandboxId)?.hostname);
  const mon = await o.monitor
    .start({
      id: c.id,
      bundle: c.bundle,
      runtime,
      logPath: c.logPath,
      exitDir: o.exits.dir,
      terminal: c.config.tty === true,
      stdin: c.config.stdin === true,
      leaveStdinOpen: c.config.stdin === true && c.config.stdinOnce !== true,
      restore: { imagePath: join(dir, 'checkpoint'), runtimeArgs: [`--criu=${criu.criu}`], runtimeOpts: criuRestoreOpts() },
      timeoutMs: RESTORE_TIMEOUT_MS,
    })
    .catch(async (err: unknown) => {
      await cleanupFailedRestore(o, c, runtime.root).catch((e: unknown) => o.log.warn({ err: e, containerId: c.id }, 'cleaning up after a failed restore failed'));
      // runc says "criu failed: type RESTORE errno 0"; CRIU's restore.log (in the bundle) says why.
      const text = await readFile(join(c.bundle, 'restore.log'), 'utf8').catch(() => '');
      const why = text
        .split('\n')
        .filter((l) => /\bError\b/.test(l) && !/RLIMIT_NOFILE/.test(l))
        .map((l) => l.replace(/^\(\s*[\d.]+\)\s*/, '').trim())
        .slice(-3)
        .join(' | ');
      throw new FailedPreconditionError(`restoring container "${c.id}" from "${c.restore?.archive ?? ''}" failed: ${why || errorMessage(err)}`, { cause: err });
    });
  await rm(dir, { recursive: true, force: true }).catch((err: unknown) => o.log.warn({ err, containerId: c.id }, 'the unpacked checkpoint could not be removed'));
  return mon;
}

/**
 * runc 1.1 gives CRIU only the network and pid namespaces to join; the UTS and IPC ones would be
 * made anew from the images (with the old pod's hostname), apart from the pod's. CRIU can join
 * them (join-ns) when its config file says so, and runc hands CRIU the file the bundle's
 * `org.criu.config` annotation names. The file lives with the unpacked checkpoint, so it is gone
 * once the restore is done (a later checkpoint finds no file, which CRIU ignores).
 */
async function joinPodNamespaces(bundle: string, dir: string, hostname: string | undefined): Promise<void> {
  const specPath = join(bundle, 'config.json');
  const spec = JSON.parse(await readFile(specPath, 'utf8')) as Spec;
  const joined = (spec.linux?.namespaces ?? []).filter((n) => (n.type === 'uts' || n.type === 'ipc') && n.path);
  if (joined.length === 0) return;
  const joins = joined.map((n) => `join-ns ${n.type}:${n.path}`);
  // CRIU still sets the image's hostname in a UTS namespace it joins: make that the pod's.
  if (hostname && joined.some((n) => n.type === 'uts')) await setUtsNodename(join(dir, 'checkpoint'), hostname);
  const conf = join(dir, 'criu.conf');
  await writeFile(conf, `${joins.join('\n')}\n`, { mode: 0o600 });
  await atomicWriteJson(specPath, { ...spec, annotations: { ...spec.annotations, 'org.criu.config': conf } });
}

/**
 * What a restore that failed or hung leaves: conmon, runc and CRIU (conmon's process group), the
 * processes CRIU had restored so far (in the container's cgroup, under their own process groups,
 * perhaps frozen), the cgroup itself and runc's criu-root mount. The runtime does not know the
 * container, so `runtime delete` cannot do this.
 */
async function cleanupFailedRestore(o: ContainerManagerOptions, c: Container, runtimeRoot: string): Promise<void> {
  const conmon = Number((await readFile(join(c.bundle, 'conmon.pid'), 'utf8').catch(() => '')).trim());
  if (conmon > 1) {
    const stat = await readFile(`/proc/${conmon}/stat`, 'utf8').catch(() => '');
    const pgid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    try {
      process.kill(pgid === conmon ? -pgid : conmon, 'SIGKILL'); // conmon leads its own group
    } catch {
      // already gone
    }
  }
  if (c.cgroupsPath !== '') await killCgroup(containerCgroup(o.cgroupDriver, c.cgroupsPath));
  await (o.mounts ?? hostRootfsMounts).unmountRootfs(join(runtimeRoot, c.id, 'criu-root'));
}

/** Every hierarchy's directory of `cgroup` (v1 controllers and v2), from this process's mounts. */
async function cgroupDirs(cgroup: string): Promise<string[]> {
  const out: string[] = [];
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
    const [pre, post] = line.split(' - ');
    const type = post?.split(' ')[0];
    if (type !== 'cgroup' && type !== 'cgroup2') continue;
    const f = (pre ?? '').split(' ');
    const root = f[3] ?? '/';
    const mountPoint = f[4] ?? '';
    if (!cgroup.startsWith(root)) continue;
    out.push(join(mountPoint, cgroup.slice(root === '/' ? 0 : root.length)));
  }
  return out;
}

/** Thaw, kill everything in and remove `cgroup` in every hierarchy (bounded wait for the processes to go). */
async function killCgroup(cgroup: string): Promise<void> {
  const dirs = (await cgroupDirs(cgroup)).filter((d) => existsSync(d));
  const pids = async (): Promise<number[]> => {
    const all = new Set<number>();
    for (const d of dirs) for (const p of (await readFile(join(d, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n')) if (/^\d+$/.test(p)) all.add(Number(p));
    return [...all];
  };
  for (let i = 0; i < 50; i++) {
    const left = await pids();
    if (left.length === 0) break;
    for (const d of dirs) {
      await writeFile(join(d, 'freezer.state'), 'THAWED').catch(() => undefined);
      await writeFile(join(d, 'cgroup.freeze'), '0').catch(() => undefined);
    }
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const d of dirs) await rmdir(d).catch(() => undefined);
}
