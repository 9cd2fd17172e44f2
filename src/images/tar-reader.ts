// A streaming tar reader for image layers: ustar, POSIX pax ('x' and 'g' headers), GNU long names
// ('L'/'K') and base-256 numbers. Ours rather than a library's because pax values must stay raw
// bytes: SCHILY.xattr.security.capability is binary, and decoding it as UTF-8 destroys it.
//
// Entries come one at a time; an entry's body is read only while it is the current entry (what the
// caller leaves unread is skipped). Metadata bodies (pax, long names) are held in memory, so they
// are capped. After the end-of-archive blocks the rest of the input is still read (and discarded):
// the layer's diff ID hashes the whole stream, trailing padding included.

/** Entry types by name; anything else is `unsupported` (with its typeflag) and left to the caller to refuse. */
export type TarEntryType = 'file' | 'contiguous-file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo' | 'unsupported';

export interface TarHeader {
  /** Full path: pax `path`, else GNU long name, else ustar prefix + name. */
  name: string;
  type: TarEntryType;
  /** The raw typeflag character (names an `unsupported` type in errors). */
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: Date;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
  /** pax records in force for this entry (global then per-entry), values as raw bytes. */
  pax: ReadonlyMap<string, Buffer>;
}

export interface TarEntry {
  header: TarHeader;
  /** The entry's data (`header.size` bytes), as slices of the input chunks; valid only until the next entry is asked for. */
  body: AsyncIterable<Buffer>;
}

export interface TarReaderOptions {
  /** Largest pax header or GNU long name body held in memory (default 1 MiB). */
  maxMetaBytes?: number;
}

export class TarFormatError extends Error {}

const BLOCK = 512;
const DEFAULT_MAX_META = 1024 * 1024;
const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'contiguous-file',
  '1': 'link',
  '2': 'symlink',
  '3': 'character-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
};

/** Reads the tar in `input` entry by entry. */
export async function* readTar(input: AsyncIterable<Buffer>, opts: TarReaderOptions = {}): AsyncGenerator<TarEntry> {
  const src = new ByteSource(input[Symbol.asyncIterator]());
  const maxMeta = opts.maxMetaBytes ?? DEFAULT_MAX_META;
  let globalPax = new Map<string, Buffer>();
  let localPax: Map<string, Buffer> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const block = await src.read(BLOCK);
    if (block === undefined) {
      // Input ended where a header would start: tolerated (some writers omit the end blocks),
      // unless a pax or long-name header was left waiting for its entry.
      if (localPax || longName !== undefined || longLink !== undefined) throw new TarFormatError('Unexpected end of data after an extended header');
      return;
    }
    if (isZero(block)) {
      if (localPax || longName !== undefined || longLink !== undefined) throw new TarFormatError('Unexpected end-of-archive block after an extended header');
      await src.drain();
      return;
    }
    const h = parseHeader(block);
    const padded = h.size + ((BLOCK - (h.size % BLOCK)) % BLOCK);
    switch (h.typeflag) {
      case 'x':
      case 'g':
      case 'L':
      case 'K': {
        if (h.size > maxMeta) throw new TarFormatError(`'${h.typeflag}' extended header of ${h.size} bytes is over the ${maxMeta} byte limit`);
        const data = await src.read(padded);
        if (data === undefined) throw new TarFormatError('Unexpected end of data in an extended header');
        const body = data.subarray(0, h.size);
        if (h.typeflag === 'x') localPax = checkPaxSize(new Map([...(localPax ?? []), ...parsePax(body)]), maxMeta);
        else if (h.typeflag === 'g') globalPax = checkPaxSize(mergeGlobal(globalPax, parsePax(body)), maxMeta);
        else if (h.typeflag === 'L') longName = cString(body);
        else longLink = cString(body);
        continue;
      }
    }
    const pax = new Map(globalPax);
    for (const [k, v] of localPax ?? []) {
      // An empty per-entry value cancels the global one: the header field applies again.
      if (v.length === 0) pax.delete(k);
      else pax.set(k, v);
    }
    finishHeader(h, pax, longName, longLink);
    localPax = undefined;
    longName = undefined;
    longLink = undefined;
    // Links, devices, dirs and fifos carry no data whatever their size field says (GNU tar agrees
    // for hardlinks with pax size; ustar says such sizes must be zero).
    const dataBytes = h.type === 'file' || h.type === 'contiguous-file' || h.type === 'unsupported' ? h.size : 0;
    if (dataBytes !== h.size) h.size = 0;
    const body = new BodyReader(src, dataBytes);
    yield { header: h, body };
    body.close();
    await src.skip(body.remaining + ((BLOCK - (dataBytes % BLOCK)) % BLOCK));
  }
}

function parseHeader(b: Buffer): TarHeader {
  const stored = parseNumber(b, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : (b[i] as number);
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  if (stored !== unsigned && stored !== signed) throw new TarFormatError('Invalid tar header: checksum mismatch (corrupt, or not a tar archive)');
  const typeflag = String.fromCharCode(b[156] as number);
  const magic = b.toString('latin1', 257, 263);
  let name = cString(b.subarray(0, 100));
  // POSIX ustar splits long paths into prefix/name; GNU ("ustar  ") uses that space for other fields.
  if (magic === 'ustar\0') {
    const prefix = cString(b.subarray(345, 500));
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  return {
    name,
    type: TYPES[typeflag] ?? 'unsupported',
    typeflag,
    mode: parseNumber(b, 100, 8, 'mode'),
    uid: parseNumber(b, 108, 8, 'uid'),
    gid: parseNumber(b, 116, 8, 'gid'),
    size: parseNumber(b, 124, 12, 'size'),
    mtime: new Date(parseNumber(b, 136, 12, 'mtime') * 1000),
    linkname: cString(b.subarray(157, 257)),
    uname: cString(b.subarray(265, 297)),
    gname: cString(b.subarray(297, 329)),
    devmajor: parseNumber(b, 329, 8, 'devmajor'),
    devminor: parseNumber(b, 337, 8, 'devminor'),
    pax: new Map(),
  };
}

/** An octal field (NUL/space padded) or, with the high bit set, a base-256 big-endian two's complement number. */
function parseNumber(b: Buffer, off: number, len: number, field: string): number {
  const first = b[off] as number;
  if (first & 0x80) {
    let v = BigInt(first & 0x7f) - (first & 0x40 ? 0x80n : 0n);
    for (let i = 1; i < len; i++) v = (v << 8n) | BigInt(b[off + i] as number);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw new TarFormatError(`Invalid tar header: ${field} is out of range`);
    if (v < 0n && field !== 'mtime') throw new TarFormatError(`Invalid tar header: ${field} is negative`);
    return Number(v);
  }
  let i = off;
  const end = off + len;
  while (i < end && b[i] === 0x20) i++;
  let v = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = b[i] as number;
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) throw new TarFormatError(`Invalid tar header: ${field} is not an octal number`);
    v = v * 8 + (c - 0x30);
    digits++;
  }
  for (; i < end; i++) {
    const c = b[i] as number;
    if (c !== 0 && c !== 0x20) throw new TarFormatError(`Invalid tar header: ${field} is not an octal number`);
  }
  if (digits === 0 && field === 'checksum') throw new TarFormatError('Invalid tar header: no checksum (not a tar archive)');
  return v;
}

/** pax records: "<len> <key>=<value>\n", the length counting the whole record in bytes. */
function parsePax(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < buf.length) {
    if (buf[pos] === 0) break; // some writers pad the body with NULs
    const sp = buf.indexOf(0x20, pos);
    if (sp < 0 || sp - pos > 20) throw new TarFormatError('Invalid pax header: record has no length');
    const lenText = buf.toString('latin1', pos, sp);
    if (!/^[0-9]+$/.test(lenText)) throw new TarFormatError(`Invalid pax header: bad record length "${lenText}"`);
    const len = Number(lenText);
    const end = pos + len;
    if (len <= sp - pos + 1 || end > buf.length || buf[end - 1] !== 0x0a) throw new TarFormatError('Invalid pax header: record length does not match its content');
    const eq = buf.indexOf(0x3d, sp + 1);
    if (eq < 0 || eq >= end - 1) throw new TarFormatError('Invalid pax header: record has no "="');
    const key = buf.toString('utf8', sp + 1, eq);
    if (key === '') throw new TarFormatError('Invalid pax header: empty keyword');
    // A copy: the block buffer may be a slice of a large input chunk we should not keep alive.
    out.set(key, Buffer.from(buf.subarray(eq + 1, end - 1)));
    pos = end;
  }
  return out;
}

/** Records pile up across consecutive 'x' headers and every 'g' header: the total is capped too. */
function checkPaxSize(m: Map<string, Buffer>, max: number): Map<string, Buffer> {
  let total = 0;
  for (const [k, v] of m) total += k.length + v.length;
  if (total > max) throw new TarFormatError(`pax records in force add up to more than the ${max} byte limit`);
  return m;
}

function mergeGlobal(global: Map<string, Buffer>, records: Map<string, Buffer>): Map<string, Buffer> {
  const out = new Map(global);
  for (const [k, v] of records) {
    if (v.length === 0) out.delete(k);
    else out.set(k, v);
  }
  return out;
}

/** Header fields overridden by pax records and GNU long names. */
function finishHeader(h: TarHeader, pax: Map<string, Buffer>, longName: string | undefined, longLink: string | undefined): void {
  if (longName !== undefined) h.name = longName;
  if (longLink !== undefined) h.linkname = longLink;
  for (const key of pax.keys()) {
    if (key.startsWith('GNU.sparse.')) throw new TarFormatError(`entry "${h.name}": sparse files (pax ${key}) are not supported`);
  }
  const text = (k: string): string | undefined => pax.get(k)?.toString('utf8');
  const int = (k: string): number | undefined => {
    const v = text(k);
    if (v === undefined) return undefined;
    if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(Number(v))) throw new TarFormatError(`Invalid pax header: ${k} "${v}" is not a non-negative integer`);
    return Number(v);
  };
  const path = text('path');
  if (path !== undefined) h.name = path;
  const linkpath = text('linkpath');
  if (linkpath !== undefined) h.linkname = linkpath;
  h.size = int('size') ?? h.size;
  h.uid = int('uid') ?? h.uid;
  h.gid = int('gid') ?? h.gid;
  h.uname = text('uname') ?? h.uname;
  h.gname = text('gname') ?? h.gname;
  const mtime = text('mtime');
  if (mtime !== undefined) {
    if (!/^-?[0-9]+(\.[0-9]*)?$/.test(mtime)) throw new TarFormatError(`Invalid pax header: mtime "${mtime}" is not a number`);
    h.mtime = new Date(Number(mtime) * 1000);
  }
  // Pre-POSIX archives mark directories only by a trailing slash.
  if (h.type === 'file' && h.name.endsWith('/')) h.type = 'directory';
  h.pax = pax;
}

function cString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul < 0 ? b.length : nul);
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] !== 0) return false;
  return true;
}

/** The body of the current entry; reading stops being possible once the reader moves on. */
class BodyReader implements AsyncIterable<Buffer> {
  private closed = false;
  constructor(
    private readonly src: ByteSource,
    public remaining: number,
  ) {}

  close(): void {
    this.closed = true;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    while (this.remaining > 0) {
      if (this.closed) throw new Error('tar entry body read after the reader moved to the next entry');
      const chunk = await this.src.next(this.remaining);
      if (chunk === undefined) throw new TarFormatError('Unexpected end of data in an entry body');
      this.remaining -= chunk.length;
      yield chunk;
    }
  }
}

/** Input chunks as a byte stream: exact reads for headers, zero-copy slices for bodies. */
class ByteSource {
  private chunk: Buffer = Buffer.alloc(0);
  private off = 0;
  private done = false;

  constructor(private readonly it: AsyncIterator<Buffer>) {}

  /** Up to `max` bytes (at least one), or undefined at the end of input. */
  async next(max: number): Promise<Buffer | undefined> {
    if (this.off >= this.chunk.length && !(await this.fill())) return undefined;
    const n = Math.min(max, this.chunk.length - this.off);
    const out = this.chunk.subarray(this.off, this.off + n);
    this.off += n;
    return out;
  }

  /** Exactly `n` bytes; undefined if the input ends at once, an error if it ends part-way. */
  async read(n: number): Promise<Buffer | undefined> {
    const first = await this.next(n);
    if (first === undefined || first.length === n) return first;
    const out = Buffer.allocUnsafe(n);
    first.copy(out);
    let got = first.length;
    while (got < n) {
      const more = await this.next(n - got);
      if (more === undefined) throw new TarFormatError('Unexpected end of data');
      more.copy(out, got);
      got += more.length;
    }
    return out;
  }

  async skip(n: number): Promise<void> {
    while (n > 0) {
      const c = await this.next(n);
      if (c === undefined) throw new TarFormatError('Unexpected end of data');
      n -= c.length;
    }
  }

  /** Read to the end of input, discarding. */
  async drain(): Promise<void> {
    this.off = this.chunk.length;
    while (await this.fill()) this.off = this.chunk.length;
  }

  private async fill(): Promise<boolean> {
    while (!this.done) {
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        break;
      }
      const c = r.value;
      if (c.length === 0) continue;
      this.chunk = c;
      this.off = 0;
      return true;
    }
    return false;
  }
}
