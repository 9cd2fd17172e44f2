// bench/stats: what the kubelet's stats polling costs the daemon, measured on real cgroups.
// Containers do not exist yet (issue 5), so this drives StatsService directly (no gRPC) over 100
// cgroups the benchmark makes itself, each holding a real sleeping process, arranged as 10 pods x
// 10 containers under a cgroupfs parent. Once containers land, the ListContainerStats RPC over 100
// running containers joins this table. Everything created is removed at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { DiskUsageCache } from '../src/disk-usage.js';
import { silentLogger } from '../src/log.js';
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
  },
};
