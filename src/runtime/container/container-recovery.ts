// Containers after a daemon restart, before the socket is bound: the store is rebuilt from the
// records, conmon's exit files and `runtime state` (an exit file = EXITED with its code; running
// or paused = RUNNING; created = CREATED; gone without a trace = EXITED "Unknown"); UNKNOWN
// containers (cleanup owed) stay as they are; a live container's rootfs is mounted again if the
// mount went; runtime containers and bundles that no record owns are removed.
import { chmod, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { nowNs } from '../../lib/time.js';
import { NativeIdmap } from '../engine/idmap-mounts.js';
import { runtimeOrUndefined, sweepRuntimeOrphans } from '../engine/runtime-sweep.js';
import { containerBundlesDir, hostRootfsMounts, type ContainerManagerOptions } from './container-deps.js';
import { containerOomKills } from './container-metrics.js';
import { wasOomKilled } from './container-oom.js';
import { finishedAtNs, type Container, type ContainerMeta, type ContainerStatusRecord } from './container-record.js';
import type { ContainerStore } from './container-store.js';
import { mountIdmappedRootfs } from './userns-mounts.js';

/** Rebuild the store; returns the ids of UNKNOWN containers whose cleanup is still owed. */
export async function recoverContainers(o: ContainerManagerOptions, store: ContainerStore): Promise<string[]> {
  const mounts = o.mounts ?? hostRootfsMounts;
  // Searchable (not listable) by others: a container of a pod with its own user namespace reaches
  // its rootfs under its bundle as the pod's root.
  await mkdir(containerBundlesDir(o), { recursive: true, mode: 0o711 });
  await chmod(containerBundlesDir(o), 0o711);
  const owed: string[] = [];
  for (const r of await store.load()) {
    if (!r.meta) {
      o.log.warn({ containerId: r.id, error: r.error }, 'container dir without a readable record (crash during CreateContainer?): removing');
      await cleanOrphan(o, r.id);
      await rm(store.recordDir(r.id), { recursive: true, force: true });
      continue;
    }
    const before: ContainerStatusRecord = r.status ?? { state: 'UNKNOWN', pid: 0, monitorPid: 0 };
    let status = before;
    if (before.cleanup) owed.push(r.id);
    else if (before.state !== 'EXITED') status = await liveStatus(o, r.meta, before);
    const c: Container = { ...r.meta, status };
    store.restore(c);
    if (status !== before) await store.setStatus(c.id, status);
    if (status.state !== 'EXITED' && !status.cleanup && !(await mounts.isMounted(c.rootfs))) {
      o.log.warn({ containerId: c.id }, 'container rootfs was not mounted after restart: mounting it again');
      const layers = await o.images.layerDirs(c.image.id);
      const remount = c.userns
        ? mountIdmappedRootfs(o.idmap ?? new NativeIdmap(), mounts, c.userns, layers, join(c.bundle, 'layers'), store.recordDir(c.id), c.rootfs)
        : mounts.mountRootfs(layers, store.recordDir(c.id), c.rootfs);
      await remount.catch((err: unknown) => o.log.error({ err, containerId: c.id }, 'remounting the rootfs failed'));
    }
    o.log.info({ containerId: c.id, state: status.state, pid: status.pid }, 'container recovered');
  }
  await sweepContainerOrphans(o, store);
  return owed;
}

/** What a not-yet-exited container is now, from its exit file and the runtime. */
async function liveStatus(o: ContainerManagerOptions, meta: ContainerMeta, before: ContainerStatusRecord): Promise<ContainerStatusRecord> {
  const { id, runtimeHandler: handler } = meta;
  const runtime = runtimeOrUndefined(o.runtimeFor, handler);
  const exit = await o.exits.read(id);
  if (exit) {
    // Read before the runtime delete removes the cgroup (its oom_kill counter).
    const oom = await wasOomKilled(meta.bundle, o.cgroupLayout, o.cgroupDriver, meta.cgroupsPath);
    if (oom) containerOomKills.inc();
    await runtime?.delete(id, { force: true }).catch(() => undefined);
    return { ...before, state: 'EXITED', pid: 0, exitCode: exit.exitCode, finishedAtNs: finishedAtNs(exit.finishedAtNs, before.startedAtNs), reason: oom ? 'OOMKilled' : exit.exitCode === 0 ? 'Completed' : 'Error' };
  }
  const st = await runtime?.state(id).catch(() => undefined);
  if (st && (st.status === 'running' || st.status === 'paused')) return { ...before, state: 'RUNNING', pid: st.pid, ...(before.startedAtNs ? {} : { startedAtNs: nowNs() }) };
  if (st && st.status === 'created') return { ...before, state: 'CREATED', pid: st.pid };
  if (!st && meta.restore && before.state === 'CREATED') return before; // a restore not started yet: nothing ran
  await runtime?.delete(id, { force: true }).catch(() => undefined);
  return { ...before, state: 'EXITED', pid: 0, exitCode: 255, finishedAtNs: nowNs(), reason: 'Unknown', message: 'the container was gone after a daemon restart and left no exit code' };
}

/** Runtime containers and bundles under our state dir that no record owns. */
async function sweepContainerOrphans(o: ContainerManagerOptions, store: ContainerStore): Promise<void> {
  const known = (id: string): boolean => store.get(id) !== undefined;
  await sweepRuntimeOrphans({ handlers: o.handlers, runtimeFor: o.runtimeFor, bundlesDir: containerBundlesDir(o), known, log: o.log, idField: 'containerId', what: 'container in the runtime' });
  for (const name of await readdir(containerBundlesDir(o)).catch(() => [] as string[])) {
    if (known(name)) continue;
    o.log.warn({ containerId: name }, 'orphan container bundle: removing');
    await cleanOrphan(o, name);
  }
}

async function cleanOrphan(o: ContainerManagerOptions, id: string): Promise<void> {
  const bundle = join(containerBundlesDir(o), id);
  await (o.mounts ?? hostRootfsMounts).unmountAll(bundle).catch((err: unknown) => o.log.warn({ err, containerId: id }, 'orphan rootfs unmount failed'));
  await rm(bundle, { recursive: true, force: true });
  await o.monitor.cleanup(id);
  await o.exits.remove(id);
  for (const l of o.images.leases()) {
    if (l.holder === id || l.holder.startsWith(`${id}/`)) await o.images.release(l.holder).catch(() => undefined);
  }
}
