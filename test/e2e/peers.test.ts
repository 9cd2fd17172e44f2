// Nodes sharing image content: daemon A serves its content store to peers; daemon B asks A (through
// a proxy that can cut, stall or corrupt what A sends) before the registry. The registry's proxy
// counts the blob bytes it hands out.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import { buildImage, layer, pushImage, type BuiltImage } from '../support/image-builder.js';
import { RegistryProxy } from '../support/registry-proxy.js';
import { freePort, TestRegistry } from '../support/registry.js';
import { Daemon, useTestDir, waitFor } from './harness.js';

const t = useTestDir();
let registry: TestRegistry;
let proxy: RegistryProxy;
let peerProxy: RegistryProxy;
let img: BuiltImage;
let a: Daemon;
let aPort: number;

const hex = (digest: string): string => digest.slice('sha256:'.length);
const bigLayer = (): string => img.layers[1]?.digest as string;

function nodeB(name: string, extra: Record<string, unknown> = {}): Daemon {
  return t.track(new Daemon(t.dir(), name, { config: { peers: { static: [peerProxy.host], connectTimeoutMs: 500, ...extra } } }));
}

async function metric(d: Daemon, name: string): Promise<number> {
  const text = await (await fetch(`${d.metricsUrl}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name)).reduce((s, l) => s + Number(l.split(' ').pop()), 0);
}

function blobOk(d: Daemon, digest: string): boolean {
  const blob = readFileSync(join(d.config().rootDir as string, 'content/blobs/sha256', hex(digest)));
  return `sha256:${createHash('sha256').update(blob).digest('hex')}` === digest;
}

beforeAll(async () => {
  registry = await TestRegistry.start({ parent: t.dir().path });
  proxy = await RegistryProxy.start({ upstream: registry.url });
  const small = await layer([{ path: 'small.txt', content: 'small\n' }], 'zstd');
  // Random bytes do not compress: 16 MB on the wire.
  const big = await layer([{ path: 'blob.bin', content: randomBytes(16 * 1024 * 1024) }], 'gzip');
  img = buildImage({ layers: [small, big] });
  await pushImage(registry.pushTarget, 'test/peer', ['latest'], img);
  aPort = await freePort();
  a = t.track(new Daemon(t.dir(), 'a', { config: { peers: { listenAddress: `127.0.0.1:${aPort}` } } }));
  await a.start();
  peerProxy = await RegistryProxy.start({ upstream: `http://127.0.0.1:${aPort}` });
  expect((await call(a.client.image, 'PullImage', { image: { image: `${proxy.host}/test/peer:latest` } }, 120_000)).image_ref).toBe(img.configDigest);
}, 120_000);

afterAll(async () => {
  await peerProxy?.stop();
  await proxy?.stop();
  await registry?.stop();
});

describe('a node serving its content store to peers', () => {
  it('serves blobs and manifests of its images by digest, with Range, and nothing else', async () => {
    const base = `http://127.0.0.1:${aPort}/v2/any/name`;
    const full = Buffer.from(await (await fetch(`${base}/blobs/${bigLayer()}`)).arrayBuffer());
    expect(`sha256:${createHash('sha256').update(full).digest('hex')}`).toBe(bigLayer());
    const part = await fetch(`${base}/blobs/${bigLayer()}`, { headers: { range: 'bytes=10-19' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(full.subarray(10, 20));
    const m = await fetch(`${base}/manifests/${img.manifestDigest}`);
    expect(m.status).toBe(200);
    expect(m.headers.get('docker-content-digest')).toBe(img.manifestDigest);
    // A digest no image references, a tag, a path out of the store, a write: refused.
    expect((await fetch(`${base}/blobs/sha256:${'0'.repeat(64)}`)).status).toBe(404);
    expect((await fetch(`${base}/manifests/latest`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${aPort}/v2/x/blobs/sha256:..%2F..%2Fimages`)).status).toBe(404);
    expect((await fetch(`${base}/blobs/uploads/`, { method: 'POST' })).status).toBe(405);
    expect(await metric(a, 'nexcage_peer_served_bytes_total')).toBeGreaterThanOrEqual(full.length);
  });
});

describe('a private image', () => {
  it('pulled with credentials is not served to peers', async () => {
    const front = await RegistryProxy.start({ upstream: registry.url, token: { users: { bob: 'builder' } } });
    try {
      const secret = buildImage({ layers: [await layer([{ path: 'secret.txt', content: `secret ${Date.now()}\n` }], 'gzip')] });
      await pushImage(registry.pushTarget, 'test/secret', ['latest'], secret);
      const auth = { username: 'bob', password: 'builder' };
      expect((await call(a.client.image, 'PullImage', { image: { image: `${front.host}/test/secret:latest` }, auth }, 60_000)).image_ref).toBe(secret.configDigest);
      const base = `http://127.0.0.1:${aPort}/v2/test/secret`;
      for (const d of [secret.manifestDigest, secret.configDigest, secret.layers[0]!.digest]) {
        expect((await fetch(`${base}/${d === secret.manifestDigest ? 'manifests' : 'blobs'}/${d}`)).status).toBe(404);
      }
      // The public image is still served.
      expect((await fetch(`${base}/blobs/${img.configDigest}`)).status).toBe(200);
    } finally {
      await front.stop();
    }
  });
});

describe('a node pulling from a peer', () => {
  it('takes no blob byte from the registry when a peer has the image', async () => {
    const b = nodeB('b1');
    await b.start();
    proxy.blobBytes = 0;
    expect((await call(b.client.image, 'PullImage', { image: { image: `${proxy.host}/test/peer:latest` } }, 120_000)).image_ref).toBe(img.configDigest);
    expect(proxy.blobBytes).toBe(0);
    expect(blobOk(b, bigLayer())).toBe(true);
    expect(b.logs().some((l) => l.msg === 'blob source: peer' && l.digest === bigLayer())).toBe(true);
    expect(await metric(b, 'nexcage_image_blob_source_bytes_total{source="peer"}')).toBeGreaterThanOrEqual(16 * 1024 * 1024);
    await b.stop();
  });

  it('detects a peer sending corrupted bytes, skips it and still pulls a correct image from the registry', async () => {
    const b = nodeB('b2');
    await b.start();
    proxy.blobBytes = 0;
    peerProxy.addFault({ match: new RegExp(`^GET /v2/test/peer/blobs/${bigLayer()}`), times: 1, action: { kind: 'corrupt' } });
    expect((await call(b.client.image, 'PullImage', { image: { image: `${proxy.host}/test/peer:latest` } }, 120_000)).image_ref).toBe(img.configDigest);
    expect(blobOk(b, bigLayer())).toBe(true);
    expect(b.logs().some((l) => l.msg === 'peer served wrong bytes, skipping it for a while')).toBe(true);
    expect(await metric(b, 'nexcage_peer_fetch_failures_total{reason="bad_digest"}')).toBe(1);
    // The layer came again from the registry, from its first byte.
    expect(proxy.blobBytes).toBeGreaterThanOrEqual(16 * 1024 * 1024);
    const st = await call(b.client.image, 'ImageStatus', { image: { image: `${proxy.host}/test/peer:latest` } });
    expect(st.image?.id).toBe(img.configDigest);
    await b.stop();
  });

  it('pulls by digest from a peer while the registry is down, and by tag through peers only when allowed', async () => {
    const down = await RegistryProxy.start({ upstream: registry.url });
    const host = down.host;
    // A knows the image under this registry name too (same content, nothing fetched again).
    await call(a.client.image, 'PullImage', { image: { image: `${host}/test/peer:latest` } }, 120_000);
    await down.stop();
    const b = nodeB('b3');
    await b.start();
    const ref = `${host}/test/peer@${img.manifestDigest}`;
    expect((await call(b.client.image, 'PullImage', { image: { image: ref } }, 120_000)).image_ref).toBe(img.configDigest);
    expect(blobOk(b, bigLayer())).toBe(true);
    // A tag needs the registry, unless peers may resolve it (tagsWhenUpstreamDown).
    const tagged = `${host}/test/peer:latest`;
    await expect(call(b.client.image, 'PullImage', { image: { image: tagged } }, 120_000)).rejects.toThrow(/UNAVAILABLE|unavailable|ECONNREFUSED/i);
    await b.stop();
    const c = nodeB('b5', { tagsWhenUpstreamDown: true });
    await c.start();
    expect((await call(c.client.image, 'PullImage', { image: { image: tagged } }, 120_000)).image_ref).toBe(img.configDigest);
    expect(c.logs().some((l) => l.msg === 'registry unreachable: tag resolved through a peer')).toBe(true);
    const st = await call(c.client.image, 'ImageStatus', { image: { image: tagged } });
    expect(st.image?.repo_tags).toContain(tagged);
    await c.stop();
  }, 60_000);

  it('finishes from the registry with a correct image when the peer dies mid-pull', async () => {
    const b = nodeB('b4');
    await b.start();
    proxy.blobBytes = 0;
    peerProxy.addFault({ match: new RegExp(`^GET /v2/test/peer/blobs/${bigLayer()}`), times: 1, action: { kind: 'stall-after', bytes: 4 * 1024 * 1024 } });
    const pull = call(b.client.image, 'PullImage', { image: { image: `${proxy.host}/test/peer:latest` } }, 120_000);
    const partial = join(b.config().rootDir as string, 'content/ingest', hex(bigLayer()));
    await waitFor('4 MB of the layer from the peer', () => existsSync(partial) && statSync(partial).size >= 4 * 1024 * 1024 - 65536, 30_000);
    expect(await a.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    await peerProxy.stop();
    expect((await pull).image_ref).toBe(img.configDigest);
    expect(blobOk(b, bigLayer())).toBe(true);
    expect(proxy.blobBytes).toBeGreaterThanOrEqual(16 * 1024 * 1024);
    await b.stop();
    // The killed node comes back serving (its socket is taken over).
    await a.start();
    expect((await fetch(`http://127.0.0.1:${aPort}/v2/x/blobs/${img.configDigest}`)).status).toBe(200);
    await a.stop();
  });
});
