// Daemon crash and restart under load: N pods with 2 logging containers each, then the daemon is
// killed -9 again and again at random points (idle, mid-RunPodSandbox, mid-CreateContainer,
// mid-PullImage, mid-StopContainer) and restarted. After every restart: each pod and container the
// "kubelet" (this test) was told about exists in the right state; the interrupted call left either
// a complete object or nothing, and retrying it succeeds; no log line is missing (sequence numbers
// written while the daemon was down included); an exit that happened during the outage is reported
// with its real code. Short: 3 pods, 5 kills (one per point); full (make test-reliability): 30 pods, 20 kills.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { ContainerConfig } from '../../src/cri/generated/runtime/v1/ContainerConfig.js';
import type { PodSandboxConfig } from '../../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { ctrConfig, parseCriLog, podConfig, pull, pushContainerImages, runCtr, runPod, status, type ContainerImages } from '../support/containers.js';
import { buildImage, layer, pushImage } from '../support/image-builder.js';
import { TestRegistry } from '../support/registry.js';
import { Daemon, processAlive as alive, useTestDir, waitFor } from '../e2e/harness.js';
import { pick, prng, report, SEED, settle } from './scale.js';

const PODS = Number(process.env.NEXCAGE_RELIABILITY_PODS ?? pick(3, 30));
const KILLS = Number(process.env.NEXCAGE_RELIABILITY_KILLS ?? pick(5, 20));
const POINTS = ['idle', 'RunPodSandbox', 'CreateContainer', 'PullImage', 'StopContainer'] as const;
type Point = (typeof POINTS)[number];

const t = useTestDir();
let registry: TestRegistry;
let images: ContainerImages;
let bigRef = '';
let d: Daemon;
const rand = prng(SEED);

interface Ctr {
  id: string;
  logPath: string;
  signalDir: string;
  /** Set once the test told it to exit: the code it must report. */
  exitCode?: number;
}
interface Pod {
  id: string;
  config: PodSandboxConfig;
  ctrs: Ctr[];
}
const pods: Pod[] = [];
const extraPods: string[] = [];

/** A container that logs "seq <n>" forever and exits with the code written to /signal/exit. */
function writer(image: string, signalDir: string): ContainerConfig {
  const script = 'i=0; while true; do echo seq $i; i=$((i+1)); if [ -f /signal/exit ]; then exit $(cat /signal/exit); fi; sleep 0.3; done';
  return ctrConfig(image, ['/bin/sh', '-c', script], { mounts: [{ container_path: '/signal', host_path: signalDir }] });
}

function seqs(path: string): number[] {
  if (!existsSync(path)) return [];
  return parseCriLog(readFileSync(path, 'utf8'))
    .map((l) => /^seq (\d+)$/.exec(l.text))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]));
}

let signalN = 0;
function signalDir(): string {
  const dir = t.dir().join('signal', String(++signalN));
  mkdirSync(dir, { recursive: true });
  return dir;
}

async function newCtr(pod: Pod): Promise<Ctr> {
  const sig = signalDir();
  const id = await runCtr(d, pod.id, pod.config, writer(images.busybox, sig));
  const st = await status(d, id);
  return { id, logPath: st.status!.log_path, signalDir: sig };
}

const timings: Record<Point, number> = { idle: 0, RunPodSandbox: 500, CreateContainer: 300, PullImage: 500, StopContainer: 500 };

beforeAll(async () => {
  registry = await TestRegistry.start({ parent: t.dir().path });
  images = await pushContainerImages(registry);
  // An image big enough that a pull takes a while: 3 layers of incompressible 4 MiB.
  const layers = [];
  for (let i = 0; i < 3; i++) layers.push(await layer([{ path: `big${i}.bin`, content: randomBytes(4 * 1024 * 1024) }], 'gzip'));
  await pushImage(registry.pushTarget, 'test/big', ['latest'], buildImage({ layers }));
  bigRef = `${registry.host}/test/big:latest`;
  d = t.track(new Daemon(t.dir(), 'crash'));
  await d.start();
  await pull(d, images.busybox);
  for (let p = 0; p < PODS; p++) {
    const config = podConfig(t.dir());
    let start = Date.now();
    const pod: Pod = { id: await runPod(d, config), config, ctrs: [] };
    timings.RunPodSandbox = Date.now() - start;
    start = Date.now();
    pod.ctrs.push(await newCtr(pod));
    timings.CreateContainer = Date.now() - start;
    pod.ctrs.push(await newCtr(pod));
    pods.push(pod);
  }
  const start = Date.now();
  await pull(d, bigRef);
  timings.PullImage = Date.now() - start;
  await call(d.client.image, 'RemoveImage', { image: { image: bigRef } });
}, 600_000);

afterAll(async () => {
  for (const id of [...pods.map((p) => p.id), ...extraPods]) {
    await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id }, 120_000).catch(() => undefined);
    await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id }, 120_000).catch(() => undefined);
  }
  await d?.stop();
  await registry?.stop();
}, 600_000);

/** Everything the kubelet was told about is there in the state it expects. */
async function checkAll(): Promise<void> {
  const listedPods = new Map((await call(d.client.runtime, 'ListPodSandbox', {})).items.map((p) => [p.id, p]));
  const listedCtrs = new Map((await call(d.client.runtime, 'ListContainers', {})).containers.map((c) => [c.id, c]));
  for (const pod of pods) {
    expect(listedPods.get(pod.id)?.state, `pod ${pod.id}`).toBe('SANDBOX_READY');
    for (const c of pod.ctrs) {
      expect(listedCtrs.has(c.id), `container ${c.id} listed`).toBe(true);
      const st = (await status(d, c.id)).status!;
      if (c.exitCode === undefined) {
        expect(st.state, `container ${c.id}`).toBe('CONTAINER_RUNNING');
      } else {
        expect(st.state, `container ${c.id} told to exit`).toBe('CONTAINER_EXITED');
        expect(st.exit_code, `exit code of ${c.id}`).toBe(c.exitCode);
      }
    }
  }
}

/** Sequence numbers of every container are 0..n with no gap, and the running ones keep logging. */
async function checkLogs(): Promise<void> {
  const all = pods.flatMap((p) => p.ctrs);
  const before = new Map(all.map((c) => [c.id, seqs(c.logPath).length]));
  await waitFor('running containers to log after the restart', () => all.every((c) => c.exitCode !== undefined || seqs(c.logPath).length > before.get(c.id)! + 1), 30_000);
  for (const c of all) {
    const s = seqs(c.logPath);
    expect(s.length, `log of ${c.id}`).toBeGreaterThan(0);
    expect(s, `log of ${c.id} has no gap`).toEqual(s.map((_, i) => i));
  }
}

function storeClean(): void {
  const root = d.config().rootDir as string;
  const snaps = join(root, 'snapshots');
  if (existsSync(snaps)) expect(readdirSync(snaps).filter((s) => s.startsWith('.tmp'))).toEqual([]);
}

/** Start the interrupted operation; returns what the round needs to check and retry it. */
interface Interrupted {
  point: Point;
  call: Promise<unknown>;
  check(): Promise<void>;
}

let round = 0;
function interrupt(point: Point): Interrupted {
  round++;
  const pod0 = pods[round % pods.length]!;
  switch (point) {
    case 'idle':
      return { point, call: Promise.resolve(), check: async () => undefined };
    case 'RunPodSandbox': {
      const config = podConfig(t.dir());
      const p = call(d.client.runtime, 'RunPodSandbox', { config }, 60_000);
      return {
        point,
        call: p,
        check: async () => {
          const res = await settle(p);
          const mine = (await call(d.client.runtime, 'ListPodSandbox', { filter: { label_selector: { pod: config.labels!.pod! } } })).items;
          expect(mine.length, 'pods of the interrupted RunPodSandbox').toBeLessThanOrEqual(1);
          if (res.ok) expect(mine.map((m) => m.id)).toEqual([res.value.pod_sandbox_id]);
          // Complete or cleaned up: never a NOTREADY leftover of the interrupted call.
          for (const m of mine) expect(m.state, 'a pod left by the interrupted RunPodSandbox').toBe('SANDBOX_READY');
          // The kubelet retries when it got no answer: that must succeed (or find the complete pod).
          const id = mine[0]?.id ?? (await call(d.client.runtime, 'RunPodSandbox', { config }, 60_000)).pod_sandbox_id;
          expect((await call(d.client.runtime, 'PodSandboxStatus', { pod_sandbox_id: id })).status?.state).toBe('SANDBOX_READY');
          await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id }, 60_000);
          await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id }, 60_000);
        },
      };
    }
    case 'CreateContainer': {
      const config = writer(images.busybox, signalDir());
      const p = call(d.client.runtime, 'CreateContainer', { pod_sandbox_id: pod0.id, config, sandbox_config: pod0.config }, 60_000);
      return {
        point,
        call: p,
        check: async () => {
          const res = await settle(p);
          const mine = (await call(d.client.runtime, 'ListContainers', { filter: { pod_sandbox_id: pod0.id, label_selector: { ctr: config.labels!.ctr! } } })).containers;
          expect(mine.length, 'containers of the interrupted CreateContainer').toBeLessThanOrEqual(1);
          if (res.ok) expect(mine.map((m) => m.id)).toEqual([res.value.container_id]);
          for (const m of mine) expect(m.state, 'a container left by the interrupted CreateContainer').toBe('CONTAINER_CREATED');
          const id = mine[0]?.id ?? (await call(d.client.runtime, 'CreateContainer', { pod_sandbox_id: pod0.id, config, sandbox_config: pod0.config }, 60_000)).container_id;
          // Complete means startable; it joins the set checked after every later restart.
          await call(d.client.runtime, 'StartContainer', { container_id: id });
          pod0.ctrs.push({ id, logPath: (await status(d, id)).status!.log_path, signalDir: config.mounts![0]!.host_path! });
        },
      };
    }
    case 'PullImage': {
      const p = call(d.client.image, 'PullImage', { image: { image: bigRef } }, 120_000);
      return {
        point,
        call: p,
        check: async () => {
          await settle(p);
          storeClean();
          // Either recorded complete or not at all; a retry succeeds and the image is usable.
          const st = await call(d.client.image, 'ImageStatus', { image: { image: bigRef } });
          if (st.image) expect(st.image.repo_tags).toContain(bigRef);
          await pull(d, bigRef);
          expect((await call(d.client.image, 'ImageStatus', { image: { image: bigRef } })).image?.repo_tags).toContain(bigRef);
          storeClean();
          await call(d.client.image, 'RemoveImage', { image: { image: bigRef } });
        },
      };
    }
    case 'StopContainer': {
      // Stop one of the pod's running writers (TERM is not trapped: pid 1 ignores it, so this
      // waits out the timeout and kills): it must end EXITED with 137 whatever the crash did.
      const c = pod0.ctrs.find((x) => x.exitCode === undefined);
      if (!c) return { point, call: Promise.resolve(), check: async () => undefined };
      const p = call(d.client.runtime, 'StopContainer', { container_id: c.id, timeout: 1 }, 60_000);
      return {
        point,
        call: p,
        check: async () => {
          await settle(p);
          const st = (await status(d, c.id)).status!;
          expect(['CONTAINER_RUNNING', 'CONTAINER_EXITED'], `state of ${c.id} after an interrupted stop`).toContain(st.state);
          await call(d.client.runtime, 'StopContainer', { container_id: c.id, timeout: 1 }, 60_000);
          const after = (await status(d, c.id)).status!;
          expect(after.state).toBe('CONTAINER_EXITED');
          expect(after.exit_code).toBe(137);
          c.exitCode = 137;
        },
      };
    }
  }
}

describe(`kill -9 of the daemon ${KILLS} times with ${PODS} pods / ${2 * PODS} containers running`, () => {
  it('survives every restart with nothing lost and nothing half-created', async () => {
    await checkAll();
    const survived: Point[] = [];
    for (let k = 0; k < KILLS; k++) {
      const point = POINTS[k % POINTS.length]!;
      // One writer (not in the pod the interrupted call touches) will exit during the outage.
      const touched = pods[(round + 1) % pods.length]!;
      const victim = pods.flatMap((p) => p.ctrs).find((c) => c.exitCode === undefined && !touched.ctrs.includes(c));
      const victimPid = victim ? (JSON.parse((await status(d, victim.id, true)).info.info ?? '{}') as { pid: number }).pid : 0;
      const op = interrupt(point);
      op.call.catch(() => undefined); // settled in op.check() after the restart
      // A random moment inside the call (its measured duration), or right away when idle.
      const delay = point === 'idle' ? 0 : Math.floor(rand() * timings[point] * 1.2);
      await new Promise((r) => setTimeout(r, delay));
      await d.stop('SIGKILL');

      if (victim) {
        victim.exitCode = 10 + k;
        writeFileSync(join(victim.signalDir, 'exit'), String(victim.exitCode));
        await waitFor(`container ${victim.id} to exit while the daemon is down`, () => !alive(victimPid));
      }
      const n = pods[0]!.ctrs[0]!;
      const count = seqs(n.logPath).length;
      if (n.exitCode === undefined) await waitFor('logging during the outage', () => seqs(n.logPath).length > count + 1);

      await d.start();
      await op.check();
      await checkAll();
      await checkLogs();
      storeClean();
      survived.push(point);
    }
    expect(survived.length).toBe(KILLS);
    report(`crash-restart: ${survived.length} restarts survived (${survived.join(', ')}), seed ${SEED}, call durations ${JSON.stringify(timings)}`);
  });
});
