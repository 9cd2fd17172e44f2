// A pull unpacks each layer while it downloads: what happens when the download does not go
// straight through (a server that ignores Range on the resume, a stale partial that does not
// verify, bytes that are a valid layer but not the one named), against a registry in memory.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { buildImage, layer, type BuiltImage } from '../../test/support/image-builder.js';
import { silentLogger } from '../lib/log.js';
import { ImageManager } from './image-manager.js';
import { ImageStore } from './image-store.js';
import { LocalContentStore } from './local-content-store.js';
import { OverlaySnapshotter } from './overlay-snapshotter.js';
import type { BlobResponse, RegistryClient, RepositoryClient } from './registry-client.js';

const dir = mkdtempSync('/tmp/nexcage-streaming-pull-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type BlobServer = (digest: string, offset: number, bytes: Buffer, attempt: number) => BlobResponse;

/** The image's blobs from memory; `serve` decides what each blob request gets. */
function registryOf(img: BuiltImage, serve: BlobServer): RegistryClient {
  const blobs = new Map<string, Buffer>([[img.configDigest, img.configBytes], ...img.layers.map((l) => [l.digest, l.blob] as [string, Buffer])]);
  const attempts = new Map<string, number>();
  const repo: RepositoryClient = {
    getManifest: () => Promise.resolve({ bytes: img.manifestBytes, contentType: img.manifestMediaType, digest: img.manifestDigest, endpoint: 'mem' }),
    openBlob: (digest, offset) => {
      const n = (attempts.get(digest) ?? 0) + 1;
      attempts.set(digest, n);
      return Promise.resolve(serve(digest, offset, blobs.get(digest) as Buffer, n));
    },
  };
  return { repository: () => repo };
}

const whole = (bytes: Buffer, from = 0): BlobResponse => ({ body: Readable.from([bytes.subarray(from)]), start: from, endpoint: 'mem' });

async function manager(name: string, registry: RegistryClient): Promise<{ m: ImageManager; root: string }> {
  const root = join(dir, name);
  const content = new LocalContentStore(join(root, 'content'));
  const snapshots = new OverlaySnapshotter(join(root, 'snapshots'));
  const store = new ImageStore(join(root, 'images'));
  await content.init();
  await snapshots.init();
  await store.init();
  return { m: new ImageManager({ registry, content, snapshots, store, root, log: silentLogger(), maxConcurrentDownloads: () => 3 }), root };
}

async function image(tag: string): Promise<BuiltImage> {
  const files = Array.from({ length: 40 }, (_, i) => ({ path: `d/f${i}.txt`, content: `${tag} ${i} `.repeat(2000) }));
  return buildImage({ layers: [await layer([{ path: 'base.txt', content: tag }], 'zstd'), await layer([{ path: 'd/', type: 'dir' as const }, ...files], 'gzip')] });
}

function snapshotFile(m: ImageManager, id: string, rel: string): Promise<string> {
  return m.layerDirs(id).then((dirs) => readFileSync(join(dirs[1] as string, rel), 'utf8'));
}

describe('a layer unpacked while it downloads', () => {
  it('starts over from the committed blob when the server answers a resume with the whole blob again', async () => {
    const img = await image('range-ignored');
    const big = img.layers[1]!;
    const { m } = await manager('range', registryOf(img, (digest, offset, bytes, attempt) => {
      if (digest !== big.digest) return whole(bytes, offset);
      if (attempt === 1) {
        // Half the blob, then the connection drops.
        const body = new Readable({ read() {} });
        body.push(bytes.subarray(0, bytes.length >> 1));
        setTimeout(() => body.destroy(new Error('connection reset')), 20);
        return { body, start: 0, endpoint: 'mem' };
      }
      // Range ignored: 200 with every byte from the start.
      return whole(bytes, 0);
    }));
    const { image: rec } = await m.pull('mem.example/app:1');
    expect(rec.id).toBe(img.configDigest);
    expect(await snapshotFile(m, rec.id, 'd/f7.txt')).toBe('range-ignored 7 '.repeat(2000));
  });

  it('unpacks again from the blob when a partial left by an earlier run does not verify', async () => {
    const img = await image('stale-partial');
    const big = img.layers[1]!;
    const { m, root } = await manager('stale', registryOf(img, (_d, offset, bytes) => whole(bytes, offset)));
    // Same length as half the blob, other bytes: resumed after, it cannot verify.
    mkdirSync(join(root, 'content', 'ingest'), { recursive: true });
    writeFileSync(join(root, 'content', 'ingest', big.digest.slice(7)), Buffer.alloc(big.blob.length >> 1, 0x5a));
    const { image: rec } = await m.pull('mem.example/app:2');
    expect(await snapshotFile(m, rec.id, 'd/f39.txt')).toBe('stale-partial 39 '.repeat(2000));
  });

  it('throws the snapshot away when the bytes are a valid layer but not the one the digest names, and says so', async () => {
    const img = await image('named');
    const other = await image('impostor');
    const big = img.layers[1]!;
    const { m, root } = await manager('lie', registryOf(img, (digest, offset, bytes) => (digest === big.digest ? whole(other.layers[1]!.blob, offset) : whole(bytes, offset))));
    await expect(m.pull('mem.example/app:3')).rejects.toThrow(new RegExp(`${big.digest}|blob digest mismatch: expected ${big.digest}`));
    expect(readdirSync(join(root, 'snapshots')).filter((n) => n.startsWith('.tmp'))).toEqual([]);
    expect(m.list()).toEqual([]);
    // Nothing but the bottom layer (which verified) may have been committed.
    expect(readdirSync(join(root, 'snapshots')).length).toBeLessThanOrEqual(1);
  });
});
