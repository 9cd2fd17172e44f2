// The server side of one HTTP/2 connection, in JavaScript on a plain socket. Node's http2 module
// gives every stream a native handle, and V8 keeps whatever such a handle references alive
// through young-generation GCs: each call's objects were promoted and ended in full GCs. Here a
// stream is a plain object that dies young. What it covers is what a gRPC server needs: request
// headers (HPACK), DATA both ways with flow control, trailers, resets, SETTINGS, PING and GOAWAY;
// no server push, no priorities.
import type { Socket } from 'node:net';
import {
  DEFAULT_MAX_FRAME,
  DEFAULT_WINDOW,
  ErrorCode,
  FRAME_HEADER_BYTES,
  Flag,
  FrameType,
  H2Error,
  MAX_WINDOW,
  PREFACE,
  Setting,
  frame,
  settingsPayload,
  u32,
} from './frames.js';
import { HpackDecoder } from './hpack.js';
import { OpenStreams } from './open-streams.js';
import { Outgoing } from './outgoing.js';
import { NO_SLOT, SlotSet } from '../slot-set.js';

export interface SessionOptions {
  /** Called once a stream's request headers are complete; set its listener there. */
  onStream: (stream: H2Stream) => void;
  maxConcurrentStreams: number;
  /** Receive window per stream and for the connection: how much a client may send ahead. */
  streamWindow: number;
  connectionWindow: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we announce; a stream over it is flagged, not refused here. */
  maxHeaderListSize: number;
  /** Told about a connection error we closed the connection for (a broken or hostile client). */
  onProtocolError?: (err: H2Error) => void;
  /** Told about a stream we reset for the client's error (the connection stays). */
  onStreamError?: (err: H2Error, streamId: number) => void;
}

/**
 * What the application hears of a stream. An object with methods rather than three closures set per
 * stream: V8 kept every object that was handed a fresh closure through young-generation GCs
 * (measured: ~0.35 KB promoted per call, the stream and all it held), and promoted garbage ends in
 * full GCs.
 */
export interface StreamListener {
  data(piece: Buffer): void;
  end(): void;
  /** The client reset the stream or the connection went away before our answer ended. */
  abort(reason: string): void;
}

/** A stream as the application sees it: the request's headers, its listener, and the answer. */
export class H2Stream {
  listener: StreamListener | undefined;
  remoteEnded = false;
  localEnded = false;
  aborted = false;
  recvWindow: number;
  recvConsumed = 0;
  sendWindow: number;
  /** DATA waiting for flow-control window, and what follows it. */
  pending: Buffer[] = [];
  pendingOffset = 0;
  pendingBytes = 0;
  trailers: Buffer | undefined;
  /** Its index among the session's streams blocked on flow control (NO_SLOT: not blocked). */
  blockedSlot = NO_SLOT;

  constructor(
    readonly session: H2ServerSession,
    readonly id: number,
    readonly headers: (readonly [string, string])[],
    readonly headerListSize: number,
    recvWindow: number,
    sendWindow: number,
  ) {
    this.recvWindow = recvWindow;
    this.sendWindow = sendWindow;
  }

  header(name: string): string | undefined {
    // Indexed: for-of with destructuring allocates iterators on every call until V8 optimizes it.
    const h = this.headers;
    for (let i = 0; i < h.length; i++) {
      const f = h[i] as readonly [string, string];
      if (f[0] === name) return f[1];
    }
    return undefined;
  }

  sendHeaders(block: Buffer, endStream = false): void {
    this.session.sendHeaders(this, block, endStream);
  }

  sendData(data: Buffer): void {
    this.session.sendData(this, data);
  }

  /** Ends the stream with this header block once all DATA before it went out. */
  sendTrailers(block: Buffer): void {
    this.session.sendTrailers(this, block);
  }

  reset(code: number): void {
    this.session.resetStream(this, code);
  }
}

/** The largest frame we take (we announce no other SETTINGS_MAX_FRAME_SIZE). */
const OUR_MAX_FRAME = DEFAULT_MAX_FRAME;
/** A header block (HEADERS + CONTINUATION) larger than this ends the connection. */
const MAX_HEADER_BLOCK_BYTES = 256 * 1024;

export class H2ServerSession {
  private readonly decoder = new HpackDecoder();
  private readonly streams = new OpenStreams<H2Stream>();
  private readonly blocked = new SlotSet<'blockedSlot', H2Stream>('blockedSlot');
  private leftover: Buffer | undefined;
  private prefaceSeen = false;
  private lastStreamId = 0;
  private continuing: { id: number; flags: number; parts: Buffer[]; bytes: number } | undefined;
  private recvConnConsumed = 0;
  private recvConnWindow: number;
  private sendConnWindow = DEFAULT_WINDOW;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = DEFAULT_MAX_FRAME;
  private readonly out = new Outgoing();
  /** DATA of all streams waiting for flow-control window. */
  private pendingTotal = 0;
  private flushQueued = false;
  private goingAway = false;
  private closed = false;

  constructor(
    readonly socket: Socket,
    private readonly opts: SessionOptions,
  ) {
    this.recvConnWindow = opts.connectionWindow;
    socket.setNoDelay(true);
    this.write(
      frame(
        FrameType.SETTINGS,
        0,
        0,
        settingsPayload([
          [Setting.MAX_CONCURRENT_STREAMS, opts.maxConcurrentStreams],
          [Setting.INITIAL_WINDOW_SIZE, opts.streamWindow],
          [Setting.MAX_HEADER_LIST_SIZE, opts.maxHeaderListSize],
        ]),
      ),
    );
    if (opts.connectionWindow > DEFAULT_WINDOW) this.frameU32(FrameType.WINDOW_UPDATE, 0, opts.connectionWindow - DEFAULT_WINDOW);
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('error', () => {});
    socket.on('close', () => this.lost('the connection closed'));
  }

  /** Bytes of DATA, all streams together, that wait for the client to open its window. */
  get pendingBytes(): number {
    return this.pendingTotal;
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** Stop taking streams (GOAWAY) and close once the open ones end. */
  goAway(): void {
    if (this.goingAway || this.closed) return;
    this.goingAway = true;
    this.write(frame(FrameType.GOAWAY, 0, 0, Buffer.concat([u32(this.lastStreamId), u32(ErrorCode.NO_ERROR)])));
    this.closeIfIdle();
  }

  destroy(): void {
    this.socket.destroy();
    this.lost('the server closed the connection');
  }

  // ---- receiving ----

  private received(chunk: Buffer): void {
    if (this.closed) return;
    const data = this.leftover ? Buffer.concat([this.leftover, chunk]) : chunk;
    this.leftover = undefined;
    let off = 0;
    try {
      if (!this.prefaceSeen) {
        const n = Math.min(data.length, PREFACE.length);
        if (data.compare(PREFACE, 0, n, 0, n) !== 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'not an HTTP/2 connection preface');
        if (data.length < PREFACE.length) {
          this.leftover = Buffer.from(data);
          return;
        }
        this.prefaceSeen = true;
        off = PREFACE.length;
      }
      while (data.length - off >= FRAME_HEADER_BYTES && !this.closed) {
        const length = ((data[off] as number) << 16) | ((data[off + 1] as number) << 8) | (data[off + 2] as number);
        if (length > OUR_MAX_FRAME) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, `a frame of ${length} bytes (most: ${OUR_MAX_FRAME})`);
        const end = off + FRAME_HEADER_BYTES + length;
        if (data.length < end) break;
        const type = data[off + 3] as number;
        const flags = data[off + 4] as number;
        const id = data.readUInt32BE(off + 5) & 0x7fffffff;
        this.onFrame(type, flags, id, data, off + FRAME_HEADER_BYTES, end);
        off = end;
      }
      // A partial frame is copied so the rest of this read's buffer can go.
      if (off < data.length && !this.closed) this.leftover = Buffer.from(data.subarray(off));
    } catch (err) {
      // Whatever a client's bytes set off ends that connection, never the daemon.
      this.fail(err instanceof H2Error ? err : new H2Error(ErrorCode.INTERNAL_ERROR, `internal error: ${err instanceof Error ? err.message : String(err)}`));
    }
  }

  /** One frame; its payload is `data` from `start` to `end` (a view is made only for what is kept or parsed). */
  private onFrame(type: number, flags: number, id: number, data: Buffer, start: number, end: number): void {
    if (this.continuing && (type !== FrameType.CONTINUATION || id !== this.continuing.id)) {
      throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'a header block was interrupted by another frame');
    }
    const length = end - start;
    switch (type) {
      case FrameType.DATA:
        return this.onDataFrame(flags, id, data.subarray(start, end));
      case FrameType.HEADERS:
        return this.onHeadersFrame(flags, id, data.subarray(start, end));
      case FrameType.CONTINUATION:
        return this.onContinuation(flags, id, data.subarray(start, end));
      case FrameType.PRIORITY:
        if (id === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (length !== 5) this.resetId(id, ErrorCode.FRAME_SIZE_ERROR);
        return;
      case FrameType.RST_STREAM:
        if (length !== 4) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM of the wrong size');
        return this.onReset(id, data.readUInt32BE(start));
      case FrameType.SETTINGS:
        return this.onSettings(flags, id, data.subarray(start, end));
      case FrameType.PUSH_PROMISE:
        throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
      case FrameType.PING:
        if (id !== 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'PING on a stream');
        if (length !== 8) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'PING of the wrong size');
        if (!(flags & Flag.ACK)) {
          this.out.frameHeader(8, FrameType.PING, Flag.ACK, 0);
          this.out.bytes(data, start, end);
          this.flushSoon();
        }
        return;
      case FrameType.GOAWAY:
        if (id !== 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
        return;
      case FrameType.WINDOW_UPDATE:
        if (length !== 4) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'WINDOW_UPDATE of the wrong size');
        return this.onWindowUpdate(id, data.readUInt32BE(start) & 0x7fffffff);
      default:
        // Unknown frame types are ignored (RFC 9113 4.1).
        return;
    }
  }

  private onDataFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    this.recvConnWindow -= payload.length;
    if (this.recvConnWindow < 0) throw new H2Error(ErrorCode.FLOW_CONTROL_ERROR, 'the client sent past the connection window');
    this.recvConnConsumed += payload.length;
    if (this.recvConnConsumed >= this.opts.connectionWindow / 2) {
      this.frameU32(FrameType.WINDOW_UPDATE, 0, this.recvConnConsumed);
      this.recvConnWindow += this.recvConnConsumed;
      this.recvConnConsumed = 0;
    }
    const s = this.streams.get(id);
    if (!s) {
      if (id > this.lastStreamId) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${id}`);
      return; // a stream we already ended or reset: what was in flight is dropped
    }
    if (s.remoteEnded) return this.streamError(s, ErrorCode.STREAM_CLOSED, 'DATA after the end of the stream');
    s.recvWindow -= payload.length;
    if (s.recvWindow < 0) return this.streamError(s, ErrorCode.FLOW_CONTROL_ERROR, 'DATA past the stream window');
    let body = payload;
    if (flags & Flag.PADDED) {
      const pad = payload[0] ?? 0;
      if (payload.length === 0 || pad >= payload.length) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'DATA padding longer than the frame');
      body = payload.subarray(1, payload.length - pad);
    }
    const end = (flags & Flag.END_STREAM) !== 0;
    if (!end) {
      s.recvConsumed += payload.length;
      if (s.recvConsumed >= this.opts.streamWindow / 2) {
        this.frameU32(FrameType.WINDOW_UPDATE, id, s.recvConsumed);
        s.recvWindow += s.recvConsumed;
        s.recvConsumed = 0;
      }
    }
    if (body.length > 0) s.listener?.data(body);
    if (end && !s.aborted) {
      s.remoteEnded = true;
      s.listener?.end();
      this.closeIfDone(s);
    }
  }

  private onHeadersFrame(flags: number, id: number, payload: Buffer): void {
    if (id === 0 || id % 2 === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `HEADERS on stream ${id}`);
    let start = 0;
    let end = payload.length;
    if (flags & Flag.PADDED) {
      const pad = payload[0] ?? 0;
      start = 1;
      end -= pad;
    }
    if (flags & Flag.PRIORITY) start += 5;
    if (start > end) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'HEADERS padding longer than the frame');
    const fragment = payload.subarray(start, end);
    if (flags & Flag.END_HEADERS) return this.onHeaderBlock(flags, id, fragment);
    this.continuing = { id, flags, parts: [Buffer.from(fragment)], bytes: fragment.length };
  }

  private onContinuation(flags: number, id: number, payload: Buffer): void {
    const c = this.continuing;
    if (!c) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without HEADERS');
    c.bytes += payload.length;
    if (c.bytes > MAX_HEADER_BLOCK_BYTES) throw new H2Error(ErrorCode.ENHANCE_YOUR_CALM, `a header block over ${MAX_HEADER_BLOCK_BYTES} bytes`);
    c.parts.push(Buffer.from(payload));
    if (!(flags & Flag.END_HEADERS)) return;
    this.continuing = undefined;
    this.onHeaderBlock(c.flags, id, Buffer.concat(c.parts));
  }

  private onHeaderBlock(flags: number, id: number, block: Buffer): void {
    // Decoded whatever becomes of the stream: the HPACK table is the connection's.
    const { fields, listSize } = this.decoder.decode(block);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    const existing = this.streams.get(id);
    if (existing) {
      // Trailers from the client: they must end its side.
      if (existing.remoteEnded || !endStream) return this.streamError(existing, ErrorCode.PROTOCOL_ERROR, 'a second header block that does not end the stream');
      existing.remoteEnded = true;
      existing.listener?.end();
      this.closeIfDone(existing);
      return;
    }
    if (id <= this.lastStreamId) return this.resetId(id, ErrorCode.STREAM_CLOSED);
    this.lastStreamId = id;
    if (this.goingAway) return this.resetId(id, ErrorCode.REFUSED_STREAM);
    if (this.streams.size >= this.opts.maxConcurrentStreams) return this.resetId(id, ErrorCode.REFUSED_STREAM);
    const s = new H2Stream(this, id, fields, listSize, this.opts.streamWindow, this.peerInitialWindow);
    this.streams.add(s);
    this.opts.onStream(s);
    if (endStream && !s.aborted && this.streams.get(id) === s) {
      s.remoteEnded = true;
      s.listener?.end();
      this.closeIfDone(s);
    }
  }

  private onReset(id: number, code: number): void {
    if (id === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (id > this.lastStreamId) throw new H2Error(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${id}`);
    const s = this.streams.get(id);
    if (!s) return;
    this.forget(s);
    this.abort(s, `the client reset the stream (code ${code})`);
  }

  private onSettings(flags: number, id: number, payload: Buffer): void {
    if (id !== 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & Flag.ACK) {
      if (payload.length !== 0) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    if (payload.length % 6 !== 0) throw new H2Error(ErrorCode.FRAME_SIZE_ERROR, 'SETTINGS of the wrong size');
    for (let i = 0; i < payload.length; i += 6) {
      const key = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      if (key === Setting.INITIAL_WINDOW_SIZE) {
        if (value > MAX_WINDOW) throw new H2Error(ErrorCode.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE over 2^31-1');
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const s of this.streams.snapshot()) s.sendWindow += delta;
      } else if (key === Setting.MAX_FRAME_SIZE) {
        if (value < DEFAULT_MAX_FRAME || value > 2 ** 24 - 1) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_MAX_FRAME_SIZE out of range');
        this.peerMaxFrame = value;
      } else if (key === Setting.ENABLE_PUSH && value > 1) {
        throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'SETTINGS_ENABLE_PUSH not 0 or 1');
      }
    }
    this.write(frame(FrameType.SETTINGS, Flag.ACK, 0, Buffer.alloc(0)));
    this.flushBlocked();
  }

  private onWindowUpdate(id: number, inc: number): void {
    if (id === 0) {
      if (inc === 0) throw new H2Error(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.sendConnWindow += inc;
      if (this.sendConnWindow > MAX_WINDOW) throw new H2Error(ErrorCode.FLOW_CONTROL_ERROR, 'connection window over 2^31-1');
      this.flushBlocked();
      return;
    }
    const s = this.streams.get(id);
    if (!s) return;
    if (inc === 0) return this.streamError(s, ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) return this.streamError(s, ErrorCode.FLOW_CONTROL_ERROR, 'stream window over 2^31-1');
    this.flushStream(s);
  }

  // ---- sending ----

  sendHeaders(s: H2Stream, block: Buffer, endStream: boolean): void {
    if (s.localEnded || s.aborted || this.closed) return;
    const max = this.peerMaxFrame;
    const flags = endStream ? Flag.END_STREAM : 0;
    // One HEADERS frame, or more with CONTINUATION frames after it (an empty block is one frame too).
    for (let off = 0; off === 0 || off < block.length; off += max) {
      const end = Math.min(off + max, block.length);
      this.out.frameHeader(end - off, off === 0 ? FrameType.HEADERS : FrameType.CONTINUATION, (off === 0 ? flags : 0) | (end === block.length ? Flag.END_HEADERS : 0), s.id);
      this.out.bytes(block, off, end);
    }
    this.flushSoon();
    if (endStream) this.endedLocally(s);
  }

  sendData(s: H2Stream, data: Buffer): void {
    if (s.localEnded || s.aborted || this.closed || data.length === 0) return;
    s.pending.push(data);
    s.pendingBytes += data.length;
    this.pendingTotal += data.length;
    this.flushStream(s);
  }

  sendTrailers(s: H2Stream, block: Buffer): void {
    if (s.localEnded || s.aborted || this.closed) return;
    s.trailers = block;
    this.flushStream(s);
  }

  private streamError(s: H2Stream, code: number, why: string): void {
    this.opts.onStreamError?.(new H2Error(code, why), s.id);
    this.resetStream(s, code);
  }

  resetStream(s: H2Stream, code: number): void {
    if (this.streams.get(s.id) !== s) return;
    this.resetId(s.id, code);
    this.forget(s);
    if (!s.localEnded) this.abort(s, `the stream was reset (code ${code})`);
  }

  private resetId(id: number, code: number): void {
    this.frameU32(FrameType.RST_STREAM, id, code);
  }

  private flushStream(s: H2Stream): void {
    while (s.pending.length > 0) {
      const room = Math.min(this.sendConnWindow, s.sendWindow, this.peerMaxFrame);
      if (room <= 0) {
        this.blocked.add(s);
        return;
      }
      const head = s.pending[0] as Buffer;
      const n = Math.min(room, head.length - s.pendingOffset);
      if (!this.closed) {
        this.out.frameHeader(n, FrameType.DATA, 0, s.id);
        this.out.bytes(head, s.pendingOffset, s.pendingOffset + n);
        this.flushSoon();
      }
      this.sendConnWindow -= n;
      s.sendWindow -= n;
      s.pendingBytes -= n;
      this.pendingTotal -= n;
      s.pendingOffset += n;
      if (s.pendingOffset === head.length) {
        s.pending.shift();
        s.pendingOffset = 0;
      }
    }
    this.blocked.delete(s);
    if (s.trailers) {
      const block = s.trailers;
      s.trailers = undefined;
      this.sendHeaders(s, block, true);
    }
  }

  private flushBlocked(): void {
    for (const s of this.blocked.snapshot()) {
      if (this.sendConnWindow <= 0) return;
      this.flushStream(s);
    }
  }

  private endedLocally(s: H2Stream): void {
    s.localEnded = true;
    if (!s.remoteEnded && this.streams.get(s.id) === s) {
      // gRPC: the answer is complete; whatever the client still sends is not wanted.
      this.resetId(s.id, ErrorCode.NO_ERROR);
      this.forget(s);
      return;
    }
    this.closeIfDone(s);
  }

  private closeIfDone(s: H2Stream): void {
    if (s.localEnded && s.remoteEnded) this.forget(s);
  }

  private forget(s: H2Stream): void {
    this.streams.delete(s);
    this.blocked.delete(s);
    s.pending = [];
    this.pendingTotal -= s.pendingBytes;
    s.pendingBytes = 0;
    this.closeIfIdle();
  }

  private closeIfIdle(): void {
    if (this.goingAway && this.streams.size === 0 && !this.closed) {
      this.flush();
      this.socket.end();
    }
  }

  private abort(s: H2Stream, reason: string): void {
    if (s.aborted || s.localEnded) return;
    s.aborted = true;
    s.listener?.abort(reason);
  }

  /** A whole frame made elsewhere (SETTINGS, GOAWAY: once a connection). */
  private write(a: Buffer): void {
    if (this.closed) return;
    this.out.bytes(a);
    this.flushSoon();
  }

  private frameU32(type: number, id: number, value: number): void {
    if (this.closed) return;
    this.out.frameU32(type, 0, id, value);
    this.flushSoon();
  }

  private flushSoon(): void {
    if (!this.flushQueued) {
      this.flushQueued = true;
      // Everything a turn of the event loop produced goes out in one write.
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.socket.destroyed) return this.out.dispose();
    this.out.writeTo(this.socket);
  }

  private fail(err: H2Error): void {
    if (this.closed) return;
    this.opts.onProtocolError?.(err);
    const debug = Buffer.from(err.message.slice(0, 200), 'utf8');
    this.write(frame(FrameType.GOAWAY, 0, 0, Buffer.concat([u32(this.lastStreamId), u32(err.code), debug])));
    this.flush();
    this.socket.end();
    this.lost(`connection error: ${err.message}`);
  }

  private lost(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.leftover = undefined;
    this.out.dispose();
    const streams = this.streams.snapshot();
    this.streams.clear();
    this.blocked.clear();
    for (const s of streams) this.abort(s, reason);
  }
}
