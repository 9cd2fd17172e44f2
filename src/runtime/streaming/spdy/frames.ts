// SPDY/3 frame layout (SPDY Protocol draft 3, section 2.2 and 2.6), without header compression:
// splitting a byte stream into frames, and the fixed-size payloads of each control frame.
// Header blocks travel here as compressed bytes; header-codec.ts owns their (de)compression.
import { release, retain } from '../read-leases.js';

export const SPDY_VERSION = 3;
/** The 24-bit length field caps a frame's payload. */
export const MAX_FRAME_PAYLOAD = 0xffffff;
export const FRAME_HEADER_BYTES = 8;

export const ControlType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;
export const FLAG_SETTINGS_CLEAR = 0x01;

/** RST_STREAM status codes (section 2.6.3). */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  FRAME_TOO_LARGE: 11,
} as const;

/** GOAWAY status codes (section 2.6.6). */
export const GoAwayStatus = { OK: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2 } as const;

/** SETTINGS ids (section 2.6.4) that matter to us. */
export const SettingId = { MAX_CONCURRENT_STREAMS: 4, INITIAL_WINDOW_SIZE: 7 } as const;

export interface RawControlFrame {
  control: true;
  version: number;
  type: number;
  flags: number;
  payload: Buffer;
}
export interface RawDataFrame {
  control: false;
  streamId: number;
  flags: number;
  payload: Buffer;
}
export type RawFrame = RawControlFrame | RawDataFrame;

export class FrameError extends Error {}

const EMPTY = Buffer.alloc(0);

/**
 * The bytes received, as they came: bytes that lie in one chunk are handed out as a view of it,
 * and only bytes cut across chunks are copied (once); bulk data is never re-concatenated.
 */
class ByteQueue {
  protected readonly chunks: Buffer[] = [];
  protected held = 0;

  /** A chunk all of whose bytes have been handed out or copied; the queue holds it no more. */
  protected dropped(_chunk: Buffer): void {}

  push(chunk: Buffer): void {
    if (chunk.length === 0) return this.dropped(chunk);
    this.chunks.push(chunk);
    this.held += chunk.length;
  }

  /** The next frame's header fields, or undefined until its 8 bytes are here (nothing is taken). */
  protected peekHeader(): { first: number; flags: number; length: number } | undefined {
    if (this.held < FRAME_HEADER_BYTES) return undefined;
    const head = this.peek(FRAME_HEADER_BYTES);
    const second = head.readUInt32BE(4);
    return { first: head.readUInt32BE(0), flags: second >>> 24, length: second & 0xffffff };
  }

  /** Bytes held that do not yet form a whole frame. */
  get pending(): number {
    return this.held;
  }

  /** A buffer starting with the next `n` bytes (held >= n), left in place. */
  protected peek(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    return first.length >= n ? first : Buffer.concat(this.chunks, n);
  }

  /** The next `n` bytes (held >= n): a view of the received chunk when they lie in one, unless `copy`. */
  protected take(n: number, copy = false): Buffer {
    this.held -= n;
    const first = this.chunks[0];
    if (n === 0 || !first) return EMPTY;
    if (first.length >= n) {
      const out = copy ? Buffer.copyBytesFrom(first, 0, n) : first.subarray(0, n);
      if (first.length === n) {
        this.chunks.shift();
        this.dropped(first);
      } else this.chunks[0] = first.subarray(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    for (let off = 0; off < n; ) {
      const c = this.chunks[0] as Buffer;
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) {
        this.chunks.shift();
        this.dropped(c);
      } else this.chunks[0] = c.subarray(k);
    }
    return out;
  }
}

/** Cuts whole frames out of a byte stream as it arrives (a client's reading, as the tests do). */
export class FrameSplitter extends ByteQueue {
  /** The next complete frame, or undefined until more bytes arrive. */
  next(): RawFrame | undefined {
    const h = this.peekHeader();
    if (!h || this.held < FRAME_HEADER_BYTES + h.length) return undefined;
    const { first, flags, length } = h;
    this.take(FRAME_HEADER_BYTES);
    const payload = this.take(length);
    if (first & 0x80000000) {
      return { control: true, version: (first >>> 16) & 0x7fff, type: first & 0xffff, flags, payload };
    }
    return { control: false, streamId: first & 0x7fffffff, flags, payload };
  }
}

/**
 * A piece of a DATA frame's payload, handed out as its bytes arrive (a view of the received chunk,
 * never a copy): a frame cut across socket reads comes in several pieces. A frame with no payload
 * is one empty piece, first and last. Its receiver owns one reference to the chunk's buffer when
 * that is leased (read-leases.ts): to pass on with the payload, or to release.
 */
export interface DataPiece {
  control: false;
  streamId: number;
  /** The frame's flags; FLAG_FIN takes effect with the last piece. */
  flags: number;
  payload: Buffer;
  first: boolean;
  last: boolean;
}

/**
 * Cuts a byte stream into control frames, each whole, and DATA payload pieces as they arrive: only
 * a DATA frame's 8-byte header must be complete, so bulk data is never joined or copied however
 * the frames straddle the reads (a sender's 32 KiB frames in 64 KiB reads: half of them would be).
 * A pushed chunk's reference (read-leases.ts) goes to the queue, which releases it once the chunk
 * is used up; control frames are copies, as their payloads outlive the chunk (header inflation).
 */
export class FrameReader extends ByteQueue {
  /** Payload bytes of the current DATA frame still to come; -1 between frames. */
  private dataLeft = -1;
  private dataStream = 0;
  private dataFlags = 0;
  private dataFirst = false;

  /** The next control frame or DATA piece, or undefined until more bytes arrive. */
  next(): RawControlFrame | DataPiece | undefined {
    if (this.dataLeft < 0) {
      const h = this.peekHeader();
      if (!h) return undefined;
      const { first, flags, length } = h;
      if (first & 0x80000000) {
        if (this.held < FRAME_HEADER_BYTES + length) return undefined;
        this.take(FRAME_HEADER_BYTES);
        return { control: true, version: (first >>> 16) & 0x7fff, type: first & 0xffff, flags, payload: this.take(length, true) };
      }
      this.take(FRAME_HEADER_BYTES);
      this.dataStream = first & 0x7fffffff;
      this.dataFlags = flags;
      this.dataFirst = true;
      this.dataLeft = length;
      if (length === 0) {
        this.dataLeft = -1;
        return { control: false, streamId: this.dataStream, flags, payload: EMPTY, first: true, last: true };
      }
    }
    const c = this.chunks[0];
    if (!c) return undefined;
    let payload = c;
    // A whole chunk goes with the queue's reference; a part of one gets a reference of its own.
    if (c.length <= this.dataLeft) this.chunks.shift();
    else {
      payload = c.subarray(0, this.dataLeft);
      retain(payload);
      this.chunks[0] = c.subarray(this.dataLeft);
    }
    this.held -= payload.length;
    this.dataLeft -= payload.length;
    const first = this.dataFirst;
    this.dataFirst = false;
    const last = this.dataLeft === 0;
    if (last) this.dataLeft = -1;
    return { control: false, streamId: this.dataStream, flags: this.dataFlags, payload, first, last };
  }

  protected override dropped(chunk: Buffer): void {
    release(chunk);
  }
}

export function encodeControl(type: number, flags: number, payload: Buffer): Buffer {
  if (payload.length > MAX_FRAME_PAYLOAD) throw new FrameError(`control frame payload of ${payload.length} bytes exceeds 24 bits`);
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head.writeUInt32BE((0x8000 | SPDY_VERSION) * 0x10000 + type, 0);
  head.writeUInt32BE(flags * 0x1000000 + payload.length, 4);
  return Buffer.concat([head, payload]);
}

export function encodeData(streamId: number, flags: number, data: Buffer): Buffer {
  return Buffer.concat(encodeDataParts(streamId, flags, data));
}

/** A DATA frame as its header and the payload itself (written together, the payload not copied). */
export function encodeDataParts(streamId: number, flags: number, data: Buffer): [Buffer, Buffer] {
  return [dataFrameHead(streamId, flags, data.length), data];
}

/** The 8-byte header of a DATA frame whose payload of `length` bytes follows separately. */
export function dataFrameHead(streamId: number, flags: number, length: number): Buffer {
  if (length > MAX_FRAME_PAYLOAD) throw new FrameError(`data frame of ${length} bytes exceeds 24 bits`);
  const head = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  head.writeUInt32BE(streamId & 0x7fffffff, 0);
  head.writeUInt32BE(flags * 0x1000000 + length, 4);
  return head;
}

// --- control frame payloads (header blocks stay compressed bytes here) ---

export interface SynStream {
  streamId: number;
  associatedId: number;
  priority: number;
  slot: number;
  block: Buffer;
}

export function synStreamPayload(f: SynStream): Buffer {
  const p = Buffer.alloc(10);
  p.writeUInt32BE(f.streamId & 0x7fffffff, 0);
  p.writeUInt32BE(f.associatedId & 0x7fffffff, 4);
  p.writeUInt8((f.priority & 0x7) << 5, 8);
  p.writeUInt8(f.slot & 0xff, 9);
  return Buffer.concat([p, f.block]);
}

export function parseSynStream(payload: Buffer): SynStream {
  if (payload.length < 10) throw new FrameError(`SYN_STREAM payload of ${payload.length} bytes is too short`);
  return {
    streamId: payload.readUInt32BE(0) & 0x7fffffff,
    associatedId: payload.readUInt32BE(4) & 0x7fffffff,
    priority: payload.readUInt8(8) >>> 5,
    slot: payload.readUInt8(9),
    block: payload.subarray(10),
  };
}

/** SYN_REPLY and HEADERS share a layout: stream id, then the header block. */
export function streamBlockPayload(streamId: number, block: Buffer): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(streamId & 0x7fffffff, 0);
  return Buffer.concat([p, block]);
}

export function parseStreamBlock(payload: Buffer, what: string): { streamId: number; block: Buffer } {
  if (payload.length < 4) throw new FrameError(`${what} payload of ${payload.length} bytes is too short`);
  return { streamId: payload.readUInt32BE(0) & 0x7fffffff, block: payload.subarray(4) };
}

/** RST_STREAM, GOAWAY and WINDOW_UPDATE are two 32-bit words. */
export function twoWords(a: number, b: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(a >>> 0, 0);
  p.writeUInt32BE(b >>> 0, 4);
  return p;
}

export function parseTwoWords(payload: Buffer, what: string): [number, number] {
  if (payload.length !== 8) throw new FrameError(`${what} payload must be 8 bytes, got ${payload.length}`);
  return [payload.readUInt32BE(0) & 0x7fffffff, payload.readUInt32BE(4)];
}

export function pingPayload(id: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(id >>> 0, 0);
  return p;
}

export function parsePing(payload: Buffer): number {
  if (payload.length !== 4) throw new FrameError(`PING payload must be 4 bytes, got ${payload.length}`);
  return payload.readUInt32BE(0);
}

export interface Setting {
  flags: number;
  id: number;
  value: number;
}

export function settingsPayload(settings: readonly Setting[]): Buffer {
  const p = Buffer.alloc(4 + 8 * settings.length);
  p.writeUInt32BE(settings.length, 0);
  settings.forEach((s, i) => {
    p.writeUInt32BE((s.flags & 0xff) * 0x1000000 + (s.id & 0xffffff), 4 + 8 * i);
    p.writeUInt32BE(s.value >>> 0, 8 + 8 * i);
  });
  return p;
}

export function parseSettings(payload: Buffer): Setting[] {
  if (payload.length < 4) throw new FrameError('SETTINGS payload is too short');
  const n = payload.readUInt32BE(0);
  if (payload.length !== 4 + 8 * n) throw new FrameError(`SETTINGS says ${n} entries but carries ${payload.length - 4} bytes`);
  const out: Setting[] = [];
  for (let i = 0; i < n; i++) {
    const idWord = payload.readUInt32BE(4 + 8 * i);
    out.push({ flags: idWord >>> 24, id: idWord & 0xffffff, value: payload.readUInt32BE(8 + 8 * i) });
  }
  return out;
}
