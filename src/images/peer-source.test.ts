// PeerRegistryClient against real peers on 127.0.0.1: a PeerServer holding an image, and tiny
// node:http peers that lie, fail or hang. The registry behind it is an in-memory stand-in that
// records what it was asked (the real distribution client has its own tests); what matters here is
// when a pull leaves the peers for it, and from which offset.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../../test/support/registry.js';
import { NotFoundError, UnavailableError } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { Credentials } from './credentials.js';
import type { ImageRecord } from './image-store.js';
import { blobSourceFetches, peerFailures } from './peer-metrics.js';
import { PeerServer } from './peer-server.js';
import { PeerRegistryClient, type PeerFetchSettings } from './peer-source.js';
import { parseReference } from './reference.js';
import type { BlobResponse, ManifestResponse, RegistryClient, RepositoryClient } from './registry-client.js';

const log = pino({ level: 'silent' }) as unknown as Logger;
const REGISTRY = 'registry.example:5000';
const ref = parseReference(`${REGISTRY}/team/app:v1`);

function digestOf(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

// Several chunks' worth, so a wrong blob has bytes passed on before the last chunk is held back.
const layer = Buffer.alloc(256 * 1024, 'layer-bytes ');
const layerDigest = digestOf(layer);
const config = Buffer.from('{"architecture":"amd64","os":"linux"}');
const configDigest = digestOf(config);
const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: configDigest }, layers: [{ digest: layerDigest }] }));
const manifestDigest = digestOf(manifest);
const blobs = new Map([
  [layerDigest, layer],
  [configDigest, config],
  [manifestDigest, manifest],
]);

/** The registry stand-in: serves the same content, records every call. */
class FakeRegistry implements RegistryClient {
  calls: string[] = [];
  manifestError: Error | undefined;
  fileCreds: () => Promise<Credentials | undefined> = () => Promise.resolve(undefined);
  endpoint = `http://${REGISTRY}`;

  repository(): RepositoryClient {
    return {
      getManifest: (reference: string): Promise<ManifestResponse> => {
        this.calls.push(`manifest ${reference}`);
        if (this.manifestError) return Promise.reject(this.manifestError);
        return Promise.resolve({ bytes: manifest, contentType: 'application/vnd.oci.image.manifest.v1+json', digest: manifestDigest, endpoint: this.endpoint });
      },
      openBlob: (digest: string, offset: number): Promise<BlobResponse> => {
        this.calls.push(`blob ${digest} @${offset}`);
        return Promise.resolve({ body: Readable.from([(blobs.get(digest) as Buffer).subarray(offset)]), start: offset, endpoint: this.endpoint });
      },
    };
  }

  fileCredentials(): Promise<Credentials | undefined> {
    return this.fileCreds();
  }
}

let dir: string;
let peerServer: PeerServer;
let good: string;
const servers: Server[] = [];

/** A peer answering every request with handler; its requests are counted. */
async function peer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ addr: string; requests: string[] }> {
  const requests: string[] = [];
  const s = createServer((req, res) => {
    requests.push(req.url ?? '');
    handler(req, res);
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { addr: `127.0.0.1:${(s.address() as AddressInfo).port}`, requests };
}

async function collect(body: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of body) out.push(c as Buffer);
  return Buffer.concat(out);
}

async function failures(reason: string): Promise<number> {
  return (await peerFailures.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

async function fetches(source: string): Promise<number> {
  return (await blobSourceFetches.get()).values.find((v) => v.labels.source === source)?.value ?? 0;
}

interface Setup {
  client: PeerRegistryClient;
  inner: FakeRegistry;
  marked: string[];
  settings: PeerFetchSettings;
}

function setup(peers: string[], opts: { settings?: Partial<PeerFetchSettings>; mirrors?: Record<string, string[]> } = {}): Setup {
  const inner = new FakeRegistry();
  const marked: string[] = [];
  const settings = { fetchFrom: 3, connectTimeoutMs: 300, tagsWhenUpstreamDown: false, ...opts.settings };
  const client = new PeerRegistryClient({
    inner,
    peers: { peers: () => Promise.resolve(peers) },
    settings,
    registrySettings: { mirrors: opts.mirrors ?? {}, insecure: [] },
    privateDigests: {
      add: (d) => {
        marked.push(d);
        return Promise.resolve();
      },
    },
    log,
  });
  clients.push(client);
  return { client, inner, marked, settings };
}
const clients: PeerRegistryClient[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'peer-source-'));
  for (const [d, b] of blobs) writeFileSync(join(dir, d.slice(7)), b);
  const rec = {
    id: configDigest,
    repoTags: [`${REGISTRY}/team/app:v1`],
    manifestDigest,
    manifestMediaType: 'application/vnd.oci.image.manifest.v1+json',
    layers: [{ digest: layerDigest, size: layer.length, mediaType: 'application/vnd.oci.image.layer.v1.tar' }],
  } as unknown as ImageRecord;
  peerServer = new PeerServer({
    content: { path: (d) => join(dir, d.slice(7)) },
    store: { list: () => [rec] },
    privateDigests: { has: () => false },
    settings: { serveAuthenticated: false, maxUploads: 8, minUploadBytesPerSecond: 0 },
    log,
  });
  good = `127.0.0.1:${(await peerServer.listen('127.0.0.1', 0)).port}`;
});

afterAll(async () => {
  for (const c of clients) c.close();
  await peerServer.close();
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('PeerRegistryClient: content by digest from peers', () => {
  let s: Setup;
  beforeEach(() => {
    s = setup([good]);
  });

  it('fetches a blob from a peer holding it, verified, without asking the registry', async () => {
    const before = await fetches('peer');
    const b = await s.client.repository(ref).openBlob(layerDigest, 0, layer.length);
    expect(b.endpoint).toBe(`peer:http://${good}`);
    expect(b.start).toBe(0);
    expect((await collect(b.body)).equals(layer)).toBe(true);
    expect(s.inner.calls).toEqual([]);
    expect(await fetches('peer')).toBe(before + 1);
    // Verified bytes: a later resume may keep them.
    expect(s.client.unverified.has(layerDigest)).toBe(false);
  });

  it('fetches a manifest by digest from a peer, and resolves tags through the registry only', async () => {
    const repo = s.client.repository(ref);
    const m = await repo.getManifest(manifestDigest);
    expect(m.digest).toBe(manifestDigest);
    expect(m.bytes.equals(manifest)).toBe(true);
    expect(m.endpoint).toBe(`peer:http://${good}`);
    expect(s.inner.calls).toEqual([]);

    const t = await repo.getManifest('v1');
    expect(t.endpoint).toBe(`http://${REGISTRY}`);
    expect(s.inner.calls).toEqual(['manifest v1']);
  });

  it('a resumed blob (offset > 0) comes from the registry at that offset', async () => {
    const b = await s.client.repository(ref).openBlob(layerDigest, 1000, layer.length);
    expect(b.start).toBe(1000);
    expect((await collect(b.body)).equals(layer.subarray(1000))).toBe(true);
    expect(s.inner.calls).toEqual([`blob ${layerDigest} @1000`]);
  });

  it('a digest the peer does not hold falls back to the registry, and the peer is asked again next time', async () => {
    const other = Buffer.from('not on any peer');
    blobs.set(digestOf(other), other);
    const notFound = await failures('not_found');
    const repo = s.client.repository(ref);
    for (let i = 0; i < 2; i++) {
      const b = await repo.openBlob(digestOf(other), 0, other.length);
      expect((await collect(b.body)).equals(other)).toBe(true);
    }
    expect(s.inner.calls).toEqual([`blob ${digestOf(other)} @0`, `blob ${digestOf(other)} @0`]);
    expect(await failures('not_found')).toBe(notFound + 2);
  });

  it('marks content private when the pull carries credentials or the credentials file has some', async () => {
    await s.client.repository(ref).getManifest(manifestDigest);
    expect(s.marked).toEqual([]);

    await s.client.repository(ref, { username: 'u', password: 'p' }).getManifest(manifestDigest);
    expect(s.marked).toEqual([manifestDigest]);

    const t = setup([good]);
    t.inner.fileCreds = () => Promise.resolve({ username: 'file', password: 'x' });
    await (await t.client.repository(ref).openBlob(configDigest, 0, config.length)).body.resume();
    expect(t.marked).toEqual([configDigest]);

    // A credentials file that cannot be read may hold credentials: private, to be safe.
    const u = setup([good]);
    u.inner.fileCreds = () => Promise.reject(new Error('EACCES'));
    await u.client.repository(ref).getManifest(manifestDigest);
    expect(u.marked).toEqual([manifestDigest]);
  });

  it('asks no peer when fetchFrom is 0', async () => {
    s.settings.fetchFrom = 0;
    const b = await s.client.repository(ref).openBlob(configDigest, 0, config.length);
    expect(b.endpoint).toBe(`http://${REGISTRY}`);
    expect(await s.client.candidates(configDigest)).toEqual([]);
  });
});

describe('PeerRegistryClient: peer choice', () => {
  it('picks at most fetchFrom peers, in the same order on every node whatever the list order', async () => {
    const peers = ['10.0.0.1:5050', '10.0.0.2:5050', '10.0.0.3:5050', '10.0.0.4:5050', '10.0.0.5:5050'];
    const a = setup(peers, { settings: { fetchFrom: 2 } });
    const b = setup([...peers].reverse(), { settings: { fetchFrom: 2 } });
    const picked = await a.client.candidates(layerDigest);
    expect(picked).toHaveLength(2);
    expect(await b.client.candidates(layerDigest)).toEqual(picked);
    // Different blobs spread over different peers.
    const firsts = new Set<string>();
    for (let i = 0; i < 20; i++) firsts.add((await a.client.candidates(`sha256:${String(i).padStart(64, '0')}`))[0] as string);
    expect(firsts.size).toBeGreaterThan(1);
  });

  it('the mirror or upstream a registry fetch came from is counted as such', async () => {
    const s = setup([], { mirrors: { [REGISTRY]: ['http://127.0.0.1:1'] } });
    s.inner.endpoint = 'http://127.0.0.1:1';
    const mirror = await fetches('mirror');
    await s.client.repository(ref).openBlob(configDigest, 0, config.length);
    expect(await fetches('mirror')).toBe(mirror + 1);
    s.inner.endpoint = `http://${REGISTRY}`;
    const upstream = await fetches('upstream');
    await s.client.repository(ref).openBlob(configDigest, 0, config.length);
    expect(await fetches('upstream')).toBe(upstream + 1);
  });
});

describe('PeerRegistryClient: bad peers fall back to the registry', () => {
  it('a peer serving wrong blob bytes never completes the blob; it is benched and the blob starts over at 0 from the registry', async () => {
    const liar = await peer((_req, res) => {
      const wrong = Buffer.from(layer);
      wrong[wrong.length - 1] = 0;
      res.writeHead(200, { 'content-length': wrong.length });
      res.end(wrong);
    });
    const s = setup([liar.addr]);
    const bad = await failures('bad_digest');
    const repo = s.client.repository(ref);
    const b = await repo.openBlob(layerDigest, 0, layer.length);
    expect(b.endpoint).toBe(`peer:http://${liar.addr}`);
    let got = 0;
    b.body.on('data', (c: Buffer) => (got += c.length));
    await expect(collect(b.body)).rejects.toThrow(/digest/);
    expect(got).toBeLessThan(layer.length);
    expect(await failures('bad_digest')).toBe(bad + 1);
    expect(s.client.unverified.has(layerDigest)).toBe(true);

    // The content store resumes from what it wrote; the peer bytes were never verified: from 0.
    const again = await repo.openBlob(layerDigest, got, layer.length);
    expect(again.start).toBe(0);
    expect((await collect(again.body)).equals(layer)).toBe(true);
    expect(s.inner.calls).toEqual([`blob ${layerDigest} @0`]);
    expect(liar.requests).toHaveLength(1);
  });

  it('a peer sending more bytes than the blob has is refused as wrong', async () => {
    const liar = await peer((_req, res) => res.end(Buffer.concat([layer, Buffer.from('extra')])));
    const s = setup([liar.addr]);
    const b = await s.client.repository(ref).openBlob(layerDigest, 0, layer.length);
    await expect(collect(b.body)).rejects.toThrow(/more than/);
  });

  it('a peer whose blob body stops short is benched as an error', async () => {
    const short = await peer((_req, res) => res.end(layer.subarray(0, 100)));
    const s = setup([short.addr]);
    const errors = await failures('error');
    const b = await s.client.repository(ref).openBlob(layerDigest, 0, layer.length);
    await expect(collect(b.body)).rejects.toThrow(/100 of the/);
    expect(await failures('error')).toBe(errors + 1);
    expect(await s.client.candidates(layerDigest)).toEqual([]);
  });

  it('a peer serving a manifest with the wrong digest is benched and the registry serves it', async () => {
    const liar = await peer((_req, res) => res.end('{"schemaVersion":2}'));
    const s = setup([liar.addr]);
    const bad = await failures('bad_digest');
    const m = await s.client.repository(ref).getManifest(manifestDigest);
    expect(m.bytes.equals(manifest)).toBe(true);
    expect(m.endpoint).toBe(`http://${REGISTRY}`);
    expect(await failures('bad_digest')).toBe(bad + 1);
    await s.client.repository(ref).getManifest(manifestDigest);
    expect(liar.requests).toHaveLength(1);
  });

  it('a peer whose manifest body breaks off is benched and the registry serves it', async () => {
    const broken = await peer((req, res) => {
      res.writeHead(200, { 'content-length': 1000 });
      res.write('{"schema');
      setImmediate(() => req.socket.destroy());
    });
    const s = setup([broken.addr]);
    const m = await s.client.repository(ref).getManifest(manifestDigest);
    expect(m.endpoint).toBe(`http://${REGISTRY}`);
    expect(await s.client.candidates(manifestDigest)).toEqual([]);
  });

  it('a refused connection benches the peer as unreachable; the registry serves', async () => {
    const port = await freePort();
    const s = setup([`127.0.0.1:${port}`]);
    const unreachable = await failures('unreachable');
    const b = await s.client.repository(ref).openBlob(configDigest, 0, config.length);
    expect((await collect(b.body)).equals(config)).toBe(true);
    expect(await failures('unreachable')).toBe(unreachable + 1);
    expect(await s.client.candidates(configDigest)).toEqual([]);
  });

  it('a peer that never answers is given up after the connect timeout', async () => {
    const silent = await peer(() => undefined);
    const s = setup([silent.addr], { settings: { connectTimeoutMs: 200 } });
    const t0 = Date.now();
    const m = await s.client.repository(ref).getManifest(manifestDigest);
    expect(m.endpoint).toBe(`http://${REGISTRY}`);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(silent.requests).toHaveLength(1);
    expect(await s.client.candidates(manifestDigest)).toEqual([]);
  });

  it('a busy peer (429/503) is no fault and is asked again; a 500 benches it', async () => {
    let status = 429;
    const p = await peer((_req, res) => {
      res.writeHead(status);
      res.end();
    });
    const s = setup([p.addr]);
    const busy = await failures('busy');
    await s.client.repository(ref).openBlob(configDigest, 0, config.length);
    status = 503;
    await s.client.repository(ref).openBlob(configDigest, 0, config.length);
    expect(await failures('busy')).toBe(busy + 2);
    expect(p.requests).toHaveLength(2);
    status = 500;
    await s.client.repository(ref).openBlob(configDigest, 0, config.length);
    expect(await s.client.candidates(configDigest)).toEqual([]);
    expect(s.inner.calls).toHaveLength(3);
  });

  it('a pull cancelled while a peer is asked does not bench the peer', async () => {
    const silent = await peer(() => undefined);
    const s = setup([silent.addr], { settings: { connectTimeoutMs: 10_000 } });
    const ctl = new AbortController();
    const opened = s.client.repository(ref).openBlob(configDigest, 0, config.length, ctl.signal);
    for (const end = Date.now() + 5000; silent.requests.length === 0 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
    ctl.abort();
    await opened;
    expect(await s.client.candidates(configDigest)).toEqual([silent.addr]);
  });
});

describe('PeerRegistryClient: tags while the registry is unreachable', () => {
  it('resolves a tag through a peer that pulled it, only when enabled and only when the registry is unreachable', async () => {
    const s = setup([good], { settings: { tagsWhenUpstreamDown: true } });
    s.inner.manifestError = new UnavailableError('registry.example:5000: connection refused');
    const m = await s.client.repository(ref).getManifest('v1');
    expect(m.digest).toBe(manifestDigest);
    expect(m.endpoint).toBe(`peer:http://${good}`);

    // A plain network error (not from the catalogue) counts as unreachable too.
    s.inner.manifestError = new Error('ECONNRESET');
    expect((await s.client.repository(ref).getManifest('v1')).digest).toBe(manifestDigest);

    // A tag no peer holds: the registry's error stands.
    s.inner.manifestError = new UnavailableError('down');
    await expect(s.client.repository(parseReference(`${REGISTRY}/team/app:v2`)).getManifest('v2')).rejects.toThrow('down');

    // A refusal or missing tag is an answer, not an outage: no peer is asked.
    s.inner.manifestError = new NotFoundError('v1 not found');
    await expect(s.client.repository(ref).getManifest('v1')).rejects.toThrow('v1 not found');

    const off = setup([good]);
    off.inner.manifestError = new UnavailableError('down');
    await expect(off.client.repository(ref).getManifest('v1')).rejects.toThrow('down');
  });

  it('a peer whose tag answer breaks off is skipped', async () => {
    const broken = await peer((req, res) => {
      res.writeHead(200, { 'content-length': 1000 });
      res.write('{');
      setImmediate(() => req.socket.destroy());
    });
    const s = setup([broken.addr], { settings: { tagsWhenUpstreamDown: true } });
    s.inner.manifestError = new UnavailableError('down');
    await expect(s.client.repository(ref).getManifest('v1')).rejects.toThrow('down');
    expect(broken.requests).toEqual([`/v2/team/app/manifests/v1?ns=${encodeURIComponent(REGISTRY)}`]);
  });
});
