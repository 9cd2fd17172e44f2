// bench/compare (`make bench ARGS=compare`): nexcage next to a peer runtime (containerd, started
// privately by peer-containerd.ts) in one run, the same CRI work against each, alternately, so a
// busy machine slows both alike and the ratio holds: pod + container lifecycles (each call), exec
// over SPDY, image pull/remove, daemon RSS (after start, after the work with nothing running, with
// 10 pods, 100 and 200 containers; most also after an idle spell, with the first calls after it)
// and the helpers' PSS (conmon / shims), the kubelet's polls with
// 200 containers from a grpc-go client, and a pull's time and peak RSS. Prints both and the ratio,
// writes bench/results/compare.json. NEXCAGE_COMPARE_ROUNDS changes the 100 lifecycles.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { call, type CriClient } from '../src/cri/grpc/client.js';
import { run } from '../src/lib/exec.js';
import { pushContainerImages } from '../test/support/containers.js';
import { freePort, TestRegistry } from '../test/support/registry.js';
import { BenchDaemon, daemonNodeFlags } from './bench-daemon.js';
import { CriWorkload, LIFECYCLE_STEPS, type LifecycleStep } from './cri-workload.js';
import { buildGoListClient, goListCalls, goStartThenStatus } from './go-list-client.js';
import { gcPauses, type GcPause } from './gc-trace.js';
import { crictlEcho, rawEcho } from './port-forward-echo.js';
import { removeCgroups, summarize, timeMs, type Row, type Suite } from './lib.js';
import { cpuSeconds, peakRssMiB, resetPeakRss } from './peer-containerd.js';
import { pushTwin } from './pull-image.js';
import { pidsWhere, procMem, pssSum } from './proc-mem.js';

const ROUNDS = Number(process.env.NEXCAGE_COMPARE_ROUNDS ?? 100);
const PULL_ROUNDS = Number(process.env.NEXCAGE_COMPARE_PULLS ?? 20);
const POLL_CALLS = Number(process.env.NEXCAGE_COMPARE_POLLS ?? 500);
/** Unmeasured calls of each poll method before the measured ones (JIT, answer caches). */
const POLL_WARMUP_CALLS = Number(process.env.NEXCAGE_COMPARE_POLL_WARMUP ?? 300);
/** Containers (in rounds of 10, alternately) whose ContainerStatus right after StartContainer grpc-go times. */
const START_STATUS_CONTAINERS = Number(process.env.NEXCAGE_COMPARE_START_STATUS ?? 30);
const STREAM_ROUNDS = Number(process.env.NEXCAGE_COMPARE_EXECS ?? 30);
const PORT_FORWARD_MIB = Number(process.env.NEXCAGE_COMPARE_PF_MIB ?? 64);
/**
 * Port-forward rounds: floor, SPDY and WebSocket alternately each round, the median of each kept.
 * One transfer each swings by a third on this 2-core VM with a neighbour at work (7 rounds of one
 * run: floor 218-294 MB/s, WebSocket 161-257), so the median is of five.
 */
const PORT_FORWARD_ROUNDS = Number(process.env.NEXCAGE_COMPARE_PF_ROUNDS ?? 5);
const ECHO_PORT = 7788;
/** Size of the big pull against the pull bench's image (1 = ~160 MB on the wire, 5 layers); 0 = skip. */
const BIG_PULL_SCALE = Number(process.env.NEXCAGE_COMPARE_PULL_SCALE ?? 1);
/**
 * `lifecycles`: stop after the pod + container lifecycles (a quick pod-start A/B); `streaming`: after
 * exec and port-forward as well; `polls`: after the kubelet's polls (with NEXCAGE_COMPARE_ROUNDS=0,
 * _EXECS=0, _PULLS=0, _SMALL_PODS=0 and _IDLE_MS=3000 a quick A/B of the polls and their GC pauses).
 */
const ONLY = process.env.NEXCAGE_COMPARE_ONLY ?? '';
/** Pods of the 10-pod memory phase; 0 = skip it. */
const SMALL_PODS = Number(process.env.NEXCAGE_COMPARE_SMALL_PODS ?? 10);
const LIST_PODS = 20;
const PER_POD = 10;
/**
 * Idle readings are taken this long after the last work (both daemons wait alike): longer than
 * nexcage's memoryReclaimIdleSeconds (60 s), after which it hands its file pages back; a node
 * sits idle far longer between pod starts. The readings a few seconds after the work stay beside.
 */
const IDLE_MS = Number(process.env.NEXCAGE_COMPARE_IDLE_MS ?? 65_000);

/** A runtime under comparison: its CRI socket, its daemon process and its per-pod helpers. */
export interface Runtime {
  name: string;
  version?: string;
  socket: string;
  client: CriClient;
  daemonPid(): number;
  /** conmon (nexcage) or containerd-shim (containerd) processes serving this daemon's pods. */
  helperPids(): number[];
  /** The runc --root its containers live under (for the `runc exec` floor). */
  runcRoot?: string;
  /** Per-step split of RunPodSandbox, when the runtime reports one (ms, mean). */
  podStartSplit?(): Promise<Record<string, number>>;
  /** The daemon's --trace-gc output (nexcage). */
  gcTrace?: string;
  stop(): Promise<void>;
}

async function startNexcage(dir: string, tag: string, registryHost: string, name = 'nexcage', flags?: string[]): Promise<Runtime & { gcTrace: string }> {
  await mkdir(dir, { recursive: true });
  const metricsPort = await freePort();
  const gcTrace = join(dir, 'nexcage-gc.log');
  const d = new BenchDaemon(
    dir,
    {
      socket: join(dir, 'nexcage.sock'),
      rootDir: join(dir, 'root'),
      stateDir: join(dir, 'state'),
      metricsAddress: `127.0.0.1:${metricsPort}`,
      logLevel: 'warn',
      registry: { insecure: [registryHost] },
      cni: { confDirs: [join(dir, 'cni-conf')], defaultBridge: `nx${name === 'nexcage' ? 'c' : 'b'}${tag}`, defaultSubnet: name === 'nexcage' ? '10.247.0.0/16' : '10.244.0.0/16' },
    },
    undefined,
    { nodeFlags: [...(flags ?? daemonNodeFlags()), '--trace-gc'], stdoutFile: gcTrace, stderrFile: join(dir, 'daemon.log') },
  );
  await d.start();
  const stateDir = join(dir, 'state');
  return {
    name,
    version: flags ? `node flags: ${flags.join(' ') || '(none)'}` : undefined,
    socket: d.config.socket as string,
    client: d.client,
    gcTrace,
    runcRoot: join(stateDir, 'runc'),
    daemonPid: () => d.proc!.pid!,
    helperPids: () => pidsWhere((cmd) => cmd.startsWith('conmon ') || cmd.startsWith('/usr/bin/conmon ')).filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(stateDir)),
    podStartSplit: async () => {
      const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const split: Record<string, number> = {};
      for (const m of text.matchAll(/^nexcage_sandbox_create_duration_seconds_sum\{step="([^"]+)"\} (\S+)$/gm)) {
        const count = new RegExp(`^nexcage_sandbox_create_duration_seconds_count\\{step="${m[1]}"\\} (\\S+)$`, 'm').exec(text);
        if (count) split[m[1] as string] = (Number(m[2]) / Number(count[1])) * 1000;
      }
      return split;
    },
    stop: async () => {
      await d.stop();
      await run('ip', ['link', 'del', `nx${name === 'nexcage' ? 'c' : 'b'}${tag}`], { allowFailure: true });
    },
  };
}

/** NEXCAGE_BENCH_NODE_FLAGS: the daemon's V8 flags instead of deploy/node-flags ("" = none). */
function flagsFromEnv(value: string | undefined): string[] | undefined {
  return value?.split(/[ ,]+/).filter((f) => f !== '');
}

/**
 * The peer next to nexcage: containerd (default), none, or `nexcage:<flags>` (a second nexcage with
 * other V8 flags, for an A/B of flags in one run).
 */
async function startPeers(dir: string, tag: string, registry: TestRegistry): Promise<Runtime[]> {
  const peer = process.env.NEXCAGE_COMPARE_PEER ?? 'containerd';
  if (peer === 'none') return [];
  if (peer.startsWith('nexcage:')) return [await startNexcage(join(dir, 'nexcage-b'), tag, registry.host, 'nexcage-b', flagsFromEnv(peer.slice('nexcage:'.length)))];
  const { startContainerdPeer } = await import('./compare-containerd.js');
  return [await startContainerdPeer(join(dir, 'containerd'), tag, registry)];
}

interface Figures {
  rows: Map<string, { unit: string; values: Map<string, Row> }>;
}

function record(f: Figures, name: string, unit: string, runtime: string, row: Row): void {
  const entry = f.rows.get(name) ?? { unit, values: new Map() };
  entry.values.set(runtime, row);
  f.rows.set(name, entry);
}

const value = (n: number): Row => ({ name: '', unit: '', n: 1, value: n });

/** The middle one of the figures that are numbers (a failed transfer is NaN); NaN if none. */
function median(values: number[]): number {
  const s = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export const suite: Suite = {
  name: 'compare',
  async run(): Promise<Row[]> {
    const tag = randomBytes(3).toString('hex');
    const dir = await mkdtemp('/tmp/nexcage-bench-compare-');
    const cgroupParent = `/nexcage-compare-${tag}`;
    const registry = await TestRegistry.start({ parent: dir });
    const figures: Figures = { rows: new Map() };
    const runtimes: Runtime[] = [];
    const workloads: CriWorkload[] = [];
    const phase = (what: string): void => console.error(`compare: ${what} (load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')})`);
    const settle = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));
    try {
      const images = await pushContainerImages(registry);
      phase('starting the daemons');
      const nexcage = await startNexcage(join(dir, 'nexcage'), tag, registry.host, 'nexcage', flagsFromEnv(process.env.NEXCAGE_BENCH_NODE_FLAGS));
      runtimes.push(nexcage);
      runtimes.push(...(await startPeers(join(dir, 'peers'), tag, registry)));
      for (const r of runtimes) if (r.version) console.error(`compare: ${r.name} ${r.version}`);
      for (const r of runtimes) {
        await mkdir(join(dir, 'logs', r.name), { recursive: true });
        workloads.push(new CriWorkload(r.name, r.client, { tag, logDir: join(dir, 'logs', r.name), cgroupParent: `${cgroupParent}/${r.name}`, image: images.busybox }));
      }
      const each = async (fn: (r: Runtime, w: CriWorkload) => Promise<void>): Promise<void> => {
        for (let i = 0; i < runtimes.length; i++) await fn(runtimes[i] as Runtime, workloads[i] as CriWorkload);
      };
      const mem = (name: string, which: 'daemon' | 'helpers' | 'both'): void => {
        for (const r of runtimes) {
          const d = procMem(r.daemonPid());
          const helpers = pssSum(r.helperPids());
          if (which === 'daemon') record(figures, `${name}: daemon RSS`, 'MiB', r.name, { ...value(d.rss), note: `anon ${d.anon.toFixed(1)} file ${d.file.toFixed(1)} PSS ${d.pss.toFixed(1)}` });
          if (which === 'helpers') record(figures, `${name}: helpers PSS`, 'MiB', r.name, { ...value(helpers), note: `${r.helperPids().length} processes` });
          if (which === 'both') {
            record(figures, `${name}: helpers PSS`, 'MiB', r.name, { ...value(helpers), note: `${r.helperPids().length} processes` });
            record(figures, `${name}: daemon RSS + helpers PSS`, 'MiB', r.name, value(d.rss + helpers));
          }
        }
      };

      await settle(2000);
      mem('after start', 'daemon');
      phase('first pull');
      await each((_, w) => w.pull(images.busybox));

      phase(`${ROUNDS} pod + container lifecycles, alternately`);
      const cpu = (): number[] => runtimes.map((r) => cpuSeconds(r.daemonPid()));
      const cpuRow = (name: string, before: number[]): void =>
        runtimes.forEach((r, k) => record(figures, name, 's', r.name, value(cpuSeconds(r.daemonPid()) - (before[k] ?? NaN))));
      const cpuLifecycles = cpu();
      const steps = runtimes.map(() => new Map<LifecycleStep, number[]>(LIFECYCLE_STEPS.map((s) => [s, []])));
      const scratch = runtimes.map(() => [] as number[]);
      for (let i = 0; i < ROUNDS; i++) {
        await each(async (_, w) => {
          const k = workloads.indexOf(w);
          const t = await w.lifecycle();
          for (const s of LIFECYCLE_STEPS) steps[k]?.get(s)?.push(t[s]);
          scratch[k]?.push(t.RunPodSandbox + t.CreateContainer + t.StartContainer);
        });
      }
      cpuRow(`daemon CPU for the ${ROUNDS} lifecycles (user + sys, with the children it reaped: runc, CNI plugins...)`, cpuLifecycles);
      runtimes.forEach((r, k) => {
        record(figures, 'pod start from scratch (RunPodSandbox + CreateContainer + StartContainer)', 'ms', r.name, summarize('', 'ms', scratch[k] ?? []));
        for (const s of LIFECYCLE_STEPS) record(figures, s, 'ms', r.name, summarize('', 'ms', steps[k]?.get(s) ?? []));
      });
      for (const r of runtimes) {
        const split = await r.podStartSplit?.();
        // netns first, then network (CNI ADD) and infra (conmon + runc create + start) side by side; total is the wall time.
        const what: Record<string, string> = { netns: 'netns pin', network: 'network: CNI ADD', infra: 'infra: conmon + runc create + start', total: 'total (wall)' };
        for (const [step, ms] of Object.entries(split ?? {})) record(figures, `  RunPodSandbox step ${what[step] ?? step} (mean)`, 'ms', r.name, value(ms));
      }

      let goClient: Promise<string> | undefined;
      const go = (): Promise<string> => (goClient ??= buildGoListClient(dir));
      if (START_STATUS_CONTAINERS > 0) {
        // The lifecycles' ContainerStatus is the Node client's; the kubelet's client is grpc-go.
        phase(`${START_STATUS_CONTAINERS} containers started, ContainerStatus right after each (grpc-go)`);
        const ms = runtimes.map(() => [] as number[]);
        for (let done = 0; done < START_STATUS_CONTAINERS; done += 10) {
          await each(async (r, w) => {
            const ids: string[] = [];
            for (let i = 0; i < Math.min(10, START_STATUS_CONTAINERS - done); i++) ids.push(await w.createdContainer());
            ms[workloads.indexOf(w)]?.push(...(await goStartThenStatus(await go(), r.socket, ids)));
            await w.removePods();
          });
        }
        runtimes.forEach((r, k) => record(figures, 'ContainerStatus right after StartContainer (grpc-go, as the kubelet)', 'ms', r.name, summarize('', 'ms', ms[k] ?? [])));
      }
      if (ONLY === 'lifecycles') return toRows(figures, runtimes.map((r) => r.name));

      if (STREAM_ROUNDS > 0) {
        phase('exec and port-forward');
        const echoPods: { podId: string; id: string; pid: number }[] = [];
        for (const w of workloads) {
          const { containerIds } = await w.runningPod(1, ['nc', '-ll', '-p', String(ECHO_PORT), '-e', '/bin/cat']);
          const id = containerIds[0] as string;
          const info = JSON.parse((await call(w.client.runtime, 'ContainerStatus', { container_id: id, verbose: true })).info.info ?? '{}') as { pid: number };
          echoPods.push({ podId: w.pods.at(-1) as string, id, pid: info.pid });
        }
        const execs = runtimes.map(() => [] as number[]);
        const runcExecs = runtimes.map(() => [] as number[]);
        for (let i = 0; i < STREAM_ROUNDS; i++) {
          await each(async (r, w) => {
            const k = workloads.indexOf(w);
            const e = echoPods[k] as { id: string };
            execs[k]?.push(await timeMs(() => w.execOverSpdy(e.id, ['true'])));
            const root = r.runcRoot ?? '/run/containerd/runc/k8s.io';
            if (existsSync(join(root, e.id))) runcExecs[k]?.push(await timeMs(() => run('runc', ['--root', root, 'exec', e.id, 'true'])));
          });
        }
        runtimes.forEach((r, k) => {
          record(figures, 'exec true over SPDY (Exec + upgrade + streams + exit status)', 'ms', r.name, summarize('', 'ms', execs[k] ?? []));
          if (runcExecs[k]?.length) record(figures, 'floor: runc exec true (same container, no streaming)', 'ms', r.name, summarize('', 'ms', runcExecs[k] ?? []));
        });
        for (const [k] of runtimes.entries()) {
          const e = echoPods[k] as { podId: string; pid: number };
          // The echo server listens once its container runs; the floor's first try may race it.
          for (let i = 0; i < 50; i++) if ((await run('nsenter', [`--net=/proc/${e.pid}/ns/net`, 'ss', '-ltn'], { allowFailure: true })).stdout.includes(`:${ECHO_PORT}`)) break;
          else await settle(100);
        }
        const transfers = ['floor', 'spdy', 'websocket'] as const;
        const mbs = runtimes.map(() => new Map<(typeof transfers)[number], number[]>(transfers.map((t) => [t, []])));
        for (let i = 0; i < PORT_FORWARD_ROUNDS; i++) {
          for (const [k, r] of runtimes.entries()) {
            const e = echoPods[k] as { podId: string; pid: number };
            for (const t of transfers) {
              const v =
                t === 'floor'
                  ? await rawEcho(e.pid, ECHO_PORT, PORT_FORWARD_MIB)
                  : await crictlEcho(r.socket, e.podId, ECHO_PORT, t, PORT_FORWARD_MIB).catch((err: unknown) => {
                      console.error(`compare: ${r.name} port-forward over ${t}: ${String(err)}`);
                      return NaN;
                    });
              mbs[k]?.get(t)?.push(v);
            }
          }
        }
        runtimes.forEach((r, k) => {
          const all = (t: (typeof transfers)[number]): number[] => mbs[k]?.get(t) ?? [];
          const floor = median(all('floor'));
          const each = (t: (typeof transfers)[number]): string => `${PORT_FORWARD_ROUNDS} rounds: ${all(t).map((v) => v.toFixed(0)).join(' ')}`;
          const note = `median of ${PORT_FORWARD_MIB} MiB each way through an echo in the pod`;
          record(figures, 'port-forward floor: nsenter + socat into the pod (no runtime)', 'MB/s', r.name, { ...value(floor), note: `${note}; ${each('floor')}` });
          for (const t of ['spdy', 'websocket'] as const) {
            const m = median(all(t));
            const share = Number.isNaN(m) ? 'every transfer failed' : `${((m / floor) * 100).toFixed(0)}% of the floor`;
            record(figures, `port-forward through crictl over ${t}`, 'MB/s', r.name, { ...value(m), note: `${note}; ${share}; ${each(t)}` });
          }
        });
        await each((_, w) => w.removePods());
      }
      if (ONLY === 'streaming') return toRows(figures, runtimes.map((r) => r.name));

      phase(`${PULL_ROUNDS} image pull + remove, alternately`);
      const pulls = runtimes.map(() => [] as number[]);
      const removes = runtimes.map(() => [] as number[]);
      for (let i = 0; i < PULL_ROUNDS; i++) {
        await each(async (_, w) => {
          const k = workloads.indexOf(w);
          pulls[k]?.push(await timeMs(() => w.pull(images.user)));
          removes[k]?.push(await timeMs(() => w.removeImage(images.user)));
        });
      }
      runtimes.forEach((r, k) => {
        record(figures, 'PullImage (small image, 1 layer)', 'ms', r.name, summarize('', 'ms', pulls[k] ?? []));
        record(figures, 'RemoveImage', 'ms', r.name, summarize('', 'ms', removes[k] ?? []));
      });
      await settle(5000);
      mem('after the work, nothing running', 'daemon');
      const cpuIdle = cpu();
      await settle(IDLE_MS - 5000);
      mem(`idle ${IDLE_MS / 1000} s after the work, nothing running`, 'daemon');
      cpuRow(`daemon CPU in ${(IDLE_MS - 5000) / 1000} s of that idle spell`, cpuIdle);

      if (SMALL_PODS > 0) {
        // The first calls after an idle spell pay for what it gave back (page faults).
        for (const r of runtimes) {
          const ms = [await timeMs(() => call(r.client.runtime, 'ListPodSandbox', {})), await timeMs(() => call(r.client.runtime, 'ListPodSandbox', {}))];
          record(figures, 'first ListPodSandbox after the idle spell (Node client)', 'ms', r.name, value(ms[0] as number));
          record(figures, 'the ListPodSandbox right after it', 'ms', r.name, value(ms[1] as number));
        }
        phase(`${SMALL_PODS} pods (pod + 1 container)`);
        const starts = runtimes.map(() => [] as number[]);
        for (let p = 0; p < SMALL_PODS; p++) await each(async (_, w) => void starts[workloads.indexOf(w)]?.push(await timeMs(() => w.runningPod(1))));
        runtimes.forEach((r, k) => {
          const [first, ...rest] = starts[k] ?? [];
          record(figures, 'first running pod after the idle spell (RunPodSandbox + CreateContainer + StartContainer)', 'ms', r.name, value(first ?? NaN));
          record(figures, `the next ${rest.length} running pods`, 'ms', r.name, summarize('', 'ms', rest));
        });
        await settle(3000);
        mem(`${SMALL_PODS} pods (pod + 1 container)`, 'daemon');
        mem(`${SMALL_PODS} pods (pod + 1 container)`, 'both');
        await settle(IDLE_MS - 3000);
        mem(`${SMALL_PODS} pods (pod + 1 container), idle ${IDLE_MS / 1000} s`, 'daemon');
        mem(`${SMALL_PODS} pods (pod + 1 container), idle ${IDLE_MS / 1000} s`, 'both');
        await each((_, w) => w.removePods());
      }

      phase(`${LIST_PODS * PER_POD} running containers`);
      for (let p = 0; p < LIST_PODS; p++) {
        await each((_, w) => w.runningPod(PER_POD).then(() => undefined));
        if ((p + 1) * PER_POD === 100) {
          await settle(3000);
          mem('100 running containers', 'daemon');
          const cpuLoaded = cpu();
          await settle(IDLE_MS - 3000);
          mem(`100 running containers, idle ${IDLE_MS / 1000} s`, 'daemon');
          cpuRow(`daemon CPU in ${(IDLE_MS - 3000) / 1000} s idle with 100 running containers`, cpuLoaded);
        }
      }
      await settle(3000);
      mem(`${LIST_PODS * PER_POD} running containers`, 'daemon');
      mem(`${LIST_PODS * PER_POD} running containers`, 'helpers');

      phase("the kubelet's polls (grpc-go)");
      const goBinary = await go();
      const polls: { method: string; request?: (w: CriWorkload, r: Runtime) => Promise<Buffer> }[] = [
        { method: 'ListContainers' },
        { method: 'ListPodSandbox' },
        { method: 'ImageService/ListImages' },
        { method: 'Status' },
        {
          method: 'ContainerStatus',
          request: async (_, r) => {
            const id = (await call(r.client.runtime, 'ListContainers', {})).containers[0]?.id ?? '';
            return Buffer.concat([Buffer.from([0x0a, id.length]), Buffer.from(id)]);
          },
        },
      ];
      // A kubelet polls every second for the node's lifetime: the figures are of that steady state,
      // not of the first calls, which compile the paths and fill the answer caches (both runtimes).
      for (const p of polls) {
        for (const [k, r] of runtimes.entries()) {
          const req = p.request ? await p.request(workloads[k] as CriWorkload, r) : undefined;
          await goListCalls(goBinary, r.socket, p.method, POLL_WARMUP_CALLS, 0, req);
        }
      }
      await settle(1000);
      const gcBefore = new Map(runtimes.map((r) => [r, r.gcTrace ? readFileSync(r.gcTrace, 'utf8').length : 0]));
      const cpuPolls = cpu();
      for (const p of polls) {
        for (const [k, r] of runtimes.entries()) {
          const req = p.request ? await p.request(workloads[k] as CriWorkload, r) : undefined;
          const res = await goListCalls(goBinary, r.socket, p.method, POLL_CALLS, 0, req);
          record(figures, `${p.method.replace(/^.*\//, '')} with ${LIST_PODS * PER_POD} containers (grpc-go, back to back)`, 'ms', r.name, summarize('', 'ms', res.ms, `${(res.bytes / 1024).toFixed(1)} KiB answer`));
          const paced = await goListCalls(goBinary, r.socket, p.method, Math.round(POLL_CALLS / 5), 10, req);
          record(figures, `${p.method.replace(/^.*\//, '')} (grpc-go, 100 calls/s)`, 'ms', r.name, summarize('', 'ms', paced.ms));
        }
      }
      cpuRow(`daemon CPU for the polls (${polls.length} methods x ${POLL_CALLS * 1.2} calls)`, cpuPolls);
      mem("after the kubelet's polls", 'daemon');
      for (const r of runtimes) {
        if (!r.gcTrace) continue;
        const pauses: GcPause[] = gcPauses(readFileSync(r.gcTrace, 'utf8').slice(gcBefore.get(r)));
        const full = pauses.filter((p) => p.kind !== 'Scavenge' && p.kind !== 'marking step');
        const longest = full.reduce<GcPause | undefined>((a, p) => (a && a.ms >= p.ms ? a : p), undefined);
        const split = Object.entries(longest?.phases ?? {}).map(([k, ms]) => `${k} ${ms}`).join(', ');
        record(figures, 'GC pauses during the polls (--trace-gc)', 'ms', r.name, {
          ...summarize('', 'ms', pauses.map((p) => p.ms)),
          note: `max ${Math.max(0, ...pauses.map((p) => p.ms)).toFixed(2)} ms; ${pauses.filter((p) => p.ms > 5).length} over 5 ms; ${full.length} full GCs (max ${Math.max(0, ...full.map((p) => p.ms)).toFixed(2)} ms${split ? `: ${split}` : ''})`,
        });
        // NEXCAGE_COMPARE_GC_LOG=<dir>: keep the polls' --trace-gc lines (the run's directory goes).
        const keep = process.env.NEXCAGE_COMPARE_GC_LOG;
        if (keep) await writeFile(join(keep, `${r.name}-polls-gc.log`), readFileSync(r.gcTrace, 'utf8').slice(gcBefore.get(r)));
      }
      // The same calls from a client on Go's default GC (a collection every 4 MiB it allocates): shown
      // beside the figures above, whose client collects about as often as a kubelet does.
      for (const p of polls) {
        for (const [k, r] of runtimes.entries()) {
          const req = p.request ? await p.request(workloads[k] as CriWorkload, r) : undefined;
          const res = await goListCalls(goBinary, r.socket, p.method, POLL_CALLS, 0, req, 'small');
          record(figures, `${p.method.replace(/^.*\//, '')} with ${LIST_PODS * PER_POD} containers (grpc-go, back to back, client on Go's default GC)`, 'ms', r.name, summarize('', 'ms', res.ms));
        }
      }
      if (ONLY === 'polls') return toRows(figures, runtimes.map((r) => r.name));

      phase('removing the pods');
      await each((_, w) => w.removePods());
      await settle(5000);
      mem('after removing every pod', 'daemon');

      if (BIG_PULL_SCALE > 0) {
        phase('a big pull each (a cold twin of the pull bench image)');
        for (const [k, r] of runtimes.entries()) {
          const w = workloads[k] as CriWorkload;
          const twin = await pushTwin(registry.pushTarget, `bench/big-${r.name}`, 'gzip', BIG_PULL_SCALE);
          const ref = `${registry.host}/bench/big-${r.name}:latest`;
          await resetPeakRss(r.daemonPid());
          const before = procMem(r.daemonPid()).rss;
          const ms = await timeMs(() => w.pull(ref));
          const note = `${(twin.wireBytes / 1e6).toFixed(0)} MB on the wire, ${twin.files} files`;
          record(figures, 'big PullImage', 'ms', r.name, { ...value(ms), note });
          record(figures, 'daemon peak RSS during the big pull', 'MiB', r.name, { ...value(peakRssMiB(r.daemonPid())), note: `RSS before ${before.toFixed(1)}` });
          await w.removeImage(ref);
        }
      }
      return toRows(figures, runtimes.map((r) => r.name));
    } catch (err) {
      // The run's directory goes: what the daemons logged is kept in the bench's output.
      for (const r of runtimes) {
        const log = join(dir, r.name === 'nexcage' ? 'nexcage' : join('peers', r.name), 'daemon.log');
        if (existsSync(log)) console.error(`compare: ${r.name} daemon log (last 40 lines):\n${readFileSync(log, 'utf8').split('\n').slice(-40).join('\n')}`);
      }
      throw err;
    } finally {
      for (const w of workloads) await w.removePods().catch(() => undefined);
      for (const r of runtimes.reverse()) await r.stop().catch((err: unknown) => console.error(`compare: stopping ${r.name}: ${String(err)}`));
      await registry.stop();
      await removeCgroups(cgroupParent);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    }
  },
};

/** One row per figure and runtime, then the ratio nexcage / peer (of p50, or of the value). */
function toRows(f: Figures, names: string[]): Row[] {
  const rows: Row[] = [];
  for (const [name, { unit, values }] of f.rows) {
    for (const n of names) {
      const r = values.get(n);
      if (r) rows.push({ ...r, name: `${name} [${n}]`, unit });
    }
    const ours = values.get('nexcage');
    for (const n of names.filter((x) => x !== 'nexcage')) {
      const theirs = values.get(n);
      if (!ours || !theirs) continue;
      const pick = (r: Row): number => r.value ?? r.mean ?? NaN;
      const note = ours.p99 !== undefined && theirs.p99 ? `mean; p50 ${((ours.p50 ?? NaN) / (theirs.p50 ?? NaN)).toFixed(2)}, p99 ${(ours.p99 / theirs.p99).toFixed(2)}` : undefined;
      rows.push({ name: `${name} [ratio nexcage/${n}]`, unit: 'x', n: 1, value: pick(ours) / pick(theirs), note });
    }
  }
  return rows;
}

