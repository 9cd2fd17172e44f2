// `make dashboard-png`: docs/dashboard.png, the chart's Grafana dashboard drawn from a live daemon.
// Runs the built daemon (metrics on loopback) and a real Prometheus (Debian's binary, extracted by
// scripts/dashboard-png.sh) scraping it every 2 s, drives a few minutes of kubelet-like work (pods,
// containers, ExecSync, exec sessions, warm and failing pulls, a CNI failure, an OOM kill), then
// evaluates every panel's query over that window through Prometheus' query_range API and draws the
// panels as SVG in an HTML page that headless Chromium screenshots.
//
// usage: node dist/bench/dashboard-snapshot.js <prometheus binary> <chromium binary> <out.png> [seconds]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { call } from '../src/cri/grpc/client.js';
import type { PodSandboxConfig } from '../src/cri/generated/runtime/v1/PodSandboxConfig.js';
import { randomBytes } from 'node:crypto';
import { buildImage, busyboxEntries, layer, pushImage, pushTestImages } from '../test/support/image-builder.js';
import { freePort, TestRegistry } from '../test/support/registry.js';
import { SpdyClient } from '../test/support/spdy-client.js';
import { BenchDaemon, benchConfig } from './bench-daemon.js';

const REPO = resolve(import.meta.dirname, '../..');
const [prometheusBin, chromiumBin, outPng, secondsArg] = process.argv.slice(2);
if (!prometheusBin || !chromiumBin || !outPng) throw new Error('usage: dashboard-snapshot.js <prometheus> <chromium> <out.png> [seconds]');
const SECONDS = Number(secondsArg ?? 180);
const RATE = '30s';

interface Panel {
  title: string;
  description: string;
  gridPos: { x: number; y: number; w: number; h: number };
  fieldConfig: { defaults: { unit: string } };
  targets: { expr: string; legendFormat: string }[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Pods running now: removed on the way out whatever happened, so nothing stays on the node. */
const live: string[] = [];

async function main(): Promise<void> {
  const dir = mkdtempSync('/tmp/nexcage-dashboard-');
  const procs: ChildProcess[] = [];
  let daemon: BenchDaemon | undefined;
  let registry: TestRegistry | undefined;
  try {
    registry = await TestRegistry.start({ parent: dir });
    await pushTestImages(registry.pushTarget);
    const busybox = `${registry.host}/test/busybox:latest`;
    // Images with a layer of their own (8 MiB of noise each), so pulls download something.
    const base = await layer(busyboxEntries(), 'gzip');
    const fresh: string[] = [];
    for (let i = 0; i < Math.ceil(SECONDS / 8); i++) {
      const noise = await layer([{ path: 'data/noise.bin', content: randomBytes(8 << 20) }], 'gzip');
      await pushImage(registry.pushTarget, `dash/app${i}`, ['v1'], buildImage({ layers: [base, noise], config: { Cmd: ['sleep', '3600'] } }));
      fresh.push(`${registry.host}/dash/app${i}:v1`);
    }
    const metricsPort = await freePort();
    const confDir = join(dir, 'net.d');
    mkdirSync(confDir);
    daemon = new BenchDaemon(dir, benchConfig(dir, { metricsAddress: `127.0.0.1:${metricsPort}`, cni: { confDirs: [confDir], defaultBridge: 'nxdash0', defaultSubnet: '10.231.7.0/24' } }));
    await daemon.start();
    const promPort = await freePort();
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global: {scrape_interval: 2s, evaluation_interval: 2s}\nscrape_configs:\n  - job_name: nexcage-daemon\n    static_configs: [{targets: ['127.0.0.1:${metricsPort}'], labels: {node: node-1}}]\n`,
    );
    procs.push(
      spawn(prometheusBin, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'tsdb')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'], { stdio: 'ignore' }),
    );
    const prom = `http://127.0.0.1:${promPort}`;
    for (let i = 0; ; i++) {
      if ((await fetch(`${prom}/-/ready`).catch(() => undefined))?.ok) break;
      if (i > 100) throw new Error('prometheus did not become ready');
      await sleep(200);
    }
    const start = Date.now() / 1000;
    await work(daemon, busybox, fresh, registry.host, confDir, dir);
    await sleep(6000); // the last scrapes
    const end = Date.now() / 1000;

    const dash = JSON.parse(readFileSync(join(REPO, 'deploy/helm/nexcage/dashboards/nexcage.json'), 'utf8')) as { title: string; panels: Panel[] };
    const drawn: string[] = [];
    for (const p of dash.panels) {
      const series: { name: string; points: [number, number][] }[] = [];
      for (const tg of p.targets) {
        const q = tg.expr.replaceAll('$__rate_interval', RATE).replaceAll('$job', 'nexcage-daemon').replaceAll('$instance', '.*');
        const url = `${prom}/api/v1/query_range?query=${encodeURIComponent(q)}&start=${start}&end=${end}&step=4`;
        const res = (await (await fetch(url)).json()) as { status: string; error?: string; data: { result: { metric: Record<string, string>; values: [number, string][] }[] } };
        if (res.status !== 'success') throw new Error(`${p.title}: ${q}: ${res.error ?? res.status}`);
        for (const r of res.data.result) {
          const name = tg.legendFormat.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, l: string) => r.metric[l] ?? '');
          series.push({ name, points: r.values.map(([t, v]) => [t, Number(v)]) });
        }
      }
      drawn.push(panelSvg(p, series, start, end));
    }
    const html = page(dash.title, drawn, start, end);
    writeFileSync(join(dir, 'dashboard.html'), html);
    const height = 120 + Math.ceil(dash.panels.length / 2) * 330;
    const shot = spawn(chromiumBin, ['--headless=new', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--window-size=1600,${height}`, `--screenshot=${resolve(outPng)}`, `file://${join(dir, 'dashboard.html')}`], { stdio: 'ignore' });
    const code = await new Promise<number | null>((r) => shot.on('exit', r));
    if (code !== 0) throw new Error(`chromium exited ${code}`);
    process.stdout.write(`dashboard-png: ${outPng} (${dash.panels.length} panels, ${Math.round(end - start)} s of data)\n`);
  } finally {
    for (const id of live.splice(0)) {
      await call(daemon!.client.runtime, 'StopPodSandbox', { pod_sandbox_id: id }, 60_000).catch(() => undefined);
      await call(daemon!.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: id }, 60_000).catch(() => undefined);
    }
    await daemon?.stop();
    for (const p of procs) p.kill('SIGTERM');
    await registry?.stop();
    await sleep(500);
    // Only when nothing is mounted below it any more (a failed removal above must stay visible).
    if (!readFileSync('/proc/self/mountinfo', 'utf8').includes(dir)) rmSync(dir, { recursive: true, force: true });
    else process.stderr.write(`dashboard-png: ${dir} still has mounts; left for inspection\n`);
  }
}

/** Kubelet-like work: pods with a container each, probes, exec sessions, pulls, a few failures. */
async function work(d: BenchDaemon, busybox: string, fresh: string[], registryHost: string, confDir: string, dir: string): Promise<void> {
  const deadline = Date.now() + SECONDS * 1000;
  let n = 0;
  const pod = (name: string): PodSandboxConfig => ({
    metadata: { name, uid: `uid-${name}`, namespace: 'dash', attempt: 0 },
    hostname: name,
    log_directory: join(dir, 'logs', name),
    labels: {},
    linux: { cgroup_parent: '/nexcage-dashboard', security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } } },
  });
  while (Date.now() < deadline) {
    n++;
    const name = `web-${n}`;
    const cfg = pod(name);
    const podId = (await call(d.client.runtime, 'RunPodSandbox', { config: cfg }, 60_000)).pod_sandbox_id;
    // A cold pull (in flight while the pod starts) beside the warm one the container uses.
    const cold = fresh.length > 0 ? call(d.client.image, 'PullImage', { image: { image: fresh.shift()! } }, 120_000) : Promise.resolve();
    await call(d.client.image, 'PullImage', { image: { image: busybox } }, 60_000);
    const oom = n % 9 === 0;
    const ctr = (
      await call(d.client.runtime, 'CreateContainer', {
        pod_sandbox_id: podId,
        sandbox_config: cfg,
        config: {
          metadata: { name: 'app', attempt: 0 },
          image: { image: busybox },
          command: oom ? ['/bin/sh', '-c', 'sleep 1; x=$(head -c 200000000 /dev/zero | tr "\\0" a); sleep 3600'] : ['sleep', '3600'],
          log_path: 'app.log',
          linux: oom ? { resources: { memory_limit_in_bytes: String(16 * 1024 * 1024) } } : {},
        },
      }, 60_000)
    ).container_id;
    await call(d.client.runtime, 'StartContainer', { container_id: ctr });
    live.push(podId);
    for (let i = 0; i < 3; i++) await call(d.client.runtime, 'ExecSync', { container_id: ctr, cmd: ['cat', '/etc/hostname'], timeout: '5' }).catch(() => undefined);
    if (n % 2 === 0) await execSession(d, ctr);
    if (n % 5 === 0) await call(d.client.image, 'PullImage', { image: { image: `${registryHost}/test/missing:${n}` } }, 30_000).catch(() => undefined);
    if (n % 7 === 0) {
      writeFileSync(join(confDir, '10-broken.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'broken', plugins: [{ type: 'no-such-plugin' }] }));
      await call(d.client.runtime, 'RunPodSandbox', { config: pod(`broken-${n}`) }, 60_000).catch(() => undefined);
      rmSync(join(confDir, '10-broken.conflist'));
    }
    for (let i = 0; i < 20; i++) await call(d.client.runtime, 'ListContainers', {});
    await cold;
    if (live.length > 8) {
      const old = live.shift()!;
      await call(d.client.runtime, 'StopPodSandbox', { pod_sandbox_id: old }, 60_000);
      await call(d.client.runtime, 'RemovePodSandbox', { pod_sandbox_id: old }, 60_000);
    }
    await sleep(1500);
  }
}

async function execSession(d: BenchDaemon, ctr: string): Promise<void> {
  const { url } = await call(d.client.runtime, 'Exec', { container_id: ctr, cmd: ['/bin/sh', '-c', 'sleep 1; echo done'], stdout: true, stderr: true });
  const c = await SpdyClient.connect(url, { protocols: ['v4.channel.k8s.io'] });
  const streams = await Promise.all(['error', 'stdout', 'stderr'].map((streamType) => c.createStream({ streamType })));
  await Promise.all(streams.map((s) => s.all()));
  c.close();
}

const COLORS = ['#73bf69', '#f2cc0c', '#8ab8ff', '#ff780a', '#f2495c', '#5794f2', '#b877d9', '#705da0', '#37872d', '#fade2a', '#ff9830', '#c4162a'];

function fmt(v: number, unit: string): string {
  const a = Math.abs(v);
  const num = (x: number): string => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : Math.abs(x) >= 0.1 || x === 0 ? x.toFixed(2) : x.toPrecision(2));
  switch (unit) {
    case 'bytes':
      return a >= 1 << 20 ? `${num(v / (1 << 20))} MiB` : a >= 1024 ? `${num(v / 1024)} KiB` : `${num(v)} B`;
    case 'Bps':
      return a >= 1 << 20 ? `${num(v / (1 << 20))} MiB/s` : a >= 1024 ? `${num(v / 1024)} KiB/s` : `${num(v)} B/s`;
    case 's':
      return a >= 1 ? `${num(v)} s` : a >= 0.001 ? `${num(v * 1000)} ms` : a === 0 ? '0' : `${num(v * 1e6)} µs`;
    case 'reqps':
      return `${num(v)} req/s`;
    case 'ops':
      return `${num(v)} /s`;
    default:
      return num(v);
  }
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function panelSvg(p: Panel, series: { name: string; points: [number, number][] }[], start: number, end: number): string {
  const W = 770;
  const H = 230;
  const L = 70;
  const R = 10;
  const T = 10;
  const B = 24;
  const vals = series.flatMap((s) => s.points.map(([, v]) => v)).filter((v) => Number.isFinite(v));
  const max = Math.max(1e-9, ...vals);
  const min = Math.min(0, ...vals);
  const x = (t: number): number => L + ((t - start) / (end - start)) * (W - L - R);
  const y = (v: number): number => T + (1 - (v - min) / (max - min)) * (H - T - B);
  const grid: string[] = [];
  for (let i = 0; i <= 4; i++) {
    const v = min + ((max - min) * i) / 4;
    grid.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#2c3235"/><text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${esc(fmt(v, p.fieldConfig.defaults.unit))}</text>`);
  }
  for (let i = 0; i <= 6; i++) {
    const t = start + ((end - start) * i) / 6;
    const d = new Date(t * 1000);
    grid.push(`<text x="${x(t)}" y="${H - 6}" text-anchor="${i === 0 ? 'start' : i === 6 ? 'end' : 'middle'}">${d.toISOString().slice(11, 19)}</text>`);
  }
  const lines = series.map((s, i) => {
    const pts = s.points.filter(([, v]) => Number.isFinite(v)).map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    return `<polyline fill="none" stroke="${COLORS[i % COLORS.length]}" stroke-width="1.6" points="${pts}"/>`;
  });
  const legend = series
    .map((s, i) => `<span class="key"><i style="background:${COLORS[i % COLORS.length]}"></i>${esc(s.name || '(value)')}</span>`)
    .join('');
  const empty = series.length === 0 ? `<text x="${W / 2}" y="${H / 2}" text-anchor="middle" class="nodata">No data</text>` : '';
  return `<div class="panel"><h2>${esc(p.title)}</h2><svg width="${W}" height="${H}">${grid.join('')}${lines.join('')}${empty}</svg><div class="legend">${legend}</div></div>`;
}

function page(title: string, panels: string[], start: number, end: number): string {
  const when = `${new Date(start * 1000).toISOString().slice(0, 19)}Z – ${new Date(end * 1000).toISOString().slice(11, 19)}Z`;
  return `<!doctype html><html><head><meta charset="utf-8"><style>
body{margin:0;padding:16px 20px;background:#111217;color:#ccccdc;font:12px Inter,Helvetica,Arial,sans-serif}
h1{font-size:18px;font-weight:500;margin:0 0 4px} .sub{color:#8e8e99;margin-bottom:14px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:10px}
.panel{background:#181b1f;border:1px solid #2c3235;border-radius:3px;padding:8px 10px;height:300px;overflow:hidden}
h2{font-size:13px;font-weight:500;margin:0 0 4px} svg text{fill:#8e8e99;font-size:10px} .nodata{font-size:13px}
.legend{display:flex;flex-wrap:wrap;gap:2px 12px;max-height:42px;overflow:hidden} .key i{display:inline-block;width:12px;height:3px;margin-right:5px;vertical-align:middle}
</style></head><body><h1>${esc(title)}</h1><div class="sub">job nexcage-daemon · node-1 · ${when} · from a live nexcage daemon scraped by Prometheus every 2 s (rate windows ${RATE})</div>
<div class="grid">${panels.join('')}</div></body></html>`;
}

await main();
