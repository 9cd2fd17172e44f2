// What removing a container takes, also the retry of what a failed CreateContainer left (an UNKNOWN
// container): every step is idempotent, so running it again after a partial failure finishes what
// is left. Order: the runtime's record (kills what is left), every mount under the bundle, then side
// by side the bundle, the monitor's files, the exit file and the image leases; the record goes last
// (remove only), so a crash in between leaves a record whose remove is retried, never a lease or
// mount nobody owns.
// An exited container gives up its runtime record and rootfs mount right behind its recorded exit
// (releaseExited; StopContainer waits for it, as containerd's waits for the task delete), so Remove
// usually finds only directories left; those are renamed into a trash dir and deleted behind it
// (what a crash leaves there is swept at start-up).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { isErrno } from '../../lib/errors.js';
import type { Logger } from '../../lib/log.js';
import { nowNs } from '../../lib/time.js';
import { hostRootfsMounts, type ContainerManagerOptions } from './container-deps.js';
import type { Container, ContainerStatusRecord } from './container-record.js';

/** `unmounted`: releaseExited already unmounted everything under the bundle (and nothing mounts there after the exit). */
export async function releaseContainerResources(o: ContainerManagerOptions, c: Container, unmounted = false): Promise<void> {
  if (!c.status.runtimeDeleted) await o.runtimeFor(c.runtimeHandler).delete(c.id, { force: true });
  // The rootfs and any image volumes: before the bundle goes and the layers' leases are released.
  if (!unmounted) await (o.mounts ?? hostRootfsMounts).unmountAll(c.bundle);
  // The rest is independent (and each step idempotent): side by side.
  const steps = await Promise.allSettled([
    discardDir(c.bundle, trashDirs(o).bundles, o.log),
    o.monitor.cleanup(c.id),
    o.exits.remove(c.id),
    (async () => {
      for (const holder of [c.id, ...(c.imageVolumeLeases ?? [])]) {
        await o.images.release(holder).catch((err: unknown) => o.log.warn({ err, containerId: c.id, holder }, 'image lease release failed'));
      }
    })(),
  ]);
  for (const step of steps) if (step.status === 'rejected') throw step.reason;
}

/**
 * What an exited container holds that its status, log and writable layer do not need: the
 * runtime's record (with it the cgroup) and the mounts under its bundle (rootfs, image volumes).
 * Returns whether the runtime's record was deleted now (the caller records it).
 */
export async function releaseExited(o: ContainerManagerOptions, c: Container): Promise<boolean> {
  let deleted = false;
  if (!c.status.runtimeDeleted) {
    await o.runtimeFor(c.runtimeHandler).delete(c.id, { force: true });
    deleted = true;
  }
  await (o.mounts ?? hostRootfsMounts).unmountAll(c.bundle);
  return deleted;
}

/** Where removed containers' dirs wait for deletion: one per tree, as a rename cannot cross filesystems. */
export function trashDirs(o: Pick<ContainerManagerOptions, 'rootDir' | 'stateDir'>): { bundles: string; records: string } {
  return { bundles: join(o.stateDir, 'container-trash'), records: join(o.rootDir, 'container-trash') };
}

/**
 * Take `dir` out of its place at once (a rename) and delete it in the background; where the rename
 * cannot be done (another filesystem), delete it in place. A dir already gone is fine.
 */
export async function discardDir(dir: string, trash: string, log: Logger): Promise<void> {
  const target = join(trash, `${basename(dir)}.${randomBytes(4).toString('hex')}`);
  try {
    try {
      await rename(dir, target);
    } catch (err) {
      // ENOENT: the dir is gone already, or the trash dir is not there yet (made on first use).
      if (!isErrno(err, 'ENOENT') || !existsSync(dir)) throw err;
      await mkdir(trash, { recursive: true, mode: 0o700 });
      await rename(dir, target);
    }
  } catch (err) {
    if (isErrno(err, 'ENOENT') && !existsSync(dir)) return;
    log.debug({ err, dir }, 'moving a removed dir to the trash failed: deleting it in place');
    await rm(dir, { recursive: true, force: true });
    return;
  }
  void rm(target, { recursive: true, force: true }).catch((err: unknown) => log.warn({ err, dir: target }, 'deleting a removed container dir failed (swept at the next start)'));
}

/** Delete what the trash dirs hold (left by a crash or a failed delete); runs in the background. */
export async function sweepTrash(o: Pick<ContainerManagerOptions, 'rootDir' | 'stateDir' | 'log'>): Promise<void> {
  for (const trash of Object.values(trashDirs(o))) {
    for (const name of await readdir(trash).catch(() => [] as string[])) {
      await rm(join(trash, name), { recursive: true, force: true }).catch((err: unknown) => o.log.warn({ err, dir: join(trash, name) }, 'sweeping the container trash failed'));
    }
  }
}

/** An UNKNOWN container whose cleanup went through: EXITED, with why it never ran. */
export function cleanedUpStatus(c: Container): ContainerStatusRecord {
  const { cleanup, ...rest } = c.status;
  return {
    ...rest,
    state: 'EXITED',
    pid: 0,
    exitCode: c.status.exitCode ?? 128,
    finishedAtNs: c.status.finishedAtNs ?? nowNs(),
    runtimeDeleted: true,
    reason: 'CreateContainerError',
    message: cleanup?.reason ?? c.status.message ?? '',
  };
}
