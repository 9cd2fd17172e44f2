// Raw tar blocks for tests: ustar headers with any field (base-256 numbers, GNU magic, bad
// checksums), pax records with binary values and GNU long-name entries, so the tar reader can be
// fed exactly the bytes a given writer would produce.

export interface RawHeader {
  name: string;
  /** Typeflag character ('0', '5', 'x', 'g', 'L', ...). */
  typeflag?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  /** Seconds since the epoch. */
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  prefix?: string;
  /** 'ustar' (POSIX, with prefix) or 'gnu' ("ustar  "). */
  magic?: 'ustar' | 'gnu';
  /** Write these numeric fields base-256 instead of octal. */
  base256?: ('size' | 'uid' | 'gid' | 'mtime')[];
  /** Add to the correct checksum (to make it wrong). */
  checksumDelta?: number;
}

export function header(h: RawHeader): Buffer {
  const b = Buffer.alloc(512);
  const str = (s: string, off: number, len: number): void => {
    const bytes = Buffer.from(s, 'utf8');
    if (bytes.length > len) throw new Error(`"${s}" does not fit in ${len} bytes`);
    bytes.copy(b, off);
  };
  const num = (v: number, off: number, len: number, b256: boolean): void => {
    if (b256) {
      let x = BigInt(v);
      for (let i = len - 1; i >= 0; i--) {
        b[off + i] = Number(x & 0xffn);
        x >>= 8n;
      }
      b[off] = (b[off] as number) | 0x80;
      return;
    }
    str(v.toString(8).padStart(len - 1, '0') + '\0', off, len);
  };
  const b256 = new Set(h.base256 ?? []);
  str(h.name, 0, 100);
  num(h.mode ?? 0o644, 100, 8, false);
  num(h.uid ?? 0, 108, 8, b256.has('uid'));
  num(h.gid ?? 0, 116, 8, b256.has('gid'));
  num(h.size ?? 0, 124, 12, b256.has('size'));
  num(h.mtime ?? 1704164645, 136, 12, b256.has('mtime'));
  str(h.typeflag ?? '0', 156, 1);
  str(h.linkname ?? '', 157, 100);
  if (h.magic === 'gnu') str('ustar  \0', 257, 8);
  else str('ustar\x0000', 257, 8);
  num(h.devmajor ?? 0, 329, 8, false);
  num(h.devminor ?? 0, 337, 8, false);
  if (h.prefix) str(h.prefix, 345, 155);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  str((sum + (h.checksumDelta ?? 0)).toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return b;
}

/** Data padded to whole 512-byte blocks. */
export function padded(data: Buffer | string): Buffer {
  const d = Buffer.from(data);
  return Buffer.concat([d, Buffer.alloc((512 - (d.length % 512)) % 512)]);
}

/** One pax record: "<len> <key>=<value>\n" with the length counting itself. */
export function paxRecord(key: string, value: Buffer | string): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.from(value), Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** A pax extended header entry ('x' per entry, 'g' global) holding the given records. */
export function paxEntry(records: [string, Buffer | string][], typeflag: 'x' | 'g' = 'x'): Buffer {
  const body = Buffer.concat(records.map(([k, v]) => paxRecord(k, v)));
  return Buffer.concat([header({ name: 'PaxHeaders/entry', typeflag, size: body.length }), padded(body)]);
}

/** A GNU long name ('L') or long link ('K') entry, as GNU tar writes it (NUL-terminated). */
export function gnuLongEntry(value: string, typeflag: 'L' | 'K' = 'L'): Buffer {
  const body = Buffer.from(value + '\0');
  return Buffer.concat([header({ name: '././@LongLink', typeflag, size: body.length, magic: 'gnu' }), padded(body)]);
}

/** A regular file entry (header and padded data). */
export function fileEntry(h: RawHeader, data: Buffer | string = ''): Buffer {
  const d = Buffer.from(data);
  return Buffer.concat([header({ ...h, size: h.size ?? d.length }), padded(d)]);
}

/** The end-of-archive marker: two zero blocks. */
export const END = Buffer.alloc(1024);
