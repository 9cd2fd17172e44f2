// The uncompressed SPDY/3 name/value header block (section 2.6.10): a 32-bit pair count, then
// for each pair a 32-bit length + name and a 32-bit length + value; several values of one name
// are joined by NUL. Names must be lowercase and unique.
import { FrameError } from './frames.js';

export type SpdyHeaders = Record<string, string[]>;

export function encodeHeaderBlock(headers: SpdyHeaders): Buffer {
  const parts: Buffer[] = [];
  const names = Object.keys(headers);
  const count = Buffer.alloc(4);
  count.writeUInt32BE(names.length);
  parts.push(count);
  for (const name of names) {
    if (name === '' || name !== name.toLowerCase()) throw new FrameError(`header name "${name}" must be non-empty and lowercase`);
    const n = Buffer.from(name, 'utf8');
    const v = Buffer.from((headers[name] ?? []).join('\0'), 'utf8');
    const nl = Buffer.alloc(4);
    nl.writeUInt32BE(n.length);
    const vl = Buffer.alloc(4);
    vl.writeUInt32BE(v.length);
    parts.push(nl, n, vl, v);
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(block: Buffer): SpdyHeaders {
  let off = 0;
  const take = (n: number, what: string): Buffer => {
    if (off + n > block.length) throw new FrameError(`header block truncated reading ${what}`);
    const b = block.subarray(off, off + n);
    off += n;
    return b;
  };
  const u32 = (what: string): number => take(4, what).readUInt32BE(0);
  const count = u32('the pair count');
  const out: SpdyHeaders = Object.create(null) as SpdyHeaders;
  for (let i = 0; i < count; i++) {
    const name = take(u32('a name length'), 'a name').toString('utf8');
    if (name === '') throw new FrameError('header block has an empty name');
    if (name !== name.toLowerCase()) throw new FrameError(`header name "${name}" is not lowercase`);
    if (out[name]) throw new FrameError(`header "${name}" appears twice`);
    const value = take(u32('a value length'), 'a value').toString('utf8');
    out[name] = value.split('\0');
  }
  if (off !== block.length) throw new FrameError(`header block has ${block.length - off} trailing bytes`);
  return out;
}

export function header(headers: SpdyHeaders, name: string): string | undefined {
  return headers[name]?.[0];
}
