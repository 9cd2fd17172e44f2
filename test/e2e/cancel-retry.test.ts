// Callers that give up: the kubelet gives RunPodSandbox and CreateContainer a deadline and sends the
// identical request again after it passed. The first call's work goes on and is handed to the
// retry (same id), or the retry finds a clean slate; never "name already reserved", never a second
// pod or container, nothing leaked.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import { ctrConfig, podConfig, startPodFixture, stopPodFixture, type ContainerImages } from '../support/containers.js';
import type { TestRegistry } from '../support/registry.js';
import { type Daemon, podPins, useTestDir } from './harness.js';

const t = useTestDir();
let registry: TestRegistry;
let images: ContainerImages;
let d: Daemon;
let podId: string;
let pod: ReturnType<typeof podConfig>;

beforeAll(async () => {
  ({ registry, images, d, pod, podId } = await startPodFixture(t, 'cancel'));
});

afterAll(async () => {
  await stopPodFixture({ d, registry, podId });
});

function reservedIps(): string[] {
  const dir = join(d.config().stateDir as string, 'cni', 'networks', 'nexcage-default');
  return existsSync(dir) ? readdirSync(dir).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
}

describe('a call whose caller gave up, then its identical retry', () => {
  it('RunPodSandbox with a 50 ms deadline, then the same request: one pod, its id returned to the retry', async () => {
    const config = podConfig(t.dir());
    const pinsBefore = podPins(d).length;
    const first = await call(d.client.runtime, 'RunPodSandbox', { config }, 50).then(
      (r) => r.pod_sandbox_id,
      (err: { code: number }) => expect(err.code).toBe(4),
    );
    // Faster than the deadline (rare): the first caller has its pod and the retry is a duplicate.
    const id = typeof first === 'string' ? first : (await call(d.client.runtime, 'RunPodSandbox', { config }, 60_000)).pod_sandbox_id;
    if (typeof first === 'string') await expect(call(d.client.runtime, 'RunPodSandbox', { config }, 60_000)).rejects.toMatchObject({ code: 6 });
    const mine = (await call(d.client.runtime, 'ListPodSandbox', { filter: { label_selector: config.labels ?? {} } })).items;
    expect(mine.map((p) => [p.id, p.state])).toEqual([[id, 'SANDBOX_READY']]);
    expect(podPins(d).length).toBe(pinsBefore + 1);
    // The daemon saw the first call go away and handed its pod over (or had not started it).
    if (typeof first !== 'string') expect(d.logs().some((l) => l.method === 'RunPodSandbox' && l.msg === 'cri call cancelled by its caller')).toBe(true);
    const handed = d.logs().some((l) => typeof l.msg === 'string' && /RunPodSandbox(: handing the finished creation| finished after its caller went away|: an identical request joins)/.test(l.msg));
    const cleanSlate = d.logs().some((l) => typeof l.msg === 'string' && l.msg.includes('the caller went away before the work started'));
    expect(handed || cleanSlate || typeof first === 'string').toBe(true);
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id });
    expect(podPins(d).length).toBe(pinsBefore);
  });

  it('CreateContainer with a 50 ms deadline, then the same request: one container, its id returned to the retry', async () => {
    const config = ctrConfig(images.busybox, ['sleep', '1000']);
    const req = { pod_sandbox_id: podId, config, sandbox_config: pod };
    const first = await call(d.client.runtime, 'CreateContainer', req, 50).then(
      (r) => r.container_id,
      (err: { code: number }) => expect(err.code).toBe(4),
    );
    const id = typeof first === 'string' ? first : (await call(d.client.runtime, 'CreateContainer', req, 60_000)).container_id;
    if (typeof first === 'string') await expect(call(d.client.runtime, 'CreateContainer', req, 60_000)).rejects.toMatchObject({ code: 6 });
    const mine = (await call(d.client.runtime, 'ListContainers', { filter: { pod_sandbox_id: podId } })).containers.filter((c) => c.metadata?.name === config.metadata?.name);
    expect(mine.map((c) => [c.id, c.state])).toEqual([[id, 'CONTAINER_CREATED']]);
    await call(d.client.runtime, 'StartContainer', { container_id: id });
    expect((await call(d.client.runtime, 'ContainerStatus', { container_id: id })).status?.state).toBe('CONTAINER_RUNNING');
    await call(d.client.runtime, 'RemoveContainer', { container_id: id });
  });

  it('many identical RunPodSandbox calls with short deadlines end in one pod and no leftovers', async () => {
    const config = podConfig(t.dir());
    const ipsBefore = reservedIps().length;
    const results = await Promise.allSettled([10, 30, 60, 120].map((ms) => call(d.client.runtime, 'RunPodSandbox', { config }, ms)));
    // A call whose deadline outlived the work got its answer: then the pod is its, and a further
    // identical request is a duplicate (ALREADY_EXISTS). Otherwise the retry is handed the pod.
    const answered = [...new Set(results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.pod_sandbox_id] : [])))];
    expect(answered.length).toBeLessThanOrEqual(1);
    let id: string;
    if (answered[0] !== undefined) {
      id = answered[0];
      await expect(call(d.client.runtime, 'RunPodSandbox', { config }, 60_000)).rejects.toMatchObject({ code: 6, details: expect.stringContaining(id) });
    } else {
      id = (await call(d.client.runtime, 'RunPodSandbox', { config }, 60_000)).pod_sandbox_id;
    }
    const mine = (await call(d.client.runtime, 'ListPodSandbox', { filter: { label_selector: config.labels ?? {} } })).items;
    expect(mine.map((p) => p.id)).toEqual([id]);
    expect(reservedIps().length).toBe(ipsBefore + 1);
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id });
    expect(reservedIps().length).toBe(ipsBefore);
  });
});
