// Pod stats and CRI pod metrics through the built daemon, on a real pod (runc + conmon + CNI bridge
// on this v1 host): cgroup figures of the pod's cgroup parent, the process count, and network
// counters of the pod's netns that grow with real traffic. Container stats join once containers exist.
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import type { PodSandboxStats__Output } from '../../src/cri/generated/runtime/v1/PodSandboxStats.js';
import { Daemon, useTestDir, waitFor } from './harness.js';

const t = useTestDir();

function podConfig(name: string): PodSandboxConfig {
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'stats-e2e', attempt: 0 },
    hostname: name,
    log_directory: '',
    labels: { app: 'stats', name },
    annotations: { 'e2e/note': 'pod stats' },
    linux: { cgroup_parent: t.dir().cgroupParent, security_context: { namespace_options: { network: 'POD', pid: 'POD', ipc: 'POD' } } },
  };
}

const n = (v: { value: string } | null | undefined): number => Number(v?.value ?? NaN);

describe('pod sandbox stats', () => {
  let d: Daemon;
  let id = '';
  let ip = '';

  beforeAll(async () => {
    d = t.track(new Daemon(t.dir(), 'stats'));
    await d.start();
    id = (await call(d.client.runtime, 'RunPodSandbox', { config: podConfig('web') })).pod_sandbox_id;
    const st = await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: id });
    ip = st.status?.network?.ip ?? '';
  });

  it('reports the pod cgroup (cpu, memory, processes) and its eth0 counters, with its attributes', async () => {
    const { stats } = await call(d.client.runtime, 'PodSandboxStats', { pod_sandbox_id: id.slice(0, 12) });
    const s = stats as PodSandboxStats__Output;
    expect(s.attributes?.id).toBe(id);
    expect(s.attributes?.metadata).toMatchObject({ name: 'web', namespace: 'stats-e2e', uid: 'uid-web' });
    expect(s.attributes?.labels).toEqual({ app: 'stats', name: 'web' });
    expect(s.attributes?.annotations).toEqual({ 'e2e/note': 'pod stats' });
    const linux = s.linux!;
    expect(BigInt(linux.cpu!.timestamp)).toBeGreaterThan(0n);
    expect(n(linux.cpu!.usage_core_nano_seconds)).toBeGreaterThan(0);
    expect(n(linux.memory!.working_set_bytes)).toBeGreaterThan(0);
    expect(n(linux.memory!.usage_bytes)).toBeGreaterThanOrEqual(n(linux.memory!.working_set_bytes));
    expect(n(linux.process!.process_count)).toBeGreaterThanOrEqual(1);
    expect(linux.network!.default_interface!.name).toBe('eth0');
    expect(linux.network!.interfaces.map((i) => i.name)).not.toContain('lo');
    expect(linux.containers).toEqual([]);
  });

  it('network bytes grow after traffic to the pod', async () => {
    const before = (await call(d.client.runtime, 'PodSandboxStats', { pod_sandbox_id: id })).stats!.linux!.network!.default_interface!;
    execFileSync('ping', ['-c', '3', '-i', '0.2', '-s', '1000', '-W', '2', ip], { stdio: 'ignore' });
    const after = (await call(d.client.runtime, 'PodSandboxStats', { pod_sandbox_id: id })).stats!.linux!.network!.default_interface!;
    expect(n(after.rx_bytes)).toBeGreaterThanOrEqual(n(before.rx_bytes) + 3000);
    expect(n(after.tx_bytes)).toBeGreaterThanOrEqual(n(before.tx_bytes) + 3000);
    expect(n(after.rx_errors)).toBe(0);
  });

  it('usage_nano_cores appears once a sample window exists', async () => {
    const linux = await waitFor('usage_nano_cores', async () => {
      const s = (await call(d.client.runtime, 'PodSandboxStats', { pod_sandbox_id: id })).stats!.linux!;
      return s.cpu?.usage_nano_cores ? s : undefined;
    });
    // an idle pause process: far below one core
    expect(n(linux.cpu!.usage_nano_cores)).toBeLessThan(0.5e9);
  });

  it('lists with filters by id and labels', async () => {
    expect((await call(d.client.runtime, 'ListPodSandboxStats', {})).stats.map((s) => s.attributes?.id)).toEqual([id]);
    expect((await call(d.client.runtime, 'ListPodSandboxStats', { filter: { id: id.slice(0, 8) } })).stats).toHaveLength(1);
    expect((await call(d.client.runtime, 'ListPodSandboxStats', { filter: { label_selector: { app: 'stats' } } })).stats).toHaveLength(1);
    expect((await call(d.client.runtime, 'ListPodSandboxStats', { filter: { label_selector: { app: 'other' } } })).stats).toHaveLength(0);
    expect((await call(d.client.runtime, 'ListPodSandboxStats', { filter: { id: 'ffffffff' } })).stats).toHaveLength(0);
  });

  it('ListPodSandboxMetrics gives the pod series under the names and labels the descriptors declare', async () => {
    const { descriptors } = await call(d.client.runtime, 'ListMetricDescriptors', {});
    const keys = new Map(descriptors.map((x) => [x.name, x.label_keys]));
    const { pod_metrics } = await call(d.client.runtime, 'ListPodSandboxMetrics', {});
    const pod = pod_metrics.find((p) => p.pod_sandbox_id === id)!;
    expect(pod).toBeDefined();
    for (const m of pod.metrics) expect(m.label_values.length, m.name).toBe(keys.get(m.name)?.length);
    const label = (m: { name: string; label_values: string[] }, k: string): string | undefined => m.label_values[keys.get(m.name)!.indexOf(k)];
    const ws = pod.metrics.find((m) => m.name === 'container_memory_working_set_bytes')!;
    expect(label(ws, 'pod')).toBe('web');
    expect(label(ws, 'namespace')).toBe('stats-e2e');
    expect(label(ws, 'container')).toBe('');
    expect(label(ws, 'id')).toBe(t.dir().cgroupParent);
    expect(ws.metric_type).toBe('GAUGE');
    const rx = pod.metrics.find((m) => m.name === 'container_network_receive_bytes_total' && label(m, 'interface') === 'eth0')!;
    expect(rx.metric_type).toBe('COUNTER');
    expect(Number(rx.value?.value)).toBeGreaterThan(3000);
  });

  it('unknown pods are NOT_FOUND; a stopped pod is refused and left out of lists', async () => {
    await expect(call(d.client.runtime, 'PodSandboxStats', { pod_sandbox_id: 'ffffffffffff' })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    await expect(call(d.client.runtime, 'PodSandboxStats', { pod_sandbox_id: '' })).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id });
    await expect(call(d.client.runtime, 'PodSandboxStats', { pod_sandbox_id: id })).rejects.toMatchObject({ code: grpc.status.FAILED_PRECONDITION });
    expect((await call(d.client.runtime, 'ListPodSandboxStats', {})).stats).toEqual([]);
    expect((await call(d.client.runtime, 'ListPodSandboxMetrics', {})).pod_metrics).toEqual([]);
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id });
  });
});
