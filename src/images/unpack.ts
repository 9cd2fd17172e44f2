// Applies one layer tar (gzip, zstd or plain; sniffed from its first bytes) to an empty snapshot
// directory, converting whiteouts for overlayfs, and hashes the uncompressed stream (the diff ID).
//
// No entry may escape the root: names with `..` or a leading `/` are refused, every parent must
// be a real directory (never a symlink: no writing through links planted earlier), files are
// opened O_NOFOLLOW|O_EXCL, hardlinks must name an existing non-directory inside the root, and
// the deferred steps (mknod, xattrs, directory metadata) re-check their path just before acting.
// Symlinks are created as written: their targets are only ever resolved inside the container.
import { constants, createReadStream } from 'node:fs';
import {
  chmodSync,
  chownSync,
  closeSync,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { open, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createZstdDecompress } from 'node:zlib';
import { InvalidArgumentError, ResourceExhaustedError, errorMessage, isErrno } from '../lib/errors.js';
import { run } from '../lib/exec.js';
import type { BufferPool } from './buffer-pool.js';
import { newHash } from './digest.js';
import type { Compression } from './media-types.js';
import { readTar, type TarHeader } from './tar-reader.js';

export interface UnpackResult {
  diffId: string;
  /** Uncompressed tar bytes. */
  tarBytes: number;
  entries: number;
  /** Disk use of what was written (allocated blocks) and inodes created. */
  usedBytes: number;
  inodes: number;
  compression: Compression;
}

export interface UnpackOptions {
  /** Refuse a layer whose uncompressed size passes this (0 = only the free-space check). */
  maxBytes?: number;
  /**
   * Refuse a compressed layer that unpacks to more than this many times its blob size (0 = no
   * limit): a few KB of gzip can expand to gigabytes of zeros. Checked as the bytes come, so a
   * bomb stops early; the first MiB is always allowed (tiny layers have large ratios legitimately).
   */
  maxRatio?: number;
  /** Where the source's read buffers come from: each goes back once the decompressor is done with it. */
  pool?: BufferPool;
}

/** Uncompressed bytes always allowed whatever the ratio. */
const RATIO_FLOOR_BYTES = 1024 * 1024;

/** Decompressed chunk size: larger chunks mean fewer writes per file (zlib's default is 16 KiB). */
const ZLIB_CHUNK = 256 * 1024;
/** Compressed bytes read ahead of the decompressor. */
const INPUT_AHEAD_BYTES = 64 * 1024;
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
/** Extended attributes a layer may set; overlay and other trusted.* ones could change what the mount shows. */
const ALLOWED_XATTR = /^(user\.|security\.capability$)/;

export class LayerRejected extends InvalidArgumentError {}

export async function sniffCompression(path: string): Promise<Compression> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(4);
    const { bytesRead } = await fh.read(b, 0, 4, 0);
    return compressionOf(b.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/** gzip and zstd by their magic numbers; anything else is taken for a plain tar. */
function compressionOf(b: Buffer): Compression {
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 4 && b.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

/** Unpack the layer blob at `blobPath` into `root` (an existing, empty directory). */
export async function unpackLayer(blobPath: string, root: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const blobBytes = (await stat(blobPath)).size;
  return unpackStream(createReadStream(blobPath, { highWaterMark: 1024 * 1024 }), blobBytes, root, opts);
}

/**
 * Unpack a layer blob of `blobBytes` bytes arriving as `blob` (its compression sniffed from the
 * first bytes) into `root`, an existing empty directory. An error of the source (a failed
 * download) is thrown as it is.
 */
export async function unpackStream(blob: AsyncIterable<Buffer>, blobBytes: number, root: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const it = blob[Symbol.asyncIterator]();
  // The source's own error (a failed download) is reported as itself, not as a broken archive.
  let sourceError: unknown;
  const next = async (): Promise<IteratorResult<Buffer>> => {
    try {
      return await it.next();
    } catch (err) {
      sourceError = err;
      throw err;
    }
  };
  try {
    const applier = new Applier(root, opts);
    await applier.init();
    // The magic number may span chunks.
    const head: Buffer[] = [];
    let headBytes = 0;
    let ended = false;
    while (headBytes < 4 && !ended) {
      const r = await next();
      if (r.done) ended = true;
      else {
        head.push(r.value);
        headBytes += r.value.length;
      }
    }
    const compression = compressionOf(Buffer.concat(head).subarray(0, 4));
    const rest = async function* (): AsyncGenerator<Buffer> {
      yield* head;
      while (!ended) {
        const r = await next();
        if (r.done) return;
        yield r.value;
      }
    };
    const hash = newHash();
    let tarBytes = 0;
    const compressed = compression === 'none' ? 0 : blobBytes;
    const ratioLimit = opts.maxRatio && compressed > 0 ? Math.max(compressed * opts.maxRatio, RATIO_FLOOR_BYTES) : Infinity;
    const hasher = new Transform({
      transform(chunk: Buffer, _enc, cb: TransformCallback) {
        hash.update(chunk);
        tarBytes += chunk.length;
        if (opts.maxBytes && tarBytes > opts.maxBytes) {
          cb(new LayerRejected(`layer is larger than ${opts.maxBytes} bytes uncompressed`));
          return;
        }
        if (tarBytes > ratioLimit) {
          cb(new LayerRejected(`layer unpacks to more than ${opts.maxRatio} times its ${compressed} compressed bytes (registry.maxDecompressionRatio): refused as a decompression bomb`));
          return;
        }
        cb(null, chunk);
      },
    });
    const apply = async (tar: AsyncIterable<Buffer>): Promise<void> => {
      for await (const e of readTar(tar)) await applier.entry(e.header, e.body);
    };
    try {
      if (compression === 'none') {
        await pipeline(Readable.from(rest(), { objectMode: false, highWaterMark: INPUT_AHEAD_BYTES }), hasher, apply);
      } else {
        // Fed by hand rather than piped: a chunk goes back to the pool once the decompressor has
        // consumed it (its write callback), and at most one chunk waits ahead of it.
        const decompressor = compression === 'gzip' ? createGunzip({ chunkSize: ZLIB_CHUNK }) : createZstdDecompress({ chunkSize: ZLIB_CHUNK });
        const unpacked = pipeline(decompressor, hasher, (tar: AsyncIterable<Buffer>) => apply(freeingConsumed(tar)));
        const fed = feed(rest(), decompressor, opts.pool).catch((err: unknown) => {
          decompressor.destroy(err as Error);
          throw err;
        });
        const [u, f] = await Promise.allSettled([unpacked, fed]);
        if (u.status === 'rejected') throw u.reason;
        if (f.status === 'rejected') throw f.reason;
      }
    } catch (err) {
      throw sourceError ?? unpackError(err, compression);
    }
    await applier.finish();
    return {
      diffId: `sha256:${hash.digest('hex')}`,
      tarBytes,
      entries: applier.entries,
      usedBytes: applier.usedBytes,
      inodes: applier.inodes,
      compression,
    };
  } catch (err) {
    throw sourceError ?? err;
  } finally {
    // Stops the source (closes a file it reads) whether or not the pipeline read it to the end.
    await it.return?.();
  }
}

/**
 * The decompressor's output, each of its output buffers freed as soon as the tar reader has asked
 * for a chunk from the next one (it has then consumed every slice of it: it copies what it keeps).
 * Else each pull leaves hundreds of megabytes of spent buffers for the garbage collector, which
 * lets tens of them pile up in the process before it runs. Only buffers of the decompressor's
 * own chunk size are freed: a smaller one could share memory with unrelated buffers.
 */
async function* freeingConsumed(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let prev: ArrayBuffer | undefined;
  for await (const c of chunks) {
    if (prev && c.buffer !== prev && prev.byteLength === ZLIB_CHUNK) prev.transfer(0);
    prev = c.buffer instanceof ArrayBuffer ? c.buffer : undefined;
    yield c;
  }
}

/** Write every chunk of `src` to `w`, waiting for it to drain, then end it; chunks go back to `pool` once consumed. */
async function feed(src: AsyncIterable<Buffer>, w: Writable, pool: BufferPool | undefined): Promise<void> {
  for await (const chunk of src) {
    if (w.destroyed) return;
    const ok = w.write(chunk, (err) => {
      if (!err) pool?.give(chunk);
    });
    if (!ok) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          w.off('drain', done);
          w.off('close', done);
          resolve();
        };
        w.on('drain', done);
        w.on('close', done);
      });
    }
  }
  if (!w.destroyed) w.end();
}

/** Our refusals as they are; a full disk as RESOURCE_EXHAUSTED; anything else is a broken archive. */
function unpackError(err: unknown, compression: Compression): Error {
  if (err instanceof InvalidArgumentError || err instanceof ResourceExhaustedError) return err;
  if (isErrno(err, 'ENOSPC') || isErrno(err, 'EDQUOT')) return new ResourceExhaustedError(`no space left to unpack the layer: ${errorMessage(err)}`);
  return new LayerRejected(`layer is not a valid ${compression === 'none' ? '' : compression + ' '}tar archive: ${errorMessage(err)}`);
}

interface Deferred {
  kind: 'c' | 'b' | 'p' | 'link';
  rel: string;
  major: number;
  minor: number;
  target: string;
  header: TarHeader;
}

class Applier {
  entries = 0;
  usedBytes = 0;
  inodes = 0;
  /** Relative paths known to be real directories we made or checked. */
  private dirs = new Set<string>(['']);
  private dirMeta = new Map<string, TarHeader>();
  private deferred: Deferred[] = [];
  private deferredPaths = new Set<string>();
  private xattrs = new Map<string, Map<string, Buffer>>();
  private freeBytes: number | undefined;
  /** Who owns a file we create (no chown needed when the entry says the same). */
  private owner: { uid: number; gid: number } | undefined;

  constructor(
    private readonly root: string,
    private readonly opts: UnpackOptions,
  ) {}

  private reject(name: string, why: string): never {
    throw new LayerRejected(`layer entry "${name}": ${why}`);
  }

  /** Normalise an archive path to relative components, refusing any that could leave the root. */
  private clean(name: string, what: string): string[] {
    if (name.startsWith('/')) this.reject(name, `${what} is an absolute path`);
    if (name.includes('\0')) this.reject(name, `${what} contains a NUL byte`);
    const parts = name.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) this.reject(name, `${what} has a ".." component (would escape the layer root)`);
    return parts;
  }

  async init(): Promise<void> {
    const s = await statfs(this.root);
    this.freeBytes = s.bavail * s.bsize;
    // A new file belongs to our euid and egid unless its directory is setgid; the layer's own
    // directories get their modes only at the end, so only the root's could be.
    const st = await stat(this.root);
    if ((st.mode & 0o2000) === 0 && process.geteuid && process.getegid) this.owner = { uid: process.geteuid(), gid: process.getegid() };
  }

  /** Applies one entry; a body left unread is skipped by the reader. */
  async entry(h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    this.entries++;
    if (h.type === 'file' || h.type === 'contiguous-file') this.checkSpace(h);
    const parts = this.clean(h.name, 'path');
    if (parts.length === 0) {
      if (h.type === 'directory') this.dirMeta.set('', h);
      return;
    }
    const base = parts[parts.length - 1] as string;
    const parentParts = parts.slice(0, -1);
    await this.ensureParents(parentParts, h.name);
    const parentRel = parentParts.join('/');

    if (base === OPAQUE) {
      this.setXattr(parentRel, 'trusted.overlay.opaque', Buffer.from('y'));
      return;
    }
    // Other aufs metadata (.wh..wh.plnk, ...): not part of the filesystem.
    if (base.startsWith(WHITEOUT + WHITEOUT)) return;
    if (base.startsWith(WHITEOUT)) {
      const target = base.slice(WHITEOUT.length);
      if (target === '' || target === '.' || target === '..') this.reject(h.name, 'whiteout names no file in its directory');
      const rel = parentParts.concat(target).join('/');
      this.clear(rel);
      this.defer({ kind: 'c', rel, major: 0, minor: 0, target: '', header: { ...h, mode: 0, uid: 0, gid: 0 } });
      return;
    }

    const rel = parts.join('/');
    const xattrs = paxXattrs(h);
    switch (h.type) {
      case 'directory': {
        const st = lstatOrUndefined(join(this.root, rel));
        if (st && !st.isDirectory()) this.clear(rel);
        if (!st || !st.isDirectory()) {
          mkdirSync(join(this.root, rel), { mode: 0o700 });
          this.count(0);
        }
        this.dirs.add(rel);
        this.dirMeta.set(rel, h);
        break;
      }
      case 'file':
      case 'contiguous-file':
        if (this.deferredPaths.has(rel)) this.clear(rel);
        await this.writeFile(rel, h, body);
        break;
      case 'symlink':
        this.clear(rel);
        if (h.linkname === '') this.reject(h.name, 'symlink has no target');
        symlinkSync(h.linkname, join(this.root, rel));
        lchownSync(join(this.root, rel), h.uid, h.gid);
        lutimesSync(join(this.root, rel), h.mtime, h.mtime);
        this.count(0);
        return; // no xattrs on symlinks
      case 'link': {
        const targetParts = this.clean(h.linkname, 'hardlink target');
        if (targetParts.length === 0) this.reject(h.name, 'hardlink target is the layer root');
        const targetRel = targetParts.join('/');
        if (targetRel === rel) this.reject(h.name, 'hardlink to itself');
        this.clear(rel);
        if (this.deferredPaths.has(targetRel)) {
          this.defer({ kind: 'link', rel, major: 0, minor: 0, target: targetRel, header: h });
          return;
        }
        await this.checkParents(targetParts.slice(0, -1), h.name, 'hardlink target');
        const st = lstatOrUndefined(join(this.root, targetRel));
        if (!st) this.reject(h.name, `hardlink target "${h.linkname}" does not exist in this layer`);
        if (st!.isDirectory()) this.reject(h.name, `hardlink target "${h.linkname}" is a directory`);
        linkSync(join(this.root, targetRel), join(this.root, rel));
        break;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo':
        this.clear(rel);
        this.defer({ kind: h.type === 'fifo' ? 'p' : h.type === 'block-device' ? 'b' : 'c', rel, major: h.devmajor, minor: h.devminor, target: '', header: h });
        break;
      default:
        this.reject(h.name, `entry type '${h.typeflag}' is not supported`);
    }
    for (const [k, v] of xattrs) this.setXattr(rel, k, v);
  }

  private count(size: number): void {
    this.inodes++;
    this.usedBytes += Math.ceil(size / 4096) * 4096;
  }

  private defer(d: Deferred): void {
    this.deferred.push(d);
    this.deferredPaths.add(d.rel);
    this.count(0);
  }

  private setXattr(rel: string, name: string, value: Buffer): void {
    let m = this.xattrs.get(rel);
    if (!m) this.xattrs.set(rel, (m = new Map()));
    m.set(name, value);
  }

  /** Make the parents exist as real directories; a symlink or file in the way rejects the layer. */
  private async ensureParents(parts: string[], name: string): Promise<void> {
    let rel = '';
    for (const p of parts) {
      rel = rel ? `${rel}/${p}` : p;
      if (this.dirs.has(rel)) continue;
      const st = lstatOrUndefined(join(this.root, rel));
      if (!st) {
        if (this.deferredPaths.has(rel)) this.reject(name, `parent "${rel}" is not a directory`);
        mkdirSync(join(this.root, rel), { mode: 0o755 });
        this.count(0);
      } else if (st.isSymbolicLink()) {
        this.reject(name, `parent "${rel}" is a symlink; writing through it could leave the layer root`);
      } else if (!st.isDirectory()) {
        this.reject(name, `parent "${rel}" is not a directory`);
      }
      this.dirs.add(rel);
    }
  }

  /** Like ensureParents but creates nothing: every parent must already be a real directory. */
  private async checkParents(parts: string[], name: string, what: string): Promise<void> {
    let rel = '';
    for (const p of parts) {
      rel = rel ? `${rel}/${p}` : p;
      if (this.dirs.has(rel)) continue;
      const st = lstatOrUndefined(join(this.root, rel));
      if (!st || !st.isDirectory() || st.isSymbolicLink()) this.reject(name, `${what}: "${rel}" is not a directory in this layer`);
      this.dirs.add(rel);
    }
  }

  /** Remove whatever an earlier entry put at `rel` (the later entry wins, as tar does). */
  private clear(rel: string): void {
    if (this.deferredPaths.has(rel)) {
      this.deferred = this.deferred.filter((d) => d.rel !== rel);
      this.deferredPaths.delete(rel);
    }
    const st = lstatOrUndefined(join(this.root, rel));
    if (!st) return;
    rmSync(join(this.root, rel), { recursive: true, force: true });
    // Anything cached under it is gone; deferred work below it must not run.
    for (const d of [...this.dirs]) if (d === rel || d.startsWith(rel + '/')) this.dirs.delete(d);
    for (const d of [...this.dirMeta.keys()]) if (d === rel || d.startsWith(rel + '/')) this.dirMeta.delete(d);
    this.deferred = this.deferred.filter((d) => !d.rel.startsWith(rel + '/'));
    this.deferredPaths = new Set(this.deferred.map((d) => d.rel));
    for (const k of [...this.xattrs.keys()]) if (k === rel || k.startsWith(rel + '/')) this.xattrs.delete(k);
  }

  // File data goes through synchronous calls: each is a short copy into the page cache, the event
  // loop still turns between chunks, and it spares the thread pool (busy with decompression) a
  // round trip per call, which made unpacking several times slower.
  private async writeFile(rel: string, h: TarHeader, body: AsyncIterable<Buffer>): Promise<void> {
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const path = join(this.root, rel);
    let fd: number;
    try {
      fd = openSync(path, flags, 0o600);
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
      this.clear(rel);
      fd = openSync(path, flags, 0o600);
    }
    try {
      let pos = 0;
      for await (const chunk of body) {
        let done = 0;
        while (done < chunk.length) done += writeSync(fd, chunk, done, chunk.length - done, pos + done);
        pos += chunk.length;
      }
      // Most files are root's, as they already are: one syscall less per file.
      if (h.uid !== this.owner?.uid || h.gid !== this.owner.gid) fchownSync(fd, h.uid, h.gid);
      fchmodSync(fd, h.mode & 0o7777);
      futimesSync(fd, h.mtime, h.mtime);
      this.count(pos);
    } finally {
      closeSync(fd);
    }
  }

  /** Synchronous on purpose: it must refuse the header before any of the body is consumed. */
  private checkSpace(h: TarHeader): void {
    if (this.opts.maxBytes && h.size > this.opts.maxBytes) this.reject(h.name, `declares ${h.size} bytes, over the ${this.opts.maxBytes} byte layer limit`);
    if (this.freeBytes === undefined) return;
    if (h.size > this.freeBytes) {
      throw new ResourceExhaustedError(`layer entry "${h.name}" declares ${h.size} bytes, more than the ${this.freeBytes} bytes free under ${this.root}`);
    }
    // Other writers share the disk: a rough running budget, re-read at the next layer.
    this.freeBytes -= h.size;
  }

  /** Deferred work, each path re-checked first: device nodes and whiteouts, xattrs, directory metadata. */
  async finish(): Promise<void> {
    this.dirs = new Set(['']);
    if (this.deferred.length > 0) {
      const args: string[] = [];
      for (const d of this.deferred) {
        await this.checkParents(d.rel.split('/').slice(0, -1), d.rel, 'deferred path');
        if (d.kind === 'link') {
          await this.checkParents(d.target.split('/').slice(0, -1), d.rel, 'hardlink target');
          args.push(d.rel, 'l', d.target, '0');
        } else args.push(d.rel, d.kind, String(d.major), String(d.minor));
      }
      // Node has no mknod: one shell per layer creates them all (paths are relative to the root).
      const script = [
        'while [ $# -gt 0 ]; do',
        '  case "$2" in',
        '    p) mkfifo -m 000 -- "./$1" ;;',
        '    l) ln -- "./$3" "./$1" ;;',
        '    *) mknod -m 000 -- "./$1" "$2" "$3" "$4" ;;',
        '  esac || exit 1',
        '  shift 4',
        'done',
      ].join('\n');
      await run('sh', ['-c', script, 'sh', ...args], { cwd: this.root });
      for (const d of this.deferred) {
        if (d.kind === 'link') continue;
        const p = join(this.root, d.rel);
        lchownSync(p, d.header.uid, d.header.gid);
        chmodSync(p, d.header.mode & 0o7777);
        utimesSync(p, d.header.mtime, d.header.mtime);
      }
    }
    if (this.xattrs.size > 0) {
      let dump = '';
      for (const [rel, attrs] of this.xattrs) {
        const parts = rel.split('/').filter(Boolean);
        await this.checkParents(parts.slice(0, -1), rel, 'xattr path');
        const st = lstatOrUndefined(join(this.root, rel));
        if (!st || st.isSymbolicLink()) continue;
        dump += `# file: ${escapeAttrPath(rel === '' ? '.' : rel)}\n`;
        for (const [k, v] of attrs) dump += `${k}=0s${v.toString('base64')}\n`;
        dump += '\n';
      }
      await run('setfattr', ['--restore=-'], { cwd: this.root, input: dump });
    }
    // Directories last and deepest first, so writing children does not bump their mtimes again.
    const dirs = [...this.dirMeta.entries()].sort((a, b) => b[0].length - a[0].length);
    for (const [rel, h] of dirs) {
      if (rel !== '') await this.checkParents(rel.split('/'), rel, 'directory');
      const p = join(this.root, rel);
      chownSync(p, h.uid, h.gid);
      chmodSync(p, h.mode & 0o7777);
      utimesSync(p, h.mtime, h.mtime);
    }
    if (!this.dirMeta.has('')) chmodSync(this.root, 0o755);
  }
}

/** Xattrs from pax SCHILY.xattr.* records, values byte for byte (security.capability is binary). */
function paxXattrs(h: TarHeader): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  for (const [k, v] of h.pax) {
    if (!k.startsWith('SCHILY.xattr.')) continue;
    const name = k.slice('SCHILY.xattr.'.length);
    if (ALLOWED_XATTR.test(name)) out.push([name, v]);
  }
  return out;
}

/** getfattr's dump escaping: octal for bytes outside printable ASCII, and the backslash itself. */
function escapeAttrPath(p: string): string {
  let out = '';
  for (const b of Buffer.from(p, 'utf8')) {
    out += b <= 0x20 || b >= 0x7f || b === 0x5c ? '\\' + b.toString(8).padStart(3, '0') : String.fromCharCode(b);
  }
  return out;
}

function lstatOrUndefined(p: string): Stats | undefined {
  return lstatSync(p, { throwIfNoEntry: false });
}
