// The optional /metrics series: same names, labels and values as the CRI metrics, on a registry.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { DiskUsageCache } from '../../lib/disk-usage.js';
import { silentLogger } from '../../lib/log.js';
import { CgroupReader } from './cgroup-reader.js';
import { parseCgroupLayout } from './cgroup-paths.js';
import { registerContainerMetrics } from './prometheus.js';
import { StatsService } from './stats-service.js';

const FIX = resolve(import.meta.dirname, '../../../test/fixtures/cgroup-v2');
const POD_SLICE = 'kubepods-burstable-pod0b7e3f3a_52c1_4a8e_9d3a_7f0c1e2d3b4a.slice';
const CID = '4f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f';

describe('per-container Prometheus series', () => {
  it('serve the pod and container figures with cAdvisor names and labels', async () => {
    const layout = parseCgroupLayout(readFileSync(join(FIX, 'mountinfo-v2'), 'utf8'));
    layout.unified = { mountPoint: join(FIX, 'systemd'), root: '/' };
    const stats = new StatsService({
      reader: new CgroupReader(layout, 'systemd'),
      diskUsage: new DiskUsageCache({ refreshMs: 60_000 }),
      writableLayerMountpoint: '/',
      log: silentLogger(),
    });
    const registry = new Registry();
    registerContainerMetrics(stats, registry);
    // no sandbox source yet: registered, but no series
    expect(await registry.metrics()).not.toMatch(/^container_memory_working_set_bytes\{/m);

    const pod = { id: 'p1', metadata: { name: 'web-0', uid: 'u', namespace: 'shop', attempt: 0 }, labels: {}, annotations: {}, ready: true, cgroupParent: POD_SLICE };
    const ctr = {
      id: CID,
      podSandboxId: 'p1',
      metadata: { name: 'nginx', attempt: 0 },
      labels: {},
      annotations: {},
      image: 'nginx:1.27',
      state: 'running' as const,
      cgroupsPath: `${POD_SLICE}:cri-nexcage:${CID}`,
    };
    stats.setSandboxSource({ listSandboxes: () => [pod], getSandbox: () => pod });
    stats.setContainerSource({ listContainers: () => [ctr], getContainer: () => ctr });
    const text = await registry.metrics();
    expect(text).toContain('# TYPE container_cpu_usage_seconds_total counter');
    expect(text).toContain('# TYPE container_memory_working_set_bytes gauge');
    expect(text).toMatch(
      new RegExp(`^container_memory_working_set_bytes\\{container="nginx",id="[^"]+cri-nexcage-${CID}\\.scope",image="nginx:1\\.27",name="${CID}",namespace="shop",pod="web-0"\\} 53728000$`, 'm'),
    );
    expect(text).toMatch(/^container_memory_usage_bytes\{container="",id="[^"]+pod0b7e3f3a[^"]+\.slice",image="",name="p1",namespace="shop",pod="web-0"\} 75000000$/m);
    expect(text).toMatch(/^container_oom_events_total\{container="nginx",.*\} 2$/m);
  });
});
