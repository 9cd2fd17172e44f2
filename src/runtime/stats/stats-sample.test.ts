// The background sampler keeps usage_nano_cores windows primed by reading only each cgroup's CPU
// counter (cgroup v1 tree in a temp dir, cgroupfs driver): the rate the RPCs then answer comes from
// the sampler's counter and theirs, which must be the same counter.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { DiskUsageCache } from '../../lib/disk-usage.js';
import { silentLogger } from '../../lib/log.js';
import type { CgroupLayout } from './cgroup-paths.js';
import { CgroupReader } from './cgroup-reader.js';
import type { StatsContainerInfo, StatsSandboxInfo } from './provider.js';
import { StatsService } from './stats-service.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'nexcage-sample-'));
});
afterEach(() => {
  vi.useRealTimers();
  rmSync(root, { recursive: true, force: true });
});

function cgroup(path: string, usageNs: number): void {
  for (const c of ['cpuacct', 'memory']) mkdirSync(join(root, c, path), { recursive: true });
  writeFileSync(join(root, 'cpuacct', path, 'cpuacct.usage'), `${usageNs}\n`);
  writeFileSync(join(root, 'memory', path, 'memory.usage_in_bytes'), '4096\n');
}

it('primes container and pod CPU rates from the CPU counter alone; a pod without a parent cgroup sums infra and containers', async () => {
  const layout: CgroupLayout = { version: 1, controllers: { cpuacct: { mountPoint: join(root, 'cpuacct'), root: '/' }, memory: { mountPoint: join(root, 'memory'), root: '/' } } };
  const reader = new CgroupReader(layout, 'cgroupfs');
  expect(reader.cpuUsageNs('/nope')).toBeUndefined();
  cgroup('/pods/p1', 1e9);
  cgroup('/pods/p1/c1', 4e8);
  cgroup('/infra2', 1e8);
  cgroup('/c2', 2e8);
  const containers: StatsContainerInfo[] = [
    { id: 'c1', podSandboxId: 'p1', metadata: { name: 'a', attempt: 0 }, labels: {}, annotations: {}, image: 'busybox', state: 'running', cgroupsPath: '/pods/p1/c1' },
    { id: 'c2', podSandboxId: 'p2', metadata: { name: 'b', attempt: 0 }, labels: {}, annotations: {}, image: 'busybox', state: 'running', cgroupsPath: '/c2' },
  ];
  const pod = (id: string, cgroupParent: string, infraCgroupsPath?: string): StatsSandboxInfo => ({
    id,
    metadata: { name: id, uid: id, namespace: 'n', attempt: 0 },
    labels: {},
    annotations: {},
    ready: true,
    cgroupParent,
    ...(infraCgroupsPath ? { infraCgroupsPath } : {}),
  });
  const service = new StatsService({ reader, diskUsage: new DiskUsageCache({ refreshMs: 60_000 }), writableLayerMountpoint: root, log: silentLogger() });
  service.setContainerSource({ listContainers: () => containers, getContainer: (id) => containers.find((c) => c.id === id) });
  service.setSandboxSource({ listSandboxes: () => [pod('p1', '/pods/p1'), pod('p2', '', '/infra2')], getSandbox: (id) => [pod('p1', '/pods/p1'), pod('p2', '', '/infra2')].find((p) => p.id === id) });

  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(1_000_000);
  await service.sample();
  // Two seconds later every counter moved by half a core's worth.
  vi.setSystemTime(1_002_000);
  cgroup('/pods/p1', 2e9);
  cgroup('/pods/p1/c1', 1.4e9);
  cgroup('/infra2', 6e8);
  cgroup('/c2', 7e8);
  expect((await service.containerStats('c1')).usageNanoCores).toBeCloseTo(5e8, -3);
  expect((await service.containerStats('c2')).usageNanoCores).toBeCloseTo(2.5e8, -3);
  expect((await service.podSandboxStats('p1')).usageNanoCores).toBeCloseTo(5e8, -3);
  // p2 has no parent cgroup: infra (1e8 -> 6e8) + c2 (2e8 -> 7e8) over 2 s.
  expect((await service.podSandboxStats('p2')).usageNanoCores).toBeCloseTo(5e8, -3);
  await service.stop();
});
