// ImageManager against a real docker-registry: the seam containers use (resolve, layerDirs,
// lease/release) and the GC rules around leases.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushBlob, pushManifest, pushTestImages, type TestImages } from '../../test/support/image-builder.js';
import { TestRegistry } from '../../test/support/registry.js';
import { silentLogger } from '../lib/log.js';
import { DistributionClient } from './distribution-client.js';
import { ImageManager, userOf } from './image-manager.js';
import { ImageStore } from './image-store.js';
import { LocalContentStore } from './local-content-store.js';
import { OverlaySnapshotter } from './overlay-snapshotter.js';

let dir: string;
let registry: TestRegistry;
let images: TestImages;
let client: DistributionClient;

async function manager(root = join(dir, 'store')): Promise<ImageManager> {
  const content = new LocalContentStore(join(root, 'content'));
  const snapshots = new OverlaySnapshotter(join(root, 'snapshots'));
  const store = new ImageStore(join(root, 'images'));
  await content.init();
  await snapshots.init();
  await store.init();
  return new ImageManager({ registry: client, content, snapshots, store, root, log: silentLogger(), maxConcurrentDownloads: () => 3, pinned: [`${registry.host}/test/user:latest`] });
}

beforeAll(async () => {
  dir = mkdtempSync('/tmp/nexcage-image-manager-');
  registry = await TestRegistry.start({ parent: dir });
  images = await pushTestImages(registry.pushTarget);
  client = new DistributionClient({
    settings: { mirrors: {}, insecure: [], caFiles: [], credentialsFile: '', noProgressTimeoutSeconds: 30 },
    log: silentLogger(),
  });
}, 60_000);

afterAll(async () => {
  client?.close();
  await registry?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('ImageManager', () => {
  it('resolves normalised names and gives the layer dirs bottom-most first', async () => {
    const m = await manager(join(dir, 'a'));
    const { image } = await m.pull(`${registry.host}/test/busybox`);
    expect(await m.resolve(`${registry.host}/test/busybox:latest`)).toMatchObject({ id: images.busybox.configDigest });
    expect(await m.resolve('busybox')).toBeUndefined();
    const dirs = await m.layerDirs(image.id);
    expect(dirs).toHaveLength(3);
    expect(existsSync(join(dirs[0] as string, 'bin/busybox'))).toBe(true);
    expect(existsSync(join(dirs[2] as string, 'opaque/new.txt'))).toBe(true);
    expect(image.config.Labels).toEqual({ 'org.nexcage.test': 'busybox' });
  });

  it('pins the configured infra image', async () => {
    const m = await manager(join(dir, 'b'));
    expect((await m.pull(`${registry.host}/test/user:latest`)).image.pinned).toBe(true);
    expect((await m.pull(`${registry.host}/test/username:latest`)).image.pinned).toBe(false);
  });

  it('keeps a leased image\'s snapshots after RemoveImage until the lease is released, also across a restart', async () => {
    const root = join(dir, 'c');
    let m = await manager(root);
    const { image } = await m.pull(`${registry.host}/test/busybox:latest`);
    await m.lease('container-1', image.id);
    const dirs = await m.layerDirs(image.id);
    // A lease released while its image is there frees nothing.
    await m.lease('container-0', image.id);
    await m.release('container-0');
    expect(dirs.every((d) => existsSync(d))).toBe(true);
    expect(m.leases().map((l) => l.holder)).toEqual(['container-1']);
    await m.remove(image.id);
    expect(await m.resolve(image.id)).toBeUndefined();
    expect(dirs.every((d) => existsSync(d))).toBe(true);
    expect(await m.layerDirs(image.id)).toEqual(dirs);
    m = await manager(root); // a restart: leases are persisted
    await m.gc(true);
    expect(dirs.every((d) => existsSync(d))).toBe(true);
    await m.release('container-1');
    expect(dirs.some((d) => existsSync(d))).toBe(false);
    expect(m.leases()).toEqual([]);
  });

  it('reads uid or username from config User', () => {
    expect(userOf('1000:1000')).toEqual({ uid: 1000 });
    expect(userOf('0')).toEqual({ uid: 0 });
    expect(userOf('nobody:nogroup')).toEqual({ username: 'nobody' });
    expect(userOf('')).toEqual({});
    expect(userOf(undefined)).toEqual({});
  });

  it('moves a tag to the image it names now; the old image keeps its other tags (runs last: it re-tags the registry)', async () => {
    const m = await manager(join(dir, 'd'));
    await m.pull(`${registry.host}/test/busybox:latest`);
    await m.pull(`${registry.host}/test/busybox:1.0`);
    // test/busybox:latest now names the user image's manifest.
    for (const b of [...images.user.layers.map((l) => l.blob), images.user.configBytes]) await pushBlob(registry.pushTarget, 'test/busybox', b);
    await pushManifest(registry.pushTarget, 'test/busybox', 'latest', images.user.manifestBytes, images.user.manifestMediaType);
    const { image } = await m.pull(`${registry.host}/test/busybox:latest`);
    expect(image.id).toBe(images.user.configDigest);
    expect(image.repoTags).toEqual([`${registry.host}/test/busybox:latest`]);
    expect((await m.resolve(images.busybox.configDigest))?.repoTags).toEqual([`${registry.host}/test/busybox:1.0`]);
  });
});
