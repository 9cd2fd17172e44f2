// Pod sandboxes after a daemon restart, before the socket is bound: each record is loaded and
// checked against the runtime (infra running = READY, else NOTREADY; UNKNOWN stays, its cleanup
// is retried); then what no record owns is cleaned up and logged: netns pins, CNI state, infra
// containers in the runtime, bundles.
import { chmod, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { unmountAll } from '../container/container-rootfs.js';
import { runtimeOrUndefined, sweepRuntimeOrphans } from '../engine/runtime-sweep.js';
import type { Sandbox } from './sandbox-config.js';
import { bundlesDir, hostShmMounts, type SandboxManagerOptions } from './sandbox-deps.js';
import { listIds } from './pod-files.js';
import type { SandboxStore } from './sandbox-store.js';

/** Load every record into the store; returns the ids of UNKNOWN pods (cleanup still owed). */
export async function recoverSandboxes(o: SandboxManagerOptions, store: SandboxStore): Promise<string[]> {
  await mkdir(store.dir, { recursive: true, mode: 0o700 });
  // Searchable (not listable) by others: the infra of a pod with its own user namespace reaches
  // its rootfs under its bundle as the pod's root.
  await mkdir(bundlesDir(o), { recursive: true, mode: 0o711 });
  await chmod(bundlesDir(o), 0o711);
  await o.netns.init();
  const unknown: string[] = [];
  for (const r of await store.load()) {
    if (r.error !== undefined) o.log.error({ err: r.error, podSandboxId: r.id }, 'unreadable sandbox record; treating the pod as an orphan');
    if (!r.record) {
      o.log.warn({ podSandboxId: r.id }, 'sandbox dir without a record (crash during RunPodSandbox): removing');
      await rm(store.recordDir(r.id), { recursive: true, force: true });
      continue;
    }
    const next = await liveState(o, r.record);
    if (next !== r.record) await store.save(next);
    store.restore(next);
    if (next.state === 'UNKNOWN') unknown.push(next.id);
    o.log.info({ podSandboxId: next.id, state: next.state, ips: next.ips }, 'pod sandbox recovered');
  }
  await sweepSandboxOrphans(o, store);
  return unknown;
}

/** A READY pod whose infra no longer runs is NOTREADY; other states stand. */
async function liveState(o: SandboxManagerOptions, rec: Sandbox): Promise<Sandbox> {
  if (rec.state !== 'READY') return rec;
  const runtime = runtimeOrUndefined(o.runtimeFor, rec.runtimeHandler);
  const st = runtime ? await runtime.state(rec.id).catch(() => undefined) : undefined;
  if (st && st.status === 'running') return rec;
  return { ...rec, state: 'NOTREADY', pid: 0 };
}

/** Clean up what no record owns: netns pins, CNI state, infra containers, bundles. */
export async function sweepSandboxOrphans(o: SandboxManagerOptions, store: SandboxStore): Promise<void> {
  const known = (id: string): boolean => store.has(id);
  for (const id of await o.netns.list()) {
    if (known(id)) continue;
    o.log.warn({ podSandboxId: id }, 'orphan network namespace: removing');
    await o.network.tearDown(id, o.netns.pathFor(id)).catch((err: unknown) => o.log.warn({ err, podSandboxId: id }, 'orphan CNI DEL failed'));
    await o.netns.remove(o.netns.pathFor(id));
  }
  for (const id of await o.network.cachedPods()) {
    if (known(id)) continue;
    o.log.warn({ podSandboxId: id }, 'orphan CNI state: running DEL');
    await o.network.tearDown(id, o.netns.pathFor(id)).catch((err: unknown) => o.log.warn({ err, podSandboxId: id }, 'orphan CNI DEL failed'));
  }
  await sweepRuntimeOrphans({
    handlers: o.handlers,
    runtimeFor: o.runtimeFor,
    bundlesDir: bundlesDir(o),
    known,
    log: o.log,
    idField: 'podSandboxId',
    what: 'infra container',
    afterDelete: (id) => o.monitor.cleanup(id),
  });
  for (const id of await listIds(bundlesDir(o))) {
    if (known(id)) continue;
    o.log.warn({ podSandboxId: id }, 'orphan sandbox bundle: removing');
    await (o.shm ?? hostShmMounts).unmount(join(bundlesDir(o), id, 'shm'));
    // An idmapped infra rootfs may be mounted there: rm -r must not walk into it.
    await unmountAll(join(bundlesDir(o), id));
    await rm(join(bundlesDir(o), id), { recursive: true, force: true });
    await o.exits.remove(id);
  }
}
