// ImageManager pulls through an in-memory registry (a RegistryClient serving built images from
// memory, which can also lie, fail or stall: the seam ImageManager talks to), into a real content
// store, overlay snapshotter and image store on a temp dir. What a user relies on: the right
// platform out of an index, wrong content refused with nothing left behind, network failures
// keeping what was fetched, cancellation, shared pulls, lookups and leases.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildImage, buildIndex, layer, sha256, type BuiltImage, type BuiltIndex, type Layer } from '../../test/support/image-builder.js';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, UnavailableError } from '../lib/errors.js';
import { silentLogger } from '../lib/log.js';
import { ImageManager } from './image-manager.js';
import { ImageStore } from './image-store.js';
import { LocalContentStore } from './local-content-store.js';
import { OverlaySnapshotter } from './overlay-snapshotter.js';
import { hostPlatform } from './platform.js';
import type { ImageReference } from './reference.js';
import type { BlobResponse, ManifestResponse, RegistryClient, RepositoryClient } from './registry-client.js';

const HOST = 'registry.example:5000';

/** Repositories of manifests (by tag and digest) and blobs, all in memory. */
class MemoryRegistry implements RegistryClient {
  readonly manifests = new Map<string, { bytes: Buffer; type: string }>();
  readonly blobs = new Map<string, Buffer>();
  readonly calls: string[] = [];
  /** Served instead of the stored manifest for a reference (a registry that lies). */
  readonly lies = new Map<string, Buffer>();
  /** A blob whose open fails with this error. */
  readonly failing = new Map<string, Error>();
  /** A blob whose open waits until its gate opens (or the request's signal aborts). */
  readonly gates = new Map<string, Promise<void>>();

  pushImage(repo: string, tags: string[], img: BuiltImage): void {
    for (const l of img.layers) this.blobs.set(l.digest, l.blob);
    this.blobs.set(img.configDigest, img.configBytes);
    for (const r of [...tags, img.manifestDigest]) this.manifests.set(`${repo}:${r}`, { bytes: img.manifestBytes, type: img.manifestMediaType });
  }

  pushIndex(repo: string, tags: string[], idx: BuiltIndex): void {
    for (const img of idx.images) this.pushImage(repo, [], img);
    for (const r of [...tags, idx.digest]) this.manifests.set(`${repo}:${r}`, { bytes: idx.bytes, type: idx.mediaType });
  }

  repository(ref: ImageReference): RepositoryClient {
    const repo = ref.repository;
    return {
      getManifest: (reference: string): Promise<ManifestResponse> => {
        this.calls.push(`manifest ${repo}:${reference}`);
        const m = this.manifests.get(`${repo}:${reference}`);
        if (!m) return Promise.reject(new NotFoundError(`${repo}:${reference} not found`));
        const bytes = this.lies.get(reference) ?? m.bytes;
        return Promise.resolve({ bytes, contentType: m.type, digest: sha256(bytes), endpoint: `http://${HOST}` });
      },
      openBlob: (digest: string, offset: number, _size: number, signal?: AbortSignal): Promise<BlobResponse> => {
        this.calls.push(`blob ${digest}`);
        const err = this.failing.get(digest);
        if (err) return Promise.reject(err);
        const b = this.blobs.get(digest);
        if (!b) return Promise.reject(new NotFoundError(`blob ${digest} not found`));
        const open = (): BlobResponse => ({ body: Readable.from([b.subarray(offset)]), start: offset, endpoint: `http://${HOST}` });
        const gate = this.gates.get(digest);
        if (!gate) return Promise.resolve(open());
        return new Promise((resolve, reject) => {
          if (signal?.aborted) return reject(new Error('aborted'));
          signal?.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
          void gate.then(() => resolve(open()));
        });
      },
    };
  }
}

let dir: string;
let n = 0;
let base: Layer;
let app: BuiltImage;

interface Env {
  m: ImageManager;
  reg: MemoryRegistry;
  content: LocalContentStore;
  snapshots: OverlaySnapshotter;
  root: string;
}

async function env(pinned: string[] = []): Promise<Env> {
  const root = join(dir, `s${n++}`);
  const content = new LocalContentStore(join(root, 'content'));
  const snapshots = new OverlaySnapshotter(join(root, 'snapshots'));
  const store = new ImageStore(join(root, 'images'));
  await content.init();
  await snapshots.init();
  await store.init();
  const reg = new MemoryRegistry();
  reg.pushImage('team/app', ['v1'], app);
  const m = new ImageManager({ registry: reg, content, snapshots, store, root, log: silentLogger(), maxConcurrentDownloads: () => 2, pinned });
  return { m, reg, content, snapshots, root };
}

beforeAll(async () => {
  dir = mkdtempSync('/tmp/nexcage-image-manager-pulls-');
  base = await layer([{ path: 'etc/', type: 'dir' }, { path: 'etc/os-release', content: 'ID=test\n' }], 'gzip');
  const top = await layer([{ path: 'app', content: 'app v1\n', mode: 0o755 }], 'none');
  app = buildImage({ layers: [base, top], config: { User: 'app' } });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ImageManager pulls', () => {
  it('pulls the host platform out of an index, recorded under the index digest', async () => {
    const e = await env();
    const host = hostPlatform();
    const other = host.architecture === 's390x' ? 'ppc64le' : 's390x';
    const mk = async (arch: string): Promise<BuiltImage> => buildImage({ layers: [base, await layer([{ path: 'arch', content: arch }], 'none')], platform: { os: 'linux', architecture: arch, ...(arch === host.architecture && host.variant ? { variant: host.variant } : {}) } });
    const idx = buildIndex([await mk(other), await mk(host.architecture)]);
    e.reg.pushIndex('team/multi', ['v1'], idx);
    const { image } = await e.m.pull(`${HOST}/team/multi:v1`);
    expect(image.indexDigest).toBe(idx.digest);
    expect(image.manifestDigest).toBe(idx.images[1]?.manifestDigest);
    expect(image.platform.architecture).toBe(host.architecture);
    expect(image.repoDigests).toEqual([`${HOST}/team/multi@${idx.digest}`]);
    // The index is kept: the repo digest names it.
    expect(await e.content.read(idx.digest, 1 << 20)).toEqual(idx.bytes);
    expect(e.m.lookup(`${HOST}/team/multi@${idx.digest}`)?.id).toBe(image.id);
  });

  it('refuses an index without the host platform, naming what it offers', async () => {
    const e = await env();
    const s390 = buildImage({ layers: [base], platform: { os: 'linux', architecture: hostPlatform().architecture === 's390x' ? 'mips64le' : 's390x' } });
    e.reg.pushIndex('team/foreign', ['v1'], buildIndex([s390]));
    const err = await e.m.pull(`${HOST}/team/foreign:v1`).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toMatch(/has no manifest for platform linux\/.* \(index offers: linux\/(s390x|mips64le)\)/);

    e.reg.pushIndex('team/empty', ['v1'], buildIndex([]));
    await expect(e.m.pull(`${HOST}/team/empty:v1`)).rejects.toThrow(/index offers: nothing/);
  });

  it('refuses an index entry served with another digest, and an index inside an index', async () => {
    const e = await env();
    const host = hostPlatform();
    const img = buildImage({ layers: [base], platform: host });
    const idx = buildIndex([img]);
    e.reg.pushIndex('team/idx', ['v1'], idx);
    e.reg.lies.set(img.manifestDigest, app.manifestBytes);
    await expect(e.m.pull(`${HOST}/team/idx:v1`)).rejects.toThrow(FailedPreconditionError);
    await expect(e.m.pull(`${HOST}/team/idx:v1`)).rejects.toThrow(/manifest digest mismatch: expected/);

    // An index whose entry for this platform names another index.
    const inner = buildIndex([img]);
    const outerDoc = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: inner.mediaType, digest: inner.digest, size: inner.bytes.length, platform: host }] };
    const outer = Buffer.from(JSON.stringify(outerDoc));
    e.reg.manifests.set('team/nested:v1', { bytes: outer, type: inner.mediaType });
    e.reg.manifests.set(`team/nested:${inner.digest}`, { bytes: inner.bytes, type: inner.mediaType });
    const err = await e.m.pull(`${HOST}/team/nested:v1`).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toContain('points at another index');
  });

  it('refuses a manifest by digest that the registry serves with another digest', async () => {
    const e = await env();
    e.reg.lies.set(app.manifestDigest, Buffer.from(app.manifestBytes.toString() + ' '));
    const err = await e.m.pull(`${HOST}/team/app@${app.manifestDigest}`).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toContain(`not the ${app.manifestDigest} asked for`);
    expect(await e.m.resolve(`${HOST}/team/app@${app.manifestDigest}`)).toBeUndefined();
  });

  it('refuses a config larger than the manifest limit, and a config whose diff IDs do not match the layers', async () => {
    const e = await env();
    const doc = JSON.parse(app.manifestBytes.toString()) as { config: { size: number } };
    doc.config.size = 64 * 1024 * 1024;
    e.reg.manifests.set('team/huge:v1', { bytes: Buffer.from(JSON.stringify(doc)), type: app.manifestMediaType });
    await expect(e.m.pull(`${HOST}/team/huge:v1`)).rejects.toThrow(/config is 67108864 bytes, over the/);

    const fewer = buildImage({ layers: [base, ...app.layers.slice(1)], diffIds: [base.diffId] });
    e.reg.pushImage('team/fewer', ['v1'], fewer);
    await expect(e.m.pull(`${HOST}/team/fewer:v1`)).rejects.toThrow('the config lists 1 diff IDs for 2 layers');
  });

  it('refuses a layer whose contents do not match its diff ID, leaving no blob or snapshot behind', async () => {
    const e = await env();
    const lying = buildImage({ layers: app.layers, diffIds: [app.layers[0]!.diffId, app.layers[0]!.diffId] });
    e.reg.pushImage('team/lying', ['v1'], lying);
    const err = await e.m.pull(`${HOST}/team/lying:v1`).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toMatch(/layer 1 \(sha256:[0-9a-f]+\) unpacks to diff ID sha256:[0-9a-f]+, but the config says/);
    expect(await e.content.list()).toEqual([]);
    expect(e.snapshots.list()).toEqual([]);
    expect(e.m.list()).toEqual([]);
  });

  it('keeps the blobs already fetched when the network fails, and the retry fetches only what is missing', async () => {
    const e = await env();
    const top = app.layers[1]!.digest;
    e.reg.failing.set(top, new UnavailableError('connection reset by the registry'));
    await expect(e.m.pull(`${HOST}/team/app:v1`)).rejects.toThrow('connection reset by the registry');
    expect(await e.content.list()).toContain(app.configDigest);
    e.reg.failing.clear();
    e.reg.calls.length = 0;
    const r = await e.m.pull(`${HOST}/team/app:v1`);
    expect(r.image.id).toBe(app.configDigest);
    expect(e.reg.calls.filter((c) => c.startsWith('blob'))).toEqual([`blob ${top}`]);
  });

  it('a second pull reuses every layer; remove collects blobs and snapshots', async () => {
    const e = await env();
    const first = await e.m.pull(`${HOST}/team/app:v1`);
    expect(first.layersFetched).toBe(2);
    expect(first.image.username).toBe('app');
    const again = await e.m.pull(`${HOST}/team/app:v1`);
    expect(again).toMatchObject({ layersFetched: 0, layersReused: 2 });
    const usage = await e.m.fsUsage();
    expect(usage.mountpoint).toBe(e.root);
    expect(usage.usedBytes).toBeGreaterThan(app.layers[0]!.blob.length);
    expect(usage.inodesUsed).toBeGreaterThan(0);
    expect((await e.m.remove(`${HOST}/team/app:v1`))?.id).toBe(app.configDigest);
    expect(await e.m.remove(`${HOST}/team/app:v1`)).toBeUndefined();
    expect(await e.content.list()).toEqual([]);
    expect(e.snapshots.list()).toEqual([]);
  });

  it('pulls by tag and digest together, and pins an image configured by digest', async () => {
    const e = await env([`${HOST}/team/app@${app.manifestDigest}`]);
    const { image } = await e.m.pull(`${HOST}/team/app:v1@${app.manifestDigest}`);
    expect(image.pinned).toBe(true);
    expect(e.reg.calls[0]).toBe(`manifest team/app:${app.manifestDigest}`);
  });
});

describe('ImageManager cancellation and sharing', () => {
  it('a caller already gone is refused at once', async () => {
    const e = await env();
    const ctl = new AbortController();
    ctl.abort();
    await expect(e.m.pull(`${HOST}/team/app:v1`, undefined, ctl.signal)).rejects.toThrow(/cancelled, every caller went away/);
    expect(e.reg.calls).toEqual([]);
  });

  it('concurrent pulls of one reference share one pull, which goes on while one caller stays', async () => {
    const e = await env();
    const top = app.layers[1]!.digest;
    let open!: () => void;
    e.reg.gates.set(top, new Promise<void>((r) => (open = r)));
    const a = new AbortController();
    const b = new AbortController();
    const pa = e.m.pull(`${HOST}/team/app:v1`, undefined, a.signal);
    const pb = e.m.pull(`${HOST}/team/app:v1`, undefined, b.signal);
    for (const end = Date.now() + 5000; !e.reg.calls.includes(`blob ${top}`) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
    expect(e.reg.calls.filter((c) => c.startsWith('manifest'))).toHaveLength(1);
    a.abort();
    await expect(pa).rejects.toThrow(/cancelled/);
    open();
    const r = await pb;
    expect(r.image.id).toBe(app.configDigest);
    expect(e.reg.calls.filter((c) => c === `blob ${top}`)).toHaveLength(1);
  });

  it('a pull every caller leaves stops, records nothing, and the next pull starts afresh', async () => {
    const e = await env();
    const top = app.layers[1]!.digest;
    let open!: () => void;
    e.reg.gates.set(top, new Promise<void>((r) => (open = r)));
    const a = new AbortController();
    const pa = e.m.pull(`${HOST}/team/app:v1`, undefined, a.signal);
    for (const end = Date.now() + 5000; !e.reg.calls.includes(`blob ${top}`) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
    a.abort();
    await expect(pa).rejects.toThrow(/cancelled/);
    // Asked again while the stopped pull may still be winding down: a new pull, which completes.
    const again = e.m.pull(`${HOST}/team/app:v1`);
    open();
    expect((await again).image.id).toBe(app.configDigest);
    expect(e.reg.calls.filter((c) => c.startsWith('manifest'))).toHaveLength(2);
  });
});

describe('ImageManager lookups and leases', () => {
  let e: Env;
  let id: string;
  beforeAll(async () => {
    e = await env();
    id = (await e.m.pull(`${HOST}/team/app:v1`)).image.id;
  });

  it('finds an image by id, bare hex id, unique prefix, tag and repo digest; refuses an empty reference', () => {
    const hex = id.slice(7);
    expect(e.m.lookup(id)?.id).toBe(id);
    expect(e.m.lookup(hex)?.id).toBe(id);
    expect(e.m.lookup(hex.slice(0, 12))?.id).toBe(id);
    expect(e.m.lookup(`sha256:${hex.slice(0, 12)}`)?.id).toBe(id);
    expect(e.m.lookup(`${HOST}/team/app:v1`)?.id).toBe(id);
    expect(e.m.lookup(`${HOST}/team/app@${app.manifestDigest}`)?.id).toBe(id);
    expect(e.m.lookup(`${HOST}/team/app:v2`)).toBeUndefined();
    expect(e.m.lookup(`${HOST}/team/app@sha256:${'0'.repeat(64)}`)).toBeUndefined();
    expect(e.m.lookup('sha256:' + '0'.repeat(64))).toBeUndefined();
    expect(e.m.lookup('UPPER CASE is no reference')).toBeUndefined();
    expect(() => e.m.lookup('')).toThrow(InvalidArgumentError);
    expect(e.m.list(`${HOST}/team/app:v1`).map((i) => i.id)).toEqual([id]);
    expect(e.m.list(`${HOST}/team/none:v1`)).toEqual([]);
  });

  it('layerDirs and lease refuse an unknown image; a missing snapshot is named', async () => {
    await expect(e.m.layerDirs('sha256:' + '1'.repeat(64))).rejects.toThrow(NotFoundError);
    await expect(e.m.lease('c1', 'sha256:' + '1'.repeat(64))).rejects.toThrow(NotFoundError);
    // Releasing a holder that holds nothing is a no-op.
    await e.m.release('nobody');
    const dirs = await e.m.layerDirs(id);
    expect(dirs.every((d) => existsSync(d))).toBe(true);
    const rec = e.m.lookup(id);
    await e.snapshots.remove(rec!.chainIds[1]!);
    await expect(e.m.layerDirs(id)).rejects.toThrow(`snapshot ${rec!.chainIds[1]!} is missing`);
  });
});
