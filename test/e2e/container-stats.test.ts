// Container stats, CRI metrics and the trace of a pod + container start, through the built daemon
// with real runc, conmon, overlayfs and images from a local registry. What the kubelet's eviction,
// `kubectl top` and the HPA read: a CPU burner near one core, 64 MiB held in the working set, 10 MB
// written raising the writable layer, pod figures covering their containers plus infra, filters.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, connectCri } from '../../src/cri/grpc/client.js';
import type { ContainerStats__Output } from '../../src/cri/generated/runtime/v1/ContainerStats.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { createCtr, ctrConfig, podConfig, pull, pushContainerImages, runCtr, runPod, type ContainerImages } from '../support/containers.js';
import { TestRegistry } from '../support/registry.js';
import { Daemon, useTestDir, waitFor } from './harness.js';

const t = useTestDir();

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  status: { code: number };
}

let receiver: Server;
const spans: OtlpSpan[] = [];
let registry: TestRegistry;
let images: ContainerImages;
let d: Daemon;
let pod: PodSandboxConfig;
let podId = '';
const ids: Record<'burn' | 'hog' | 'writer', string> = { burn: '', hog: '', writer: '' };

const n = (v: { value: string } | null | undefined): number => Number(v?.value ?? NaN);
const stats = async (id: string): Promise<ContainerStats__Output> => (await call(d.client.runtime, 'ContainerStats', { container_id: id })).stats as ContainerStats__Output;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const doc = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const rs of doc.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  registry = await TestRegistry.start({ parent: t.dir().path });
  images = await pushContainerImages(registry);
  d = t.track(new Daemon(t.dir(), 'cstats', { config: { tracing: { endpoint }, stats: { fsUsageRefreshSeconds: 1, containerMetrics: true } } }));
  await d.start();
  await pull(d, images.busybox);
  pod = podConfig(t.dir(), { labels: { app: 'stats' } });
  podId = await runPod(d, pod);
  ids.burn = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['/bin/sh', '-c', 'while :; do :; done'], { labels: { role: 'burn' } }));
  ids.hog = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['/bin/sh', '-c', 'dd if=/dev/zero of=/dev/shm/hog bs=1M count=64 2>/dev/null; sleep 600'], { labels: { role: 'hog' } }));
  ids.writer = await runCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '600'], { labels: { role: 'writer' } }));
}, 180_000);

afterAll(async () => {
  if (podId) await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: podId }).catch(() => undefined);
  await d?.stop();
  await registry?.stop();
  await new Promise((r) => receiver?.close(r));
});

describe('container stats', () => {
  it('a CPU burner shows usage_nano_cores near one core', async () => {
    await waitFor('a first rate window', async () => ((await stats(ids.burn)).cpu?.usage_nano_cores ? true : undefined));
    await new Promise((r) => setTimeout(r, 2000)); // the next full window, well after start-up
    const s = await stats(ids.burn);
    expect(s.attributes?.id).toBe(ids.burn);
    expect(s.attributes?.labels).toEqual({ role: 'burn' });
    // generous: 2 cores shared with the other containers here and other work on this machine
    expect(n(s.cpu?.usage_nano_cores)).toBeGreaterThan(0.15e9);
    expect(n(s.cpu?.usage_nano_cores)).toBeLessThan(1.3e9);
    expect(n(s.cpu?.usage_core_nano_seconds)).toBeGreaterThan(0);
    // several clients polling close together (kubelet, metrics-server, crictl) see the same rate
    const other = connectCri(d.socket);
    try {
      const [a, b] = await Promise.all([stats(ids.burn), call(other.runtime, 'ContainerStats', { container_id: ids.burn })]);
      expect(b.stats?.cpu?.usage_nano_cores?.value).toBe(a.cpu?.usage_nano_cores?.value);
    } finally {
      other.close();
    }
  });

  it('a container holding 64 MiB shows a working set of at least 64 MiB', async () => {
    const s = await waitFor('64 MiB charged', async () => {
      const x = await stats(ids.hog);
      return n(x.memory?.working_set_bytes) >= 64 * 2 ** 20 ? x : undefined;
    });
    expect(n(s.memory?.usage_bytes)).toBeGreaterThanOrEqual(n(s.memory?.working_set_bytes));
  });

  it('writing 10 MB to the rootfs raises the writable layer bytes', async () => {
    const before = await waitFor('the first layer walk', async () => (await stats(ids.writer)).writable_layer ?? undefined);
    const res = await call(d.client.runtime, 'ExecSync', { container_id: ids.writer, cmd: ['/bin/sh', '-c', 'dd if=/dev/zero of=/blob bs=1M count=10'], timeout: 30 }, 60_000);
    expect(res.exit_code, Buffer.from(res.stderr).toString()).toBe(0);
    const after = await waitFor('the walk to see 10 MB more', async () => {
      const w = (await stats(ids.writer)).writable_layer;
      return w && n(w.used_bytes) >= n(before.used_bytes) + 10 * 2 ** 20 ? w : undefined;
    });
    expect(n(after.inodes_used)).toBeGreaterThan(n(before.inodes_used));
    expect(after.fs_id?.mountpoint).toMatch(/^\//);
    // ImageFsInfo: the writable layers' filesystem, holding at least this layer
    const fsInfo = await call(d.client.image, 'ImageFsInfo', {});
    const cfs = fsInfo.container_filesystems[0];
    expect(cfs?.fs_id?.mountpoint).toBe(after.fs_id?.mountpoint);
    expect(n(cfs?.used_bytes)).toBeGreaterThanOrEqual(n(after.used_bytes));
  });

  it('lists with filters by id prefix, pod and labels', async () => {
    const all = (await call(d.client.runtime, 'ListContainerStats', {})).stats.map((s) => s.attributes?.id);
    expect(all.sort()).toEqual(Object.values(ids).sort());
    const byRole = await call(d.client.runtime, 'ListContainerStats', { filter: { label_selector: { role: 'hog' } } });
    expect(byRole.stats.map((s) => s.attributes?.id)).toEqual([ids.hog]);
    expect((await call(d.client.runtime, 'ListContainerStats', { filter: { id: ids.burn.slice(0, 10) } })).stats).toHaveLength(1);
    expect((await call(d.client.runtime, 'ListContainerStats', { filter: { pod_sandbox_id: podId } })).stats).toHaveLength(3);
    expect((await call(d.client.runtime, 'ListContainerStats', { filter: { pod_sandbox_id: 'ffffffff' } })).stats).toHaveLength(0);
    await expect(call(d.client.runtime, 'ContainerStats', { container_id: 'ffffffffffff' })).rejects.toMatchObject({ code: 5 });
  });

  it('created (not started) containers are listed too, with cpu and memory timestamps (critest)', async () => {
    const created = await Promise.all([0, 1, 2].map(() => createCtr(d, podId, pod, ctrConfig(images.busybox, ['sleep', '600'], { labels: { role: 'created' } }))));
    try {
      const listed = (await call(d.client.runtime, 'ListContainerStats', { filter: { label_selector: { role: 'created' } } })).stats;
      expect(listed.map((s) => s.attributes?.id).sort()).toEqual([...created].sort());
      for (const s of listed) {
        expect(BigInt(s.cpu?.timestamp ?? '0')).toBeGreaterThan(0n);
        expect(BigInt(s.memory?.timestamp ?? '0')).toBeGreaterThan(0n);
      }
    } finally {
      for (const id of created) await call(d.client.runtime, 'RemoveContainer', { container_id: id });
    }
  });

  it('pod stats equal the sum of their parts plus infra', async () => {
    const p = (await call(d.client.runtime, 'PodSandboxStats', { pod_sandbox_id: podId })).stats!.linux!;
    expect(p.containers.map((c) => c.attributes?.id).sort()).toEqual(Object.values(ids).sort());
    const sum = (f: (c: ContainerStats__Output) => number): number => p.containers.reduce((a, c) => a + f(c as ContainerStats__Output), 0);
    // the pod cgroup is read just after its containers, and it also holds the infra process
    expect(n(p.cpu?.usage_core_nano_seconds)).toBeGreaterThanOrEqual(sum((c) => n(c.cpu?.usage_core_nano_seconds)) * 0.99);
    expect(n(p.memory?.usage_bytes)).toBeGreaterThanOrEqual(sum((c) => n(c.memory?.usage_bytes)) * 0.95);
    expect(n(p.process?.process_count)).toBeGreaterThanOrEqual(4); // 3 containers + infra
    expect(p.network?.default_interface?.name).toBe('eth0');
  });

  it('ListPodSandboxMetrics has each container under its name and image', async () => {
    const { descriptors } = await call(d.client.runtime, 'ListMetricDescriptors', {});
    const keys = new Map(descriptors.map((x) => [x.name, x.label_keys]));
    const { pod_metrics } = await call(d.client.runtime, 'ListPodSandboxMetrics', {});
    const pm = pod_metrics.find((p) => p.pod_sandbox_id === podId)!;
    expect(pm.container_metrics.map((c) => c.container_id).sort()).toEqual(Object.values(ids).sort());
    const hog = pm.container_metrics.find((c) => c.container_id === ids.hog)!;
    const ws = hog.metrics.find((m) => m.name === 'container_memory_working_set_bytes')!;
    const label = (k: string): string | undefined => ws.label_values[keys.get(ws.name)!.indexOf(k)];
    const hogName = (await call(d.client.runtime, 'ContainerStatus', { container_id: ids.hog })).status?.metadata?.name;
    expect(label('container')).toBe(hogName);
    expect(label('image')).toBe(images.busybox);
    expect(label('name')).toBe(ids.hog);
    expect(label('pod')).toBe(pod.metadata!.name);
    expect(Number(ws.value?.value)).toBeGreaterThanOrEqual(64 * 2 ** 20);
    for (const c of pm.container_metrics) for (const m of c.metrics) expect(m.label_values.length, m.name).toBe(keys.get(m.name)?.length);
  });
});

describe('streams and /metrics', () => {
  /** All messages of a server-streaming call. */
  function collect<T>(method: 'StreamContainerStats' | 'StreamPodSandboxStats' | 'StreamPodSandboxMetrics', req: object): Promise<T[]> {
    return new Promise((resolve, reject) => {
      const out: T[] = [];
      const fn = d.client.runtime[method] as unknown as (r: object) => NodeJS.EventEmitter;
      const stream = fn.call(d.client.runtime, req);
      stream.on('data', (m: T) => out.push(m));
      stream.on('error', reject);
      stream.on('end', () => resolve(out));
    });
  }

  it('the Stream* calls send what the List* calls answer', async () => {
    const ctrs = await collect<{ container_stats: ContainerStats__Output[] }>('StreamContainerStats', { filter: { pod_sandbox_id: podId } });
    expect(ctrs.flatMap((m) => m.container_stats.map((c) => c.attributes?.id)).sort()).toEqual(Object.values(ids).sort());
    const pods = await collect<{ pod_sandbox_stats: { attributes: { id: string } }[] }>('StreamPodSandboxStats', {});
    expect(pods.flatMap((m) => m.pod_sandbox_stats.map((p) => p.attributes.id))).toEqual([podId]);
    const metrics = await collect<{ pod_sandbox_metrics: { pod_sandbox_id: string; container_metrics: unknown[] }[] }>('StreamPodSandboxMetrics', {});
    const pm = metrics.flatMap((m) => m.pod_sandbox_metrics);
    expect(pm.map((p) => p.pod_sandbox_id)).toEqual([podId]);
    expect(pm[0]?.container_metrics).toHaveLength(3);
  });

  it('with stats.containerMetrics the daemon /metrics serves the container_* series', async () => {
    const text = await (await fetch(`${d.metricsUrl}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('container_memory_working_set_bytes{') && l.includes(`name="${ids.hog}"`));
    expect(line).toBeDefined();
    expect(Number(line!.slice(line!.lastIndexOf(' ') + 1))).toBeGreaterThanOrEqual(64 * 2 ** 20);
    expect(text).toContain('# TYPE container_cpu_usage_seconds_total counter');
  });
});

describe('tracing', () => {
  it('PullImage, RunPodSandbox, CreateContainer and StartContainer are exported with their steps beneath them', async () => {
    for (const name of ['CRI RunPodSandbox', 'CRI CreateContainer', 'CRI StartContainer']) {
      const root = await waitFor(`the ${name} span`, () => spans.find((s) => s.name === name));
      expect(root.parentSpanId, name).toBeUndefined();
      expect(root.status.code).toBe(1);
      const children = spans.filter((s) => s.traceId === root.traceId && s.spanId !== root.spanId);
      expect(children.length, `${name} has child spans`).toBeGreaterThan(0);
      // every child hangs off a span of the same trace
      const inTrace = new Set(spans.filter((s) => s.traceId === root.traceId).map((s) => s.spanId));
      for (const c of children) expect(inTrace.has(c.parentSpanId ?? ''), c.name).toBe(true);
    }
    const treeOf = (name: string): string[] => {
      const root = spans.find((s) => s.name === name)!;
      return spans.filter((s) => s.traceId === root.traceId).map((s) => s.name);
    };
    // the netns helper, CNI plugins, conmon and the start through runc's exec fifo under
    // RunPodSandbox; the overlay mount and conmon under CreateContainer; the start under StartContainer
    expect(treeOf('CRI RunPodSandbox')).toEqual(expect.arrayContaining(['exec nexcage-netns', 'exec bridge', 'exec conmon', 'runtime.start']));
    expect(treeOf('CRI CreateContainer')).toEqual(expect.arrayContaining(['exec nexcage-mount', 'exec conmon']));
    expect(treeOf('CRI StartContainer')).toEqual(expect.arrayContaining(['runtime.start']));
    // the pull: image.pull under the call, blob fetches and layer unpacks under it
    const pullRoot = spans.find((s) => s.name === 'CRI PullImage')!;
    const pull = spans.find((s) => s.name === 'image.pull' && s.traceId === pullRoot.traceId)!;
    expect(pull.parentSpanId).toBe(pullRoot.spanId);
    const under = spans.filter((s) => s.parentSpanId === pull.spanId).map((s) => s.name);
    expect(under).toEqual(expect.arrayContaining(['image.fetch', 'image.unpack']));
  });
});
