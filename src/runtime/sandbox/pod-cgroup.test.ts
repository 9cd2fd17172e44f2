import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyPodCgroup, podCgroupWrites, podLimits, sharesToWeight } from './pod-cgroup.js';
import type { CgroupLayout } from '../stats/cgroup-paths.js';

const GiB = 1024 ** 3;

describe('pod cgroup limits', () => {
  it('adds the overhead to the pod resources, and sets nothing the resources leave unlimited', () => {
    expect(podLimits({ memoryLimitInBytes: GiB, cpuQuota: 50_000, cpuPeriod: 100_000, cpuShares: 512 }, { memoryLimitInBytes: 64 * 1024 ** 2, cpuQuota: 10_000, cpuShares: 10 })).toEqual({
      memoryLimitInBytes: GiB + 64 * 1024 ** 2,
      cpuQuota: 60_000,
      cpuPeriod: 100_000,
      cpuShares: 522,
    });
    expect(podLimits(undefined, { memoryLimitInBytes: 1000 })).toEqual({});
  });

  it('converts shares to cgroup v2 weight like runc', () => {
    expect(sharesToWeight(2)).toBe(1);
    expect(sharesToWeight(1024)).toBe(39);
    expect(sharesToWeight(262144)).toBe(10000);
  });

  it('plans cgroup v2 files on the expanded systemd slice (fixture tree)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'nexcage-podcg-'));
    try {
      const layout: CgroupLayout = { version: 2, unified: { mountPoint: root, root: '/' }, controllers: {} };
      const writes = podCgroupWrites(layout, 'systemd', 'kubepods-burstable-pod12.slice', { memoryLimitInBytes: GiB, cpuQuota: 50_000, cpuPeriod: 100_000, cpuShares: 1024 });
      const dir = join(root, 'kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod12.slice');
      expect(writes).toEqual([
        { path: join(dir, 'memory.max'), value: String(GiB) },
        { path: join(dir, 'cpu.max'), value: '50000 100000' },
        { path: join(dir, 'cpu.weight'), value: '39' },
      ]);
      mkdirSync(dir, { recursive: true });
      for (const f of ['memory.max', 'cpu.max']) writeFileSync(join(dir, f), 'max\n');
      // cpu.weight is absent (cpu controller not enabled there): skipped, not an error
      expect(await applyPodCgroup(writes)).toEqual([join(dir, 'memory.max'), join(dir, 'cpu.max')]);
      expect(readFileSync(join(dir, 'cpu.max'), 'utf8')).toBe('50000 100000');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('plans cgroup v1 files per controller for a cgroupfs parent, and nothing without a parent', () => {
    const layout: CgroupLayout = {
      version: 1,
      controllers: { memory: { mountPoint: '/sys/fs/cgroup/memory', root: '/' }, cpu: { mountPoint: '/sys/fs/cgroup/cpu', root: '/' } },
    };
    expect(podCgroupWrites(layout, 'cgroupfs', '/kubepods/burstable/pod12', { memoryLimitInBytes: GiB, cpuQuota: 20_000, cpuPeriod: 100_000 })).toEqual([
      { path: '/sys/fs/cgroup/memory/kubepods/burstable/pod12/memory.limit_in_bytes', value: String(GiB) },
      { path: '/sys/fs/cgroup/cpu/kubepods/burstable/pod12/cpu.cfs_period_us', value: '100000' },
      { path: '/sys/fs/cgroup/cpu/kubepods/burstable/pod12/cpu.cfs_quota_us', value: '20000' },
    ]);
    expect(podCgroupWrites(layout, 'cgroupfs', '', { memoryLimitInBytes: GiB })).toEqual([]);
  });
});
