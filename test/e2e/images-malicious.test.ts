// The malicious layer suite through the daemon: each hostile layer is pushed to the registry and
// pulled. Refused layers fail the pull with INVALID_ARGUMENT (or RESOURCE_EXHAUSTED) naming the
// entry, leave no snapshot or temp dir, record no image, and write nothing outside the store; the
// one contained case (a device node) exists only inside its snapshot.
import type { ServiceError } from '@grpc/grpc-js';
import { lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import { buildImage, layer, layerFromTar, buildTar, pushImage, type LayerEntry, type Compression } from '../support/image-builder.js';
import { TestRegistry } from '../support/registry.js';
import { Daemon, useTestDir } from './harness.js';

const t = useTestDir();
let registry: TestRegistry;
let d: Daemon;
let sentinel = '';
let n = 0;

/** Climbs from any snapshot dir to / and back down into the sentinel dir. */
function viaRoot(name: string): string {
  return '../'.repeat(20) + join(sentinel, name).slice(1);
}

beforeAll(async () => {
  registry = await TestRegistry.start({ parent: t.dir().path });
  d = t.track(new Daemon(t.dir(), 'malicious'));
  await d.start();
  sentinel = t.dir().join('sentinel');
  mkdirSync(sentinel);
  writeFileSync(join(sentinel, 'secret'), 'secret\n');
});

afterAll(async () => {
  await d?.stop();
  await registry?.stop();
});

async function pullEntries(entries: LayerEntry[], c: Compression = 'gzip'): Promise<{ err?: ServiceError; id?: string }> {
  const repo = `evil/case${++n}`;
  const img = buildImage({ layers: [await layer([{ path: 'ok.txt', content: 'fine\n' }]), await layer(entries, c)] });
  await pushImage(registry.pushTarget, repo, ['latest'], img);
  try {
    const r = await call(d.client.image, 'PullImage', { image: { image: `${registry.host}/${repo}:latest` } }, 60_000);
    return { id: r.image_ref };
  } catch (err) {
    return { err: err as ServiceError };
  }
}

function storeClean(): void {
  const root = d.config().rootDir as string;
  expect(readdirSync(join(root, 'snapshots')).filter((s) => s.startsWith('.tmp'))).toEqual([]);
  expect(readdirSync(sentinel)).toEqual(['secret']);
  expect(readFileSync(join(sentinel, 'secret'), 'utf8')).toBe('secret\n');
  expect(lstatSync(join(sentinel, 'secret')).nlink).toBe(1);
}

async function refused(entries: LayerEntry[], why: RegExp, code = 3): Promise<void> {
  const before = (await call(d.client.image, 'ListImages', {})).images.length;
  const blobs = readdirSync(join(d.config().rootDir as string, 'content/blobs/sha256')).sort();
  const { err, id } = await pullEntries(entries);
  expect(id, 'the pull should have failed').toBeUndefined();
  expect(err?.code).toBe(code);
  expect(err?.details).toMatch(why);
  expect((await call(d.client.image, 'ListImages', {})).images.length).toBe(before);
  // Not even the refused blobs stay.
  expect(readdirSync(join(d.config().rootDir as string, 'content/blobs/sha256')).sort()).toEqual(blobs);
  storeClean();
}

describe('malicious layers pulled through the daemon', () => {
  it('refuses "../" traversal', () => refused([{ path: viaRoot('pwned'), content: 'x' }], /layer entry ".*pwned": path has a "\.\." component/));

  it('refuses an absolute path', () => refused([{ path: join(sentinel, 'pwned'), content: 'x' }], /is an absolute path/));

  it('refuses a symlink escape followed by a write through it', () =>
    refused([{ path: 'escape', type: 'symlink', linkname: sentinel }, { path: 'escape/pwned', content: 'x' }], /parent "escape" is a symlink/));

  it('refuses a symlink to a relative escape followed by a directory through it', () =>
    refused([{ path: 'up', type: 'symlink', linkname: viaRoot('') }, { path: 'up/newdir/', type: 'dir' }], /parent "up" is a symlink/));

  it('refuses a hardlink to a file outside', () => refused([{ path: 'stolen', type: 'link', linkname: viaRoot('secret') }], /hardlink target has a "\.\." component/));

  it('refuses a hardlink through a symlink to outside', () =>
    refused([{ path: 'esc', type: 'symlink', linkname: sentinel }, { path: 'stolen', type: 'link', linkname: 'esc/secret' }], /"esc" is not a directory in this layer/));

  it('refuses a whiteout that targets outside', () => refused([{ path: viaRoot('.wh.secret'), content: '' }], /"\.\." component/));

  it('refuses an entry that declares a huge size', async () => {
    const repo = `evil/case${++n}`;
    const tar = await buildTar([{ path: 'huge.bin', content: 'x'.repeat(1000), declaredSize: 2 ** 44 }]);
    const img = buildImage({ layers: [layerFromTar(tar, 'gzip')] });
    await pushImage(registry.pushTarget, repo, ['latest'], img);
    const err = await call(d.client.image, 'PullImage', { image: { image: `${registry.host}/${repo}:latest` } }).catch((e: unknown) => e as ServiceError);
    expect((err as ServiceError).code).toBe(8);
    expect((err as ServiceError).details).toMatch(/layer entry "huge.bin" declares 17592186044416 bytes, more than the \d+ bytes free/);
    storeClean();
  });

  it('contains a device node: created inside its snapshot only', async () => {
    const { id, err } = await pullEntries([{ path: 'dev/sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o600 }]);
    expect(err).toBeUndefined();
    const st = await call(d.client.image, 'ImageStatus', { image: { image: id as string }, verbose: true });
    const chain = (JSON.parse(st.info.info ?? '{}') as { chainIds: string[] }).chainIds[1] as string;
    const dev = lstatSync(join(d.config().rootDir as string, 'snapshots', chain.slice(7), 'fs/dev/sda'));
    expect(dev.isBlockDevice()).toBe(true);
    storeClean();
  });
});
