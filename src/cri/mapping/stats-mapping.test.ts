import { describe, expect, it } from 'vitest';
import type { CgroupStats } from '../../runtime/stats/types.js';
import { chunks, toContainerStats, toPodSandboxStats, u64 } from './stats-mapping.js';

const cg: CgroupStats = {
  version: 2,
  timestampNs: 1_700_000_000_000_000_000,
  cpu: { usageNs: 5e9, userNs: 4e9, systemNs: 1e9, periods: 0, throttledPeriods: 0, throttledNs: 0, psi: { some: { totalNs: 1000, avg10: 0.5, avg60: 0, avg300: 0 } } },
  memory: {
    usageBytes: 100,
    workingSetBytes: 80,
    rssBytes: 50,
    cacheBytes: 30,
    mappedFileBytes: 0,
    kernelBytes: 0,
    limitBytes: 1000,
    failcnt: 0,
    pageFaults: 7,
    majorPageFaults: 1,
    swapUsageBytes: 10,
    oomEvents: 0,
    oomKills: 0,
  },
  pids: { current: 3 },
  io: { devices: [] },
  hugetlb: [],
};
const info = { id: 'c1', podSandboxId: 'p1', metadata: { name: 'app', attempt: 2 }, labels: { a: 'b' }, annotations: {}, image: 'img', state: 'running' as const, cgroupsPath: '/x/c1' };

describe('stats mapping', () => {
  it('writes uint64 as plain decimal strings, never exponent form or negatives', () => {
    expect(u64(0)).toBe('0');
    expect(u64(-5)).toBe('0');
    expect(u64(1.9)).toBe('1');
    expect(u64(1e21)).toBe('1000000000000000000000');
    expect(u64(Number.NaN)).toBe('0');
  });

  it('maps a container: cpu, memory with available = limit - working set, swap, io psi; absent figures stay null', () => {
    const s = toContainerStats({ info, cgroup: cg, usageNanoCores: 250_000_000 });
    expect(s.attributes).toEqual({ id: 'c1', metadata: { name: 'app', attempt: 2 }, labels: { a: 'b' }, annotations: {} });
    expect(s.cpu).toMatchObject({ usage_core_nano_seconds: { value: '5000000000' }, usage_nano_cores: { value: '250000000' } });
    expect(s.cpu?.psi).toEqual({ Some: { Total: '1000', Avg10: 0.5, Avg60: 0, Avg300: 0 }, Full: null });
    expect(s.memory).toMatchObject({ working_set_bytes: { value: '80' }, available_bytes: { value: '920' }, rss_bytes: { value: '50' }, page_faults: { value: '7' } });
    expect(s.swap).toMatchObject({ swap_usage_bytes: { value: '10' }, swap_available_bytes: null });
    expect(s.writable_layer).toBeNull();
    const bare = toContainerStats({ info: { ...info, state: 'exited' } });
    expect([bare.cpu, bare.memory, bare.swap, bare.io]).toEqual([null, null, null, null]);
    const noLimit = toContainerStats({ info, cgroup: { ...cg, memory: { ...cg.memory, limitBytes: undefined } } });
    expect(noLimit.memory?.available_bytes).toBeNull();
    expect(noLimit.cpu?.usage_nano_cores).toBeNull();
  });

  it('maps a pod with its network and process count', () => {
    const p = toPodSandboxStats({
      info: { id: 'p1', metadata: { name: 'web', uid: 'u', namespace: 'ns', attempt: 0 }, labels: {}, annotations: {}, ready: true, cgroupParent: '/kubepods/p1' },
      cgroup: cg,
      network: {
        timestampNs: 5,
        defaultInterface: { name: 'eth0', rxBytes: 1, rxPackets: 1, rxErrors: 0, rxDropped: 0, txBytes: 2, txPackets: 1, txErrors: 3, txDropped: 0 },
        interfaces: [],
      },
      containers: [{ info, cgroup: cg }],
    });
    expect(p.linux?.process?.process_count).toEqual({ value: '3' });
    expect(p.linux?.network?.default_interface).toEqual({ name: 'eth0', rx_bytes: { value: '1' }, rx_errors: { value: '0' }, tx_bytes: { value: '2' }, tx_errors: { value: '3' } });
    expect(p.linux?.containers).toHaveLength(1);
    expect(p.windows).toBeNull();
  });

  it('splits streamed lists', () => {
    expect(chunks([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(chunks([], 2)).toEqual([]);
  });
});
