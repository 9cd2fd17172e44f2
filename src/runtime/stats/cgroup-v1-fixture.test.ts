// v1 files this machine cannot produce live (hugetlb is not mounted here, no block I/O in tests,
// no swap accounting): fixture trees in the kernel's formats, read through a layout pointing at them.
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readCgroupV1 } from './cgroup-v1.js';
import type { CgroupLayout } from './cgroup-paths.js';

const FIX = resolve(import.meta.dirname, '../../../test/fixtures/cgroup-v1');
const layout: CgroupLayout = {
  version: 1,
  controllers: {
    hugetlb: { mountPoint: `${FIX}/hugetlb`, root: '/' },
    blkio: { mountPoint: `${FIX}/blkio`, root: '/' },
    memory: { mountPoint: `${FIX}/memory`, root: '/' },
  },
};

describe('cgroup v1 reader (fixtures)', () => {
  it('reads hugetlb per page size, blkio per device, swap from memsw, oom kills, and clamps working set', async () => {
    const s = await readCgroupV1(layout, '/pod/c1', 7);
    expect(s.hugetlb.sort((a, b) => a.pageSize.localeCompare(b.pageSize))).toEqual([
      { pageSize: '1GB', usageBytes: 0, maxUsageBytes: 0, failcnt: 0 },
      { pageSize: '2MB', usageBytes: 2097152, maxUsageBytes: 6291456, failcnt: 2 },
    ]);
    expect(s.io.devices).toEqual([
      { major: 8, minor: 0, readBytes: 1048576, writeBytes: 4194304, reads: 256, writes: 1024 },
      { major: 253, minor: 1, readBytes: 0, writeBytes: 8192, reads: 0, writes: 2 },
    ]);
    expect(s.memory.swapUsageBytes).toBe(125829120 - 104857600);
    expect(s.memory.limitBytes).toBeUndefined();
    expect(s.memory.swapLimitBytes).toBeUndefined();
    expect(s.memory.oomKills).toBe(4);
    expect(s.memory.rssBytes).toBe(62914560);
    expect(s.memory.cacheBytes).toBe(33554432);
    expect(s.memory.workingSetBytes).toBe(0); // total_inactive_file > usage
    expect(s.cpu.usageNs).toBe(0); // cpuacct not in this layout
  });
});
