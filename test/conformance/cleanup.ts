// Teardown after critest: what its failed specs left in the daemon (removed through CRI, while the
// daemon still runs, since pods outlive a stopped daemon), then what is left on the node once the
// daemon is gone. Everything found after the daemon stopped is a leak: it is cleaned and reported.
import { readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { call, type CriClient } from '../../src/cri/grpc/client.js';
import { run } from '../../src/lib/exec.js';
import { leftovers, waitFor } from '../e2e/harness.js';

/** Removes every container and pod the daemon still has; returns what it removed (for the log). */
export async function removeAllThroughCri(client: CriClient): Promise<string[]> {
  const removed: string[] = [];
  const { containers } = await call(client.runtime, 'ListContainers', {});
  for (const c of containers) {
    await call(client.runtime, 'StopContainer', { container_id: c.id, timeout: '0' }).catch(() => undefined);
    await call(client.runtime, 'RemoveContainer', { container_id: c.id });
    removed.push(`container ${c.id} (${c.metadata?.name ?? '?'})`);
  }
  const { items } = await call(client.runtime, 'ListPodSandbox', {});
  for (const p of items) {
    await call(client.runtime, 'StopPodSandbox', { pod_sandbox_id: p.id });
    await call(client.runtime, 'RemovePodSandbox', { pod_sandbox_id: p.id });
    removed.push(`pod ${p.id} (${p.metadata?.namespace ?? '?'}/${p.metadata?.name ?? '?'})`);
  }
  return removed;
}

/** The cgroups directly under a parent (e.g. the daemon's default `/nexcage`), per v1 controller or v2. */
export function childCgroups(parent: string): Set<string> {
  const found = new Set<string>();
  const roots = readdirSync('/sys/fs/cgroup', { withFileTypes: true }).filter((e) => e.isDirectory());
  // v2 (no controller dirs with cgroup.procs below them) is the mount itself.
  const bases = roots.length > 0 ? roots.map((e) => join('/sys/fs/cgroup', e.name, parent)) : [join('/sys/fs/cgroup', parent)];
  for (const base of bases) {
    try {
      for (const e of readdirSync(base, { withFileTypes: true })) if (e.isDirectory()) found.add(join(base, e.name));
    } catch {
      // this controller has no such parent
    }
  }
  return found;
}

/**
 * After the daemon stopped: waits for processes and mounts under `dir` to go, then kills and
 * unmounts what stays, removes cgroups that appeared under `cgroupParent` since `cgroupsBefore`,
 * and deletes the bridge. Returns the leaks found (empty = clean).
 */
export async function cleanNode(dir: string, cgroupParent: string, cgroupsBefore: Set<string>, bridge: string): Promise<string[]> {
  let left: string[] = [];
  try {
    await waitFor('processes and mounts of the run to go', () => ((left = leftovers(dir)).length === 0 ? true : undefined), 15_000);
  } catch {
    // reported below, after a forced cleanup
  }
  for (const item of left) {
    const proc = /^process (\d+):/.exec(item);
    if (proc) {
      try {
        process.kill(Number(proc[1]), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const rc = /^runc container (\S+) \(root (.+)\)$/.exec(item);
    if (rc) await run('runc', ['--root', rc[2]!, 'delete', '--force', rc[1]!]).catch(() => undefined);
  }
  // Deepest first, lazily: a netns pin or overlay may still be busy for a moment.
  const mounts = left.flatMap((l) => (l.startsWith('mount ') ? [l.slice('mount '.length)] : [])).sort((a, b) => b.length - a.length);
  for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined);

  const leaks = [...left];
  for (const cg of [...childCgroups(cgroupParent)].filter((c) => !cgroupsBefore.has(c))) {
    try {
      rmdirSync(cg);
      leaks.push(`cgroup ${cg} (removed)`);
    } catch (err) {
      leaks.push(`cgroup ${cg} (cannot remove: ${(err as Error).message})`);
    }
  }
  // The built-in network's bridge stays by design (CNI never deletes it): ours to remove, not a leak.
  await run('ip', ['link', 'del', bridge]).catch(() => undefined);
  return leaks;
}
