// ImageService end to end: the built daemon pulls from a real docker-registry (started here on
// 127.0.0.1 with test images built from busybox-static) through a counting/fault-injecting front.
import type { ServiceError } from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../../src/cri/grpc/client.js';
import { buildImage, buildIndex, layer, pushImage, pushIndex, pushManifest, pushBlob, sha256, type TestImages, pushTestImages } from '../support/image-builder.js';
import { RegistryProxy } from '../support/registry-proxy.js';
import { TestRegistry } from '../support/registry.js';
import { Daemon, useTestDir } from './harness.js';

const t = useTestDir();
let registry: TestRegistry;
let proxy: RegistryProxy;
let images: TestImages;
let d: Daemon;

const hex = (digest: string): string => digest.slice('sha256:'.length);

async function pull(ref: string): Promise<string> {
  const r = await call(d.client.image, 'PullImage', { image: { image: ref } }, 60_000);
  return r.image_ref;
}
async function status(ref: string, verbose = false) {
  return call(d.client.image, 'ImageStatus', { image: { image: ref }, verbose });
}
async function list(filter?: string) {
  return (await call(d.client.image, 'ListImages', filter ? { filter: { image: { image: filter } } } : {})).images;
}
async function remove(ref: string): Promise<void> {
  await call(d.client.image, 'RemoveImage', { image: { image: ref } });
}
async function failure(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('expected the call to fail');
}
function root(...parts: string[]): string {
  return join(d.config().rootDir as string, ...parts);
}
function snapshotFs(chainId: string): string {
  return root('snapshots', hex(chainId), 'fs');
}
function blobCount(): number {
  return readdirSync(root('content/blobs/sha256')).length;
}

beforeAll(async () => {
  registry = await TestRegistry.start({ parent: t.dir().path });
  proxy = await RegistryProxy.start({ upstream: registry.url });
  images = await pushTestImages(registry.pushTarget);
  d = t.track(new Daemon(t.dir(), 'images'));
  await d.start();
});

afterAll(async () => {
  await d?.stop();
  await proxy?.stop();
  await registry?.stop();
});

describe('PullImage', () => {
  it('pulls by tag: the image ref is the config digest and every layer is unpacked into its chain-ID snapshot', async () => {
    const ref = `${proxy.host}/test/busybox:latest`;
    const id = await pull(ref);
    expect(id).toBe(images.busybox.configDigest);
    const st = await status(ref, true);
    expect(st.image?.id).toBe(id);
    expect(st.image?.repo_tags).toEqual([ref]);
    expect(st.image?.repo_digests).toEqual([`${proxy.host}/test/busybox@${images.busybox.manifestDigest}`]);
    const size = images.busybox.manifestBytes.length + images.busybox.configBytes.length + images.busybox.layers.reduce((s, l) => s + l.blob.length, 0);
    expect(Number(st.image?.size)).toBe(size);
    const info = JSON.parse(st.info.info ?? '{}') as { manifestDigest: string; chainIds: string[]; layers: { mediaType: string }[]; config: { Labels: object } };
    expect(info.manifestDigest).toBe(images.busybox.manifestDigest);
    expect(info.layers.map((l) => l.mediaType)).toEqual([
      'application/vnd.oci.image.layer.v1.tar+gzip',
      'application/vnd.oci.image.layer.v1.tar+zstd',
      'application/vnd.oci.image.layer.v1.tar',
    ]);
    expect(info.config.Labels).toEqual({ 'org.nexcage.test': 'busybox' });
    const [l0, l1, l2] = info.chainIds.map(snapshotFs) as [string, string, string];
    // gzip layer: the runnable busybox.
    expect(statSync(join(l0, 'bin/busybox')).mode & 0o777).toBe(0o755);
    expect(execFileSync(join(l0, 'bin/busybox'), ['echo', 'ok']).toString()).toBe('ok\n');
    // zstd layer: hardlink, ownership, mode.
    expect(statSync(join(l1, 'data/link.txt')).ino).toBe(statSync(join(l1, 'data/file.txt')).ino);
    const motd = statSync(join(l1, 'etc/motd'));
    expect([motd.uid, motd.gid, motd.mode & 0o777]).toEqual([1000, 1000, 0o600]);
    // uncompressed layer: whiteout and opaque dir in overlayfs form.
    const wh = lstatSync(join(l2, 'data/gone.txt'));
    expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
    expect(execFileSync('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', join(l2, 'opaque')]).toString()).toBe('y');
  });

  it('stacks the snapshots under overlayfs into the image rootfs (whiteout and opaque dir applied)', async () => {
    const dirs = (JSON.parse((await status(`${proxy.host}/test/busybox:latest`, true)).info.info ?? '{}') as { chainIds: string[] }).chainIds.map(snapshotFs);
    const mnt = t.dir().join('mnt');
    execFileSync('mkdir', ['-p', mnt]);
    execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${[...dirs].reverse().join(':')}`, mnt]);
    try {
      expect(existsSync(join(mnt, 'data/gone.txt'))).toBe(false);
      expect(readFileSync(join(mnt, 'data/file.txt'), 'utf8')).toBe('layer two\n');
      expect(readdirSync(join(mnt, 'opaque'))).toEqual(['new.txt']);
      expect(existsSync(join(mnt, 'bin/sh'))).toBe(true);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });

  it('lists two tags of one image as one image with both tags', async () => {
    await pull(`${proxy.host}/test/busybox:1.0`);
    const found = (await list()).filter((i) => i.id === images.busybox.configDigest);
    expect(found).toHaveLength(1);
    expect(found[0]?.repo_tags.sort()).toEqual([`${proxy.host}/test/busybox:1.0`, `${proxy.host}/test/busybox:latest`]);
  });

  it('pulls by digest: records the repo digest and no tag, and reuses the snapshots already there', async () => {
    const before = proxy.count(/^GET \/v2\/test\/busybox\/blobs\//);
    const id = await pull(`${proxy.host}/test/busybox@${images.busybox.manifestDigest}`);
    expect(id).toBe(images.busybox.configDigest);
    expect(proxy.count(/^GET \/v2\/test\/busybox\/blobs\//)).toBe(before);
    const st = await status(`${proxy.host}/test/busybox@${images.busybox.manifestDigest}`);
    expect(st.image?.id).toBe(id);
  });

  it('pulls an index and picks this node\'s platform (linux/amd64 among arm64, amd64, s390x)', async () => {
    const id = await pull(`${proxy.host}/test/multiarch:latest`);
    const amd64 = images.multiarch.images.find((i) => i.platform.architecture === 'amd64');
    expect(id).toBe(amd64?.configDigest);
    const st = await status(id, true);
    const info = JSON.parse(st.info.info ?? '{}') as { chainIds: string[]; indexDigest: string };
    expect(info.indexDigest).toBe(images.multiarch.digest);
    expect(st.image?.repo_digests).toEqual([`${proxy.host}/test/multiarch@${images.multiarch.digest}`]);
    expect(readFileSync(join(snapshotFs(info.chainIds[1] as string), 'platform'), 'utf8')).toBe('amd64\n');
    // Only the chosen platform's layer was fetched.
    const arm = images.multiarch.images.find((i) => i.platform.architecture === 'arm64');
    expect(proxy.count(new RegExp(`blobs/${arm?.layers[1]?.digest}`))).toBe(0);
  });

  it('pulls a Docker schema2 image with a Docker manifest list', async () => {
    const l = await layer([{ path: 'docker.txt', content: 'schema2\n' }], 'gzip', true);
    const img = buildImage({ layers: [l], manifestMediaType: 'docker' });
    await pushImage(registry.pushTarget, 'test/docker', ['v2'], img);
    expect(await pull(`${proxy.host}/test/docker:v2`)).toBe(img.configDigest);
    const list = buildIndex([img], true);
    await pushIndex(registry.pushTarget, 'test/docker', ['list'], list);
    expect(await pull(`${proxy.host}/test/docker:list`)).toBe(img.configDigest);
    expect((await status(`${proxy.host}/test/docker:list`)).image?.repo_digests).toContain(`${proxy.host}/test/docker@${list.digest}`);
  });

  it('reports the user of the image: a uid from "1000:1000", a username from "tester"', async () => {
    await pull(`${proxy.host}/test/user:latest`);
    await pull(`${proxy.host}/test/username:latest`);
    expect((await status(`${proxy.host}/test/user:latest`)).image?.uid).toEqual({ value: '1000' });
    expect((await status(`${proxy.host}/test/username:latest`)).image?.username).toBe('tester');
    expect((await status(`${proxy.host}/test/username:latest`)).image?.uid).toBeNull();
  });

  it('keeps binary file capabilities and xattrs byte for byte, and paths past 100 bytes (pax)', async () => {
    // security.capability v2 for cap_net_raw,cap_setuid+ep: NULs and a 0x80 byte (not valid UTF-8).
    const caps = Buffer.from('0100000280200000000000000000000000000000', 'hex');
    const long = `${'nested-directory/'.repeat(7)}file`;
    const l = await layer([
      { path: 'bin/ping', content: 'ping\n', mode: 0o755, xattrs: { 'security.capability': caps, 'user.bin': Buffer.from([0, 0xff, 0x0a]) } },
      { path: long, content: 'deep\n', xattrs: { 'user.note': 'text' } },
    ]);
    const img = buildImage({ layers: [l] });
    await pushImage(registry.pushTarget, 'test/caps', ['latest'], img);
    await pull(`${proxy.host}/test/caps:latest`);
    const info = JSON.parse((await status(`${proxy.host}/test/caps:latest`, true)).info.info ?? '{}') as { chainIds: string[] };
    const fs = snapshotFs(info.chainIds[0] as string);
    const dump = execFileSync('getfattr', ['--absolute-names', '-d', '-m', '-', '-e', 'hex', join(fs, 'bin/ping')]).toString();
    expect(dump).toContain(`security.capability=0x${caps.toString('hex')}\n`);
    expect(dump).toContain('user.bin=0x00ff0a\n');
    expect(execFileSync('getcap', [join(fs, 'bin/ping')]).toString()).toMatch(/cap_setuid,cap_net_raw[=+]ep/);
    expect(readFileSync(join(fs, long), 'utf8')).toBe('deep\n');
    expect(execFileSync('getfattr', ['--only-values', '-n', 'user.note', join(fs, long)]).toString()).toBe('text');
  });

  it('shares one pull between concurrent requests for one reference: one download per blob', async () => {
    const l = await layer([{ path: 'big.bin', content: sha256('x').repeat(200_000) }], 'gzip');
    const img = buildImage({ layers: [l] });
    await pushImage(registry.pushTarget, 'test/concurrent', ['latest'], img);
    const ref = `${proxy.host}/test/concurrent:latest`;
    const ids = await Promise.all([pull(ref), pull(ref), pull(ref), pull(ref)]);
    expect(new Set(ids)).toEqual(new Set([img.configDigest]));
    expect(proxy.count(new RegExp(`^GET /v2/test/concurrent/blobs/${l.digest}`))).toBe(1);
    expect(proxy.count(new RegExp(`^GET /v2/test/concurrent/blobs/${img.configDigest}`))).toBe(1);
  });

  it('resumes a blob with an HTTP Range request after the connection drops mid-download', async () => {
    const l = await layer([{ path: 'resume.bin', content: Buffer.from(Array.from({ length: 3_000_000 }, (_, i) => (i * 7919) % 251)) }], 'none');
    const img = buildImage({ layers: [l] });
    await pushImage(registry.pushTarget, 'test/resume', ['latest'], img);
    proxy.addFault({ match: new RegExp(`^GET /v2/test/resume/blobs/${l.digest}`), times: 1, action: { kind: 'drop-after', bytes: 1_000_000 } });
    expect(await pull(`${proxy.host}/test/resume:latest`)).toBe(img.configDigest);
    const gets = proxy.requests.filter((r) => r.path.endsWith(l.digest) && r.method === 'GET');
    expect(gets).toHaveLength(2);
    expect(gets[0]?.range).toBeUndefined();
    // It continues where the bytes that arrived end (some of the 1 MB sent are lost with the socket).
    const from = Number(/^bytes=(\d+)-(\d+)$/.exec(gets[1]?.range ?? '')?.[1]);
    expect(from).toBeGreaterThan(500_000);
    expect(gets[1]?.range).toBe(`bytes=${from}-${l.blob.length - 1}`);
    expect(readdirSync(root('content/ingest'))).toEqual([]);
  });

  it('retries 503 and 429 (honouring Retry-After) and then succeeds', async () => {
    const l = await layer([{ path: 'retry.txt', content: 'retry\n' }]);
    const img = buildImage({ layers: [l] });
    await pushImage(registry.pushTarget, 'test/retry', ['latest'], img);
    proxy.addFault({ match: /^GET \/v2\/test\/retry\/manifests\//, times: 2, action: { kind: 'status', status: 503 } });
    proxy.addFault({ match: new RegExp(`^GET /v2/test/retry/blobs/${l.digest}`), times: 1, action: { kind: 'status', status: 429, retryAfterSeconds: 1 } });
    const started = Date.now();
    expect(await pull(`${proxy.host}/test/retry:latest`)).toBe(img.configDigest);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(proxy.count(/^GET \/v2\/test\/retry\/manifests\/latest/)).toBe(3);
  });
  it('counts pulls, bytes and layers in the metrics', async () => {
    const text = await (await fetch(`${d.metricsUrl}/metrics`)).text();
    expect(text).toMatch(/nexcage_image_pulls_total\{result="success"\} [1-9]/);
    expect(text).toMatch(/nexcage_image_pull_bytes_total [1-9]/);
    expect(text).toMatch(/nexcage_image_layers_total\{source="fetched"\} [1-9]/);
    expect(text).toMatch(/nexcage_image_pull_duration_seconds_count [1-9]/);
    expect(text).toMatch(/nexcage_image_pulls_in_flight 0/);
    const line = d.logs().find((l) => l.msg === 'image pulled' && l.ref === `${proxy.host}/test/user:latest`);
    expect(line).toMatchObject({ ref: `${proxy.host}/test/user:latest`, layers: 1 });
    expect(line).toHaveProperty('bytes');
    expect(line).toHaveProperty('durationMs');
  });
});

describe('PullImage failures', () => {
  it('refuses an invalid reference with INVALID_ARGUMENT naming it', async () => {
    const err = await failure(pull('UPPER/Case'));
    expect(err.code).toBe(3);
    expect(err.details).toContain('"UPPER/Case"');
  });

  it('answers NOT_FOUND for a missing tag and for a digest the registry does not have', async () => {
    const err = await failure(pull(`${proxy.host}/test/busybox:nope`));
    expect(err.code).toBe(5);
    expect(err.details).toMatch(/manifest "nope" of 127\.0\.0\.1:\d+\/test\/busybox not found/);
    const err2 = await failure(pull(`${proxy.host}/test/busybox@sha256:${'0'.repeat(64)}`));
    expect(err2.code).toBe(5);
  });

  it('fails a blob whose content does not match its digest, naming both digests, and keeps no partial', async () => {
    const l = await layer([{ path: 'corrupt.txt', content: 'will be corrupted on the wire\n' }]);
    const img = buildImage({ layers: [l] });
    await pushImage(registry.pushTarget, 'test/corrupt', ['latest'], img);
    proxy.addFault({ match: new RegExp(`^GET /v2/test/corrupt/blobs/${l.digest}`), times: 1, action: { kind: 'corrupt' } });
    const err = await failure(pull(`${proxy.host}/test/corrupt:latest`));
    expect(err.code).toBe(9);
    expect(err.details).toContain(`expected ${l.digest}, got sha256:`);
    expect(readdirSync(root('content/ingest'))).toEqual([]);
    expect(existsSync(root('content/blobs/sha256', hex(l.digest)))).toBe(false);
    expect(await status(`${proxy.host}/test/corrupt:latest`)).toMatchObject({ image: null });
  });

  it('fails a layer whose diff ID does not match the config and leaves no snapshot behind', async () => {
    const l = await layer([{ path: 'lie.txt', content: 'x' }]);
    const img = buildImage({ layers: [l], diffIds: [sha256('something else')] });
    await pushImage(registry.pushTarget, 'test/diffid', ['latest'], img);
    const snapshotsBefore = readdirSync(root('snapshots')).sort();
    const err = await failure(pull(`${proxy.host}/test/diffid:latest`));
    expect(err.code).toBe(9);
    expect(err.details).toContain(`unpacks to diff ID ${l.diffId}, but the config says ${sha256('something else')}`);
    expect(readdirSync(root('snapshots')).sort()).toEqual(snapshotsBefore);
  });

  it('refuses a manifest that is not a runnable image (artifact config type)', async () => {
    const cfg = Buffer.from('{}');
    await pushBlob(registry.pushTarget, 'test/artifact', cfg);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.example.thing.config+json', digest: sha256(cfg), size: cfg.length },
        layers: [],
      }),
    );
    await pushManifest(registry.pushTarget, 'test/artifact', 'latest', manifest, 'application/vnd.oci.image.manifest.v1+json');
    const err = await failure(pull(`${proxy.host}/test/artifact:latest`));
    expect(err.code).toBe(3);
    expect(err.details).toContain('config media type "application/vnd.example.thing.config+json" is not an image config');
  });

  it('fails with UNAVAILABLE naming the registry when nothing listens there', async () => {
    const err = await failure(pull('127.0.0.1:1/test/busybox:latest'));
    expect(err.code).toBe(14);
    expect(err.details).toContain('127.0.0.1:1');
  });
});

describe('ListImages, ImageStatus, RemoveImage, ImageFsInfo', () => {
  it('answers ImageStatus with a nil image for an image that is not there', async () => {
    const st = await status('docker.io/library/not-pulled:latest');
    expect(st.image).toBeNull();
  });

  it('finds an image by id, id prefix, tag and repo digest; ListImages filters the same way', async () => {
    const id = images.busybox.configDigest;
    for (const ref of [id, hex(id), hex(id).slice(0, 12), `${proxy.host}/test/busybox:latest`, `${proxy.host}/test/busybox@${images.busybox.manifestDigest}`]) {
      expect((await status(ref)).image?.id, ref).toBe(id);
      expect((await list(ref)).map((i) => i.id), ref).toEqual([id]);
    }
    expect(await list('docker.io/library/nothing')).toEqual([]);
  });

  it('streams the same images as ListImages', async () => {
    const stream = d.client.image.StreamImages({});
    const got: string[] = [];
    for await (const msg of stream as AsyncIterable<{ images: { id: string }[] }>) got.push(...msg.images.map((i) => i.id));
    expect(got.sort()).toEqual((await list()).map((i) => i.id).sort());
  });

  it('reports bytes and inodes used by the image store with its mountpoint and a timestamp', async () => {
    const fs = await call(d.client.image, 'ImageFsInfo', {});
    const u = fs.image_filesystems[0];
    expect(u?.fs_id?.mountpoint).toBe(d.config().rootDir);
    expect(Number(u?.used_bytes?.value)).toBeGreaterThan(2_000_000);
    expect(Number(u?.inodes_used?.value)).toBeGreaterThan(30);
    expect(Math.abs(Number(BigInt(u?.timestamp ?? '0') / 1_000_000n) - Date.now())).toBeLessThan(60_000);
  });

  it('removes an image by tag with all its tags, keeps layers other images share, and is idempotent', async () => {
    const userImage = images.user;
    const baseChain = userImage.layers[0]?.diffId as string;
    await remove(`${proxy.host}/test/user:latest`);
    expect(await status(userImage.configDigest)).toMatchObject({ image: null });
    expect(existsSync(snapshotFs(baseChain))).toBe(true); // busybox still uses it
    await remove(`${proxy.host}/test/user:latest`); // again: no error
    await remove(`${proxy.host}/test/busybox:1.0`);
    expect(await status(`${proxy.host}/test/busybox:latest`)).toMatchObject({ image: null });
    expect(existsSync(root('content/blobs/sha256', hex(images.busybox.configDigest)))).toBe(false);
  });

  it('frees every blob and snapshot once no image uses them', async () => {
    for (const i of await list()) await remove(i.id);
    expect(await list()).toEqual([]);
    expect(blobCount()).toBe(0);
    expect(readdirSync(root('snapshots'))).toEqual([]);
  });

  it('keeps images listed across a daemon restart', async () => {
    const id = await pull(`${proxy.host}/test/user:latest`);
    await d.stop();
    await d.start();
    expect((await list()).map((i) => i.id)).toEqual([id]);
    expect((await status(`${proxy.host}/test/user:latest`)).image?.repo_tags).toEqual([`${proxy.host}/test/user:latest`]);
  });
});
