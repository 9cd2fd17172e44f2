import { constants, createInflate, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { SPDY3_DICTIONARY } from './dictionary.js';
import {
  ControlType,
  encodeControl,
  encodeData,
  FLAG_FIN,
  FrameError,
  FrameReader,
  FrameSplitter,
  parseSettings,
  parseSynStream,
  settingsPayload,
  streamBlockPayload,
  synStreamPayload,
  twoWords,
} from './frames.js';
import { decodeHeaderBlock, encodeHeaderBlock } from './header-block.js';
import { HeaderCompressor, HeaderDecompressor, MAX_HEADER_BLOCK } from './header-codec.js';
import { leaseRead, release } from '../read-leases.js';

/** A released read: its buffer detached, the memory gone. */
const freed = (b: Uint8Array): boolean => (b.buffer as ArrayBuffer).detached;

/** adler32 (RFC 1950): the DICTID a zlib stream names its preset dictionary by. */
function adler32(b: Buffer): number {
  let a = 1;
  let s = 0;
  for (const byte of b) {
    a = (a + byte) % 65521;
    s = (s + a) % 65521;
  }
  return ((s << 16) | a) >>> 0;
}

describe('SPDY/3 dictionary', () => {
  it('is the 1423 bytes whose adler32 is the spec DICTID 0xe3c6a7c2', () => {
    expect(SPDY3_DICTIONARY.length).toBe(1423);
    expect(adler32(SPDY3_DICTIONARY)).toBe(0xe3c6a7c2);
    expect(SPDY3_DICTIONARY.subarray(0, 11)).toEqual(Buffer.from([0, 0, 0, 7, ...Buffer.from('options')]));
    expect(SPDY3_DICTIONARY.subarray(-6).toString()).toBe('enq=0.');
  });
});

describe('frame layout (draft 3 section 2.2)', () => {
  it('writes a control frame header: C bit, version 3, type, flags, 24-bit length', () => {
    const f = encodeControl(ControlType.RST_STREAM, 0, twoWords(5, 3));
    expect(f.toString('hex')).toBe('80030003' + '00000008' + '00000005' + '00000003');
  });

  it('writes a data frame: stream id without the C bit, flags, length', () => {
    const f = encodeData(7, FLAG_FIN, Buffer.from('hi'));
    expect(f.toString('hex')).toBe('00000007' + '01000002' + '6869');
  });

  it('lays out SYN_STREAM as id, associated id, 3-bit priority, slot, header block', () => {
    const p = synStreamPayload({ streamId: 1, associatedId: 0, priority: 3, slot: 0, block: Buffer.from([0xaa]) });
    expect(p.toString('hex')).toBe('00000001' + '00000000' + '60' + '00' + 'aa');
    expect(parseSynStream(p)).toEqual({ streamId: 1, associatedId: 0, priority: 3, slot: 0, block: Buffer.from([0xaa]) });
  });

  it('lays out SYN_REPLY as the stream id then the header block (no v2 padding)', () => {
    expect(streamBlockPayload(3, Buffer.from([1, 2])).toString('hex')).toBe('00000003' + '0102');
  });

  it('encodes SETTINGS entries as 8-bit flags + 24-bit id, then a 32-bit value', () => {
    const p = settingsPayload([{ flags: 1, id: 7, value: 65536 }]);
    expect(p.toString('hex')).toBe('00000001' + '01000007' + '00010000');
    expect(parseSettings(p)).toEqual([{ flags: 1, id: 7, value: 65536 }]);
  });

  it('cuts frames out of a byte stream however it is split', () => {
    const wire = Buffer.concat([encodeData(1, 0, Buffer.from('abc')), encodeControl(ControlType.PING, 0, Buffer.from([0, 0, 0, 1]))]);
    for (let cut = 0; cut <= wire.length; cut++) {
      const s = new FrameSplitter();
      s.push(wire.subarray(0, cut));
      const got = [];
      for (let f = s.next(); f; f = s.next()) got.push(f);
      s.push(wire.subarray(cut));
      for (let f = s.next(); f; f = s.next()) got.push(f);
      expect(got).toHaveLength(2);
      expect(got[0]).toMatchObject({ control: false, streamId: 1, payload: Buffer.from('abc') });
      expect(got[1]).toMatchObject({ control: true, version: 3, type: ControlType.PING });
    }
  });
});

/** Deterministic cut points (a small LCG), so a failure repeats. */
function cuts(seed: number, length: number, maxPiece: number): number[] {
  const out: number[] = [];
  let x = seed;
  for (let at = 0; at < length; ) {
    x = (x * 1103515245 + 12345) % 0x80000000;
    at = Math.min(length, at + 1 + (x % maxPiece));
    out.push(at);
  }
  return out;
}

describe('FrameReader', () => {
  const payload = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));
  const frames = [
    { data: true, streamId: 1, flags: 0, payload: payload(70_000, 1) },
    { data: false, type: ControlType.PING, payload: Buffer.from([0, 0, 0, 3]) },
    { data: true, streamId: 3, flags: FLAG_FIN, payload: payload(0, 0) },
    { data: true, streamId: 1, flags: FLAG_FIN, payload: payload(33_000, 2) },
    { data: false, type: ControlType.SETTINGS, payload: settingsPayload([{ flags: 0, id: 7, value: 1 << 20 }]) },
    { data: true, streamId: 5, flags: 0, payload: payload(1, 3) },
  ];
  const wire = Buffer.concat(frames.map((f) => (f.data ? encodeData(f.streamId!, f.flags!, f.payload) : encodeControl(f.type!, 0, f.payload))));

  it('hands out control frames whole and DATA payloads in pieces as they arrive, however the bytes are cut, never copying data', () => {
    for (const [seed, maxPiece] of [[1, 1], [2, 7], [3, 100], [4, 5000], [5, 65536], [6, 200_000]] as const) {
      const r = new FrameReader();
      let bad = 0;
      const got: Array<{ control: boolean; streamId?: number; type?: number; flags: number; bytes: Buffer[] }> = [];
      let prev = 0;
      for (const at of cuts(seed, wire.length, maxPiece)) {
        // Each read in a buffer of its own, as a socket's.
        const chunk = Buffer.from(wire.subarray(prev, at));
        prev = at;
        r.push(chunk);
        for (let f = r.next(); f; f = r.next()) {
          if (f.control) {
            got.push({ control: true, type: f.type, flags: f.flags, bytes: [f.payload] });
            continue;
          }
          if (f.payload.length === 0 && !(f.first && f.last)) bad++;
          // Data never waits for more bytes: it is a view of the chunk just pushed.
          if (f.payload.length > 0 && (f.payload.buffer !== chunk.buffer || f.payload.byteOffset < chunk.byteOffset || f.payload.byteOffset + f.payload.length > chunk.byteOffset + chunk.length)) bad++;
          const open = got.at(-1);
          if (f.first) got.push({ control: false, streamId: f.streamId, flags: f.flags, bytes: [f.payload] });
          else if (!open || open.control || open.streamId !== f.streamId) bad++;
          else open.bytes.push(f.payload);
          if (f.last) got.at(-1)!.bytes.push(Buffer.from('|end'));
        }
      }
      expect(bad).toBe(0);
      expect(r.pending).toBe(0);
      expect(got).toHaveLength(frames.length);
      got.forEach((g, i) => {
        const want = frames[i]!;
        expect(g.control).toBe(!want.data);
        if (want.data) {
          expect(g).toMatchObject({ streamId: want.streamId, flags: want.flags });
          expect(Buffer.concat(g.bytes).equals(Buffer.concat([want.payload, Buffer.from('|end')]))).toBe(true);
        } else {
          expect(g.type).toBe(want.type);
          expect(Buffer.concat(g.bytes).equals(want.payload)).toBe(true);
        }
      });
    }
  });

  it('with leased reads: frees each chunk once all its DATA pieces are released and it is used up, never before; control payloads are copies', () => {
    for (const [seed, maxPiece] of [[11, 3], [12, 700], [13, 40_000], [14, 65536]] as const) {
      const r = new FrameReader();
      const chunks: Buffer[] = [];
      const pieces: Buffer[] = [];
      const control: Buffer[] = [];
      const data = new Map<number, Buffer[]>();
      let prev = 0;
      for (const at of cuts(seed, wire.length, maxPiece)) {
        const chunk = Buffer.allocUnsafeSlow(at - prev);
        wire.copy(chunk, 0, prev, at);
        prev = at;
        expect(leaseRead(chunk)).toBe(true);
        chunks.push(chunk);
        r.push(chunk);
        for (let f = r.next(); f; f = r.next()) {
          if (f.control) control.push(f.payload);
          else {
            pieces.push(f.payload);
            if (!data.has(f.streamId)) data.set(f.streamId, []);
            data.get(f.streamId)?.push(f.payload);
          }
        }
      }
      // Every piece handed out is still held: no chunk with one in it may be freed yet.
      expect(pieces.filter((p) => freed(p))).toHaveLength(0);
      expect(Buffer.concat(data.get(1) ?? []).equals(Buffer.concat([frames[0]!.payload, frames[3]!.payload]))).toBe(true);
      expect(Buffer.concat(data.get(5) ?? []).equals(frames[5]!.payload)).toBe(true);
      const byBuffer = new Map<ArrayBufferLike, Buffer>(chunks.map((c) => [c.buffer, c]));
      const owner = pieces.map((p) => byBuffer.get(p.buffer));
      const left = new Map<Buffer, number>();
      pieces.forEach((p, i) => {
        const c = owner[i];
        if (c && p.length > 0) left.set(c, (left.get(c) ?? 0) + 1);
      });
      pieces.forEach((p, i) => {
        const c = owner[i];
        const empty = p.length === 0;
        release(p);
        if (!c || empty) return;
        const n = (left.get(c) ?? 0) - 1;
        left.set(c, n);
        expect(freed(c)).toBe(n === 0);
      });
      // A chunk that carried no data piece (headers, control frames) went when it was used up.
      expect(chunks.every((c) => freed(c))).toBe(true);
      expect(Buffer.concat(control).equals(Buffer.concat([frames[1]!.payload, frames[4]!.payload]))).toBe(true);
    }
  });

  it('waits for a whole DATA header and for a whole control frame before handing anything out', () => {
    const r = new FrameReader();
    const data = encodeData(1, 0, Buffer.from('abcdef'));
    r.push(data.subarray(0, 7));
    expect(r.next()).toBeUndefined();
    r.push(data.subarray(7, 9));
    expect(r.next()).toMatchObject({ control: false, streamId: 1, payload: Buffer.from('a'), first: true, last: false });
    expect(r.next()).toBeUndefined();
    r.push(data.subarray(9));
    expect(r.next()).toMatchObject({ payload: Buffer.from('bcdef'), first: false, last: true });
    const ping = encodeControl(ControlType.PING, 0, Buffer.from([0, 0, 0, 1]));
    r.push(ping.subarray(0, 11));
    expect(r.next()).toBeUndefined();
    r.push(ping.subarray(11));
    expect(r.next()).toMatchObject({ control: true, type: ControlType.PING, payload: Buffer.from([0, 0, 0, 1]) });
  });
});

describe('header blocks (section 2.6.10)', () => {
  it('encodes 32-bit counts and lengths, NUL-joined values', () => {
    const b = encodeHeaderBlock({ streamtype: ['error'], multi: ['a', 'b'] });
    expect(b.toString('hex')).toBe(
      '00000002' + '0000000a' + Buffer.from('streamtype').toString('hex') + '00000005' + Buffer.from('error').toString('hex') +
        '00000005' + Buffer.from('multi').toString('hex') + '00000003' + '610062',
    );
    expect(decodeHeaderBlock(b)).toEqual({ streamtype: ['error'], multi: ['a', 'b'] });
  });

  it('rejects uppercase names, duplicates and truncation', () => {
    const upper = Buffer.concat([Buffer.from('00000001' + '00000001', 'hex'), Buffer.from('A'), Buffer.from('00000000', 'hex')]);
    expect(() => decodeHeaderBlock(upper)).toThrow(FrameError);
    const one = encodeHeaderBlock({ a: ['1'] });
    const dup = Buffer.concat([Buffer.from('00000002', 'hex'), one.subarray(4), one.subarray(4)]);
    expect(() => decodeHeaderBlock(dup)).toThrow(/twice/);
    expect(() => decodeHeaderBlock(one.subarray(0, one.length - 1))).toThrow(/truncated/);
  });
});

describe('header compression (section 2.6.10.1)', () => {
  it('starts a zlib stream whose header names the SPDY/3 dictionary, readable by a plain inflate', async () => {
    const c = new HeaderCompressor();
    const block = encodeHeaderBlock({ streamtype: ['stdout'] });
    const z = await c.compress(block);
    // zlib header with FDICT set, then DICTID = adler32(dictionary)
    expect(z[1]! & 0x20).toBe(0x20);
    expect(z.readUInt32BE(2)).toBe(0xe3c6a7c2);
    // A SYNC_FLUSH ends the block on a byte boundary: an independent one-shot inflate reads it.
    expect(inflateSync(z, { dictionary: SPDY3_DICTIONARY, finishFlush: constants.Z_SYNC_FLUSH })).toEqual(block);
    c.close();
  });

  it('keeps one context per direction: later blocks only decode in sequence', async () => {
    const c = new HeaderCompressor();
    const d = new HeaderDecompressor();
    const blocks = Array.from({ length: 50 }, (_, i) => encodeHeaderBlock({ streamtype: ['data'], port: [String(8000 + i)], requestid: [String(i)] }));
    const wire: Buffer[] = [];
    for (const b of blocks) wire.push(await c.compress(b));
    // Repetition compresses against the shared window: later blocks are much smaller.
    expect(wire[49]!.length).toBeLessThan(wire[0]!.length);
    for (let i = 0; i < blocks.length; i++) expect(await d.decompress(wire[i]!)).toEqual(blocks[i]);
    // Decoding block 2 without blocks 0 and 1 in the context fails or gives something else.
    const fresh = createInflate({ dictionary: SPDY3_DICTIONARY });
    const out = await new Promise<Buffer | Error>((resolve) => {
      const chunks: Buffer[] = [];
      fresh.on('data', (x: Buffer) => chunks.push(x));
      fresh.on('error', (e) => resolve(e));
      fresh.write(wire[2]!);
      fresh.flush(constants.Z_SYNC_FLUSH, () => resolve(Buffer.concat(chunks)));
    });
    expect(out).not.toEqual(blocks[2]);
    fresh.destroy();
    c.close();
    d.close();
  });
});

describe('header decompression limits', () => {
  it('refuses a header block that inflates past the limit (decompression bomb)', async () => {
    const c = new HeaderCompressor();
    const d = new HeaderDecompressor();
    const bomb = await c.compress(encodeHeaderBlock({ x: ['a'.repeat(MAX_HEADER_BLOCK + 1)] }));
    expect(bomb.length).toBeLessThan(4096);
    await expect(d.decompress(bomb)).rejects.toThrow(FrameError);
    c.close();
    d.close();
  });
});
