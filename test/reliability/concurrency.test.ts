// Concurrency: many RunPodSandbox at once, many CreateContainer in parallel across pods, pulls of
// images that share layers, and the same object removed by several callers at once. Everything
// completes (no deadlock: every call has a deadline), nothing is duplicated, every error is a
// clear gRPC status. Short: 12 pods / 24 containers in 4 pods; full: 50 pods / 100 in 10 pods.
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { ctrConfig, podConfig, pull, pushContainerImages, runPod, type ContainerImages } from '../support/containers.js';
import { buildImage, layer, pushImage } from '../support/image-builder.js';
import { TestRegistry } from '../support/registry.js';
import { Daemon, useTestDir } from '../e2e/harness.js';
import { pick, report, settle } from './scale.js';

const PODS = pick(12, 50);
const CTR_PODS = pick(4, 10);
const CTRS = pick(24, 100);

const t = useTestDir();
let registry: TestRegistry;
let images: ContainerImages;
let d: Daemon;

beforeAll(async () => {
  registry = await TestRegistry.start({ parent: t.dir().path });
  images = await pushContainerImages(registry);
  d = t.track(new Daemon(t.dir(), 'conc', { config: { logLevel: 'info' } }));
  await d.start();
  await pull(d, images.busybox);
}, 300_000);

afterAll(async () => {
  for (const p of (await call(d.client.runtime, 'ListPodSandbox', {}).catch(() => ({ items: [] }))).items) {
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: p.id }, 120_000).catch(() => undefined);
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: p.id }, 120_000).catch(() => undefined);
  }
  await d?.stop();
  await registry?.stop();
}, 600_000);

async function removePods(ids: string[]): Promise<void> {
  await Promise.all(
    ids.map(async (id) => {
      await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id }, 300_000);
      await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id }, 300_000);
    }),
  );
}

describe('concurrency', () => {
  it(`runs ${PODS} pods at once: all READY, distinct ids and IPs`, async () => {
    const configs = Array.from({ length: PODS }, () => podConfig(t.dir()));
    const started = Date.now();
    const ids = await Promise.all(configs.map((c) => runPod(d, c)));
    const ms = Date.now() - started;
    expect(new Set(ids).size).toBe(PODS);
    const statuses = await Promise.all(ids.map((id) => call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: id })));
    expect(statuses.every((s) => s.status?.state === 'SANDBOX_READY')).toBe(true);
    const ips = statuses.map((s) => s.status?.network?.ip);
    expect(new Set(ips).size).toBe(PODS);
    expect((await call(d.client.runtime, 'ListPodSandbox', {})).items.length).toBe(PODS);
    report(`concurrency: ${PODS} RunPodSandbox at once in ${ms} ms`);
    await removePods(ids);
    expect((await call(d.client.runtime, 'ListPodSandbox', {})).items).toEqual([]);
  });

  it(`creates ${CTRS} containers in parallel in ${CTR_PODS} pods; a name raced by 5 callers is created once`, async () => {
    const pods: { id: string; config: PodSandboxConfig }[] = [];
    for (let i = 0; i < CTR_PODS; i++) {
      const config = podConfig(t.dir());
      pods.push({ id: await runPod(d, config), config });
    }
    const started = Date.now();
    const ids = await Promise.all(
      Array.from({ length: CTRS }, async (_, i) => {
        const pod = pods[i % pods.length]!;
        const res = await call(d.client.runtime, 'CreateContainer', { pod_sandbox_id: pod.id, config: ctrConfig(images.busybox, ['sleep', '1000']), sandbox_config: pod.config }, 300_000);
        return res.container_id;
      }),
    );
    const ms = Date.now() - started;
    expect(new Set(ids).size).toBe(CTRS);
    const listed = (await call(d.client.runtime, 'ListContainers', {})).containers;
    expect(listed.length).toBe(CTRS);
    expect(listed.every((c) => c.state === 'CONTAINER_CREATED')).toBe(true);
    await Promise.all(ids.slice(0, pods.length * 2).map((id) => call(d.client.runtime, 'StartContainer', { container_id: id }, 120_000)));

    // Same name and attempt from 5 callers at once: one container, the others ALREADY_EXISTS.
    const pod = pods[0]!;
    const same = ctrConfig(images.busybox, ['sleep', '1000']);
    const race = await Promise.all(Array.from({ length: 5 }, () => settle(call(d.client.runtime, 'CreateContainer', { pod_sandbox_id: pod.id, config: same, sandbox_config: pod.config }, 120_000))));
    const won = race.filter((r) => r.ok);
    expect(won.length).toBe(1);
    for (const r of race) if (!r.ok) expect([r.err.code, r.err.details]).toEqual([grpc.status.ALREADY_EXISTS, expect.stringContaining(same.metadata!.name!)]);
    const winner = won[0]!.ok ? won[0]!.value.container_id : '';

    // The same container removed by 5 callers at once (it is running): all OK, gone once.
    const removes = await Promise.all(Array.from({ length: 5 }, () => settle(call(d.client.runtime, 'RemoveContainer', { container_id: ids[0]! }, 120_000))));
    for (const r of removes) expect(r.ok ? 'OK' : `${r.err.code} ${r.err.details}`).toBe('OK');
    const racedRemoves = await Promise.all(Array.from({ length: 5 }, () => settle(call(d.client.runtime, 'RemoveContainer', { container_id: winner }, 120_000))));
    for (const r of racedRemoves) expect(r.ok ? 'OK' : `${r.err.code} ${r.err.details}`).toBe('OK');
    const left = (await call(d.client.runtime, 'ListContainers', {})).containers.map((c) => c.id);
    expect(left).not.toContain(ids[0]);
    expect(left).not.toContain(winner);
    expect(left.length).toBe(CTRS - 1);
    report(`concurrency: ${CTRS} CreateContainer in parallel in ${CTR_PODS} pods in ${ms} ms`);

    // The same pod stopped and removed by 5 callers at once (with its containers).
    const podRemoves = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const s = await settle(call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: pod.id }, 120_000));
        const r = await settle(call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: pod.id }, 120_000));
        return [s, r];
      }),
    );
    for (const [s, r] of podRemoves) {
      // A Stop that loses the race to a Remove may find the pod gone: NOT_FOUND is the one clear answer then.
      if (!s!.ok) expect(s!.err.code, s!.err.details).toBe(grpc.status.NOT_FOUND);
      expect(r!.ok ? 'OK' : `${r!.err.code} ${r!.err.details}`).toBe('OK');
    }
    expect((await call(d.client.runtime, 'ListPodSandbox', {})).items.map((p) => p.id)).not.toContain(pod.id);
    expect((await call(d.client.runtime, 'ListContainers', { filter: { pod_sandbox_id: pod.id } })).containers).toEqual([]);
    await removePods(pods.slice(1).map((p) => p.id));
  });

  it('pulls 5 images sharing layers at once (twice each): one snapshot per layer; concurrent removes are clean', async () => {
    const base = await layer([{ path: 'base.bin', content: randomBytes(2 * 1024 * 1024) }], 'gzip');
    const mid = await layer([{ path: 'mid.bin', content: randomBytes(1024 * 1024) }], 'zstd');
    const refs: string[] = [];
    for (let i = 0; i < 5; i++) {
      const own = await layer([{ path: `own${i}.txt`, content: `image ${i}\n` }], 'gzip');
      await pushImage(registry.pushTarget, `shared/img${i}`, ['latest'], buildImage({ layers: i % 2 ? [base, mid, own] : [base, own] }));
      refs.push(`${registry.host}/shared/img${i}:latest`);
    }
    const snapshotsBefore = readdirSync(join(d.config().rootDir as string, 'snapshots')).length;
    const results = await Promise.all([...refs, ...refs].map((r) => settle(pull(d, r))));
    for (const r of results) expect(r.ok ? 'OK' : `${r.err.code} ${r.err.details}`).toBe('OK');
    const listed = (await call(d.client.image, 'ListImages', {})).images.filter((i) => i.repo_tags.some((tag) => tag.includes('/shared/')));
    expect(listed.length).toBe(5);
    // base, base+mid, and 5 own layers on top: 7 new chain IDs.
    const snaps = readdirSync(join(d.config().rootDir as string, 'snapshots')).filter((s) => !s.startsWith('.'));
    expect(snaps.length - snapshotsBefore).toBe(7);

    // The same image removed by 5 callers at once: all OK, gone, its own snapshots freed.
    const removes = await Promise.all(Array.from({ length: 5 }, () => settle(call(d.client.image, 'RemoveImage', { image: { image: refs[0]! } }))));
    for (const r of removes) expect(r.ok ? 'OK' : `${r.err.code} ${r.err.details}`).toBe('OK');
    expect((await call(d.client.image, 'ImageStatus', { image: { image: refs[0]! } })).image).toBeFalsy();
    await Promise.all(refs.slice(1).map((r) => call(d.client.image, 'RemoveImage', { image: { image: r } })));
    expect(readdirSync(join(d.config().rootDir as string, 'snapshots')).filter((s) => !s.startsWith('.')).length).toBe(snapshotsBefore);
  });
});
