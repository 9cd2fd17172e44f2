// Per-interface network counters of a pod's network namespace. Node cannot setns(), so the counters
// come from /proc/<pid>/net/dev of a process inside the namespace (the infra process), or, when no
// such process is alive, from `nsenter --net=<pinned netns> cat /proc/net/dev`.
import { readFile } from 'node:fs/promises';
import { isErrno, NotFoundError } from '../../lib/errors.js';
import { run } from '../../lib/exec.js';
import type { NetworkInterfaceStats, NetworkStats } from './types.js';

/** The interface the kubelet treats as the pod's own (its CRI stats provider looks for eth0). */
export const DEFAULT_INTERFACE = 'eth0';

export function parseNetDev(text: string): NetworkInterfaceStats[] {
  const out: NetworkInterfaceStats[] = [];
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (f.length < 16 || f.some((n) => !Number.isFinite(n))) continue;
    out.push({
      name,
      rxBytes: f[0] as number,
      rxPackets: f[1] as number,
      rxErrors: f[2] as number,
      rxDropped: f[3] as number,
      txBytes: f[8] as number,
      txPackets: f[9] as number,
      txErrors: f[10] as number,
      txDropped: f[11] as number,
    });
  }
  return out;
}

/** Loopback left out; eth0 (or the first interface) is the default. */
export function toNetworkStats(all: NetworkInterfaceStats[], timestampNs: number): NetworkStats {
  // Ordinal order: localeCompare would load ICU's collation data (~2.5 MB of RSS) for interface names.
  const ifaces = all.filter((i) => i.name !== 'lo').sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const def = ifaces.find((i) => i.name === DEFAULT_INTERFACE) ?? ifaces[0];
  return { timestampNs, ...(def ? { defaultInterface: def } : {}), interfaces: ifaces.filter((i) => i !== def) };
}

export interface NetnsRef {
  /** A process inside the namespace (cheapest: one file read). */
  pid?: number;
  /** The pinned namespace file (bind mount under the state dir), used when the process is gone. */
  netnsPath?: string;
}

export async function readNetworkStats(ref: NetnsRef, nowNs: number = Date.now() * 1e6): Promise<NetworkStats> {
  if (ref.pid !== undefined) {
    try {
      return toNetworkStats(parseNetDev(await readFile(`/proc/${ref.pid}/net/dev`, 'utf8')), nowNs);
    } catch (err) {
      if (!(isErrno(err, 'ENOENT') || isErrno(err, 'ESRCH')) || ref.netnsPath === undefined) {
        if (isErrno(err, 'ENOENT') || isErrno(err, 'ESRCH')) throw new NotFoundError(`network namespace of process ${ref.pid}: the process is gone`);
        throw err;
      }
    }
  }
  if (ref.netnsPath === undefined) throw new NotFoundError('network stats: neither a process nor a pinned network namespace was given');
  const { stdout } = await run('nsenter', [`--net=${ref.netnsPath}`, 'cat', '/proc/net/dev'], { timeoutMs: 5000 });
  return toNetworkStats(parseNetDev(stdout), nowNs);
}
