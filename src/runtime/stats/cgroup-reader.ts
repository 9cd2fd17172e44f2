// One entry point for "stats of this cgroup" whatever the host: picks the v1 or v2 reader from the
// mounted layout and resolves driver-specific names (slices, scopes) to paths.
import type { CgroupDriver } from '../engine/cgroup-driver.js';
import { readCgroupV1 } from './cgroup-v1.js';
import { readCgroupV2 } from './cgroup-v2.js';
import { join } from 'node:path';
import { parseKeyValues, parseSingle, readText } from './cgroup-files.js';
import { containerCgroup, podCgroup, v1Dir, v2Dir, type CgroupLayout } from './cgroup-paths.js';
import type { CgroupStats } from './types.js';

export class CgroupReader {
  constructor(
    readonly layout: CgroupLayout,
    readonly driver: CgroupDriver,
  ) {}

  /** Stats of the cgroup runc made for this OCI linux.cgroupsPath. NotFoundError when it is gone. */
  container(cgroupsPath: string): Promise<CgroupStats> {
    return this.read(containerCgroup(this.driver, cgroupsPath));
  }

  /** Stats of a pod's parent cgroup (CRI linux.cgroup_parent). */
  pod(cgroupParent: string): Promise<CgroupStats> {
    return this.read(podCgroup(this.driver, cgroupParent));
  }

  /** `cgroup` relative to the hierarchy root, e.g. "/kubepods/burstable/pod1/abc". */
  read(cgroup: string): Promise<CgroupStats> {
    return this.layout.version === 2 ? readCgroupV2(v2Dir(this.layout, cgroup)) : readCgroupV1(this.layout, cgroup);
  }

  /**
   * Only the cumulative CPU time (ns) of `cgroup`, the counter read() reports as cpu.usageNs: one
   * file instead of ~25. Undefined when the cgroup (or its CPU accounting) is not there.
   */
  cpuUsageNs(cgroup: string): number | undefined {
    try {
      if (this.layout.version === 2) {
        const usec = parseKeyValues(readText(join(v2Dir(this.layout, cgroup), 'cpu.stat'))).get('usage_usec');
        return usec === undefined ? undefined : usec * 1000;
      }
      const dir = v1Dir(this.layout, 'cpuacct', cgroup);
      return dir === undefined ? undefined : parseSingle(readText(join(dir, 'cpuacct.usage')));
    } catch {
      return undefined; // unreadable: the next full read says why
    }
  }
}

/** Sum of several cgroups (a pod without a parent cgroup: its containers side by side). */
export function sumCgroupStats(parts: CgroupStats[], nowNs: number): CgroupStats | undefined {
  const first = parts[0];
  if (!first) return undefined;
  const add = (f: (s: CgroupStats) => number): number => parts.reduce((a, s) => a + f(s), 0);
  return {
    version: first.version,
    timestampNs: nowNs,
    cpu: {
      usageNs: add((s) => s.cpu.usageNs),
      userNs: add((s) => s.cpu.userNs),
      systemNs: add((s) => s.cpu.systemNs),
      periods: add((s) => s.cpu.periods),
      throttledPeriods: add((s) => s.cpu.throttledPeriods),
      throttledNs: add((s) => s.cpu.throttledNs),
    },
    memory: {
      usageBytes: add((s) => s.memory.usageBytes),
      workingSetBytes: add((s) => s.memory.workingSetBytes),
      rssBytes: add((s) => s.memory.rssBytes),
      cacheBytes: add((s) => s.memory.cacheBytes),
      mappedFileBytes: add((s) => s.memory.mappedFileBytes),
      kernelBytes: add((s) => s.memory.kernelBytes),
      failcnt: add((s) => s.memory.failcnt),
      pageFaults: add((s) => s.memory.pageFaults),
      majorPageFaults: add((s) => s.memory.majorPageFaults),
      oomEvents: add((s) => s.memory.oomEvents),
      oomKills: add((s) => s.memory.oomKills),
    },
    pids: { current: add((s) => s.pids.current) },
    io: { devices: parts.flatMap((s) => s.io.devices) },
    hugetlb: parts.flatMap((s) => s.hugetlb),
  };
}
