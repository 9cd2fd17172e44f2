// The layer tar reader on archives written block by block: every header form image layers use
// (ustar, pax x/g with binary values, GNU long names, base-256 numbers), whatever the chunking of
// the input, and clear errors for corrupt or truncated archives.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { END, fileEntry, gnuLongEntry, header, padded, paxEntry } from '../../test/support/tar-writer.js';
import { readTar, TarFormatError, type TarHeader } from './tar-reader.js';

interface Read {
  h: TarHeader;
  data: Buffer;
}

async function* chunked(buf: Buffer, size: number, counter?: { bytes: number }): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) {
    const c = buf.subarray(i, i + size);
    if (counter) counter.bytes += c.length;
    yield c;
  }
}

async function readAll(tar: Buffer, chunk = 64 * 1024, skipBodies = false): Promise<Read[]> {
  const out: Read[] = [];
  for await (const e of readTar(chunked(tar, chunk))) {
    const parts: Buffer[] = [];
    if (!skipBodies) for await (const c of e.body) parts.push(Buffer.from(c));
    out.push({ h: e.header, data: Buffer.concat(parts) });
  }
  return out;
}

// A security.capability v2 value granting cap_net_raw (as `setcap cap_net_raw+ep` writes it): NULs and high bytes.
const CAP_NET_RAW = Buffer.from('0100000200200000000000000000000000000000', 'hex');
const LONG = `${'deep/'.repeat(30)}name-that-is-long.txt`; // 171 bytes

describe('reading a tar', () => {
  it('reads ustar entries of every type with their fields and data', async () => {
    const tar = Buffer.concat([
      header({ name: 'etc/', typeflag: '5', mode: 0o755 }),
      fileEntry({ name: 'etc/conf', mode: 0o640, uid: 1000, gid: 2000, mtime: 1700000000 }, 'hello\n'),
      header({ name: 'etc/hard', typeflag: '1', linkname: 'etc/conf' }),
      header({ name: 'bin/sh', typeflag: '2', linkname: '/bin/busybox' }),
      header({ name: 'dev/null', typeflag: '3', devmajor: 1, devminor: 3 }),
      header({ name: 'dev/sda', typeflag: '4', devmajor: 8, devminor: 0 }),
      header({ name: 'run/fifo', typeflag: '6' }),
      fileEntry({ name: 'file', prefix: 'a/long/prefix' }, 'x'),
      END,
    ]);
    const got = await readAll(tar);
    expect(got.map((e) => [e.h.name, e.h.type])).toEqual([
      ['etc/', 'directory'],
      ['etc/conf', 'file'],
      ['etc/hard', 'link'],
      ['bin/sh', 'symlink'],
      ['dev/null', 'character-device'],
      ['dev/sda', 'block-device'],
      ['run/fifo', 'fifo'],
      ['a/long/prefix/file', 'file'],
    ]);
    const conf = got[1] as Read;
    expect(conf.data.toString()).toBe('hello\n');
    expect([conf.h.mode, conf.h.uid, conf.h.gid, conf.h.size, conf.h.mtime.getTime()]).toEqual([0o640, 1000, 2000, 6, 1700000000000]);
    expect(got[2]?.h.linkname).toBe('etc/conf');
    expect([got[4]?.h.devmajor, got[4]?.h.devminor]).toEqual([1, 3]);
  });

  it('keeps pax values as raw bytes: a binary security.capability survives byte for byte', async () => {
    const odd = Buffer.from([0x00, 0xff, 0x0a, 0x3d, 0x20, 0xc3, 0x28]); // NUL, invalid UTF-8, newline, "=", space
    const tar = Buffer.concat([
      paxEntry([
        ['SCHILY.xattr.security.capability', CAP_NET_RAW],
        ['SCHILY.xattr.user.odd', odd],
        ['SCHILY.xattr.user.text', 'a=b c'],
      ]),
      fileEntry({ name: 'bin/ping', mode: 0o755 }, 'ELF'),
      fileEntry({ name: 'next' }, 'y'),
      END,
    ]);
    const [ping, next] = await readAll(tar);
    expect(ping?.h.pax.get('SCHILY.xattr.security.capability')?.equals(CAP_NET_RAW)).toBe(true);
    expect(ping?.h.pax.get('SCHILY.xattr.user.odd')?.equals(odd)).toBe(true);
    expect(ping?.h.pax.get('SCHILY.xattr.user.text')?.toString()).toBe('a=b c');
    expect(ping?.data.toString()).toBe('ELF');
    expect(next?.h.pax.size).toBe(0); // an 'x' header applies to one entry only
  });

  it('takes path, linkpath, size, ids and mtime from pax records', async () => {
    const data = 'z'.repeat(700);
    const tar = Buffer.concat([
      paxEntry([
        ['path', LONG],
        ['size', String(data.length)],
        ['uid', '3000000000'],
        ['gid', '4000000000'],
        ['mtime', '1700000000.25'],
        ['uname', 'ünïcode'],
      ]),
      fileEntry({ name: 'truncated-name', size: 0 }),
      Buffer.from(padded(data)),
      paxEntry([['linkpath', `${LONG}.target`]]),
      header({ name: 'lnk', typeflag: '2', linkname: 'short' }),
      END,
    ]);
    // The first header says size 0 and the data follows anyway: the pax size rules.
    const [file, link] = await readAll(tar);
    expect(file?.h.name).toBe(LONG);
    expect(file?.h.size).toBe(700);
    expect(file?.data.toString()).toBe(data);
    expect([file?.h.uid, file?.h.gid, file?.h.mtime.getTime(), file?.h.uname]).toEqual([3000000000, 4000000000, 1700000000250, 'ünïcode']);
    expect(link?.h.linkname).toBe(`${LONG}.target`);
  });

  it('applies a global pax header to every later entry until changed, and an empty per-entry value cancels it', async () => {
    const tar = Buffer.concat([
      paxEntry([['SCHILY.xattr.user.all', 'g1'], ['uid', '7']], 'g'),
      fileEntry({ name: 'a' }),
      paxEntry([['uid', '']]),
      fileEntry({ name: 'b', uid: 5 }),
      paxEntry([['SCHILY.xattr.user.all', '']], 'g'),
      fileEntry({ name: 'c' }),
      END,
    ]);
    const [a, b, c] = await readAll(tar);
    expect([a?.h.uid, a?.h.pax.get('SCHILY.xattr.user.all')?.toString()]).toEqual([7, 'g1']);
    expect([b?.h.uid, b?.h.pax.get('SCHILY.xattr.user.all')?.toString()]).toEqual([5, 'g1']);
    expect(c?.h.pax.has('SCHILY.xattr.user.all')).toBe(false);
  });

  it('reads GNU long names and long link targets (and ignores the prefix field under GNU magic)', async () => {
    const tar = Buffer.concat([
      gnuLongEntry(LONG),
      fileEntry({ name: LONG.slice(0, 100), magic: 'gnu' }, 'long'),
      gnuLongEntry(`${LONG}.link`, 'L'),
      gnuLongEntry(LONG, 'K'),
      header({ name: 'x', typeflag: '1', linkname: LONG.slice(0, 100), magic: 'gnu' }),
      END,
    ]);
    const [f, l] = await readAll(tar);
    expect([f?.h.name, f?.data.toString()]).toEqual([LONG, 'long']);
    expect([l?.h.name, l?.h.type, l?.h.linkname]).toEqual([`${LONG}.link`, 'link', LONG]);
  });

  it('reads base-256 numbers (sizes past 8 GiB, large ids, negative mtimes)', async () => {
    const tar = Buffer.concat([
      header({ name: 'big', size: 2 ** 42, uid: 2 ** 40, base256: ['size', 'uid'] }),
      header({ name: 'old', size: 0, mtime: -1, base256: ['mtime'] }),
    ]);
    const it = readTar(chunked(tar, 512))[Symbol.asyncIterator]();
    const big = await it.next();
    expect(big.done).toBe(false);
    if (!big.done) expect([big.value.header.size, big.value.header.uid]).toEqual([2 ** 42, 2 ** 40]);
    await it.return(undefined);
    const old = await readAll(Buffer.concat([header({ name: 'old', mtime: -1, base256: ['mtime'] }), END]));
    expect(old[0]?.h.mtime.getTime()).toBe(-1000);
  });

  it('skips bodies the caller does not read and returns the same entries whatever the input chunking', async () => {
    const tar = Buffer.concat([
      paxEntry([['SCHILY.xattr.security.capability', CAP_NET_RAW], ['path', LONG]]),
      fileEntry({ name: 'ignored' }, 'a'.repeat(1500)),
      gnuLongEntry(`${LONG}/2`),
      fileEntry({ name: 'x', magic: 'gnu' }, 'b'.repeat(513)),
      fileEntry({ name: 'empty' }),
      END,
    ]);
    const summary = (rs: Read[]): unknown => rs.map((r) => [r.h.name, r.h.size, r.data.toString('hex'), r.h.pax.get('SCHILY.xattr.security.capability')?.toString('hex')]);
    const expected = summary(await readAll(tar));
    expect((expected as unknown[]).length).toBe(3);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2000 }), async (size) => {
        expect(summary(await readAll(tar, size))).toEqual(expected);
        expect((await readAll(tar, size, true)).map((r) => r.h.name)).toEqual([LONG, `${LONG}/2`, 'empty']);
      }),
      { numRuns: 40 },
    );
  });

  it('reads the input to its end after the end-of-archive blocks (the diff ID covers them) and accepts a missing end', async () => {
    const tar = Buffer.concat([fileEntry({ name: 'a' }, 'a'), END, Buffer.alloc(8192)]);
    const counter = { bytes: 0 };
    const names: string[] = [];
    for await (const e of readTar(chunked(tar, 1000, counter))) names.push(e.header.name);
    expect(names).toEqual(['a']);
    expect(counter.bytes).toBe(tar.length);
    expect((await readAll(fileEntry({ name: 'no-end' }, 'x'))).map((r) => r.h.name)).toEqual(['no-end']);
  });

  it('refuses corrupt and truncated archives with a clear error', async () => {
    const cases: [Buffer, RegExp][] = [
      [Buffer.concat([header({ name: 'a', checksumDelta: 1 }), END]), /checksum mismatch/],
      [Buffer.from('this is not a tar archive '.repeat(40)), /Invalid tar header/],
      [Buffer.concat([header({ name: 'a', size: 5000 }), Buffer.alloc(100, 1)]), /Unexpected end of data/],
      [paxEntry([['path', 'a']]), /Unexpected end of data after an extended header/],
      [Buffer.concat([header({ name: 'p', typeflag: 'x', size: 11 }), padded('99 path=a\n\n'), fileEntry({ name: 'a' }), END]), /record length/],
      [Buffer.concat([header({ name: 'p', typeflag: 'x', size: 9 }), padded('9 path=a\n'.replace('=', ':')), fileEntry({ name: 'a' }), END]), /no "="/],
      [Buffer.concat([paxEntry([['size', '-1']]), fileEntry({ name: 'a' }), END]), /size "-1" is not a non-negative integer/],
      [Buffer.concat([header({ name: 'neg', size: -5, base256: ['size'] }), END]), /size is negative/],
      [Buffer.concat([paxEntry([['GNU.sparse.major', '1']]), fileEntry({ name: 'a' }), END]), /sparse files/],
    ];
    for (const [tar, re] of cases) {
      const err = await readAll(tar).catch((e: unknown) => e);
      expect(err, String(re)).toBeInstanceOf(TarFormatError);
      expect((err as Error).message).toMatch(re);
    }
  });

  it('caps the size of a pax header or long name it holds in memory', async () => {
    const tar = Buffer.concat([paxEntry([['comment', 'c'.repeat(5000)]]), fileEntry({ name: 'a' }), END]);
    const read = async (max: number): Promise<number> => {
      let n = 0;
      for await (const e of readTar(chunked(tar, 4096), { maxMetaBytes: max })) n += e.header.name === 'a' ? 1 : 0;
      return n;
    };
    await expect(read(4096)).rejects.toThrow(/'x' extended header of 5014 bytes is over the 4096 byte limit/);
    expect(await read(8192)).toBe(1);
    // Many global headers (or consecutive 'x' ones), each under the limit, with distinct keys.
    for (const flag of ['g', 'x'] as const) {
      const many = Buffer.concat([...Array.from({ length: 10 }, (_, i) => paxEntry([[`key${i}`, 'v'.repeat(1000)]], flag)), fileEntry({ name: 'a' }), END]);
      const drain = async (): Promise<void> => {
        for await (const e of readTar(chunked(many, 4096), { maxMetaBytes: 4096 })) void e;
      };
      await expect(drain()).rejects.toThrow(/pax records in force add up to more than the 4096 byte limit/);
    }
  });

  it('reports typeflags it does not know as unsupported, keeping the flag', async () => {
    const [e] = await readAll(Buffer.concat([fileEntry({ name: 'sparse', typeflag: 'S' }, 'data'), END]));
    expect([e?.h.type, e?.h.typeflag, e?.data.toString()]).toEqual(['unsupported', 'S', 'data']);
  });
});
