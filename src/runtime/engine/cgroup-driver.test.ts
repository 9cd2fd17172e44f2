import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chooseCgroupDriver, probeCgroupHost } from './cgroup-driver.js';

describe('cgroup driver', () => {
  it('auto picks systemd only on a systemd host with unified cgroup v2', () => {
    expect(chooseCgroupDriver('auto', { runsSystemd: true, unifiedV2: true })).toBe('systemd');
    expect(chooseCgroupDriver('auto', { runsSystemd: true, unifiedV2: false })).toBe('cgroupfs');
    expect(chooseCgroupDriver('auto', { runsSystemd: false, unifiedV2: true })).toBe('cgroupfs');
  });

  it('an explicit setting wins', () => {
    expect(chooseCgroupDriver('systemd', { runsSystemd: false, unifiedV2: false })).toBe('systemd');
    expect(chooseCgroupDriver('cgroupfs', { runsSystemd: true, unifiedV2: true })).toBe('cgroupfs');
  });

  it('probes a v2 + systemd host from its files (fixture root)', () => {
    const root = mkdtempSync(join(tmpdir(), 'nexcage-cg-'));
    try {
      expect(probeCgroupHost(root + '/')).toEqual({ runsSystemd: false, unifiedV2: false });
      mkdirSync(join(root, 'run/systemd/system'), { recursive: true });
      mkdirSync(join(root, 'sys/fs/cgroup'), { recursive: true });
      writeFileSync(join(root, 'sys/fs/cgroup/cgroup.controllers'), 'cpuset cpu io memory hugetlb pids rdma misc\n');
      expect(probeCgroupHost(root + '/')).toEqual({ runsSystemd: true, unifiedV2: true });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
