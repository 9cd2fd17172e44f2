// HPACK (RFC 7541) for a server: a full decoder (the client's header blocks use the dynamic table
// and Huffman strings) and the few encodings a server needs to answer, which never index, so the
// encoder keeps no state and a header block can be built once and sent on every stream.
import { H2Error, ErrorCode } from './frames.js';
import { HUFFMAN_BITS, HUFFMAN_CODES, STATIC_TABLE } from './hpack-tables.js';

/** The Huffman code as a binary tree: node n's children at 2n and 2n+1; a leaf is -(byte + 1). */
const TREE = buildTree();

function buildTree(): Int32Array {
  const tree = new Int32Array(2 * 512);
  let nodes = 1;
  for (let sym = 0; sym < 256; sym++) {
    const code = HUFFMAN_CODES[sym] as number;
    const bits = HUFFMAN_BITS[sym] as number;
    let node = 0;
    for (let i = bits - 1; i >= 0; i--) {
      const slot = 2 * node + ((code >>> i) & 1);
      if (i === 0) tree[slot] = -(sym + 1);
      else {
        if (tree[slot] === 0) tree[slot] = nodes++;
        node = tree[slot] as number;
      }
    }
  }
  return tree;
}

let scratch = Buffer.allocUnsafe(256);

/** Decodes a Huffman string; its padding must be at most 7 bits, all ones (RFC 7541 5.2). */
export function huffmanDecode(src: Buffer, start: number, end: number): string {
  // A code is at least 5 bits long: a string decodes to at most 8/5 of its length.
  const most = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < most) scratch = Buffer.allocUnsafe(Math.max(most, scratch.length * 2));
  const out = scratch;
  let n = 0;
  let node = 0;
  let depth = 0;
  let ones = true;
  for (let i = start; i < end; i++) {
    const byte = src[i] as number;
    for (let b = 7; b >= 0; b--) {
      const bit = (byte >>> b) & 1;
      const next = TREE[2 * node + bit] as number;
      if (next < 0) {
        out[n++] = -next - 1;
        node = 0;
        depth = 0;
        ones = true;
      } else if (next === 0) {
        // Only EOS (30 ones) leads off the tree; a string must not contain it.
        throw new H2Error(ErrorCode.COMPRESSION_ERROR, 'HPACK: EOS or an invalid code in a Huffman string');
      } else {
        node = next;
        depth++;
        if (bit === 0) ones = false;
      }
    }
  }
  if (depth > 7 || !ones) throw new H2Error(ErrorCode.COMPRESSION_ERROR, 'HPACK: bad Huffman padding');
  return out.toString('latin1', 0, n);
}

/** Byte length of `s` Huffman-coded (to choose the shorter form). */
function huffmanLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += HUFFMAN_BITS[s.charCodeAt(i) & 0xff] as number;
  return Math.ceil(bits / 8);
}

function huffmanEncode(s: string, out: number[]): void {
  let acc = 0;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    const bits = HUFFMAN_BITS[c] as number;
    const code = HUFFMAN_CODES[c] as number;
    for (let b = bits - 1; b >= 0; b--) {
      acc = (acc << 1) | ((code >>> b) & 1);
      if (++n === 8) {
        out.push(acc);
        acc = 0;
        n = 0;
      }
    }
  }
  if (n > 0) out.push(((acc << (8 - n)) | (0xff >> n)) & 0xff);
}

/** The integer representation with an N-bit prefix; `flags` fills the first byte's high bits. */
export function encodeInteger(value: number, prefixBits: number, flags: number, out: number[]): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(flags | value);
    return;
  }
  out.push(flags | max);
  value -= max;
  while (value >= 128) {
    out.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

function encodeString(s: string, out: number[]): void {
  const h = huffmanLength(s);
  if (h < s.length) {
    encodeInteger(h, 7, 0x80, out);
    huffmanEncode(s, out);
  } else {
    encodeInteger(s.length, 7, 0, out);
    for (let i = 0; i < s.length; i++) out.push(s.charCodeAt(i) & 0xff);
  }
}

const STATIC_NAME = new Map<string, number>();
const STATIC_FIELD = new Map<string, number>();
STATIC_TABLE.forEach(([name, value], i) => {
  if (!STATIC_NAME.has(name)) STATIC_NAME.set(name, i + 1);
  STATIC_FIELD.set(`${name}\0${value}`, i + 1);
});

/**
 * A header block for `fields` (names lower-case, values latin1) that leaves the decoder's dynamic
 * table alone: indexed static fields where one matches, else literals without indexing.
 */
export function encodeHeaderBlock(fields: readonly (readonly [string, string])[]): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    const full = STATIC_FIELD.get(`${name}\0${value}`);
    if (full !== undefined) {
      encodeInteger(full, 7, 0x80, out);
      continue;
    }
    const index = STATIC_NAME.get(name);
    if (index !== undefined) encodeInteger(index, 4, 0, out);
    else {
      out.push(0);
      encodeString(name, out);
    }
    encodeString(value, out);
  }
  return Buffer.from(out);
}

/** What a decoded header block holds: fields in order, and its size as RFC 7540 6.5.2 counts it. */
export interface DecodedHeaders {
  fields: (readonly [name: string, value: string])[];
  listSize: number;
}

const ENTRY_OVERHEAD = 32;
const EMPTY = Buffer.alloc(0);

/** One connection's decoder: the dynamic table lives as long as the connection. */
export class HpackDecoder {
  /** Newest first. */
  private readonly entries: (readonly [string, string])[] = [];
  private size = 0;
  private maxSize: number;

  /** `limit`: the SETTINGS_HEADER_TABLE_SIZE we announced (the most a size update may ask for). */
  constructor(private readonly limit = 4096) {
    this.maxSize = limit;
  }

  /** The block being decoded and the position in it (fields, not closures: no garbage per block). */
  private block: Buffer = EMPTY;
  private i = 0;

  decode(block: Buffer): DecodedHeaders {
    // Table entries are immutable tuples: an indexed field is the entry itself, not a copy.
    const fields: (readonly [string, string])[] = [];
    let listSize = 0;
    let fieldSeen = false;
    this.block = block;
    this.i = 0;
    try {
      while (this.i < block.length) {
        const b = block[this.i] as number;
        if (b & 0x80) {
          const f = this.field(this.int(7));
          fields.push(f);
          listSize += f[0].length + f[1].length + ENTRY_OVERHEAD;
          fieldSeen = true;
        } else if ((b & 0xe0) === 0x20) {
          if (fieldSeen) throw new H2Error(ErrorCode.COMPRESSION_ERROR, 'HPACK: table size update after a field');
          const size = this.int(5);
          if (size > this.limit) throw new H2Error(ErrorCode.COMPRESSION_ERROR, `HPACK: table size ${size} over the ${this.limit} announced`);
          this.maxSize = size;
          this.evict(0);
        } else {
          const indexing = (b & 0xc0) === 0x40;
          const index = this.int(indexing ? 6 : 4);
          const name = index === 0 ? this.str() : this.field(index)[0];
          const f = [name, this.str()] as const;
          fields.push(f);
          listSize += f[0].length + f[1].length + ENTRY_OVERHEAD;
          fieldSeen = true;
          if (indexing) this.add(f);
        }
      }
    } finally {
      this.block = EMPTY;
    }
    return { fields, listSize };
  }

  private int(prefixBits: number): number {
    const block = this.block;
    const max = (1 << prefixBits) - 1;
    let value = (block[this.i++] as number) & max;
    if (value < max) return value;
    for (let shift = 0; ; shift += 7) {
      if (this.i >= block.length) throw new H2Error(ErrorCode.COMPRESSION_ERROR, 'HPACK: truncated integer');
      if (shift > 21) throw new H2Error(ErrorCode.COMPRESSION_ERROR, 'HPACK: integer too large');
      const b = block[this.i++] as number;
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
  }

  private str(): string {
    const block = this.block;
    if (this.i >= block.length) throw new H2Error(ErrorCode.COMPRESSION_ERROR, 'HPACK: truncated string');
    const huffman = ((block[this.i] as number) & 0x80) !== 0;
    const len = this.int(7);
    const at = this.i;
    if (at + len > block.length) throw new H2Error(ErrorCode.COMPRESSION_ERROR, 'HPACK: string past the end of the block');
    this.i = at + len;
    return huffman ? huffmanDecode(block, at, at + len) : block.toString('latin1', at, at + len);
  }

  private field(index: number): readonly [string, string] {
    if (index === 0) throw new H2Error(ErrorCode.COMPRESSION_ERROR, 'HPACK: index 0');
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1] as readonly [string, string];
    const e = this.entries[index - STATIC_TABLE.length - 1];
    if (!e) throw new H2Error(ErrorCode.COMPRESSION_ERROR, `HPACK: index ${index} past the table`);
    return e;
  }

  private add(entry: readonly [string, string]): void {
    const size = entry[0].length + entry[1].length + ENTRY_OVERHEAD;
    this.evict(size);
    // An entry larger than the table empties it and is not added (RFC 7541 4.4).
    if (size > this.maxSize) return;
    this.entries.unshift(entry);
    this.size += size;
  }

  private evict(room: number): void {
    while (this.entries.length > 0 && this.size + room > this.maxSize) {
      const e = this.entries.pop() as readonly [string, string];
      this.size -= e[0].length + e[1].length + ENTRY_OVERHEAD;
    }
  }
}
