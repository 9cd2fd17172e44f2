// What removing a container takes, also the retry of what a failed CreateContainer left (an UNKNOWN
// container): every step is idempotent, so running it again after a partial failure finishes what
// is left. Order: the runtime's record (kills what is left), the monitor's files, every mount under
// the bundle, the bundle, the image leases, the exit file; the record goes last (remove only), so a
// crash in between leaves a record whose remove is retried, never a lease or mount nobody owns.
import { rm } from 'node:fs/promises';
import { nowNs } from '../../lib/time.js';
import { hostRootfsMounts, type ContainerManagerOptions } from './container-deps.js';
import type { Container, ContainerStatusRecord } from './container-record.js';

export async function releaseContainerResources(o: ContainerManagerOptions, c: Container): Promise<void> {
  if (!c.status.runtimeDeleted) await o.runtimeFor(c.runtimeHandler).delete(c.id, { force: true });
  await o.monitor.cleanup(c.id);
  await (o.mounts ?? hostRootfsMounts).unmountAll(c.bundle); // the rootfs and any image volumes
  await rm(c.bundle, { recursive: true, force: true });
  for (const holder of [c.id, ...(c.imageVolumeLeases ?? [])]) {
    await o.images.release(holder).catch((err: unknown) => o.log.warn({ err, containerId: c.id, holder }, 'image lease release failed'));
  }
  await o.exits.remove(c.id);
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
