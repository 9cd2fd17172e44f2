// Builds OCI test images in memory (layer tars written entry by entry, so whiteouts, opaque dirs,
// hardlinks, devices and hostile names are all possible) and pushes them to a registry over the
// distribution API. Used by the image e2e tests, the pull benchmark and other engineers' tests.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync, zstdCompressSync, constants as zc } from 'node:zlib';
import { END, header, padded, paxEntry } from './tar-writer.js';

export type Compression = 'gzip' | 'zstd' | 'none';

export interface LayerEntry {
  path: string;
  type?: 'file' | 'dir' | 'symlink' | 'link' | 'char' | 'block' | 'fifo';
  content?: Buffer | string;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Symlink target or hardlink target (archive path). */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  mtime?: Date;
  /** Size written in the header when it should lie about the content (malicious tests). */
  declaredSize?: number;
  /** Extended attributes (SCHILY.xattr pax records); a Buffer value is written byte for byte. */
  xattrs?: Record<string, string | Buffer>;
}

export interface Layer {
  /** The uncompressed tar. */
  tar: Buffer;
  /** The blob as pushed. */
  blob: Buffer;
  compression: Compression;
  digest: string;
  diffId: string;
  mediaType: string;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ImageSpecInput {
  layers: Layer[];
  config?: Record<string, unknown>;
  platform?: Platform;
  /** Overrides rootfs.diff_ids (to build a config that lies). */
  diffIds?: string[];
  manifestMediaType?: 'oci' | 'docker';
  annotations?: Record<string, string>;
}

export interface BuiltImage {
  configBytes: Buffer;
  configDigest: string;
  manifestBytes: Buffer;
  manifestDigest: string;
  manifestMediaType: string;
  layers: Layer[];
  platform: Platform;
}

export const FIXED_MTIME = new Date('2024-01-02T03:04:05Z');

export function sha256(b: Buffer | string): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** A tar built entry by entry (names are written exactly as given; pax records for long names, big ids and xattrs). */
export async function buildTar(entries: LayerEntry[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? 'file';
    const content = e.content === undefined ? Buffer.alloc(0) : Buffer.from(e.content);
    const name = type === 'dir' && !e.path.endsWith('/') ? `${e.path}/` : e.path;
    if (e.declaredSize !== undefined && e.declaredSize !== content.length) {
      // A header that lies about its size, then the archive just ends.
      parts.push(rawFileHeader(e.path, e.declaredSize), content);
      return Buffer.concat(parts);
    }
    const records: [string, Buffer | string][] = [];
    const uid = e.uid ?? 0;
    const gid = e.gid ?? 0;
    if (Buffer.byteLength(name) > 100) records.push(['path', name]);
    if (e.linkname !== undefined && Buffer.byteLength(e.linkname) > 100) records.push(['linkpath', e.linkname]);
    if (uid > MAX_OCTAL_ID) records.push(['uid', String(uid)]);
    if (gid > MAX_OCTAL_ID) records.push(['gid', String(gid)]);
    for (const [k, v] of Object.entries(e.xattrs ?? {})) records.push([`SCHILY.xattr.${k}`, v]);
    if (records.length > 0) parts.push(paxEntry(records));
    parts.push(
      header({
        name: fit(name),
        typeflag: TYPEFLAGS[type],
        mode: (e.mode ?? (type === 'dir' ? 0o755 : 0o644)) & 0o7777,
        uid: uid > MAX_OCTAL_ID ? 0 : uid,
        gid: gid > MAX_OCTAL_ID ? 0 : gid,
        size: type === 'file' ? content.length : 0,
        mtime: Math.floor((e.mtime ?? FIXED_MTIME).getTime() / 1000),
        linkname: fit(e.linkname ?? ''),
        devmajor: e.devmajor ?? 0,
        devminor: e.devminor ?? 0,
      }),
    );
    if (type === 'file') parts.push(padded(content));
  }
  parts.push(END);
  return Buffer.concat(parts);
}

const MAX_OCTAL_ID = 0o7777777;
const TYPEFLAGS: Record<NonNullable<LayerEntry['type']>, string> = { file: '0', dir: '5', symlink: '2', link: '1', char: '3', block: '4', fifo: '6' };

/** A name cut to the 100 bytes of a ustar field (the full one goes in a pax record). */
function fit(s: string): string {
  let out = s;
  while (Buffer.byteLength(out) > 100) out = out.slice(0, -1);
  return out;
}

/** A ustar header for a regular file; sizes past 8 GiB use the base-256 form. */
export function rawFileHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  if (size < 8 ** 11) h.write(size.toString(8).padStart(11, '0') + '\0', 124);
  else {
    h[124] = 0x80;
    h.writeBigUInt64BE(BigInt(size), 124 + 4);
  }
  h.write(Math.floor(FIXED_MTIME.getTime() / 1000).toString(8).padStart(11, '0') + '\0', 136);
  h.write('0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  h.fill(' ', 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

export function compress(tar: Buffer, c: Compression): Buffer {
  if (c === 'gzip') return gzipSync(tar, { level: 1 });
  if (c === 'zstd') return zstdCompressSync(tar, { params: { [zc.ZSTD_c_compressionLevel]: 3 } });
  return tar;
}

export async function layer(entries: LayerEntry[], c: Compression = 'gzip', docker = false): Promise<Layer> {
  return layerFromTar(await buildTar(entries), c, docker);
}

export function layerFromTar(tar: Buffer, c: Compression = 'gzip', docker = false): Layer {
  const blob = compress(tar, c);
  const mediaType = docker
    ? c === 'gzip'
      ? 'application/vnd.docker.image.rootfs.diff.tar.gzip'
      : 'application/vnd.docker.image.rootfs.diff.tar'
    : c === 'gzip'
      ? 'application/vnd.oci.image.layer.v1.tar+gzip'
      : c === 'zstd'
        ? 'application/vnd.oci.image.layer.v1.tar+zstd'
        : 'application/vnd.oci.image.layer.v1.tar';
  return { tar, blob, compression: c, digest: sha256(blob), diffId: sha256(tar), mediaType };
}

/** The busybox-static binary with a few applet symlinks: a runnable /bin/sh. */
export function busyboxEntries(): LayerEntry[] {
  const bin = readFileSync('/bin/busybox');
  const applets = ['sh', 'ls', 'cat', 'echo', 'sleep', 'id', 'env', 'true', 'false', 'ps', 'mkdir', 'rm', 'touch', 'wc', 'head', 'grep', 'nc', 'ip', 'hostname', 'top', 'kill', 'stat'];
  return [
    { path: 'bin/', type: 'dir' },
    { path: 'bin/busybox', content: bin, mode: 0o755 },
    ...applets.map((a) => ({ path: `bin/${a}`, type: 'symlink' as const, linkname: 'busybox' })),
    { path: 'etc/', type: 'dir' },
    { path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\ntester:x:1000:1000:tester:/home/tester:/bin/sh\n' },
    { path: 'etc/group', content: 'root:x:0:\nnogroup:x:65534:\ntester:x:1000:\n' },
    { path: 'tmp/', type: 'dir', mode: 0o1777 },
    { path: 'root/', type: 'dir', mode: 0o700 },
    { path: 'home/', type: 'dir' },
    { path: 'home/tester/', type: 'dir', uid: 1000, gid: 1000 },
  ];
}

export function buildImage(spec: ImageSpecInput): BuiltImage {
  const platform = spec.platform ?? { os: 'linux', architecture: 'amd64' };
  const docker = spec.manifestMediaType === 'docker';
  const config = {
    created: FIXED_MTIME.toISOString(),
    architecture: platform.architecture,
    ...(platform.variant ? { variant: platform.variant } : {}),
    os: platform.os,
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'], ...spec.config },
    rootfs: { type: 'layers', diff_ids: spec.diffIds ?? spec.layers.map((l) => l.diffId) },
    history: spec.layers.map(() => ({ created: FIXED_MTIME.toISOString(), created_by: 'nexcage test image builder' })),
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const manifestMediaType = docker ? 'application/vnd.docker.distribution.manifest.v2+json' : 'application/vnd.oci.image.manifest.v1+json';
  const manifest = {
    schemaVersion: 2,
    mediaType: manifestMediaType,
    config: {
      mediaType: docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json',
      digest: sha256(configBytes),
      size: configBytes.length,
    },
    layers: spec.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.blob.length })),
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    configBytes,
    configDigest: sha256(configBytes),
    manifestBytes,
    manifestDigest: sha256(manifestBytes),
    manifestMediaType,
    layers: spec.layers,
    platform,
  };
}

export interface BuiltIndex {
  bytes: Buffer;
  digest: string;
  mediaType: string;
  images: BuiltImage[];
}

export function buildIndex(images: BuiltImage[], docker = false): BuiltIndex {
  const mediaType = docker ? 'application/vnd.docker.distribution.manifest.list.v2+json' : 'application/vnd.oci.image.index.v1+json';
  const doc = {
    schemaVersion: 2,
    mediaType,
    manifests: images.map((i) => ({ mediaType: i.manifestMediaType, digest: i.manifestDigest, size: i.manifestBytes.length, platform: i.platform })),
  };
  const bytes = Buffer.from(JSON.stringify(doc));
  return { bytes, digest: sha256(bytes), mediaType, images };
}

/** Where to push: a registry base URL plus optional basic credentials. */
export interface PushTarget {
  url: string;
  username?: string;
  password?: string;
}

function authHeader(t: PushTarget): Record<string, string> {
  return t.username ? { authorization: `Basic ${Buffer.from(`${t.username}:${t.password ?? ''}`).toString('base64')}` } : {};
}

export async function pushBlob(t: PushTarget, repo: string, blob: Buffer): Promise<string> {
  const digest = sha256(blob);
  const head = await fetch(`${t.url}/v2/${repo}/blobs/${digest}`, { method: 'HEAD', headers: authHeader(t) });
  if (head.status === 200) return digest;
  const start = await fetch(`${t.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: authHeader(t) });
  if (start.status !== 202) throw new Error(`push ${repo}: upload start answered ${start.status}: ${await start.text()}`);
  const loc = new URL(start.headers.get('location') ?? '', t.url);
  loc.searchParams.set('digest', digest);
  const put = await fetch(loc, {
    method: 'PUT',
    headers: { ...authHeader(t), 'content-type': 'application/octet-stream', 'content-length': String(blob.length) },
    body: new Uint8Array(blob),
  });
  if (put.status !== 201) throw new Error(`push ${repo}: blob ${digest} answered ${put.status}: ${await put.text()}`);
  return digest;
}

export async function pushManifest(t: PushTarget, repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<void> {
  const res = await fetch(`${t.url}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { ...authHeader(t), 'content-type': mediaType },
    body: new Uint8Array(bytes),
  });
  if (res.status !== 201) throw new Error(`push ${repo}:${reference}: manifest answered ${res.status}: ${await res.text()}`);
}

/** Push blobs, then the manifest under each tag (or only by digest when tags is empty). */
export async function pushImage(t: PushTarget, repo: string, tags: string[], img: BuiltImage): Promise<void> {
  for (const l of img.layers) await pushBlob(t, repo, l.blob);
  await pushBlob(t, repo, img.configBytes);
  await pushManifest(t, repo, img.manifestDigest, img.manifestBytes, img.manifestMediaType);
  for (const tag of tags) await pushManifest(t, repo, tag, img.manifestBytes, img.manifestMediaType);
}

export async function pushIndex(t: PushTarget, repo: string, tags: string[], idx: BuiltIndex): Promise<void> {
  for (const img of idx.images) await pushImage(t, repo, [], img);
  await pushManifest(t, repo, idx.digest, idx.bytes, idx.mediaType);
  for (const tag of tags) await pushManifest(t, repo, tag, idx.bytes, idx.mediaType);
}

/** The standard set of test images, as pushed by pushTestImages(). */
export interface TestImages {
  /** 3 layers (gzip, zstd, uncompressed) with hardlinks, a whiteout and an opaque dir; tags latest, 1.0, stable. */
  busybox: BuiltImage;
  /** Index: linux/amd64 and linux/arm64 (each with /platform naming its arch). */
  multiarch: BuiltIndex;
  /** Config User "1000:1000". */
  user: BuiltImage;
  /** Config User "tester" (a name). */
  userName: BuiltImage;
}

export async function buildTestImages(): Promise<TestImages> {
  const base = await layer(busyboxEntries(), 'gzip');
  const second = await layer(
    [
      { path: 'data/', type: 'dir' },
      { path: 'data/file.txt', content: 'layer two\n' },
      { path: 'data/link.txt', type: 'link', linkname: 'data/file.txt' },
      { path: 'data/gone.txt', content: 'removed by layer three\n' },
      { path: 'opaque/', type: 'dir' },
      { path: 'opaque/old.txt', content: 'hidden by the opaque dir of layer three\n' },
      { path: 'etc/motd', content: 'nexcage test image\n', mode: 0o600, uid: 1000, gid: 1000 },
    ],
    'zstd',
  );
  const third = await layer(
    [
      { path: 'data/', type: 'dir' },
      { path: 'data/.wh.gone.txt' },
      { path: 'opaque/', type: 'dir' },
      { path: 'opaque/.wh..wh..opq' },
      { path: 'opaque/new.txt', content: 'layer three\n' },
      { path: 'etc/hostname-default', content: 'busybox\n' },
    ],
    'none',
  );
  const busybox = buildImage({
    layers: [base, second, third],
    config: { WorkingDir: '/', Labels: { 'org.nexcage.test': 'busybox' }, StopSignal: 'SIGTERM' },
  });
  const arch = (a: string, v?: string): Promise<BuiltImage> =>
    layer([{ path: 'platform', content: `${a}${v ? '/' + v : ''}\n` }], 'gzip').then((l) =>
      buildImage({ layers: [base, l], platform: { os: 'linux', architecture: a, ...(v ? { variant: v } : {}) } }),
    );
  const multiarch = buildIndex([await arch('arm64', 'v8'), await arch('amd64'), await arch('s390x')]);
  const user = buildImage({ layers: [base], config: { User: '1000:1000' } });
  const userName = buildImage({ layers: [base], config: { User: 'tester' } });
  return { busybox, multiarch, user, userName };
}

/** Push the standard set: test/busybox:{latest,1.0,stable}, test/multiarch:latest, test/user:latest, test/username:latest. */
export async function pushTestImages(t: PushTarget): Promise<TestImages> {
  const images = await buildTestImages();
  await pushImage(t, 'test/busybox', ['latest', '1.0', 'stable'], images.busybox);
  await pushIndex(t, 'test/multiarch', ['latest'], images.multiarch);
  await pushImage(t, 'test/user', ['latest'], images.user);
  await pushImage(t, 'test/username', ['latest'], images.userName);
  return images;
}
