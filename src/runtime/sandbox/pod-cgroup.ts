// Pod-level limits on the pod's cgroup (CRI linux.cgroup_parent): resources + overhead of
// RunPodSandbox and UpdatePodSandboxResources. The kubelet usually manages this cgroup itself;
// writing the same values is harmless and makes the limits hold when it does not. Both drivers
// (cgroupfs paths, systemd slice names) and both hierarchies (v1 files per controller, v2 unified
// files) are handled; the file plan is pure so v2 is tested with fixture trees.
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError, errorMessage } from '../../lib/errors.js';
import type { CgroupDriver } from '../engine/cgroup-driver.js';
import type { LinuxContainerResources } from '../container/container-config.js';
import { podCgroup, v1Dir, v2Dir, type CgroupLayout } from '../stats/cgroup-paths.js';

export interface PodLimits {
  memoryLimitInBytes?: number;
  cpuQuota?: number;
  cpuPeriod?: number;
  cpuShares?: number;
}

/** Pod limits = resources + overhead (a limit only exists when the pod's resources set one). */
export function podLimits(resources?: LinuxContainerResources, overhead?: LinuxContainerResources): PodLimits {
  const out: PodLimits = {};
  const r = resources ?? {};
  const o = overhead ?? {};
  if ((r.memoryLimitInBytes ?? 0) > 0) out.memoryLimitInBytes = (r.memoryLimitInBytes ?? 0) + (o.memoryLimitInBytes ?? 0);
  const period = r.cpuPeriod || o.cpuPeriod || 100_000;
  if ((r.cpuQuota ?? 0) > 0) {
    // overhead quota rescaled to the pod's period
    const extra = (o.cpuQuota ?? 0) > 0 ? Math.round(((o.cpuQuota ?? 0) * period) / (o.cpuPeriod || 100_000)) : 0;
    out.cpuQuota = (r.cpuQuota ?? 0) + extra;
    out.cpuPeriod = period;
  }
  if ((r.cpuShares ?? 0) > 0) out.cpuShares = (r.cpuShares ?? 0) + (o.cpuShares ?? 0);
  return out;
}

/** cgroup v1 cpu.shares -> v2 cpu.weight (the conversion runc and the kubelet use). */
export function sharesToWeight(shares: number): number {
  if (shares <= 0) return 0;
  return Math.max(1, Math.min(10_000, 1 + Math.floor(((shares - 2) * 9999) / 262_142)));
}

export interface CgroupWrite {
  path: string;
  value: string;
}

/** The files to write for `limits` on the pod cgroup of `parent` (pure). */
export function podCgroupWrites(layout: CgroupLayout, driver: CgroupDriver, parent: string, limits: PodLimits): CgroupWrite[] {
  if (parent === '') return [];
  const cg = podCgroup(driver, parent);
  const writes: CgroupWrite[] = [];
  if (layout.version === 2) {
    const dir = v2Dir(layout, cg);
    if (limits.memoryLimitInBytes) writes.push({ path: join(dir, 'memory.max'), value: String(limits.memoryLimitInBytes) });
    if (limits.cpuQuota) writes.push({ path: join(dir, 'cpu.max'), value: `${limits.cpuQuota} ${limits.cpuPeriod ?? 100_000}` });
    if (limits.cpuShares) writes.push({ path: join(dir, 'cpu.weight'), value: String(sharesToWeight(limits.cpuShares)) });
    return writes;
  }
  const mem = v1Dir(layout, 'memory', cg);
  const cpu = v1Dir(layout, 'cpu', cg);
  if (mem && limits.memoryLimitInBytes) writes.push({ path: join(mem, 'memory.limit_in_bytes'), value: String(limits.memoryLimitInBytes) });
  if (cpu && limits.cpuQuota) {
    writes.push({ path: join(cpu, 'cpu.cfs_period_us'), value: String(limits.cpuPeriod ?? 100_000) });
    writes.push({ path: join(cpu, 'cpu.cfs_quota_us'), value: String(limits.cpuQuota) });
  }
  if (cpu && limits.cpuShares) writes.push({ path: join(cpu, 'cpu.shares'), value: String(limits.cpuShares) });
  return writes;
}

/**
 * Apply the writes whose cgroup exists (the kubelet or runc creates the pod cgroup; a missing one
 * is skipped). Returns the paths written. A value the kernel refuses is INVALID_ARGUMENT.
 */
export async function applyPodCgroup(writes: CgroupWrite[]): Promise<string[]> {
  const done: string[] = [];
  for (const w of writes) {
    if (!(await access(w.path).then(() => true, () => false))) continue;
    try {
      await writeFile(w.path, w.value);
    } catch (err) {
      throw new InvalidArgumentError(`pod cgroup: writing ${w.value} to ${w.path} failed: ${errorMessage(err)}`);
    }
    done.push(w.path);
  }
  return done;
}
