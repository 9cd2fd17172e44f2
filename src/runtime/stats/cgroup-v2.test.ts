// cgroup v2 readers against fixture trees in the formats real v2 hosts write (this VM runs v1).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NotFoundError } from '../../errors.js';
import { CgroupReader } from './cgroup-reader.js';
import { parseCgroupLayout } from './cgroup-paths.js';
import { readCgroupV2 } from './cgroup-v2.js';

const FIX = resolve(import.meta.dirname, '../../../test/fixtures/cgroup-v2');
const POD = 'kubepods-burstable-pod0b7e3f3a_52c1_4a8e_9d3a_7f0c1e2d3b4a.slice';
const CID = '4f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f';

/** A layout whose unified mount is a fixture tree instead of /sys/fs/cgroup. */
function fixtureReader(tree: string, driver: 'systemd' | 'cgroupfs'): CgroupReader {
  const layout = parseCgroupLayout(readFileSync(join(FIX, 'mountinfo-v2'), 'utf8'));
  expect(layout.version).toBe(2);
  layout.unified = { mountPoint: join(FIX, tree), root: '/' };
  return new CgroupReader(layout, driver);
}

describe('cgroup v2 reader (kernel 6.1 container scope under the systemd driver)', () => {
  const reader = fixtureReader('systemd', 'systemd');

  it('finds the scope from the OCI cgroupsPath "slice:prefix:id" and reads every field', async () => {
    const s = await reader.container(`${POD}:cri-nexcage:${CID}`);
    expect(s.version).toBe(2);
    expect(s.timestampNs).toBeGreaterThan(0);
    expect(s.cpu).toEqual({
      usageNs: 8123456789000,
      userNs: 6000000000000,
      systemNs: 2123456789000,
      periods: 51234,
      throttledPeriods: 812,
      throttledNs: 40321987000,
      psi: {
        some: { totalNs: 123456789000, avg10: 1.53, avg60: 0.87, avg300: 0.25 },
        full: { totalNs: 23456789000, avg10: 0.42, avg60: 0.11, avg300: 0.03 },
      },
    });
    expect(s.memory).toEqual({
      usageBytes: 73728000,
      workingSetBytes: 73728000 - 20000000,
      rssBytes: 41943040,
      cacheBytes: 25165824,
      mappedFileBytes: 8388608,
      kernelBytes: 4980736,
      limitBytes: 134217728,
      maxUsageBytes: 98304000,
      failcnt: 17,
      pageFaults: 987654,
      majorPageFaults: 321,
      swapUsageBytes: 1048576,
      oomEvents: 3,
      oomKills: 2,
      psi: {
        some: { totalNs: 5550000000, avg10: 0, avg60: 0.12, avg300: 0.04 },
        full: { totalNs: 2220000000, avg10: 0, avg60: 0.05, avg300: 0.01 },
      },
    });
    expect(s.memory.swapLimitBytes).toBeUndefined(); // "max"
    expect(s.pids).toEqual({ current: 7, limit: 4096 });
    expect(s.io.devices).toEqual([
      { major: 259, minor: 0, readBytes: 10485760, writeBytes: 52428800, reads: 2560, writes: 12800 },
      { major: 8, minor: 16, readBytes: 4096, writeBytes: 0, reads: 1, writes: 0 },
    ]);
    expect(s.io.psi?.full?.totalNs).toBe(666000000);
    expect(s.hugetlb.sort((a, b) => a.pageSize.localeCompare(b.pageSize))).toEqual([
      { pageSize: '1GB', usageBytes: 0, failcnt: 5 },
      { pageSize: '2MB', usageBytes: 4194304, failcnt: 1 },
    ]);
  });

  it('reads the pod slice from the CRI cgroup_parent; working set never goes below 0', async () => {
    const s = await reader.pod(POD);
    expect(s.cpu.usageNs).toBe(8200000000000);
    expect(s.memory.usageBytes).toBe(75000000);
    // inactive_file (80 MB) > usage (75 MB): clamped, not negative
    expect(s.memory.workingSetBytes).toBe(0);
    expect(s.memory.limitBytes).toBeUndefined();
    expect(s.pids).toEqual({ current: 9 });
    expect(s.io.devices).toEqual([]);
    expect(s.cpu.psi).toBeUndefined();
    expect(s.hugetlb).toEqual([]);
  });

  it('a cgroup that is gone is NotFound, naming it', async () => {
    await expect(reader.container(`${POD}:cri-nexcage:gone`)).rejects.toThrow(NotFoundError);
    await expect(reader.container(`${POD}:cri-nexcage:gone`)).rejects.toThrow(/cri-nexcage-gone\.scope/);
  });
});

describe('cgroup v2 reader (kernel 5.10 container under the cgroupfs driver)', () => {
  const reader = fixtureReader('cgroupfs', 'cgroupfs');
  const path = '/kubepods/besteffort/pod9d1c2b3a-1111-2222-3333-444455556666/aa11bb22cc33dd44ee55ff6677889900aa11bb22cc33dd44ee55ff6677889900';

  it('falls back where older kernels lack files: kernel = stack + slab, no peak, cpu PSI without full', async () => {
    const s = await reader.container(path);
    expect(s.cpu.usageNs).toBe(1500000000);
    expect(s.cpu.periods).toBe(0);
    expect(s.cpu.psi).toEqual({ some: { totalNs: 1200000, avg10: 0, avg60: 0, avg300: 0 } });
    expect(s.memory.kernelBytes).toBe(16384 + 120000);
    expect(s.memory.maxUsageBytes).toBeUndefined();
    expect(s.memory.swapUsageBytes).toBeUndefined();
    expect(s.memory.workingSetBytes).toBe(0);
    expect(s.memory.rssBytes).toBe(700000);
    expect(s.pids).toEqual({ current: 1 });
    expect(s.io).toEqual({ devices: [] });
  });

  it('direct reads of a directory agree with the reader', async () => {
    const s = await readCgroupV2(join(FIX, 'cgroupfs', path), 42);
    expect(s.timestampNs).toBe(42);
    expect(s.memory.pageFaults).toBe(4000);
  });
});
