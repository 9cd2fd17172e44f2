// Disk full: the daemon's root (image store) on a small tmpfs. A pull that runs out of space fails
// with RESOURCE_EXHAUSTED naming ENOSPC, leaves no partial blob, temp snapshot or image record,
// the daemon keeps serving, and once space is freed the same pull succeeds.
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import { buildImage, layer, pushImage } from '../support/image-builder.js';
import { TestRegistry } from '../support/registry.js';
import { Daemon, useTestDir } from '../e2e/harness.js';
import { report, settle } from './scale.js';

const t = useTestDir();
let registry: TestRegistry;
let d: Daemon;
let mnt = '';
let ref = '';

beforeAll(async () => {
  registry = await TestRegistry.start({ parent: t.dir().path });
  // One 16 MiB incompressible layer: 16 MiB to download and 16 MiB more once unpacked.
  await pushImage(registry.pushTarget, 'test/fat', ['latest'], buildImage({ layers: [await layer([{ path: 'fat.bin', content: randomBytes(16 * 1024 * 1024) }], 'gzip')] }));
  ref = `${registry.host}/test/fat:latest`;
  mnt = t.dir().join('small');
  mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m,mode=0755', 'nexcage-disk-full', mnt]);
  d = t.track(new Daemon(t.dir(), 'full', { config: { rootDir: join(mnt, 'root'), logLevel: 'info' } }));
  await d.start();
}, 120_000);

afterAll(async () => {
  await d?.stop();
  await registry?.stop();
  if (mnt) execFileSync('umount', [mnt]);
});

function files(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((n) => !n.startsWith('.')) : [];
}

function storeClean(): void {
  const root = join(mnt, 'root');
  expect(files(join(root, 'content', 'blobs', 'sha256')).length, 'committed blobs').toBeLessThanOrEqual(1); // the config at most
  expect(files(join(root, 'content', 'ingest')), 'partial downloads').toEqual([]);
  expect(readdirSync(join(root, 'snapshots')).filter((s) => s.startsWith('.tmp')), 'temp snapshots').toEqual([]);
}

describe('disk full', () => {
  it('fails the download cleanly with ENOSPC named, keeps no partial blob, and works after space is freed', async () => {
    // Leave about 8 MiB free: the 16 MiB blob cannot be downloaded.
    const filler = join(mnt, 'filler');
    writeFileSync(filler, Buffer.alloc(40 * 1024 * 1024, 1));
    const r = await settle(call(d.client.image, 'PullImage', { image: { image: ref } }, 60_000));
    expect(r.ok).toBe(false);
    const err = (r as { err: grpc.ServiceError }).err;
    report(`disk full (download): ${grpc.status[err.code]}: ${err.details}`);
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(/ENOSPC|no space/i);
    storeClean();
    expect((await call(d.client.image, 'ListImages', {})).images).toEqual([]);
    expect((await call(d.client.runtime, 'Version', {})).runtime_name).toBe('nexcage');

    rmSync(filler);
    const id = (await call(d.client.image, 'PullImage', { image: { image: ref } }, 60_000)).image_ref;
    expect((await call(d.client.image, 'ImageStatus', { image: { image: ref } })).image?.id).toBe(id);
    await call(d.client.image, 'RemoveImage', { image: { image: ref } });
  });

  it('fails the unpack cleanly when the blob fits but its unpacked files do not', async () => {
    // About 24 MiB free: the 16 MiB blob downloads, its 16 MiB of files do not fit beside it.
    const filler = join(mnt, 'filler');
    writeFileSync(filler, Buffer.alloc(24 * 1024 * 1024, 1));
    const r = await settle(call(d.client.image, 'PullImage', { image: { image: ref } }, 60_000));
    expect(r.ok).toBe(false);
    const err = (r as { err: grpc.ServiceError }).err;
    report(`disk full (unpack): ${grpc.status[err.code]}: ${err.details}`);
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(/ENOSPC|no space|free/i);
    expect(readdirSync(join(mnt, 'root', 'snapshots')).filter((s) => s.startsWith('.tmp'))).toEqual([]);
    expect((await call(d.client.image, 'ListImages', {})).images).toEqual([]);

    rmSync(filler);
    await call(d.client.image, 'PullImage', { image: { image: ref } }, 60_000);
    expect((await call(d.client.image, 'ListImages', {})).images.length).toBe(1);
  });
});
