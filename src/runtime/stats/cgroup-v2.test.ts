// cgroup v2 readers against fixture trees in the formats real v2 hosts write (this VM runs v1).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../lib/errors.js';
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

describe('cgroup v2 reader (hand-made directories)', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'nexcage-cgv2-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  /** A cgroup directory holding exactly `files`. */
  const cgroup = (name: string, files: Record<string, string>): string => {
    const d = join(tmp, name);
    mkdirSync(d);
    for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
    return d;
  };

  it('a cgroup whose parent enables no controllers: cpu usage from the core cpu.stat, everything else zero or absent', async () => {
    const d = cgroup('no-controllers', {
      'cgroup.procs': '4242\n',
      'cgroup.controllers': '\n',
      'cpu.stat': 'usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n',
    });
    const s = await readCgroupV2(d, 1);
    expect(s).toEqual({
      version: 2,
      timestampNs: 1,
      cpu: { usageNs: 2500000, userNs: 2000000, systemNs: 500000, periods: 0, throttledPeriods: 0, throttledNs: 0 },
      memory: {
        usageBytes: 0,
        workingSetBytes: 0,
        rssBytes: 0,
        cacheBytes: 0,
        mappedFileBytes: 0,
        kernelBytes: 0,
        failcnt: 0,
        pageFaults: 0,
        majorPageFaults: 0,
        oomEvents: 0,
        oomKills: 0,
      },
      pids: { current: 0 },
      io: { devices: [] },
      hugetlb: [],
    });
  });

  it('memory limits, swap limit and OOM kills as the kernel writes them', async () => {
    const d = cgroup('limits', {
      'memory.current': '52428800\n',
      'memory.max': '67108864\n',
      'memory.swap.current': '0\n',
      'memory.swap.max': '33554432\n',
      'memory.events': 'low 0\nhigh 12\nmax 40\noom 2\noom_kill 1\noom_group_kill 0\n',
      'memory.stat': 'anon 31457280\nfile 16777216\nkernel 2097152\nkernel_stack 65536\nslab 1048576\nsock 0\nfile_mapped 4194304\ninactive_file 10485760\npgfault 1200\npgmajfault 3\n',
      'pids.current': '12\n',
      'pids.max': 'max\n',
    });
    const { memory, pids } = await readCgroupV2(d, 1);
    expect(memory).toEqual({
      usageBytes: 52428800,
      workingSetBytes: 52428800 - 10485760,
      rssBytes: 31457280,
      cacheBytes: 16777216,
      mappedFileBytes: 4194304,
      // "kernel" (5.18+) already sums stack, slab, sock...: not added twice
      kernelBytes: 2097152,
      limitBytes: 67108864,
      failcnt: 40,
      pageFaults: 1200,
      majorPageFaults: 3,
      swapUsageBytes: 0,
      swapLimitBytes: 33554432,
      oomEvents: 2,
      oomKills: 1,
    });
    expect(pids).toEqual({ current: 12 });
  });

  it('hugetlb: one entry per page size with a .current file; reservation files are not page sizes', async () => {
    const d = cgroup('hugetlb', {
      'hugetlb.64KB.current': '131072\n',
      'hugetlb.2MB.current': '2097152\n',
      'hugetlb.2MB.events': 'max 4\n',
      'hugetlb.2MB.rsvd.current': '4194304\n',
      'hugetlb.2MB.rsvd.max': 'max\n',
    });
    const s = await readCgroupV2(d, 1);
    expect(s.hugetlb.sort((a, b) => a.pageSize.localeCompare(b.pageSize))).toEqual([
      { pageSize: '2MB', usageBytes: 2097152, failcnt: 4 },
      { pageSize: '64KB', usageBytes: 131072, failcnt: 0 },
    ]);
  });

  it('io.stat lines carrying iocost / iolatency keys still give bytes and operations per device', async () => {
    const d = cgroup('iocost', {
      'io.stat':
        '259:0 rbytes=8192 wbytes=16384 rios=2 wios=4 dbytes=0 dios=0 cost.vrate=100.00 cost.usage=1234 cost.wait=0 cost.indebt=0 cost.indelay=0\n' +
        '8:0 rbytes=512 wbytes=0 rios=1 wios=0 dbytes=0 dios=0 use_delay=0 delay_nsec=0\n',
    });
    expect((await readCgroupV2(d, 1)).io).toEqual({
      devices: [
        { major: 259, minor: 0, readBytes: 8192, writeBytes: 16384, reads: 2, writes: 4 },
        { major: 8, minor: 0, readBytes: 512, writeBytes: 0, reads: 1, writes: 0 },
      ],
    });
  });

  it('a path that is a file, not a cgroup directory, is not reported as a vanished cgroup', async () => {
    const f = join(tmp, 'not-a-dir');
    writeFileSync(f, '');
    const err: unknown = await readCgroupV2(f).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(NotFoundError);
    expect((err as NodeJS.ErrnoException).code).toBe('ENOTDIR');
  });
});
