import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../lib/errors.js';
import type { HostFacts } from '../container/container-config.js';
import { buildResources, cgroupsPathFor, clampOomScoreAdj } from './resources.js';
import { testHost } from './test-host.js';

const v1: HostFacts = testHost({ supportsRecursiveReadOnly: false });
const v2: HostFacts = { ...v1, cgroupDriver: 'systemd', cgroupV2: true };

describe('cgroup path', () => {
  it('cgroupfs: <parent>/<id>', () => {
    expect(cgroupsPathFor('cgroupfs', '/kubepods/burstable/pod-u1', 'abc')).toBe('/kubepods/burstable/pod-u1/abc');
    expect(cgroupsPathFor('cgroupfs', '', 'abc')).toBe('/nexcage/abc');
    expect(() => cgroupsPathFor('cgroupfs', 'kubepods', 'abc')).toThrow(InvalidArgumentError);
    expect(() => cgroupsPathFor('cgroupfs', '/kubepods.slice/x.slice', 'abc')).toThrow(/systemd slice/);
  });

  it('systemd: <slice>:cri-nexcage:<id>', () => {
    expect(cgroupsPathFor('systemd', 'kubepods-burstable-pod_u1.slice', 'abc')).toBe('kubepods-burstable-pod_u1.slice:cri-nexcage:abc');
    expect(cgroupsPathFor('systemd', '/kubepods.slice/kubepods-pod_u2.slice', 'abc')).toBe('kubepods-pod_u2.slice:cri-nexcage:abc');
    expect(cgroupsPathFor('systemd', '', 'abc')).toBe('system.slice:cri-nexcage:abc');
    expect(() => cgroupsPathFor('systemd', '/kubepods/pod1', 'abc')).toThrow(/needs a slice name/);
  });
});

describe('resources', () => {
  it('nothing set gives no limits', () => {
    expect(buildResources(undefined, v1)).toEqual({});
    expect(buildResources({ cpuShares: 0, cpuQuota: 0, cpuPeriod: 0, memoryLimitInBytes: 0, cpusetCpus: '', unified: {} }, v1)).toEqual({});
  });

  it('maps cpu shares/quota/period, cpusets, memory, swap and hugepages', () => {
    expect(
      buildResources(
        {
          cpuShares: 512,
          cpuQuota: 50000,
          cpuPeriod: 100000,
          cpusetCpus: '0-1',
          cpusetMems: '0',
          memoryLimitInBytes: 64 * 2 ** 20,
          memorySwapLimitInBytes: 128 * 2 ** 20,
          hugepageLimits: [{ pageSize: '2MB', limit: 4 * 2 ** 21 }],
        },
        v1,
        { pidsLimit: 1024 },
      ),
    ).toEqual({
      cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0-1', mems: '0' },
      memory: { limit: 64 * 2 ** 20, swap: 128 * 2 ** 20 },
      hugepageLimits: [{ pageSize: '2MB', limit: 4 * 2 ** 21 }],
      pids: { limit: 1024 },
    });
  });

  it('unified applies on cgroup v2 only', () => {
    const r = { unified: { 'memory.high': '1000000', 'memory.oom.group': '1' } };
    expect(buildResources(r, v2).unified).toEqual({ 'memory.high': '1000000', 'memory.oom.group': '1' });
    expect(buildResources(r, v1).unified).toBeUndefined();
    expect(() => buildResources({ unified: { '../escape': '1' } }, v2)).toThrow(InvalidArgumentError);
  });

  it('drops hugepage limits where the node has no hugetlb controller, still refusing odd page sizes', () => {
    const limits = { hugepageLimits: [{ pageSize: '2MB', limit: 0 }, { pageSize: '1GB', limit: 0 }], memoryLimitInBytes: 2 ** 26 };
    expect(buildResources(limits, { ...v1, hugetlb: false })).toEqual({ memory: { limit: 2 ** 26 } });
    expect(buildResources(limits, { ...v2, hugetlb: false }).hugepageLimits).toBeUndefined();
    expect(buildResources(limits, { ...v1, hugetlb: true }).hugepageLimits).toEqual(limits.hugepageLimits);
    expect(buildResources(limits, { ...v2, hugetlb: true }).hugepageLimits).toEqual(limits.hugepageLimits);
    expect(() => buildResources({ hugepageLimits: [{ pageSize: '2mb', limit: 0 }] }, { ...v1, hugetlb: false })).toThrow(/page size "2mb"/);
  });

  it('rejects negative sizes and odd hugepage sizes', () => {
    expect(() => buildResources({ memoryLimitInBytes: -5 }, v1)).toThrow(/memory_limit_in_bytes/);
    expect(() => buildResources({ cpuShares: -1 }, v1)).toThrow(/cpu_shares/);
    expect(() => buildResources({ hugepageLimits: [{ pageSize: '2M', limit: 1 }] }, v1)).toThrow(/page size "2M"/);
  });
});

describe('oom_score_adj clamping', () => {
  it('never below the daemon own value nor outside [-1000, 1000]', () => {
    expect(clampOomScoreAdj(-998, 0)).toBe(0);
    expect(clampOomScoreAdj(-998, -999)).toBe(-998);
    expect(clampOomScoreAdj(1000, 0)).toBe(1000);
    expect(clampOomScoreAdj(5000, 0)).toBe(1000);
    expect(clampOomScoreAdj(-5000, -2000)).toBe(-1000);
    expect(clampOomScoreAdj(100, 300)).toBe(300);
  });
});
