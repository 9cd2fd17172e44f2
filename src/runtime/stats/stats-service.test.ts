// StatsService over the v2 fixture tree (systemd driver). The sandbox/container sources are the
// seam the real stores implement; here they are plain in-memory lists (those stores do not exist
// yet), which is all the interface is: the daemon's own records, read from memory.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskUsageCache } from '../../lib/disk-usage.js';
import { FailedPreconditionError, NotFoundError } from '../../lib/errors.js';
import { silentLogger } from '../../lib/log.js';
import { CgroupReader } from './cgroup-reader.js';
import { parseCgroupLayout } from './cgroup-paths.js';
import { readCgroupV1 } from './cgroup-v1.js';
import { BASE_LABEL_KEYS, metricDescriptors, samples } from './metric-descriptors.js';
import type { ContainerStatsSource, SandboxStatsSource, StatsContainerInfo, StatsSandboxInfo } from './provider.js';
import { StatsService } from './stats-service.js';

const FIX = resolve(import.meta.dirname, '../../../test/fixtures/cgroup-v2');
const POD_SLICE = 'kubepods-burstable-pod0b7e3f3a_52c1_4a8e_9d3a_7f0c1e2d3b4a.slice';
const CID = '4f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f';

let tmp: string;
let service: StatsService;
const pods: StatsSandboxInfo[] = [];
const containers: StatsContainerInfo[] = [];

const list = <T extends { id: string }>(xs: T[]) => ({
  list: () => xs,
  get: (id: string) => {
    const m = xs.filter((x) => x.id.startsWith(id));
    return m.length === 1 ? m[0] : undefined;
  },
});

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'nexcage-stats-'));
  await mkdir(join(tmp, 'upper'));
  await writeFile(join(tmp, 'upper', 'data'), Buffer.alloc(1024 * 1024, 1));
  const layout = parseCgroupLayout(readFileSync(join(FIX, 'mountinfo-v2'), 'utf8'));
  layout.unified = { mountPoint: join(FIX, 'systemd'), root: '/' };
  service = new StatsService({
    reader: new CgroupReader(layout, 'systemd'),
    diskUsage: new DiskUsageCache({ refreshMs: 60_000 }),
    writableLayerMountpoint: '/var/lib/nexcage',
    log: silentLogger(),
  });
  pods.push(
    {
      id: 'pod1aaaa',
      metadata: { name: 'web-0', uid: '0b7e3f3a-52c1-4a8e-9d3a-7f0c1e2d3b4a', namespace: 'shop', attempt: 0 },
      labels: { app: 'web' },
      annotations: {},
      ready: true,
      cgroupParent: POD_SLICE,
      infraPid: process.pid, // a process whose netns has interfaces: the host's, for the test
      netnsPath: `/proc/${process.pid}/ns/net`,
    },
    { id: 'pod2bbbb', metadata: { name: 'gone', uid: 'u2', namespace: 'shop', attempt: 0 }, labels: {}, annotations: {}, ready: false, cgroupParent: '' },
  );
  containers.push(
    {
      id: CID,
      podSandboxId: 'pod1aaaa',
      metadata: { name: 'nginx', attempt: 1 },
      labels: { tier: 'front' },
      annotations: {},
      image: 'docker.io/library/nginx:1.27',
      state: 'running',
      cgroupsPath: `${POD_SLICE}:cri-nexcage:${CID}`,
      upperDir: join(tmp, 'upper'),
    },
    {
      id: 'deadbeef',
      podSandboxId: 'pod1aaaa',
      metadata: { name: 'job', attempt: 0 },
      labels: {},
      annotations: {},
      image: 'busybox',
      state: 'exited',
      cgroupsPath: `${POD_SLICE}:cri-nexcage:deadbeef`,
    },
  );
  const p = list(pods);
  const c = list(containers);
  const sandboxes: SandboxStatsSource = { listSandboxes: p.list, getSandbox: p.get };
  const ctrs: ContainerStatsSource = { listContainers: c.list, getContainer: c.get };
  expect(service.servesPods).toBe(false);
  service.setSandboxSource(sandboxes);
  service.setContainerSource(ctrs);
  await service.sample(); // watches the upper dir
});

afterAll(async () => {
  await service.stop();
  await rm(tmp, { recursive: true, force: true });
});

describe('stats service', () => {
  it('container stats: cgroup, attributes, writable layer once walked', async () => {
    const first = await service.containerStats(CID.slice(0, 12));
    expect(first.info.id).toBe(CID);
    expect(first.cgroupPath).toBe(`/kubepods.slice/kubepods-burstable.slice/${POD_SLICE}/cri-nexcage-${CID}.scope`);
    expect(first.cgroup?.memory.workingSetBytes).toBe(53728000);
    expect(first.usageNanoCores).toBeUndefined(); // fixture counters do not move: one sample only
    // the layer walk happens in the background; force it here
    await (service as unknown as { o: { diskUsage: DiskUsageCache } }).o.diskUsage.refresh(CID);
    const again = await service.containerStats(CID);
    expect(again.writableLayer?.usedBytes).toBeGreaterThanOrEqual(1024 * 1024);
    expect(again.writableLayer?.inodesUsed).toBe(2);
    expect(again.writableLayer?.mountpoint).toBe('/var/lib/nexcage');
  });

  it('an exited container has attributes but no cgroup figures; unknown ids are NotFound', async () => {
    const r = await service.containerStats('deadbeef');
    expect(r.cgroup).toBeUndefined();
    await expect(service.containerStats('nope')).rejects.toThrow(NotFoundError);
  });

  it('list filters by id prefix, pod and labels, and leaves out containers that are not live', async () => {
    expect((await service.listContainerStats()).map((r) => r.info.id)).toEqual([CID]);
    expect(await service.listContainerStats({ podSandboxId: 'pod1' })).toHaveLength(1);
    expect(await service.listContainerStats({ podSandboxId: 'pod2' })).toHaveLength(0);
    expect(await service.listContainerStats({ labelSelector: { tier: 'front' } })).toHaveLength(1);
    expect(await service.listContainerStats({ labelSelector: { tier: 'back' } })).toHaveLength(0);
    expect(await service.listContainerStats({ id: CID.slice(0, 5) })).toHaveLength(1);
  });

  it('pod stats: the pod slice, its live containers, its network; not-ready pods refused or skipped', async () => {
    const pod = await service.podSandboxStats('pod1');
    expect(pod.cgroupPath).toBe(`/kubepods.slice/kubepods-burstable.slice/${POD_SLICE}`);
    expect(pod.cgroup?.cpu.usageNs).toBe(8200000000000);
    expect(pod.cgroup!.cpu.usageNs).toBeGreaterThanOrEqual(pod.containers.reduce((a, c) => a + c.cgroup!.cpu.usageNs, 0));
    expect(pod.containers.map((c) => c.info.metadata.name)).toEqual(['nginx']);
    expect(pod.network?.timestampNs).toBeGreaterThan(0);
    await expect(service.podSandboxStats('pod2')).rejects.toThrow(FailedPreconditionError);
    expect((await service.listPodSandboxStats()).map((p) => p.info.id)).toEqual(['pod1aaaa']);
    expect(await service.listPodSandboxStats({ labelSelector: { app: 'db' } })).toEqual([]);
  });

  it('a pod without a parent cgroup of its own sums its infra and containers', async () => {
    // fixture stand-ins: infra and one container both read the same scope, so the sum is twice it
    pods.push({ id: 'pod3cccc', metadata: { name: 'flat', uid: 'u3', namespace: 'shop', attempt: 0 }, labels: {}, annotations: {}, ready: true, cgroupParent: '', infraCgroupsPath: `${POD_SLICE}:cri-nexcage:${CID}` });
    containers.push({ ...containers[0]!, id: 'flatc1', podSandboxId: 'pod3cccc', upperDir: undefined });
    try {
      const p = await service.podSandboxStats('pod3');
      expect(p.cgroupPath).toBeUndefined();
      expect(p.cgroup?.cpu.usageNs).toBe(2 * 8123456789000);
      expect(p.cgroup?.memory.workingSetBytes).toBe(2 * 53728000);
      expect(p.cgroup?.pids.current).toBe(14);
      expect(p.containers.map((c) => c.info.id)).toEqual(['flatc1']);
    } finally {
      pods.pop();
      containers.pop();
    }
  });

  it('container filesystems sum the walked writable layers', () => {
    const [fs] = service.containerFilesystems();
    expect(fs?.mountpoint).toBe('/var/lib/nexcage');
    expect(fs?.usedBytes).toBeGreaterThanOrEqual(1024 * 1024);
  });
});

describe('CRI metrics', () => {
  it('descriptors and produced metrics match one to one (names, label keys vs values)', async () => {
    const descriptors = metricDescriptors();
    const byName = new Map(descriptors.map((d) => [d.name, d]));
    expect(byName.size).toBe(descriptors.length); // unique names
    const [pod] = await service.podSandboxMetrics();
    expect(pod?.podSandboxId).toBe('pod1aaaa');
    // v2 has no hugetlb high-water mark: the v1 fixture (same table) supplies that one
    const v1 = await readCgroupV1(
      { version: 1, controllers: { hugetlb: { mountPoint: resolve(FIX, '../cgroup-v1/hugetlb'), root: '/' } } },
      '/pod/c1',
    );
    const fromV1 = samples({ container: 'c', id: '/pod/c1', image: 'i', name: 'c1', namespace: 'n', pod: 'p' }, { cgroup: v1 });
    const all = [...pod!.metrics, ...pod!.containerMetrics.flatMap((c) => c.metrics), ...fromV1];
    const produced = new Set<string>();
    for (const m of all) {
      const d = byName.get(m.name);
      expect(d, `descriptor for ${m.name}`).toBeDefined();
      expect(m.labelValues).toHaveLength(d!.labelKeys.length);
      expect(m.type).toBe(d!.type);
      expect(Number.isInteger(m.value) && m.value >= 0).toBe(true);
      produced.add(m.name);
    }
    // with the full fixtures (PSI, hugetlb, io, network, writable layer) every descriptor is produced
    expect([...produced].sort()).toEqual(descriptors.map((d) => d.name).sort());
    for (const d of descriptors) expect(d.labelKeys.slice(0, BASE_LABEL_KEYS.length)).toEqual([...BASE_LABEL_KEYS]);
  });

  it('label values are what the kubelet shows under /metrics/cadvisor', async () => {
    const [pod] = await service.podSandboxMetrics();
    const ctr = pod!.containerMetrics[0]!;
    expect(ctr.containerId).toBe(CID);
    const ws = ctr.metrics.find((m) => m.name === 'container_memory_working_set_bytes')!;
    expect(Object.fromEntries(BASE_LABEL_KEYS.map((k, i) => [k, ws.labelValues[i]]))).toEqual({
      container: 'nginx',
      id: `/kubepods.slice/kubepods-burstable.slice/${POD_SLICE}/cri-nexcage-${CID}.scope`,
      image: 'docker.io/library/nginx:1.27',
      name: CID,
      namespace: 'shop',
      pod: 'web-0',
    });
    expect(ws.value).toBe(53728000);
    expect(ws.timestampNs).toBe(0);
    const cpu = ctr.metrics.find((m) => m.name === 'container_cpu_usage_seconds_total')!;
    expect(cpu.labelValues.at(-1)).toBe('total');
    expect(cpu.value).toBe(8123);
    const oom = ctr.metrics.find((m) => m.name === 'container_oom_events_total')!;
    expect(oom.value).toBe(2);
    const fs = ctr.metrics.find((m) => m.name === 'container_fs_usage_bytes')!;
    expect(fs.timestampNs).toBeGreaterThan(0); // cached figure
    const rx = pod!.metrics.filter((m) => m.name === 'container_network_receive_bytes_total');
    expect(rx.length).toBeGreaterThan(0);
    expect(rx.every((m) => m.labelValues[0] === '' && m.labelValues.at(-1) !== 'lo')).toBe(true);
    const hp = ctr.metrics.filter((m) => m.name === 'container_hugetlb_usage_bytes').map((m) => m.labelValues.at(-1));
    expect(hp.sort()).toEqual(['1GB', '2MB']);
  });
});
