import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../lib/log.js';
import type { ImageRecord } from './image-store.js';
import { peerServedRequests } from './peer-metrics.js';
import { PeerServer, type PeerServerSettings } from './peer-server.js';

const log = pino({ level: 'silent' }) as unknown as Logger;
let dir: string;
let server: PeerServer;
let base: string;
const settings: PeerServerSettings = { serveAuthenticated: false, maxUploads: 8, minUploadBytesPerSecond: 0 };
const blobs = new Map<string, Buffer>();
const privateSet = new Set<string>();

function blob(text: string): string {
  const b = Buffer.from(text);
  const d = `sha256:${createHash('sha256').update(b).digest('hex')}`;
  blobs.set(d, b);
  writeFileSync(join(dir, d.slice(7)), b);
  return d;
}

function image(tag: string): ImageRecord {
  const manifest = blob(`manifest ${tag}`);
  return {
    id: blob(`config ${tag}`),
    manifestDigest: manifest,
    manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
    layers: [{ digest: blob(`layer ${tag}`), size: 0, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }],
  } as unknown as ImageRecord;
}

let pub: ImageRecord;
let priv: ImageRecord;
let loose: string;
let big: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'peer-server-'));
  pub = image('public');
  priv = image('private');
  loose = blob('referenced by no image');
  // Larger than the socket buffers: an unread response stays open, holding its upload slot.
  big = blob('x'.repeat(32 * 1024 * 1024));
  pub.layers.push({ digest: big, size: 32 * 1024 * 1024, mediaType: 'application/vnd.oci.image.layer.v1.tar' });
  for (const d of [priv.id, priv.manifestDigest, ...priv.layers.map((l) => l.digest)]) privateSet.add(d);
  server = new PeerServer({
    content: { path: (d) => join(dir, d.slice(7)) },
    store: { list: () => [pub, priv] },
    privateDigests: { has: (d) => privateSet.has(d) },
    settings,
    log,
    rateWindowMs: 200,
  });
  const { port } = await server.listen('127.0.0.1', 0);
  base = `http://127.0.0.1:${port}/v2/some/repo`;
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('PeerServer', () => {
  it('serves the blobs and manifest of a public image, with HEAD and suffix ranges', async () => {
    const layer = pub.layers[0]!.digest;
    const r = await fetch(`${base}/blobs/${layer}`);
    expect(r.status).toBe(200);
    expect(Buffer.from(await r.arrayBuffer())).toEqual(blobs.get(layer));
    const h = await fetch(`${base}/blobs/${layer}`, { method: 'HEAD' });
    expect(h.headers.get('content-length')).toBe(String(blobs.get(layer)!.length));
    const tail = await fetch(`${base}/blobs/${layer}`, { headers: { range: 'bytes=-3' } });
    expect(tail.status).toBe(206);
    expect(await tail.text()).toBe('lic');
    expect((await fetch(`${base}/blobs/${layer}`, { headers: { range: 'bytes=999-' } })).status).toBe(416);
    const m = await fetch(`${base}/manifests/${pub.manifestDigest}`);
    expect(m.headers.get('content-type')).toBe(pub.manifestMediaType);
  });

  it('keeps blobs of images pulled with credentials, and blobs no image references, to itself', async () => {
    for (const d of [priv.manifestDigest, priv.id, priv.layers[0]!.digest, loose]) {
      expect((await fetch(`${base}/blobs/${d}`)).status).toBe(404);
    }
  });

  it('serves private images only when serveAuthenticated is on', async () => {
    settings.serveAuthenticated = true;
    try {
      expect((await fetch(`${base}/blobs/${priv.layers[0]!.digest}`)).status).toBe(200);
    } finally {
      settings.serveAuthenticated = false;
    }
    expect((await fetch(`${base}/blobs/${priv.layers[0]!.digest}`)).status).toBe(404);
  });

  it('answers 503 when every upload slot is taken', async () => {
    settings.maxUploads = 1;
    try {
      // Slots are held while a response is open: take the only one with an unread response.
      const { request } = await import('node:http');
      const held = await new Promise<import('node:http').IncomingMessage>((resolve) => request(`${base}/blobs/${big}`, resolve).end());
      const r = await fetch(`${base}/blobs/${pub.id}`);
      held.destroy();
      expect(r.status).toBe(503);
      // The slot comes back once that response is gone.
      let after = 0;
      for (const end = Date.now() + 5000; Date.now() < end && after !== 200; ) after = (await fetch(`${base}/blobs/${pub.id}`)).status;
      expect(after).toBe(200);
    } finally {
      settings.maxUploads = 8;
    }
  });

  it('cuts off a peer reading slower than the floor', async () => {
    settings.minUploadBytesPerSecond = 1024 * 1024 * 1024;
    try {
      const { request } = await import('node:http');
      // Never read: the server's writes back up and the average stays under the floor.
      const res = await new Promise<import('node:http').IncomingMessage>((resolve) => request(`${base}/blobs/${big}`, resolve).end());
      res.pause();
      // The client, not reading, cannot see the close behind the buffered bytes: watch the server side.
      const cutOffs = async (): Promise<number> => (await peerServedRequests.get()).values.find((v) => v.labels.result === 'cut_off')?.value ?? 0;
      const before = await cutOffs();
      const end = Date.now() + 5000;
      while ((await cutOffs()) === before && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      expect(await cutOffs()).toBe(before + 1);
      res.destroy();
    } finally {
      settings.minUploadBytesPerSecond = 0;
    }
  });
});
