// What a PeerServer on 127.0.0.1 answers to the requests a peer (or anything else on the network)
// may send: the ping, methods, paths and digests it refuses, ranges, tags, per-peer limits.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../lib/log.js';
import type { ImageRecord } from './image-store.js';
import { PeerServer, type PeerServerSettings } from './peer-server.js';

const log = pino({ level: 'silent' }) as unknown as Logger;
const REGISTRY = 'registry.example:5000';
let dir: string;
let server: PeerServer;
let port: number;
let base: string;
const settings: PeerServerSettings = { serveAuthenticated: false, maxUploads: 8, minUploadBytesPerSecond: 0 };

function put(b: Buffer | string): string {
  const d = `sha256:${createHash('sha256').update(b).digest('hex')}`;
  writeFileSync(join(dir, d.slice(7)), b);
  return d;
}

let layer: string;
let empty: string;
let gone: string;
let big: string;
let rec: ImageRecord;
let indexed: ImageRecord;
const privateSet = new Set<string>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'peer-server-req-'));
  layer = put('0123456789');
  empty = put('');
  big = put(Buffer.alloc(32 * 1024 * 1024, 'b'));
  // Referenced by an image but no longer in the content store (removed under the server).
  gone = `sha256:${'e'.repeat(64)}`;
  rec = {
    id: put('{"config":1}'),
    repoTags: [`${REGISTRY}/team/app:v1`],
    manifestDigest: put('{"manifest":1}'),
    manifestMediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    layers: [layer, empty, gone, big].map((digest) => ({ digest, size: 0, mediaType: 'application/vnd.oci.image.layer.v1.tar' })),
  } as unknown as ImageRecord;
  indexed = {
    id: put('{"config":2}'),
    repoTags: [`${REGISTRY}/team/multi:v2`],
    manifestDigest: put('{"manifest":2}'),
    manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
    indexDigest: put('{"index":2}'),
    layers: [],
  } as unknown as ImageRecord;
  server = new PeerServer({
    content: { path: (d) => join(dir, d.slice(7)) },
    store: { list: () => [rec, indexed] },
    privateDigests: { has: (d) => privateSet.has(d) },
    settings,
    log,
  });
  port = (await server.listen('127.0.0.1', 0)).port;
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A request sent as raw bytes, so paths reach the server exactly as written (no URL normalising). */
function raw(line: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(`${line}\r\nHost: x\r\nConnection: close\r\n\r\n`));
    let text = '';
    s.on('data', (c) => (text += c.toString()));
    s.on('end', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
    s.on('error', reject);
  });
}

describe('PeerServer requests', () => {
  it('answers the registry ping, and only reads', async () => {
    const ping = await fetch(`${base}/v2/`);
    expect(ping.status).toBe(200);
    expect(ping.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect((await fetch(`${base}/v2`)).status).toBe(200);
    for (const method of ['PUT', 'POST', 'DELETE', 'PATCH']) {
      expect((await fetch(`${base}/v2/team/app/blobs/${layer}`, { method })).status).toBe(405);
    }
  });

  it('refuses paths outside the API, traversal and anything not a sha256 digest', async () => {
    expect(await raw(`GET /v2/../../etc/passwd HTTP/1.1`)).toBe(404);
    expect(await raw(`GET /v2/team/app/blobs/../../../etc/passwd HTTP/1.1`)).toBe(404);
    expect(await raw(`GET /v2/team/../app/blobs/${layer} HTTP/1.1`)).toBe(404);
    expect(await raw(`GET /v2/team/app/blobs/${layer.slice(7)} HTTP/1.1`)).toBe(404);
    expect(await raw(`GET /v2/team/app/blobs/${layer.toUpperCase()} HTTP/1.1`)).toBe(404);
    expect(await raw(`GET /v2/team/app/blobs/sha512:${'a'.repeat(128)} HTTP/1.1`)).toBe(404);
    expect(await raw(`GET /etc/passwd HTTP/1.1`)).toBe(404);
    const r = await fetch(`${base}/v2/team/app/blobs/sha256:${'0'.repeat(64)}`);
    expect(r.status).toBe(404);
    expect((await r.json()) as unknown).toEqual({ errors: [{ code: 'NOT_FOUND', message: expect.stringContaining('not shared') as unknown }] });
    // HEAD gets the status without a body.
    const h = await fetch(`${base}/v2/team/app/blobs/sha256:${'0'.repeat(64)}`, { method: 'HEAD' });
    expect(h.status).toBe(404);
    expect(await h.text()).toBe('');
  });

  it('refuses a long path that matches nothing at once, and keeps serving', async () => {
    // Such paths once took exponential time in the path pattern, blocking the whole daemon.
    const t0 = Date.now();
    expect(await raw(`GET /v2/${'a'.repeat(40)}/blobs/${'b'.repeat(64)} HTTP/1.1`)).toBe(404);
    expect(await raw(`GET /v2/${'team/'.repeat(200)}app/manifests/${'c'.repeat(200)}! HTTP/1.1`)).toBe(404);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect((await fetch(`${base}/v2/team/app/blobs/${layer}`)).status).toBe(200);
  });

  it('serves byte ranges and refuses unsatisfiable ones', async () => {
    const get = (range: string): Promise<Response> => fetch(`${base}/v2/team/app/blobs/${layer}`, { headers: { range } });
    const a = await get('bytes=2-5');
    expect(a.status).toBe(206);
    expect(a.headers.get('content-range')).toBe('bytes 2-5/10');
    expect(await a.text()).toBe('2345');
    const b = await get('bytes=7-');
    expect(await b.text()).toBe('789');
    const c = await get('bytes=8-100');
    expect(c.headers.get('content-range')).toBe('bytes 8-9/10');
    expect(await c.text()).toBe('89');
    const d = await get('bytes=6-3');
    expect(d.status).toBe(416);
    expect(d.headers.get('content-range')).toBe('bytes */10');
    // A Range header that is not a byte range is ignored: the whole blob.
    const e = await get('items=1-2');
    expect(e.status).toBe(200);
    expect(await e.text()).toBe('0123456789');
    const f = await get('bytes=-');
    expect(f.status).toBe(200);
    const whole = await fetch(`${base}/v2/team/app/blobs/${layer}`);
    expect(whole.headers.get('docker-content-digest')).toBe(layer);
    expect(whole.headers.get('etag')).toBe(`"${layer}"`);
  });

  it('serves an empty blob, and 404 for a referenced blob missing from the store', async () => {
    const r = await fetch(`${base}/v2/team/app/blobs/${empty}`);
    expect(r.status).toBe(200);
    expect(await r.text()).toBe('');
    const g = await fetch(`${base}/v2/team/app/blobs/${gone}`);
    expect(g.status).toBe(404);
    expect(await g.text()).toContain('not available');
  });

  it('serves manifests and indexes with their media types', async () => {
    const m = await fetch(`${base}/v2/team/app/manifests/${rec.manifestDigest}`);
    expect(m.headers.get('content-type')).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const i = await fetch(`${base}/v2/team/multi/manifests/${indexed.indexDigest}`);
    expect(i.headers.get('content-type')).toBe('application/vnd.oci.image.index.v1+json');
    expect(await i.text()).toBe('{"index":2}');
    // A config asked for as a manifest: the generic manifest type.
    const c = await fetch(`${base}/v2/team/app/manifests/${rec.id}`);
    expect(c.headers.get('content-type')).toBe('application/vnd.oci.image.manifest.v1+json');
  });

  it('resolves a tag of an image held here, by the registry named in ?ns=, to its index or manifest', async () => {
    const ns = encodeURIComponent(REGISTRY);
    const t = await fetch(`${base}/v2/team/app/manifests/v1?ns=${ns}`);
    expect(t.status).toBe(200);
    expect(t.headers.get('docker-content-digest')).toBe(rec.manifestDigest);
    const idx = await fetch(`${base}/v2/team/multi/manifests/v2?ns=${ns}`);
    expect(idx.headers.get('docker-content-digest')).toBe(indexed.indexDigest);
    expect((await fetch(`${base}/v2/team/app/manifests/v1?ns=other.example`)).status).toBe(404);
    expect((await fetch(`${base}/v2/team/app/manifests/v1`)).status).toBe(404);
    expect((await fetch(`${base}/v2/team/app/manifests/v9?ns=${ns}`)).status).toBe(404);
    // Tags never name blobs.
    expect((await fetch(`${base}/v2/team/app/blobs/v1?ns=${ns}`)).status).toBe(404);
  });

  it('a tag of a private image resolves only when serveAuthenticated is on', async () => {
    privateSet.add(indexed.indexDigest as string);
    try {
      const url = `${base}/v2/team/multi/manifests/v2?ns=${encodeURIComponent(REGISTRY)}`;
      expect((await fetch(url)).status).toBe(404);
      expect((await fetch(`${base}/v2/team/multi/blobs/${indexed.id}`)).status).toBe(404);
      settings.serveAuthenticated = true;
      expect((await fetch(url)).status).toBe(200);
    } finally {
      settings.serveAuthenticated = false;
      privateSet.clear();
    }
  });

  it('holds one peer to a quarter of the upload slots (429), others still served', async () => {
    settings.maxUploads = 8;
    const held: IncomingMessage[] = [];
    try {
      // Unread responses larger than the socket buffers keep their slots.
      for (let i = 0; i < 2; i++) held.push(await new Promise<IncomingMessage>((resolve) => request(`${base}/v2/team/app/blobs/${big}`, { agent: false }, resolve).end()));
      const r = await fetch(`${base}/v2/team/app/blobs/${layer}`);
      expect(r.status).toBe(429);
      expect(((await r.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('BUSY');
    } finally {
      for (const h of held) h.destroy();
    }
    let after = 0;
    for (const end = Date.now() + 5000; Date.now() < end && after !== 200; ) after = (await fetch(`${base}/v2/team/app/blobs/${layer}`)).status;
    expect(after).toBe(200);
  });

  it('a second listen on the same port fails, and close is idempotent', async () => {
    const other = new PeerServer({ content: { path: () => '' }, store: { list: () => [] }, privateDigests: { has: () => false }, settings, log });
    await expect(other.listen('127.0.0.1', port)).rejects.toThrow(/EADDRINUSE/);
    await other.close();
    await other.close();
  });
});
