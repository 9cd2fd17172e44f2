// Layer unpacking on the real filesystem (as root: device nodes, ownership, trusted xattrs), and
// the malicious layer suite: every hostile layer is refused or contained, and a sentinel directory
// beside the snapshot root proves nothing was written outside it.
import { execFileSync } from 'node:child_process';
import { existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { buildTar, compress, FIXED_MTIME, sha256, type LayerEntry, type Compression } from '../../test/support/image-builder.js';
import { END, fileEntry, gnuLongEntry, paxEntry } from '../../test/support/tar-writer.js';
import { unpackLayer } from './unpack.js';

const base = mkdtempSync('/tmp/nexcage-unpack-');
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

async function apply(entries: LayerEntry[], c: Compression = 'gzip'): Promise<Awaited<ReturnType<typeof unpackLayer>>> {
  const blob = join(base, `case${n}`, 'blob');
  writeFileSync(blob, compress(await buildTar(entries), c));
  return unpackLayer(blob, root);
}

function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, prefix: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      out.push(prefix + name);
      if (lstatSync(p).isDirectory()) walk(p, `${prefix}${name}/`);
    }
  };
  walk(dir, '');
  return out;
}

function outsideUntouched(): void {
  expect(tree(outside)).toEqual(['secret']);
  expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('do not touch\n');
  expect(tree(join(base, `case${n}`)).filter((p) => !p.startsWith('root') && !p.startsWith('outside') && p !== 'blob')).toEqual([]);
}

describe('unpacking a layer', () => {
  const sample: LayerEntry[] = [
    { path: 'etc/', type: 'dir', mode: 0o755 },
    { path: 'etc/conf', content: 'hello\n', mode: 0o640, uid: 1000, gid: 2000, xattrs: { 'user.note': 'kept' } },
    { path: 'etc/hard', type: 'link', linkname: 'etc/conf' },
    { path: 'bin/sh', type: 'symlink', linkname: '/bin/busybox' },
    { path: 'run/fifo', type: 'fifo', mode: 0o600 },
    { path: 'dev/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
    { path: 'gone/', type: 'dir' },
    { path: 'gone/.wh.old', content: '' },
    { path: 'opq/', type: 'dir' },
    { path: 'opq/.wh..wh..opq', content: '' },
    { path: 'opq/new', content: 'new\n' },
    { path: 'sticky/', type: 'dir', mode: 0o1777 },
    { path: 'suid', content: 'x', mode: 0o4755 },
  ];

  for (const c of ['gzip', 'zstd', 'none'] as const) {
    it(`applies a ${c} layer with every entry type and returns the diff ID of the tar`, async () => {
      const tar = await buildTar(sample);
      const res = await apply(sample, c);
      expect(res.compression).toBe(c);
      expect(res.diffId).toBe(sha256(tar));
      const conf = statSync(join(root, 'etc/conf'));
      expect(conf.mode & 0o7777).toBe(0o640);
      expect([conf.uid, conf.gid]).toEqual([1000, 2000]);
      expect(conf.mtime.getTime()).toBe(FIXED_MTIME.getTime());
      expect(conf.nlink).toBe(2);
      expect(statSync(join(root, 'etc/hard')).ino).toBe(conf.ino);
      expect(readlinkSync(join(root, 'bin/sh'))).toBe('/bin/busybox');
      expect(lstatSync(join(root, 'run/fifo')).isFIFO()).toBe(true);
      const dev = lstatSync(join(root, 'dev/null'));
      expect(dev.isCharacterDevice()).toBe(true);
      expect(dev.rdev).toBe(0x103);
      const wh = lstatSync(join(root, 'gone/old'));
      expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true);
      expect(existsSync(join(root, 'gone/.wh.old'))).toBe(false);
      expect(execFileSync('getfattr', ['--only-values', '-n', 'trusted.overlay.opaque', join(root, 'opq')]).toString()).toBe('y');
      expect(existsSync(join(root, 'opq/.wh..wh..opq'))).toBe(false);
      expect(execFileSync('getfattr', ['--only-values', '-n', 'user.note', join(root, 'etc/conf')]).toString()).toBe('kept');
      expect(statSync(join(root, 'sticky')).mode & 0o7777).toBe(0o1777);
      expect(statSync(join(root, 'suid')).mode & 0o7777).toBe(0o4755);
      expect(statSync(join(root, 'etc')).mtime.getTime()).toBe(FIXED_MTIME.getTime());
      outsideUntouched();
    });
  }

  it('lets a later entry replace an earlier one, as tar does', async () => {
    await apply([
      { path: 'a', content: 'first' },
      { path: 'a', content: 'second' },
      { path: 'd/x', content: 'x' },
      { path: 'd', type: 'symlink', linkname: 'elsewhere' },
    ]);
    expect(readFileSync(join(root, 'a'), 'utf8')).toBe('second');
    expect(readlinkSync(join(root, 'd'))).toBe('elsewhere');
  });

  it('drops trusted.* xattrs a layer carries (they could redirect overlayfs)', async () => {
    await apply([{ path: 'f', content: 'x', xattrs: { 'trusted.overlay.redirect': '/etc', 'user.ok': '1' } }]);
    const attrs = execFileSync('getfattr', ['-d', '-m', '-', join(root, 'f')]).toString();
    expect(attrs).toContain('user.ok');
    expect(attrs).not.toContain('trusted.overlay.redirect');
  });
});

/** An xattr's value as getfattr reads it back from the disk, in hex (byte exact). */
function xattrHex(path: string, name: string): string {
  const out = execFileSync('getfattr', ['--absolute-names', '-e', 'hex', '-n', name, path]).toString();
  const line = out.split('\n').find((l) => l.startsWith(`${name}=`));
  if (!line) throw new Error(`no ${name} on ${path}: ${out}`);
  return line.slice(name.length + 1);
}

describe('extended attributes and long names', () => {
  // security.capability v2 as `setcap cap_net_raw,cap_setuid+ep` stores it: NULs and a 0x80 byte
  // (not valid UTF-8), which a reader decoding pax values as text loses.
  const CAPS = '0x0100000280200000000000000000000000000000';
  const longDir = `${'sub-directory-'.repeat(8)}x`; // 113 bytes: past ustar's 100-byte name field

  it('applies binary security.capability and user.* xattrs byte for byte from a layer GNU tar wrote (pax, long path)', async () => {
    const src = join(base, `case${n}`, 'src');
    mkdirSync(join(src, 'bin'), { recursive: true });
    mkdirSync(join(src, longDir));
    writeFileSync(join(src, 'bin/ping'), 'not really ping\n', { mode: 0o755 });
    execFileSync('setcap', ['cap_net_raw,cap_setuid+ep', join(src, 'bin/ping')]);
    execFileSync('setfattr', ['-n', 'user.note', '-v', '0x00ff0a3d6b', join(src, 'bin/ping')]);
    writeFileSync(join(src, longDir, 'file-with-a-long-path'), 'deep\n');
    execFileSync('setfattr', ['-n', 'user.long', '-v', 'text value', join(src, longDir, 'file-with-a-long-path')]);
    const tarPath = join(base, `case${n}`, 'layer.tar');
    execFileSync('tar', ['--format=posix', '--xattrs', '--xattrs-include=*', '-C', src, '-cf', tarPath, 'bin', longDir]);
    const tar = readFileSync(tarPath);
    rmSync(src, { recursive: true });
    rmSync(tarPath);
    expect(tar.includes('SCHILY.xattr.security.capability=')).toBe(true);
    expect(tar.includes(` path=${longDir}/file-with-a-long-path\n`)).toBe(true);
    const blob = join(base, `case${n}`, 'blob');
    writeFileSync(blob, compress(tar, 'gzip'));

    const res = await unpackLayer(blob, root);
    expect(res.diffId).toBe(sha256(tar));
    expect(xattrHex(join(root, 'bin/ping'), 'security.capability')).toBe(CAPS);
    expect(execFileSync('getcap', [join(root, 'bin/ping')]).toString()).toMatch(/cap_setuid,cap_net_raw[=+]ep/);
    expect(xattrHex(join(root, 'bin/ping'), 'user.note')).toBe('0x00ff0a3d6b');
    expect(readFileSync(join(root, longDir, 'file-with-a-long-path'), 'utf8')).toBe('deep\n');
    expect(xattrHex(join(root, longDir, 'file-with-a-long-path'), 'user.long')).toBe('0x746578742076616c7565');
    outsideUntouched();
  });

  it('reads GNU long names and long link targets from a layer GNU tar wrote in its own format', async () => {
    const src = join(base, `case${n}`, 'src');
    mkdirSync(join(src, longDir), { recursive: true });
    writeFileSync(join(src, longDir, 'file-with-a-long-path'), 'gnu\n');
    symlinkSync(`/${longDir}/file-with-a-long-path`, join(src, 'link'));
    linkSync(join(src, longDir, 'file-with-a-long-path'), join(src, 'hard'));
    const tarPath = join(base, `case${n}`, 'layer.tar');
    execFileSync('tar', ['--format=gnu', '-C', src, '-cf', tarPath, longDir, 'link', 'hard']);
    const tar = readFileSync(tarPath);
    rmSync(src, { recursive: true });
    rmSync(tarPath);
    expect(tar.includes('././@LongLink')).toBe(true);
    const blob = join(base, `case${n}`, 'blob');
    writeFileSync(blob, compress(tar, 'zstd'));

    await unpackLayer(blob, root);
    expect(readFileSync(join(root, longDir, 'file-with-a-long-path'), 'utf8')).toBe('gnu\n');
    expect(readlinkSync(join(root, 'link'))).toBe(`/${longDir}/file-with-a-long-path`);
    expect(statSync(join(root, 'hard')).ino).toBe(statSync(join(root, longDir, 'file-with-a-long-path')).ino);
    outsideUntouched();
  });

  it('applies a binary xattr on an entry named by a GNU long name, keeps global pax xattrs and drops trusted.* ones', async () => {
    const name = `${longDir}/bin`;
    const tar = Buffer.concat([
      paxEntry([['SCHILY.xattr.user.global', Buffer.from([0xc3, 0x28, 0x00])]], 'g'),
      paxEntry([
        ['SCHILY.xattr.security.capability', Buffer.from(CAPS.slice(2), 'hex')],
        ['SCHILY.xattr.trusted.overlay.opaque', 'y'],
      ]),
      gnuLongEntry(name),
      fileEntry({ name: name.slice(0, 100), mode: 0o755 }, 'bin'),
      END,
    ]);
    const blob = join(base, `case${n}`, 'blob');
    writeFileSync(blob, tar);
    await unpackLayer(blob, root);
    const p = join(root, name);
    expect(readFileSync(p, 'utf8')).toBe('bin');
    expect(xattrHex(p, 'security.capability')).toBe(CAPS);
    expect(xattrHex(p, 'user.global')).toBe('0xc32800');
    expect(execFileSync('getfattr', ['--absolute-names', '-d', '-m', '-', p]).toString()).not.toContain('trusted.');
    outsideUntouched();
  });
});

describe('the malicious layer suite', () => {
  it('refuses "../" traversal', async () => {
    await expect(apply([{ path: '../../outside/pwned', content: 'x' }])).rejects.toThrow(/"\.\." component/);
    await expect(apply([{ path: 'a/../../outside/pwned', content: 'x' }])).rejects.toThrow(/escape/);
    outsideUntouched();
  });

  it('refuses absolute paths', async () => {
    await expect(apply([{ path: `${outside}/pwned`, content: 'x' }])).rejects.toThrow(/absolute path/);
    outsideUntouched();
  });

  it('refuses writing through a symlink planted by an earlier entry (relative and absolute targets)', async () => {
    await expect(apply([{ path: 'evil', type: 'symlink', linkname: '../outside' }, { path: 'evil/pwned', content: 'x' }])).rejects.toThrow(
      /parent "evil" is a symlink/,
    );
    outsideUntouched();
    rmSync(root, { recursive: true });
    mkdirSync(root);
    await expect(apply([{ path: 'evil', type: 'symlink', linkname: outside }, { path: 'evil/sub/pwned', content: 'x' }])).rejects.toThrow(/symlink/);
    outsideUntouched();
  });

  it('refuses a directory entry through a symlink and a symlink then a hardlink through it', async () => {
    await expect(apply([{ path: 'evil', type: 'symlink', linkname: outside }, { path: 'evil/newdir/', type: 'dir' }])).rejects.toThrow(/symlink/);
    outsideUntouched();
    rmSync(root, { recursive: true });
    mkdirSync(root);
    await expect(apply([{ path: 'evil', type: 'symlink', linkname: outside }, { path: 'stolen', type: 'link', linkname: 'evil/secret' }])).rejects.toThrow(/not a directory in this layer/);
    outsideUntouched();
  });

  it('refuses hardlinks to outside the root', async () => {
    await expect(apply([{ path: 'stolen', type: 'link', linkname: '../outside/secret' }])).rejects.toThrow(/"\.\." component/);
    await expect(apply([{ path: 'stolen', type: 'link', linkname: join(outside, 'secret') }])).rejects.toThrow(/absolute path/);
    await expect(apply([{ path: 'stolen', type: 'link', linkname: 'no/such/file' }])).rejects.toThrow(/not a directory in this layer|does not exist/);
    outsideUntouched();
    expect(statSync(join(outside, 'secret')).nlink).toBe(1);
  });

  it('refuses whiteouts that target outside or nothing', async () => {
    await expect(apply([{ path: '../.wh.secret', content: '' }])).rejects.toThrow(/"\.\." component/);
    await expect(apply([{ path: 'a/.wh...', content: '' }])).rejects.toThrow(/whiteout names no file/);
    await expect(apply([{ path: 'evil', type: 'symlink', linkname: outside }, { path: 'evil/.wh.secret', content: '' }])).rejects.toThrow(/symlink/);
    outsideUntouched();
  });

  it('contains device nodes: created inside the root only, never outside', async () => {
    await apply([{ path: 'dev/sda', type: 'block', devmajor: 8, devminor: 0, mode: 0o600 }]);
    expect(lstatSync(join(root, 'dev/sda')).isBlockDevice()).toBe(true);
    outsideUntouched();
  });

  it('does not create a deferred device under a directory that a later entry turned into a symlink', async () => {
    await apply([
      { path: 'd/', type: 'dir' },
      { path: 'd/secret2', type: 'char', devmajor: 1, devminor: 3 },
      { path: 'd', type: 'symlink', linkname: outside },
    ]);
    expect(readlinkSync(join(root, 'd'))).toBe(outside);
    outsideUntouched();
  });

  it('refuses an entry that declares a huge size (more than the disk has) and an archive cut short', async () => {
    await expect(apply([{ path: 'big', content: 'x'.repeat(100), declaredSize: 2 ** 42 }], 'gzip')).rejects.toThrow(/declares 4398046511104 bytes, more than/);
    await expect(apply([{ path: 'short', content: 'x'.repeat(100), declaredSize: 5000 }], 'none')).rejects.toThrow(/not a valid tar|Unexpected end/);
    outsideUntouched();
  });

  it('refuses garbage that is not a tar', async () => {
    const blob = join(base, `case${n}`, 'blob');
    writeFileSync(blob, compress(Buffer.from('this is not a tar archive '.repeat(40)), 'gzip'));
    await expect(unpackLayer(blob, root)).rejects.toThrow(/not a valid gzip tar/);
    outsideUntouched();
  });
});

describe('decompression ratio limit', () => {
  it('refuses a gzip bomb (16 MiB of zeros from a few KB) over the ratio, naming the setting, and accepts it with no limit', async () => {
    const blob = join(base, `case${n}`, 'bomb');
    writeFileSync(blob, compress(await buildTar([{ path: 'zeros', content: Buffer.alloc(16 * 1024 * 1024) }]), 'gzip'));
    await expect(unpackLayer(blob, root, { maxRatio: 100 })).rejects.toThrow(/more than 100 times its \d+ compressed bytes \(registry\.maxDecompressionRatio\)/);
    rmSync(root, { recursive: true, force: true });
    mkdirSync(root);
    expect((await unpackLayer(blob, root, { maxRatio: 0 })).tarBytes).toBeGreaterThan(16 * 1024 * 1024);
  });

  it('lets a small layer through whatever its ratio (the first MiB is free) and ignores uncompressed layers', async () => {
    const blob = join(base, `case${n}`, 'small');
    writeFileSync(blob, compress(await buildTar([{ path: 'zeros', content: Buffer.alloc(512 * 1024) }]), 'gzip'));
    expect((await unpackLayer(blob, root, { maxRatio: 2 })).entries).toBe(1);
    const plain = join(base, `case${n}`, 'plain');
    writeFileSync(plain, await buildTar([{ path: 'zeros2', content: Buffer.alloc(4 * 1024 * 1024) }]));
    expect((await unpackLayer(plain, root, { maxRatio: 2 })).entries).toBe(1);
  });
});
