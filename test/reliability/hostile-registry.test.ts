// A registry that lies, pulled from through the daemon: wrong digests, truncated bodies, an endless
// body, a huge manifest, a redirect loop, a server that never answers, one that trickles a byte at a
// time (a manifest, or a blob under the rate floor), malformed JSON, a manifest naming 1000 layers, a
// gzip bomb over the configured decompression ratio. Each pull fails with a clear error in bounded time and memory, records no
// image, leaves no temp snapshot and no committed blob whose bytes do not match its name.
// The lying server is a small node:http server in this file (no real registry lies on purpose).
import * as grpc from '@grpc/grpc-js';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import { buildImage, layer, sha256, type BuiltImage } from '../support/image-builder.js';
import { Daemon, useTestDir, waitFor } from '../e2e/harness.js';
import { report, rssBytes, settle } from './scale.js';

const t = useTestDir();
let d: Daemon;
let server: Server;
let host = '';
const sockets = new Set<Socket>();
/** Requests seen per path (to check what the daemon fetched). */
const seen: string[] = [];
type Handler = (req: IncomingMessage, res: ServerResponse) => void;
const routes = new Map<string, Handler>();

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** Serve an honest image under `repo` (manifest by tag "latest", config and layer blobs). */
function serveImage(repo: string, img: BuiltImage, blobOverride: Record<string, Handler> = {}): void {
  routes.set(`/v2/${repo}/manifests/latest`, (_req, res) => {
    res.writeHead(200, { 'content-type': img.manifestMediaType, 'content-length': img.manifestBytes.length, 'docker-content-digest': img.manifestDigest });
    res.end(img.manifestBytes);
  });
  const blobs = new Map<string, Buffer>([[img.configDigest, img.configBytes], ...img.layers.map((l) => [l.digest, l.blob] as [string, Buffer])]);
  for (const [digest, bytes] of blobs) {
    routes.set(
      `/v2/${repo}/blobs/${digest}`,
      blobOverride[digest] ??
        ((_req, res) => {
          res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
          res.end(bytes);
        }),
    );
  }
}

function manifestRoute(repo: string, h: Handler): void {
  routes.set(`/v2/${repo}/manifests/latest`, h);
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    seen.push(path);
    if (path === '/v2/' || path === '/v2') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
      return;
    }
    const h = routes.get(path);
    if (h) return h(req, res);
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'unknown' }] }));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  d = t.track(
    new Daemon(t.dir(), 'hostile', {
      config: { logLevel: 'info', registry: { noProgressTimeoutSeconds: 2, maxDecompressionRatio: 100, minBlobBytesPerSecond: 1024, minBlobRateWindowSeconds: 2 } },
    }),
  );
  await d.start();
});

afterAll(async () => {
  await d?.stop();
  for (const s of sockets) s.destroy();
  await new Promise((r) => server?.close(r));
});

/** Committed blobs hash to their names; no temp snapshot; no image recorded. */
async function storeConsistent(): Promise<void> {
  const root = d.config().rootDir as string;
  const blobs = join(root, 'content', 'blobs', 'sha256');
  for (const name of existsSync(blobs) ? readdirSync(blobs) : []) {
    expect(createHash('sha256').update(readFileSync(join(blobs, name))).digest('hex'), `blob ${name}`).toBe(name);
  }
  const snaps = join(root, 'snapshots');
  if (existsSync(snaps)) expect(readdirSync(snaps).filter((s) => s.startsWith('.tmp'))).toEqual([]);
  expect((await call(d.client.image, 'ListImages', {})).images).toEqual([]);
}

interface Result {
  err: grpc.ServiceError;
  ms: number;
  rssGrowthMiB: number;
}

/** Pull `repo` (it must fail), measuring time and the daemon's RSS growth meanwhile. */
async function pullFails(repo: string, timeoutMs = 60_000): Promise<Result> {
  const pid = d.pid!;
  const base = await rssBytes(pid);
  let peak = base;
  const timer = setInterval(() => void rssBytes(pid).then((r) => (peak = Math.max(peak, r))), 50);
  const started = Date.now();
  const r = await settle(call(d.client.image, 'PullImage', { image: { image: `${host}/${repo}:latest` } }, timeoutMs));
  const ms = Date.now() - started;
  clearInterval(timer);
  expect(r.ok, `pull of ${repo} should fail`).toBe(false);
  const err = (r as { err: grpc.ServiceError }).err;
  const rssGrowthMiB = (peak - base) / 1024 / 1024;
  report(`hostile registry: ${repo}: ${grpc.status[err.code]} in ${ms} ms, RSS +${rssGrowthMiB.toFixed(1)} MiB: ${err.details.slice(0, 200)}`);
  // Bounded memory: nothing is buffered whole (the endless and huge bodies would be hundreds of MiB).
  expect(rssGrowthMiB).toBeLessThan(100);
  await storeConsistent();
  return { err, ms, rssGrowthMiB };
}

describe('a lying registry', () => {
  it('a blob whose bytes do not match its digest: refused naming the digest, nothing committed', async () => {
    const img = buildImage({ layers: [await layer([{ path: 'a.txt', content: 'a\n' }])] });
    const lie = Buffer.from('these are not the bytes you are looking for');
    serveImage('lie/digest', img, {
      [img.layers[0]!.digest]: (_req, res) => {
        res.writeHead(200, { 'content-length': img.layers[0]!.blob.length });
        res.end(Buffer.concat([lie, Buffer.alloc(img.layers[0]!.blob.length - lie.length)]));
      },
    });
    const { err } = await pullFails('lie/digest');
    expect([grpc.status.INVALID_ARGUMENT, grpc.status.FAILED_PRECONDITION]).toContain(err.code);
    expect(err.details).toContain(img.layers[0]!.digest);
  });

  it('a body cut short on every attempt: a clear UNAVAILABLE after bounded retries', async () => {
    const img = buildImage({ layers: [await layer([{ path: 'b.bin', content: Buffer.alloc(256 * 1024, 7) }], 'none')] });
    const l = img.layers[0]!;
    serveImage('lie/truncated', img, {
      [l.digest]: (req, res) => {
        // Honour Range so the resume is exercised, but never send the last half.
        const m = /bytes=(\d+)-/.exec(String(req.headers.range ?? ''));
        const from = m ? Number(m[1]) : 0;
        res.writeHead(m ? 206 : 200, { 'content-length': l.blob.length - from, ...(m ? { 'content-range': `bytes ${from}-${l.blob.length - 1}/${l.blob.length}` } : {}) });
        res.write(l.blob.subarray(from, Math.max(from, l.blob.length / 2)));
        setTimeout(() => res.destroy(), 20);
      },
    });
    const { err, ms } = await pullFails('lie/truncated');
    expect([grpc.status.UNAVAILABLE, grpc.status.INVALID_ARGUMENT]).toContain(err.code);
    expect(err.details).toMatch(new RegExp(l.digest.slice(7, 19)));
    expect(ms).toBeLessThan(45_000);
  });

  it('an endless body: stops at the declared size without buffering it', async () => {
    const img = buildImage({ layers: [await layer([{ path: 'c.txt', content: 'c\n' }])] });
    const l = img.layers[0]!;
    serveImage('lie/endless', img, {
      [l.digest]: (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(64 * 1024, 1);
        const pump = (): void => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', pump);
        };
        res.on('close', () => res.removeAllListeners('drain'));
        pump();
      },
    });
    const { err, ms } = await pullFails('lie/endless');
    expect(err.details).toMatch(/size|larger|more than|bytes/i);
    expect(ms).toBeLessThan(30_000);
  });

  it('a huge manifest (64 MiB, no length): refused at the manifest limit', async () => {
    manifestRoute('lie/huge', (_req, res) => {
      res.writeHead(200, { 'content-type': OCI_MANIFEST });
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      let sent = 0;
      const pump = (): void => {
        while (!res.destroyed && sent < 64 && res.write(chunk)) sent++;
        if (sent >= 64) res.end();
        else if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    const { err } = await pullFails('lie/huge');
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/limit/);
  });

  it('a redirect loop: refused after a few hops, naming the redirects', async () => {
    manifestRoute('lie/loop', (req, res) => {
      res.writeHead(302, { location: req.url });
      res.end();
    });
    const { err, ms } = await pullFails('lie/loop');
    expect(err.details).toMatch(/redirect/);
    expect(ms).toBeLessThan(10_000);
  });

  it('a server that accepts and never answers: the no-progress timeout ends it', async () => {
    manifestRoute('lie/silent', () => undefined);
    const { err, ms } = await pullFails('lie/silent');
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.details).toMatch(/progress|timed? ?out|stalled/i);
    expect(ms).toBeLessThan(30_000);
  });

  it('slow-loris (a byte every 0.5 s, never stalling): the whole body must arrive within the timeout; the daemon drops the connection', async () => {
    let open = 0;
    let last = 0;
    manifestRoute('lie/trickle', (_req, res) => {
      open++;
      last = Date.now();
      res.writeHead(200, { 'content-type': OCI_MANIFEST });
      const timer = setInterval(() => res.write(' '), 500);
      res.on('close', () => {
        clearInterval(timer);
        open--;
      });
    });
    const { err, ms } = await pullFails('lie/trickle', 30_000);
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.details).toMatch(/not complete after 2 s/);
    expect(ms).toBeLessThan(20_000);
    // Nothing keeps feeding on the trickle afterwards.
    await waitFor('the daemon to drop the trickling download', () => open === 0 && Date.now() - last > 3000, 40_000);
    expect((await call(d.client.runtime, 'Version', {})).runtime_name).toBe('nexcage');
  });

  it('slow-loris on a blob (4 bytes every 250 ms): each connection dropped under the rate floor and resumed, then a clear failure; an honest pull afterwards works', async () => {
    const img = buildImage({ layers: [await layer([{ path: 'slow.bin', content: randomBytes(64 * 1024) }], 'none')] });
    const l = img.layers[0]!;
    const ranges: (string | undefined)[] = [];
    let open = 0;
    serveImage('lie/blob-trickle', img, {
      [l.digest]: (req, res) => {
        const m = /bytes=(\d+)-/.exec(String(req.headers.range ?? ''));
        const from = m ? Number(m[1]) : 0;
        ranges.push(req.headers.range);
        open++;
        res.writeHead(m ? 206 : 200, { 'content-length': l.blob.length - from, ...(m ? { 'content-range': `bytes ${from}-${l.blob.length - 1}/${l.blob.length}` } : {}) });
        let at = from;
        const timer = setInterval(() => {
          res.write(l.blob.subarray(at, at + 4));
          at += 4;
        }, 250);
        res.on('close', () => {
          clearInterval(timer);
          open--;
        });
      },
    });
    const { err, ms } = await pullFails('lie/blob-trickle', 120_000);
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.details).toContain(l.digest);
    expect(err.details).toContain(`http://${host}`);
    expect(err.details).toMatch(/too slow 5 times in a row: .* sent [\d.]+ B\/s over the last [\d.]+ s, below registry\.minBlobBytesPerSecond \(1024 B\/s\)/);
    // 5 windows of 2 s plus the backoffs between them, not the caller's deadline.
    expect(ms).toBeLessThan(40_000);
    // Every slow connection was dropped and the next one continued where it stopped.
    expect(ranges).toHaveLength(5);
    expect(ranges[0]).toBeUndefined();
    expect(Number(/^bytes=(\d+)-/.exec(ranges[4] ?? '')?.[1])).toBeGreaterThan(0);
    await waitFor('the daemon to drop the trickling blob', () => open === 0, 10_000);
    expect(existsSync(join(d.config().rootDir as string, 'content', 'blobs', 'sha256', l.digest.slice(7)))).toBe(false);

    // The registry mends its ways: the next pull completes, and leaves the store as it found it.
    serveImage('lie/blob-trickle', img);
    const ok = await call(d.client.image, 'PullImage', { image: { image: `${host}/lie/blob-trickle:latest` } }, 60_000);
    expect(ok.image_ref).toBe(img.configDigest);
    await call(d.client.image, 'RemoveImage', { image: { image: ok.image_ref } });
    await storeConsistent();
  });

  it('malformed JSON in the manifest: INVALID_ARGUMENT', async () => {
    manifestRoute('lie/json', (_req, res) => {
      const body = Buffer.from('{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "layers": [');
      res.writeHead(200, { 'content-type': OCI_MANIFEST, 'content-length': body.length });
      res.end(body);
    });
    const { err } = await pullFails('lie/json');
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/JSON|parse/i);
  });

  it('a manifest naming 1000 layers: refused before any blob is fetched', async () => {
    const cfg = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: {} }));
    const body = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(cfg), size: cfg.length },
        layers: Array.from({ length: 1000 }, (_, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(String(i)), size: 1 })),
      }),
    );
    manifestRoute('lie/layers', (_req, res) => {
      res.writeHead(200, { 'content-type': OCI_MANIFEST, 'content-length': body.length });
      res.end(body);
    });
    const before = seen.length;
    const { err } = await pullFails('lie/layers');
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/1000 layers/);
    expect(seen.slice(before).filter((p) => p.includes('/blobs/'))).toEqual([]);
  });

  it('a gzip bomb over the configured decompression ratio (100): refused naming the setting', async () => {
    const img = buildImage({ layers: [await layer([{ path: 'zeros', content: Buffer.alloc(64 * 1024 * 1024) }], 'gzip')] });
    serveImage('lie/bomb', img);
    const { err } = await pullFails('lie/bomb');
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/maxDecompressionRatio/);
  });
});
