// bench/stats: what the kubelet's stats polling costs the daemon.
// 1. Through the built daemon: ListContainerStats / ListPodSandboxStats / ListPodSandboxMetrics over
//    gRPC with 100 running containers (10 pods x 10 busybox `sleep`, real runc + conmon + overlay,
//    image from a local registry).
// 2. StatsService alone (no gRPC, no daemon) over 100 cgroups the benchmark makes itself, each with
//    a sleeping process: the cost of the reading itself.
// Everything created is removed at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile as writeFileAsync } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { call, connectCri, type CriClient } from '../src/cri/grpc/client.js';
import { run } from '../src/lib/exec.js';
import { pushContainerImages } from '../test/support/containers.js';
import { TestRegistry } from '../test/support/registry.js';
import { DiskUsageCache } from '../src/lib/disk-usage.js';
import { silentLogger } from '../src/lib/log.js';
import { CgroupReader } from '../src/runtime/stats/cgroup-reader.js';
import { detectCgroupLayout, v1Dir, v2Dir, type CgroupLayout, type V1Controller } from '../src/runtime/stats/cgroup-paths.js';
import type { StatsContainerInfo, StatsSandboxInfo } from '../src/runtime/stats/provider.js';
import { StatsService } from '../src/runtime/stats/stats-service.js';
import { summarize, timeMs, type Row, type Suite } from './lib.js';

const PODS = 10;
const PER_POD = 10;
const ROUNDS = 200;
const CONTROLLERS: V1Controller[] = ['cpu', 'cpuacct', 'memory', 'pids', 'blkio'];

function dirsOf(layout: CgroupLayout, cgroup: string): string[] {
  if (layout.version === 2) return [v2Dir(layout, cgroup)];
  return CONTROLLERS.flatMap((c) => {
    const d = v1Dir(layout, c, cgroup);
    return d ? [d] : [];
  });
}

export const suite: Suite = {
  name: 'stats',
  async run(): Promise<Row[]> {
    const viaDaemon = await daemonRows().catch((err: unknown) => [
      { name: 'ListContainerStats via the daemon', unit: 'ms', n: 0, note: `failed: ${(err as Error).message.slice(0, 200)}` },
    ]);
    return [...viaDaemon, ...(await domainRows())];
  },
};

const REPO = resolve(import.meta.dirname, '../..');

/** 100 running containers in a real daemon; the stats RPCs' latency as the kubelet sees it. */
async function daemonRows(): Promise<Row[]> {
  const tag = randomBytes(3).toString('hex');
  const dir = await mkdtemp('/tmp/nexcage-bench-stats-');
  const parent = `/nexcage-bench-${tag}`;
  const config = {
    socket: join(dir, 'nexcage.sock'),
    rootDir: join(dir, 'root'),
    stateDir: join(dir, 'state'),
    metricsAddress: '',
    logLevel: 'warn',
    cni: { confDirs: [join(dir, 'cni-conf')], defaultBridge: `nxb${tag}`, defaultSubnet: `10.${200 + (parseInt(tag, 16) % 50)}.${parseInt(tag.slice(0, 2), 16)}.0/24` },
  };
  await writeFileAsync(join(dir, 'config.json'), JSON.stringify(config));
  const daemon = spawn(join(REPO, 'node_modules/.bin/node'), [join(REPO, 'dist/src/cli/main.js'), 'serve', '--config', join(dir, 'config.json')], { stdio: 'ignore' });
  let registry: TestRegistry | undefined;
  let client: CriClient | undefined;
  const pods: string[] = [];
  try {
    for (let i = 0; ; i++) {
      if (existsSync(config.socket)) break;
      if (i > 300 || daemon.exitCode !== null) throw new Error('the daemon did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    client = connectCri(config.socket);
    const c = client;
    registry = await TestRegistry.start({ parent: dir });
    const images = await pushContainerImages(registry);
    await call(c.image, 'PullImage', { image: { image: images.busybox } }, 120_000);
    for (let p = 0; p < PODS; p++) {
      const podConfig = {
        metadata: { name: `bench-${p}`, uid: `uid-${tag}-${p}`, namespace: 'bench', attempt: 0 },
        hostname: `bench-${p}`,
        log_directory: join(dir, 'logs', String(p)),
        labels: { bench: 'stats' },
        linux: { cgroup_parent: `${parent}/pod${p}`, security_context: { namespace_options: { network: 'POD' as const, pid: 'CONTAINER' as const, ipc: 'POD' as const } } },
      };
      const podId = (await call(c.runtime, 'RunPodSandbox', { config: podConfig }, 120_000)).pod_sandbox_id;
      pods.push(podId);
      for (let k = 0; k < PER_POD; k++) {
        const cfg = { metadata: { name: `c${k}`, attempt: 0 }, image: { image: images.busybox }, command: ['sleep', '3600'], log_path: `c${k}.log` };
        const id = (await call(c.runtime, 'CreateContainer', { pod_sandbox_id: podId, config: cfg, sandbox_config: podConfig }, 120_000)).container_id;
        await call(c.runtime, 'StartContainer', { container_id: id }, 120_000);
      }
    }
    const listed = (await call(c.runtime, 'ListContainerStats', {})).stats;
    const running = listed.length;
    const oneId = listed[0]?.attributes?.id ?? '';
    const rpc = async (name: string, fn: () => Promise<unknown>): Promise<Row> => {
      for (let i = 0; i < 5; i++) await fn();
      const samples: number[] = [];
      for (let i = 0; i < 50; i++) samples.push(await timeMs(fn));
      return summarize(name, 'ms', samples, `gRPC to the daemon, ${running} running containers`);
    };
    return [
      await rpc('ListContainerStats (100 containers)', () => call(c.runtime, 'ListContainerStats', {})),
      await rpc('ListPodSandboxStats (10 pods x 10)', () => call(c.runtime, 'ListPodSandboxStats', {})),
      await rpc('ListPodSandboxMetrics (10 pods x 10)', () => call(c.runtime, 'ListPodSandboxMetrics', {})),
      await rpc('ContainerStats (one container)', () => call(c.runtime, 'ContainerStats', { container_id: oneId })),
    ];
  } finally {
    for (const id of pods) {
      if (!client) break;
      await call(client.runtime, 'StopPodSandbox', { pod_sandbox_id: id }, 120_000).catch(() => undefined);
      await call(client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id }, 120_000).catch(() => undefined);
    }
    client?.close();
    if (daemon.exitCode === null) {
      const exited = new Promise((r) => daemon.once('exit', r));
      daemon.kill('SIGTERM');
      await exited;
    }
    await registry?.stop();
    // the built-in network's bridge outlives its pods (as with the CNI bridge plugin)
    await run('ip', ['link', 'del', config.cni.defaultBridge], { allowFailure: true });
    // the kubelet owns pod cgroup parents; here the benchmark does
    for (const h of readdirSync('/sys/fs/cgroup')) {
      for (let p = 0; p < PODS; p++) removeCgroupDir(`/sys/fs/cgroup/${h}${parent}/pod${p}`);
      removeCgroupDir(`/sys/fs/cgroup/${h}${parent}`);
    }
    await rm(dir, { recursive: true, force: true });
  }
}

function removeCgroupDir(d: string): void {
  try {
    if (existsSync(d)) rmdirSync(d);
  } catch {
    // still busy: reported by the leftovers of a later run
  }
}

async function domainRows(): Promise<Row[]> {
  const layout = detectCgroupLayout();
  const root = `/nexcage-bench-${randomBytes(3).toString('hex')}`;
  const made: string[] = [];
  const procs: ChildProcess[] = [];
  const pods: StatsSandboxInfo[] = [];
  const containers: StatsContainerInfo[] = [];
  const mk = (cg: string): void => {
    for (const d of dirsOf(layout, cg)) mkdirSync(d);
    made.push(cg);
  };
  try {
    mk(root);
    for (let p = 0; p < PODS; p++) {
      const podCg = `${root}/pod${p}`;
      mk(podCg);
      pods.push({ id: `pod${p}`, metadata: { name: `bench-${p}`, uid: `u${p}`, namespace: 'bench', attempt: 0 }, labels: {}, annotations: {}, ready: true, cgroupParent: podCg });
      for (let c = 0; c < PER_POD; c++) {
        const id = `pod${p}c${c}`;
        const cg = `${podCg}/${id}`;
        mk(cg);
        const child = spawn('sleep', ['600'], { stdio: 'ignore' });
        procs.push(child);
        for (const d of dirsOf(layout, cg)) writeFileSync(`${d}/cgroup.procs`, String(child.pid));
        containers.push({ id, podSandboxId: `pod${p}`, metadata: { name: `c${c}`, attempt: 0 }, labels: {}, annotations: {}, image: 'bench', state: 'running', cgroupsPath: cg });
      }
    }
    const stats = new StatsService({
      reader: new CgroupReader(layout, 'cgroupfs'),
      diskUsage: new DiskUsageCache({ refreshMs: 60_000 }),
      writableLayerMountpoint: '/',
      log: silentLogger(),
    });
    stats.setSandboxSource({ listSandboxes: () => pods, getSandbox: (id) => pods.find((p) => p.id === id) });
    stats.setContainerSource({ listContainers: () => containers, getContainer: (id) => containers.find((c) => c.id === id) });
    const measure = async (name: string, fn: () => Promise<unknown>): Promise<Row> => {
      for (let i = 0; i < 10; i++) await fn(); // warm up
      const samples: number[] = [];
      for (let i = 0; i < ROUNDS; i++) samples.push(await timeMs(fn));
      return summarize(name, 'ms', samples, `cgroup v${layout.version}, domain call (no gRPC)`);
    };
    const rows = [
      await measure(`listContainerStats, ${PODS * PER_POD} containers`, () => stats.listContainerStats()),
      await measure('containerStats, one container', () => stats.containerStats('pod5c5')),
      await measure(`listPodSandboxStats, ${PODS} pods x ${PER_POD} containers`, () => stats.listPodSandboxStats()),
      await measure(`podSandboxMetrics, ${PODS} pods x ${PER_POD} containers`, () => stats.podSandboxMetrics()),
    ];
    await stats.stop();
    return rows;
  } finally {
    await Promise.all(
      procs.map(
        (p) =>
          new Promise<void>((r) => {
            if (p.exitCode !== null || p.signalCode !== null) return r();
            p.once('exit', () => r());
            p.kill('SIGKILL');
          }),
      ),
    );
    for (const cg of made.reverse()) {
      for (const d of dirsOf(layout, cg)) {
        for (let i = 0; existsSync(d) && i < 100; i++) {
          try {
            rmdirSync(d);
          } catch {
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      }
    }
  }
}
