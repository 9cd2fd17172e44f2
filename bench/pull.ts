// `make bench ARGS=pull`: cold pulls of a ~160 MB, 5-layer, 5,500-file image (gzip and zstd
// variants) through CRI PullImage, nexcage against Debian's containerd (bench/peer-containerd.ts)
// in the same run, both as daemons on private dirs, pulling from the same local docker-registry.
//
// Every pull gets a twin image of its own (same layout, other bytes), so every pull is cold and
// nothing is deleted until all runs are done: this disk creates files 2-4x slower for minutes
// after a mass delete, which would penalise whichever runtime ran right after one. Runs alternate
// which runtime goes first. Daemon CPU comes from /proc/<pid>/stat, peak RSS from VmHWM (reset
// before each pull). NEXCAGE_BENCH_PULL_RUNS (default 5) and NEXCAGE_BENCH_PULL_SCALE (default 1,
// the share of the files per layer) shrink it for a quick look.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { call, type CriClient } from '../src/cri/grpc/client.js';
import { run } from '../src/lib/exec.js';
import { TestRegistry } from '../test/support/registry.js';
import { BenchDaemon, benchConfig, rssMiB } from './bench-daemon.js';
import { single, summarize, type Row, type Suite } from './lib.js';
import { cpuSeconds, peakRssMiB, PeerContainerd, resetPeakRss } from './peer-containerd.js';
import { pushTwin } from './pull-image.js';

type Who = 'nexcage' | 'containerd';
type Variant = 'gzip' | 'zstd';

interface Sample {
  seconds: number;
  cpu: number;
  peakRss: number;
  rssBefore: number;
  warmMs: number;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

async function pullOnce(client: CriClient, pid: number, ref: string): Promise<Sample> {
  const rssBefore = rssMiB(pid);
  await resetPeakRss(pid);
  const cpu0 = cpuSeconds(pid);
  const t0 = performance.now();
  await call(client.image, 'PullImage', { image: { image: ref } }, 600_000);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(pid) - cpu0;
  const peakRss = peakRssMiB(pid);
  const w0 = performance.now();
  await call(client.image, 'PullImage', { image: { image: ref } }, 600_000);
  return { seconds, cpu, peakRss, rssBefore, warmMs: performance.now() - w0 };
}

export const suite: Suite = {
  name: 'pull',
  async run(): Promise<Row[]> {
    const runs = Number(process.env.NEXCAGE_BENCH_PULL_RUNS ?? 5);
    const scale = Number(process.env.NEXCAGE_BENCH_PULL_SCALE ?? 1);
    const variants: Variant[] = ['gzip', 'zstd'];
    const work = mkdtempSync('/var/tmp/nexcage-bench-pull-');
    const registry = await TestRegistry.start({ parent: work });
    mkdirSync(join(work, 'nexcage'));
    mkdirSync(join(work, 'containerd'));
    const ours = new BenchDaemon(join(work, 'nexcage'), benchConfig(join(work, 'nexcage')));
    const peer = new PeerContainerd({ dir: join(work, 'containerd'), plainHttpRegistries: [registry.host] });
    try {
      const refs = new Map<string, string>();
      const sizes = new Map<Variant, { wire: number; tar: number; files: number }>();
      for (const v of variants) {
        for (let r = 0; r < runs; r++) {
          for (const who of ['nexcage', 'containerd'] as Who[]) {
            const repo = `bench/${v}-${who}-${r}`;
            const t = await pushTwin(registry.pushTarget, repo, v, scale);
            sizes.set(v, { wire: t.wireBytes, tar: t.tarBytes, files: t.files });
            refs.set(`${v}/${who}/${r}`, `${registry.host}/${repo}:latest`);
          }
        }
      }
      await ours.start();
      await peer.start();
      const pid: Record<Who, number> = { nexcage: ours.proc!.pid!, containerd: peer.pid };
      const client: Record<Who, CriClient> = { nexcage: ours.client, containerd: peer.client };
      // Let the pushes reach the disk and start-up settle before anything is timed.
      await run('sync', []);
      await new Promise((r) => setTimeout(r, 5000));
      const idle: Record<Who, number> = { nexcage: rssMiB(pid.nexcage), containerd: rssMiB(pid.containerd) };
      const load = loadavg()[0] as number;
      const samples = new Map<string, Sample[]>();
      for (const v of variants) {
        for (let r = 0; r < runs; r++) {
          const order: Who[] = r % 2 === 0 ? ['nexcage', 'containerd'] : ['containerd', 'nexcage'];
          for (const who of order) {
            const s = await pullOnce(client[who], pid[who], refs.get(`${v}/${who}/${r}`) as string);
            const key = `${v}/${who}`;
            samples.set(key, [...(samples.get(key) ?? []), s]);
            console.log(`pull ${v} run ${r} ${who}: ${s.seconds.toFixed(2)} s, CPU ${s.cpu.toFixed(2)} s, peak RSS ${s.peakRss.toFixed(0)} MiB (before ${s.rssBefore.toFixed(0)}), warm ${s.warmMs.toFixed(0)} ms`);
          }
        }
      }
      const loadAfter = loadavg()[0] as number;
      const rows: Row[] = [
        single('load average (1 min) before / after', '', load, `after: ${loadAfter.toFixed(2)}; ${peer.version}`),
        single('nexcage daemon RSS idle', 'MiB', idle.nexcage),
        single('containerd daemon RSS idle', 'MiB', idle.containerd),
      ];
      for (const v of variants) {
        const n = samples.get(`${v}/nexcage`) ?? [];
        const c = samples.get(`${v}/containerd`) ?? [];
        const sz = sizes.get(v)!;
        const note = `${(sz.wire / 1e6).toFixed(0)} MB ${v}, ${(sz.tar / 1e6).toFixed(0)} MB tar, ${sz.files} files, 5 layers`;
        const pairwise = n.map((s, i) => s.seconds / (c[i]?.seconds ?? NaN));
        rows.push(
          summarize(`${v}: nexcage cold pull`, 's', n.map((s) => s.seconds), note),
          summarize(`${v}: containerd cold pull`, 's', c.map((s) => s.seconds)),
          single(`${v}: cold pull nexcage / containerd (medians)`, 'x', median(n.map((s) => s.seconds)) / median(c.map((s) => s.seconds)), `pairwise median ${median(pairwise).toFixed(2)}; min ${Math.min(...n.map((s) => s.seconds)).toFixed(2)} vs ${Math.min(...c.map((s) => s.seconds)).toFixed(2)} s`),
          summarize(`${v}: nexcage daemon CPU per pull`, 's', n.map((s) => s.cpu)),
          summarize(`${v}: containerd daemon CPU per pull`, 's', c.map((s) => s.cpu)),
          single(`${v}: daemon CPU nexcage / containerd (medians)`, 'x', median(n.map((s) => s.cpu)) / median(c.map((s) => s.cpu))),
          summarize(`${v}: nexcage peak RSS during the pull`, 'MiB', n.map((s) => s.peakRss), `RSS before the pull: median ${median(n.map((s) => s.rssBefore)).toFixed(0)} MiB`),
          summarize(`${v}: containerd peak RSS during the pull`, 'MiB', c.map((s) => s.peakRss), `RSS before the pull: median ${median(c.map((s) => s.rssBefore)).toFixed(0)} MiB`),
          single(`${v}: peak RSS over idle at start, nexcage (median)`, 'MiB', median(n.map((s) => s.peakRss)) - idle.nexcage, `containerd: ${(median(c.map((s) => s.peakRss)) - idle.containerd).toFixed(1)} MiB`),
          single(`${v}: peak RSS over RSS just before the pull, nexcage (median)`, 'MiB', median(n.map((s) => s.peakRss - s.rssBefore)), `containerd: ${median(c.map((s) => s.peakRss - s.rssBefore)).toFixed(1)} MiB`),
          summarize(`${v}: nexcage warm pull (image present)`, 'ms', n.map((s) => s.warmMs)),
          summarize(`${v}: containerd warm pull (image present)`, 'ms', c.map((s) => s.warmMs)),
        );
      }
      return rows;
    } finally {
      await ours.stop();
      await peer.stop();
      await registry.stop();
      // containerd leaves its snapshots' overlay work dirs owned by root: a plain rm is enough.
      rmSync(work, { recursive: true, force: true });
    }
  },
};
