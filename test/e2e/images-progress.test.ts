// Live pull progress: /pulls and /metrics show a running pull's bytes per layer and drop it when it
// ends; `nexcage pull` draws per-layer bars on a terminal (run under `script`), prints plain lines
// into a pipe, ends with the image id, and on Ctrl-C stops watching while the daemon finishes.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import type { PullProgressView } from '../../src/images/pull-progress.js';
import { buildImage, layer, pushImage, type BuiltImage } from '../support/image-builder.js';
import { RegistryProxy } from '../support/registry-proxy.js';
import { TestRegistry } from '../support/registry.js';
import { Daemon, MAIN, NODE, runCli, useTestDir, waitFor } from './harness.js';

const t = useTestDir();
let registry: TestRegistry;
let proxy: RegistryProxy;
let d: Daemon;
const images = new Map<string, BuiltImage>();
/** Bytes of the big layer: a few seconds at the throttled rates below. */
const BIG = 6 * 1024 * 1024;

async function pushTwin(repo: string): Promise<void> {
  const small = await layer([{ path: 'small.txt', content: `${repo}\n` }], 'zstd');
  // Random bytes do not compress: the layer is really BIG bytes on the wire.
  const big = await layer([{ path: 'big.bin', content: randomBytes(BIG) }], 'gzip');
  const img = buildImage({ layers: [small, big] });
  await pushImage(registry.pushTarget, repo, ['latest'], img);
  images.set(repo, img);
}

/** Serve the big layer of `repo` at `bytesPerSecond`. */
function throttle(repo: string, bytesPerSecond: number): void {
  const digest = images.get(repo)!.layers[1]!.digest;
  proxy.addFault({ match: new RegExp(`GET /v2/${repo}/blobs/${digest}`), times: 1, action: { kind: 'throttle', bytesPerSecond } });
}

const ESC = '\x1b';
const ref = (repo: string): string => `${proxy.host}/${repo}:latest`;

async function pulls(): Promise<PullProgressView[]> {
  const res = await fetch(`${d.metricsUrl}/pulls`);
  expect(res.headers.get('content-type')).toBe('application/json');
  return ((await res.json()) as { pulls: PullProgressView[] }).pulls;
}

async function metrics(): Promise<string> {
  return (await fetch(`${d.metricsUrl}/metrics`)).text();
}

const cliArgs = (): string[] => ['--config', d.configPath, '--metrics-address', d.metricsUrl.replace(/^http:\/\//, '')];

beforeAll(async () => {
  registry = await TestRegistry.start({ parent: t.dir().path });
  proxy = await RegistryProxy.start({ upstream: registry.url });
  for (const repo of ['test/watched', 'test/tty', 'test/piped', 'test/detached']) await pushTwin(repo);
  d = t.track(new Daemon(t.dir(), 'progress', { config: { logLevel: 'info' } }));
  await d.start();
}, 120_000);

afterAll(async () => {
  await d?.stop();
  await proxy?.stop();
  await registry?.stop();
});

describe('an in-flight pull', () => {
  it('shows its bytes per layer on /pulls and /metrics while it runs, and neither keeps it once it has ended', async () => {
    const img = images.get('test/watched')!;
    throttle('test/watched', 2 * 1024 * 1024);
    const name = ref('test/watched');
    const pulled = call(d.client.image, 'PullImage', { image: { image: name } }, 120_000);

    const running = await waitFor('the pull to show downloaded bytes of its big layer', async () => {
      const p = (await pulls()).find((x) => x.image === name);
      return p && (p.layers[1]?.downloadedBytes ?? 0) > 256 * 1024 ? p : undefined;
    });
    const sizes = img.layers.map((l) => l.blob.length);
    expect(running.layers.map((l) => ({ digest: l.digest, size: l.size }))).toEqual(img.layers.map((l, i) => ({ digest: l.digest, size: sizes[i] })));
    expect(running.totalBytes).toBe(sizes[0]! + sizes[1]!);
    expect(running.phase).toBe('download');
    expect(running.layers[1]!.phase).toBe('download');
    expect(running.downloadedBytes).toBeLessThan(running.totalBytes);
    // Unpacking follows the download as it arrives.
    await waitFor('the big layer to be unpacked as it arrives', async () => {
      const p = (await pulls()).find((x) => x.image === name);
      return p && p.layers[1]!.unpackedBytes > 0 && p.layers[1]!.downloadedBytes < p.layers[1]!.size;
    });

    const text = await metrics();
    const done = new RegExp(`^nexcage_image_pull_in_flight_done_bytes\\{image="${name}",stage="download"\\} (\\d+)$`, 'm').exec(text);
    expect(Number(done?.[1])).toBeGreaterThan(0);
    expect(text).toContain(`nexcage_image_pull_in_flight_size_bytes{image="${name}"} ${running.totalBytes}`);
    expect(text).toContain(`nexcage_image_pull_in_flight_layer_size_bytes{image="${name}",layer="${img.layers[1]!.digest}"} ${sizes[1]}`);
    expect(text).toMatch(new RegExp(`^nexcage_image_pull_in_flight_layer_done_bytes\\{image="${name}",layer="${img.layers[1]!.digest}",stage="unpack"\\} \\d+$`, 'm'));
    expect(text).toContain(`nexcage_image_pull_in_flight_phase{image="${name}",phase="download"} 1`);

    expect((await pulled).image_ref).toBe(img.configDigest);
    expect(await pulls()).toEqual([]);
    const after = await metrics();
    expect(after.split('\n').filter((l) => l.startsWith('nexcage_image_pull_in_flight_'))).toEqual([]);
    // The family stays described, with no series.
    expect(after).toContain('# TYPE nexcage_image_pull_in_flight_done_bytes gauge');
  });
});

describe('nexcage pull', () => {
  it('draws a bar per layer on a terminal, redrawn in place, and ends with the image id', async () => {
    throttle('test/tty', 2 * 1024 * 1024);
    const cmd = [NODE, MAIN, 'pull', ...cliArgs(), ref('test/tty')].map((a) => `'${a}'`).join(' ');
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      // `script` gives the command a terminal of its own; its output is what a user would see.
      const p = spawn('script', ['-qfec', `stty cols 120; ${cmd}`, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (b: Buffer) => (out += b.toString()));
      p.on('exit', (code) => resolve({ code, out }));
    });
    expect(r.code, r.out).toBe(0);
    const img = images.get('test/tty')!;
    const short = img.layers[1]!.digest.slice('sha256:'.length, 'sha256:'.length + 12);
    // A partly filled bar for the big layer while it downloaded, and a full one at the end.
    expect(r.out).toMatch(new RegExp(`${short} download +\\[=*-*[ ]+\\]`));
    expect(r.out).toContain(`${short} done     [${'='.repeat(30)}]`);
    // Redrawn in place: cursor up over the previous frame.
    expect(r.out).toContain(`${ESC}[3A`);
    expect(r.out.trimEnd().split(/\r?\n/).pop()).toBe(img.configDigest);
  });

  it('prints plain progress lines into a pipe, and only the image id on stdout', async () => {
    throttle('test/piped', 2 * 1024 * 1024);
    const name = ref('test/piped');
    const r = await runCli(['pull', ...cliArgs(), name]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${images.get('test/piped')!.configDigest}\n`);
    expect(r.stderr).toContain(`pulling ${name}\n`);
    expect(r.stderr).toMatch(new RegExp(`^${name}: download, downloaded [0-9.]+ [kM]?B / [0-9.]+ MB, unpacked .*layers \\d/2`, 'm'));
    expect(r.stderr).not.toContain(ESC);
  });

  it('stops watching on Ctrl-C while the daemon finishes the pull', async () => {
    throttle('test/detached', 1024 * 1024);
    const name = ref('test/detached');
    const p = spawn(NODE, [MAIN, 'pull', ...cliArgs(), name], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => p.on('exit', resolve));
    await waitFor('the CLI to show progress', () => stderr.includes(`${name}: download`));
    p.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toContain(`stopped watching; the daemon goes on pulling ${name}`);
    expect((await pulls()).some((x) => x.image === name)).toBe(true);
    const id = images.get('test/detached')!.configDigest;
    await waitFor('the daemon to finish the pull', async () => (await call(d.client.image, 'ListImages', {})).images.some((i) => i.id === id), 30_000);
    expect(d.logs().some((l) => l.msg === 'image pull cancelled: every caller went away')).toBe(false);
    // Over 5 s long: the daemon said how far it was on the way.
    expect(d.logs().some((l) => l.ref === name && String(l.msg).startsWith('image pull progress: download, downloaded '))).toBe(true);
  });
});
