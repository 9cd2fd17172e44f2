// Malformed layer tars, one defect each, and the error each is refused with (this text reaches the
// PullImage caller as "layer is not a valid tar archive: ..."); plus the tolerated oddities of real
// writers: NUL-padded pax bodies, pre-POSIX directories, sized hardlinks, empty input chunks.
import { describe, expect, it } from 'vitest';
import { END, fileEntry, header, padded, paxEntry, paxRecord } from '../../test/support/tar-writer.js';
import { readTar, TarFormatError, type TarHeader } from './tar-reader.js';

async function* from(chunks: Buffer[]): AsyncGenerator<Buffer> {
  for (const c of chunks) yield c;
}

async function read(tar: Buffer | Buffer[]): Promise<{ h: TarHeader; data: string }[]> {
  const out: { h: TarHeader; data: string }[] = [];
  for await (const e of readTar(from(Array.isArray(tar) ? tar : [tar]))) {
    let data = '';
    for await (const c of e.body) data += c.toString();
    out.push({ h: e.header, data });
  }
  return out;
}

/** A pax 'x' entry with a raw body (to write records that are wrong). */
function rawPax(body: Buffer | string): Buffer {
  const b = Buffer.from(body);
  return Buffer.concat([header({ name: 'PaxHeaders/x', typeflag: 'x', size: b.length }), padded(b)]);
}

/** A header with one numeric field's bytes replaced. */
function withField(off: number, bytes: Buffer): Buffer {
  const h = header({ name: 'f', size: 0 });
  bytes.copy(h, off);
  // Fix the checksum for the new bytes.
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of h) sum += x;
  Buffer.from(sum.toString(8).padStart(6, '0') + '\0 ').copy(h, 148);
  return h;
}

describe('malformed tars are refused naming the defect', () => {
  const cases: [string, Buffer, RegExp][] = [
    ['the archive ends right after a pax header', Buffer.concat([paxEntry([['path', 'x']])]), /Unexpected end of data after an extended header/],
    ['an end-of-archive block follows a pax header', Buffer.concat([paxEntry([['path', 'x']]), END]), /Unexpected end-of-archive block after an extended header/],
    ['a pax header body is cut short', Buffer.concat([header({ name: 'PaxHeaders/x', typeflag: 'x', size: 600 }), Buffer.alloc(100, 0x31)]), /Unexpected end of data/],
    ['a pax record has no length', Buffer.concat([rawPax('path=x\n'), fileEntry({ name: 'f' }), END]), /Invalid pax header: record has no length/],
    ['a pax record length is not a number', Buffer.concat([rawPax('1a path=x\n'), fileEntry({ name: 'f' }), END]), /bad record length "1a"/],
    ['a pax record length does not match', Buffer.concat([rawPax('99 path=x\n'), fileEntry({ name: 'f' }), END]), /record length does not match its content/],
    ['a pax record has no "="', Buffer.concat([rawPax('10 pathxx\n'), fileEntry({ name: 'f' }), END]), /record has no "="/],
    ['a pax record has an empty keyword', Buffer.concat([rawPax('7 =abc\n'), fileEntry({ name: 'f' }), END]), /empty keyword/],
    ['a pax mtime is not a number', Buffer.concat([paxEntry([['mtime', 'yesterday']]), fileEntry({ name: 'f' }), END]), /mtime "yesterday" is not a number/],
    ['a numeric field has a non-octal digit', Buffer.concat([withField(108, Buffer.from('0000009\0')), END]), /uid is not an octal number/],
    ['a numeric field has bytes after its terminator', Buffer.concat([withField(108, Buffer.from('00007\0x\0')), END]), /uid is not an octal number/],
    ['a base-256 number is beyond 2^53', Buffer.concat([withField(124, Buffer.from([0x80, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), END]), /size is out of range/],
    ['a header without a checksum', Buffer.concat([(() => {
      const h = header({ name: 'f' });
      h.fill(0, 148, 156);
      return h;
    })(), END]), /no checksum \(not a tar archive\)|checksum mismatch/],
    ['a body cut short', Buffer.concat([header({ name: 'f', size: 1000 }), Buffer.alloc(100, 0x61)]), /Unexpected end of data in an entry body/],
    ['the padding after a body is cut short', Buffer.concat([header({ name: 'f', size: 10 }), Buffer.alloc(10, 0x61)]), /Unexpected end of data/],
  ];
  for (const [what, tar, why] of cases) {
    it(what, async () => {
      const err = await read(tar).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TarFormatError);
      expect((err as Error).message).toMatch(why);
    });
  }

  it('a header split over input chunks that then ends is cut short', async () => {
    const h = header({ name: 'f' });
    const err = await read([h.subarray(0, 100), h.subarray(100, 300)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TarFormatError);
    expect((err as Error).message).toBe('Unexpected end of data');
  });
});

describe('oddities real writers produce are read', () => {
  it('a pax body padded with NULs, a pre-POSIX directory (trailing slash, type 0), a hardlink with a size, empty input chunks', async () => {
    const paxBody = Buffer.concat([paxRecord('path', 'from-pax.txt'), Buffer.alloc(30)]);
    const tar = Buffer.concat([
      header({ name: 'PaxHeaders/x', typeflag: 'x', size: paxBody.length }),
      padded(paxBody),
      fileEntry({ name: 'short-name' }, 'pax named me'),
      header({ name: 'olddir/', typeflag: '0' }),
      // GNU tar may give a hardlink the size of its target: no data follows it.
      header({ name: 'hard', typeflag: '1', linkname: 'from-pax.txt', size: 12 }),
      fileEntry({ name: 'after' }, 'still in step'),
      END,
    ]);
    const chunks = [tar.subarray(0, 512), Buffer.alloc(0), tar.subarray(512, 700), Buffer.alloc(0), tar.subarray(700)];
    const entries = await read(chunks);
    expect(entries.map((e) => [e.h.name, e.h.type, e.h.size, e.data])).toEqual([
      ['from-pax.txt', 'file', 12, 'pax named me'],
      ['olddir/', 'directory', 0, ''],
      ['hard', 'link', 0, ''],
      ['after', 'file', 13, 'still in step'],
    ]);
  });

  it('a negative base-256 mtime (before 1970) is read; a negative size is refused', async () => {
    const before1970 = withField(136, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc4]));
    const [e] = await read(Buffer.concat([before1970, END]));
    expect(e?.h.mtime.getTime()).toBe(-60_000);
    const negative = withField(124, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    await expect(read(Buffer.concat([negative, END]))).rejects.toThrow('Invalid tar header: size is negative');
  });

  it('an entry body cannot be read once the reader has moved on', async () => {
    const tar = Buffer.concat([fileEntry({ name: 'a' }, 'x'.repeat(600)), fileEntry({ name: 'b' }, 'y'), END]);
    const bodies: AsyncIterable<Buffer>[] = [];
    for await (const e of readTar(from([tar]))) bodies.push(e.body);
    await expect(
      (async () => {
        for await (const c of bodies[0] as AsyncIterable<Buffer>) void c;
      })(),
    ).rejects.toThrow('tar entry body read after the reader moved to the next entry');
  });
});
