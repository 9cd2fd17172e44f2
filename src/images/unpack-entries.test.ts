// Layer entries that replace, link to or sit under one another, hostile ones among them, and the
// limits and source errors of unpackStream, on the real filesystem (as root: devices, ownership).
// A sentinel directory beside each root proves nothing was written outside it.
import { gzipSync } from 'node:zlib';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { buildTar, compress, type LayerEntry, type Compression } from '../../test/support/image-builder.js';
import { END, fileEntry, header } from '../../test/support/tar-writer.js';
import { LayerRejected, unpackLayer, unpackStream, type UnpackOptions } from './unpack.js';

const base = mkdtempSync('/tmp/nexcage-unpack-entries-');
let n = 0;
let root = '';
let outside = '';

beforeEach(() => {
  n++;
  root = join(base, `case${n}`, 'root');
  outside = join(base, `case${n}`, 'outside');
  mkdirSync(root, { recursive: true });
  mkdirSync(outside, { recursive: true });
  writeFileSync(join(outside, 'secret'), 'do not touch\n');
});
afterAll(() => rmSync(base, { recursive: true, force: true }));

async function apply(entries: LayerEntry[], c: Compression = 'none', opts: UnpackOptions = {}): Promise<Awaited<ReturnType<typeof unpackLayer>>> {
  return applyBlob(compress(await buildTar(entries), c), opts);
}

function applyBlob(blob: Buffer, opts: UnpackOptions = {}): ReturnType<typeof unpackLayer> {
  const file = join(base, `case${n}`, 'blob');
  writeFileSync(file, blob);
  return unpackLayer(file, root, opts);
}

function ls(dir = root): string[] {
  const out: string[] = [];
  const walk = (d: string, prefix: string): void => {
    for (const name of readdirSync(d).sort()) {
      out.push(prefix + name);
      if (lstatSync(join(d, name)).isDirectory()) walk(join(d, name), `${prefix}${name}/`);
    }
  };
  walk(dir, '');
  return out;
}

function outsideUntouched(): void {
  expect(ls(outside)).toEqual(['secret']);
  expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('do not touch\n');
}

describe('unpack: entries over one another', () => {
  it('a directory entry replaces a file, and a file replaces a fifo, both at the same path', async () => {
    await apply([
      { path: 'x', content: 'file first' },
      { path: 'x/', type: 'dir', mode: 0o750 },
      { path: 'x/in', content: 'inside' },
      { path: 'p', type: 'fifo' },
      { path: 'p', content: 'file after fifo' },
    ]);
    expect(lstatSync(join(root, 'x')).isDirectory()).toBe(true);
    expect(lstatSync(join(root, 'x')).mode & 0o7777).toBe(0o750);
    expect(readFileSync(join(root, 'x/in'), 'utf8')).toBe('inside');
    expect(lstatSync(join(root, 'p')).isFile()).toBe(true);
    expect(readFileSync(join(root, 'p'), 'utf8')).toBe('file after fifo');
  });

  it('the root entry ("./") sets the snapshot root\'s mode and owner; without one the root is 0755', async () => {
    await apply([{ path: './', type: 'dir', mode: 0o710, uid: 1000, gid: 1000 }, { path: 'a', content: 'a' }]);
    const st = statSync(root);
    expect(st.mode & 0o7777).toBe(0o710);
    expect([st.uid, st.gid]).toEqual([1000, 1000]);
    n++;
    root = join(base, `case${n}`, 'root');
    mkdirSync(root, { recursive: true, mode: 0o700 });
    chmodSync(root, 0o700);
    await apply([{ path: 'a', content: 'a' }]);
    expect(statSync(root).mode & 0o7777).toBe(0o755);
  });

  it('skips aufs metadata entries (.wh..wh.aufs, .wh..wh.orph)', async () => {
    const r = await apply([{ path: '.wh..wh.aufs', content: '' }, { path: '.wh..wh.orph/', type: 'dir' }, { path: 'kept', content: 'k' }]);
    expect(ls()).toEqual(['kept']);
    expect(r.entries).toBe(3);
  });

  it('a hardlink to a fifo of the same layer is made once the fifo exists', async () => {
    await apply([{ path: 'p', type: 'fifo' }, { path: 'q', type: 'link', linkname: 'p' }]);
    const p = lstatSync(join(root, 'p'));
    expect(p.isFIFO()).toBe(true);
    expect(lstatSync(join(root, 'q')).ino).toBe(p.ino);
  });

  it('files in a setgid root are given the owner the entry names', async () => {
    chmodSync(root, 0o2755);
    await apply([{ path: 'mine', content: 'x', uid: 0, gid: 0 }, { path: 'theirs', content: 'y', uid: 1000, gid: 1000 }]);
    expect([statSync(join(root, 'mine')).uid, statSync(join(root, 'mine')).gid]).toEqual([0, 0]);
    expect([statSync(join(root, 'theirs')).uid, statSync(join(root, 'theirs')).gid]).toEqual([1000, 1000]);
  });
});

describe('unpack: hostile entries', () => {
  const refused = async (entries: LayerEntry[], why: RegExp): Promise<void> => {
    const err = await apply(entries).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LayerRejected);
    expect((err as Error).message).toMatch(why);
    outsideUntouched();
  };

  it('refuses a symlink without a target', async () => {
    await refused([{ path: 'l', type: 'symlink', linkname: '' }], /"l": symlink has no target/);
  });

  it('refuses hardlinks to the root, to themselves, to nothing, to a directory, and through a symlink', async () => {
    await refused([{ path: 'h', type: 'link', linkname: './' }], /hardlink target is the layer root/);
    await refused([{ path: 'h', type: 'link', linkname: 'h' }], /hardlink to itself/);
    await refused([{ path: 'h', type: 'link', linkname: 'nothing' }], /hardlink target "nothing" does not exist in this layer/);
    await refused([{ path: 'd/', type: 'dir' }, { path: 'h', type: 'link', linkname: 'd' }], /hardlink target "d" is a directory/);
    await refused([{ path: 'up', type: 'symlink', linkname: outside }, { path: 'h', type: 'link', linkname: 'up/secret' }], /hardlink target: "up" is not a directory in this layer/);
    await refused([{ path: 'h', type: 'link', linkname: '/etc/passwd' }], /hardlink target is an absolute path/);
  });

  it('refuses an entry under a file or under a device node', async () => {
    await refused([{ path: 'f', content: 'x' }, { path: 'f/x', content: 'y' }], /parent "f" is not a directory/);
    await refused([{ path: 'p', type: 'fifo' }, { path: 'p/x', content: 'y' }], /parent "p" is not a directory/);
  });

  it('refuses a NUL byte in a name and entry types it does not know', async () => {
    const nul = Buffer.concat([fileEntry({ name: 'a\0b' }, 'x'), END]);
    // A NUL ends the name field: what is read is "a", a plain file.
    await applyBlob(nul);
    expect(ls()).toEqual(['a']);
    n++;
    root = join(base, `case${n}`, 'root');
    mkdirSync(root, { recursive: true });
    const sparse = Buffer.concat([fileEntry({ name: 'sparse', typeflag: 'S' }, 'x'), END]);
    await expect(applyBlob(sparse)).rejects.toThrow(`layer entry "sparse": entry type 'S' is not supported`);
    const volume = Buffer.concat([header({ name: 'label', typeflag: 'V' }), END]);
    await expect(applyBlob(volume)).rejects.toThrow(/entry type 'V' is not supported/);
  });

  it('drops a device node whose directory a later entry turned into a symlink to outside', async () => {
    await refused(
      [
        { path: 'dev/', type: 'dir' },
        { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3 },
        { path: 'dev', type: 'symlink', linkname: outside },
        { path: 'dev/zero', type: 'char', devmajor: 1, devminor: 5 },
      ],
      /parent "dev" is a symlink/,
    );
  });
});

describe('unpackStream: limits and sources', () => {
  it('refuses a layer over maxBytes, by one declared size or by the sum of its files', async () => {
    // Refused from its header, before any of its body is read.
    const declared = Buffer.concat([header({ name: 'big', size: 1_000_000 }), Buffer.alloc(512)]);
    await expect(applyBlob(declared, { maxBytes: 2000 })).rejects.toThrow('layer entry "big": declares 1000000 bytes, over the 2000 byte layer limit');
    expect(ls()).toEqual([]);
    n++;
    root = join(base, `case${n}`, 'root');
    mkdirSync(root, { recursive: true });
    const many = await buildTar(Array.from({ length: 8 }, (_, i) => ({ path: `f${i}`, content: Buffer.alloc(900) })));
    const err = await applyBlob(gzipSync(many), { maxBytes: 6000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LayerRejected);
    expect((err as Error).message).toBe('layer is larger than 6000 bytes uncompressed');
  });

  it('an empty blob is an empty layer (a plain tar without end blocks)', async () => {
    const r = await applyBlob(Buffer.alloc(0));
    expect(r).toMatchObject({ entries: 0, tarBytes: 0, compression: 'none' });
    expect(ls()).toEqual([]);
  });

  it('reports a failing source (a broken download) as itself, not as a broken archive, whatever the compression', async () => {
    const tar = await buildTar([{ path: 'a', content: Buffer.alloc(300_000, 'a') }]);
    for (const c of ['none', 'gzip', 'zstd'] as const) {
      const blob = compress(tar, c);
      const download = new Error(`connection reset (${c})`);
      async function* source(): AsyncGenerator<Buffer> {
        yield blob.subarray(0, 2);
        yield blob.subarray(2, 1000);
        throw download;
      }
      const dir = join(base, `case${n}`, `stream-${c}`);
      mkdirSync(dir);
      await expect(unpackStream(source(), blob.length, dir)).rejects.toBe(download);
    }
  });

  it('unpacks a source that arrives in small chunks, the magic number split across them', async () => {
    const tar = await buildTar([{ path: 'dir/', type: 'dir' }, { path: 'dir/file', content: 'streamed\n' }]);
    for (const c of ['gzip', 'zstd'] as const) {
      const blob = compress(tar, c);
      async function* source(): AsyncGenerator<Buffer> {
        for (let i = 0; i < blob.length; i += 3) yield blob.subarray(i, i + 3);
      }
      const dir = join(base, `case${n}`, `chunks-${c}`);
      mkdirSync(dir);
      const r = await unpackStream(source(), blob.length, dir);
      expect(r.compression).toBe(c);
      expect(readFileSync(join(dir, 'dir/file'), 'utf8')).toBe('streamed\n');
    }
  });

  it('names a gzip layer that is not a tar inside, and a truncated gzip stream', async () => {
    await expect(applyBlob(gzipSync(Buffer.alloc(2048, 'z')))).rejects.toThrow(/layer is not a valid gzip tar archive/);
    const tar = await buildTar([{ path: 'a', content: Buffer.alloc(100_000, 'q') }]);
    const gz = gzipSync(tar);
    await expect(applyBlob(gz.subarray(0, gz.length - 20))).rejects.toThrow(/layer is not a valid gzip tar archive/);
  });
});
