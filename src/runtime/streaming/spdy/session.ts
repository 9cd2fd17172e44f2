// The server end of one SPDY/3.1 session over an upgraded HTTP connection: frame dispatch,
// streams as Node Duplexes, header compression contexts, PING echo, GOAWAY, idle timeout, and
// flow control.
//
// Flow control: we advertise the default 64 KiB windows and send WINDOW_UPDATE (per stream and,
// as SPDY/3.1 adds, for the session) as our readers consume data. On the send side we count the
// peer's windows but only WAIT on them once the peer has shown it speaks flow control (sent a
// WINDOW_UPDATE or an INITIAL_WINDOW_SIZE setting): Kubernetes' client (moby/spdystream) never
// sends WINDOW_UPDATE and ignores ours, so honouring the default window against it would stall
// every transfer after 64 KiB. For such a peer, a receiving stream whose reader is slow pauses the
// socket instead (TCP backpressure). WINDOW_UPDATEs go out once half a window is consumed, with
// the next frame we write or at the end of the event loop turn, whichever comes first: sent on
// their own as the data is read they doubled our writes (and the client's wake-ups) in bulk.
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import type { Logger } from '../../../lib/log.js';
import { REUSABLE_AFTER_WRITE } from '../backend.js';
import { leaseRead, release } from '../read-leases.js';
import {
  ControlType,
  encodeControl,
  dataFrameHead,
  encodeDataParts,
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  FrameError,
  FrameReader,
  GoAwayStatus,
  parsePing,
  parseSettings,
  parseStreamBlock,
  parseSynStream,
  parseTwoWords,
  pingPayload,
  RstStatus,
  SettingId,
  SPDY_VERSION,
  streamBlockPayload,
  twoWords,
  type DataPiece,
  type RawControlFrame,
} from './frames.js';
import { HeaderCompressor, HeaderDecompressor } from './header-codec.js';
import { decodeHeaderBlock, encodeHeaderBlock, type SpdyHeaders } from './header-block.js';

export const DEFAULT_WINDOW = 65536;
/** Largest DATA frame we send; spdystream accepts any 24-bit length. Fewer frames, fewer writes. */
const MAX_DATA_CHUNK = 256 * 1024;
/**
 * What a stream buffers each way before it pushes back: a few socket reads (64 KiB each), so a
 * bulk transfer does not stop and restart its socket on every frame.
 */
export const STREAM_HIGH_WATER_MARK = 256 * 1024;
const MAX_WINDOW = 0x7fffffff;
/**
 * Bytes a session lets its socket hold before writers wait for it to drain: above the socket's
 * own 16 KiB mark, which one data frame alone exceeds, so bulk data does not wait on every frame.
 */
const SOCKET_BUFFER_LIMIT = 1024 * 1024;

export interface SessionOptions {
  /** Close the session when no frame moves for this long; 0 = never. */
  idleTimeoutMs: number;
  log: Logger;
  /**
   * The socket is a plain TCP socket, each read a fresh buffer of its own: they are leased
   * (read-leases.ts), so a reader that releases what it has written frees them at once.
   */
  leaseReads?: boolean;
}

interface SessionEvents {
  stream: [SpdyStream];
  close: [];
}

export class SpdySession extends EventEmitter<SessionEvents> {
  private readonly reader = new FrameReader();
  private readonly inflater = new HeaderDecompressor();
  private readonly deflater = new HeaderCompressor();
  private readonly streams = new Map<number, SpdyStream>();
  private readonly blocked = new Set<SpdyStream>();
  private lastPeerStreamId = 0;
  private goneAway = false;
  private closed = false;
  /** Set while a control frame's async work (header inflation) runs: later frames wait for it. */
  private reading = false;
  private writeChain: Promise<void> = Promise.resolve();
  /** Writes queued on writeChain and not done yet; none: a frame can go out at once. */
  private queuedWrites = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private windowWaiters: Array<() => void> = [];
  /** Set once the peer sends WINDOW_UPDATE or INITIAL_WINDOW_SIZE (see the header comment). */
  peerFlowControl = false;
  initialSendWindow = DEFAULT_WINDOW;
  sessionSendWindow = DEFAULT_WINDOW;
  private sessionRecvUnacked = 0;
  /** WINDOW_UPDATE deltas not written yet, by stream id (0: the session). */
  private readonly windowDue = new Map<number, number>();
  private windowFlush: NodeJS.Immediate | undefined;
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    private readonly socket: Duplex,
    private readonly options: SessionOptions,
  ) {
    super();
    if (options.leaseReads) {
      socket.on('data', (chunk: Buffer) => {
        leaseRead(chunk);
        this.onBytes(chunk);
      });
    } else socket.on('data', (chunk: Buffer) => this.onBytes(chunk));
    socket.on('error', (err) => options.log.debug({ err }, 'spdy socket error'));
    socket.on('close', () => this.teardown());
    socket.on('end', () => this.teardown());
    this.touch();
  }

  /**
   * Feed bytes that arrived with the upgrade request before the socket was handed over. The
   * chunk's reference (read-leases.ts), if leased, comes along.
   */
  onBytes(chunk: Buffer): void {
    if (chunk.length === 0 || this.closed) return release(chunk);
    this.touch();
    this.reader.push(chunk);
    if (!this.reading) this.drainFrames();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Graceful end: GOAWAY, then close the connection once everything queued is written. */
  close(): void {
    if (this.closed) return;
    if (!this.goneAway) {
      this.goneAway = true;
      this.sendControl(ControlType.GOAWAY, 0, twoWords(this.lastPeerStreamId, GoAwayStatus.OK));
    }
    void this.writeChain.then(() => {
      this.socket.end();
      // A peer that never closes its side must not hold the socket forever.
      setTimeout(() => this.socket.destroy(), 5000).unref();
    });
  }

  /** Abrupt end: drop the connection and every stream. */
  destroy(): void {
    this.socket.destroy();
    this.teardown();
  }

  /**
   * Handles the frames received so far, in order: DATA as it arrives (all data of one socket read
   * reaches its streams in the same tick), a control frame's async work holding back the rest.
   */
  private drainFrames(): void {
    try {
      for (let f = this.reader.next(); f; f = this.reader.next()) {
        if (this.closed) return;
        if (!f.control) {
          this.onDataPiece(f);
          continue;
        }
        this.reading = true;
        void this.handle(f).then(
          () => {
            this.reading = false;
            this.drainFrames();
          },
          (err: unknown) => this.fail(err),
        );
        return;
      }
    } catch (err) {
      this.fail(err);
    }
  }

  private async handle(f: RawControlFrame): Promise<void> {
    if (f.version !== SPDY_VERSION) throw new FrameError(`control frame of SPDY version ${f.version}, expected ${SPDY_VERSION}`);
    switch (f.type) {
      case ControlType.SYN_STREAM:
        return this.onSynStream(f);
      case ControlType.SYN_REPLY: {
        // Only the side that opened a stream gets a reply; we never open streams.
        const { streamId, block } = parseStreamBlock(f.payload, 'SYN_REPLY');
        await this.inflater.decompress(block);
        this.sendRst(streamId, RstStatus.PROTOCOL_ERROR);
        return;
      }
      case ControlType.RST_STREAM: {
        const [streamId, status] = parseTwoWords(f.payload, 'RST_STREAM');
        this.streams.get(streamId)?.onReset(status);
        return;
      }
      case ControlType.SETTINGS:
        for (const s of parseSettings(f.payload)) {
          if (s.id === SettingId.INITIAL_WINDOW_SIZE) {
            const delta = s.value - this.initialSendWindow;
            this.initialSendWindow = s.value;
            this.peerFlowControl = true;
            for (const st of this.streams.values()) st.sendWindow += delta;
            this.wakeWriters();
          }
        }
        return;
      case ControlType.PING: {
        const id = parsePing(f.payload);
        // Odd ids come from the client; even ones would be answers to our own pings (we send none).
        if (id % 2 === 1) this.sendControl(ControlType.PING, 0, pingPayload(id));
        return;
      }
      case ControlType.GOAWAY:
        parseTwoWords(f.payload, 'GOAWAY');
        this.goneAway = true;
        return;
      case ControlType.HEADERS: {
        const { streamId, block } = parseStreamBlock(f.payload, 'HEADERS');
        const headers = decodeHeaderBlock(await this.inflater.decompress(block));
        const st = this.streams.get(streamId);
        if (!st) return this.sendRst(streamId, RstStatus.INVALID_STREAM);
        Object.assign(st.headers, headers);
        if (f.flags & FLAG_FIN) st.onRemoteFin();
        return;
      }
      case ControlType.WINDOW_UPDATE: {
        const [streamId, delta] = parseTwoWords(f.payload, 'WINDOW_UPDATE');
        const d = delta & 0x7fffffff;
        this.peerFlowControl = true;
        if (streamId === 0) this.sessionSendWindow = Math.min(MAX_WINDOW, this.sessionSendWindow + d);
        else {
          const st = this.streams.get(streamId);
          if (st) st.sendWindow = Math.min(MAX_WINDOW, st.sendWindow + d);
        }
        this.wakeWriters();
        return;
      }
      default:
        // Section 2.2.1: a control frame of an unknown type is ignored.
        return;
    }
  }

  private async onSynStream(f: RawControlFrame): Promise<void> {
    const syn = parseSynStream(f.payload);
    // Always inflate, even for a refused stream: the zlib context must stay in step.
    const headers = decodeHeaderBlock(await this.inflater.decompress(syn.block));
    if (syn.streamId === 0) throw new FrameError('SYN_STREAM with stream id 0');
    if (syn.streamId <= this.lastPeerStreamId) throw new FrameError(`SYN_STREAM id ${syn.streamId} does not increase (last ${this.lastPeerStreamId})`);
    this.lastPeerStreamId = syn.streamId;
    if (syn.streamId % 2 === 0) return this.sendRst(syn.streamId, RstStatus.PROTOCOL_ERROR);
    if (this.goneAway) return this.sendRst(syn.streamId, RstStatus.REFUSED_STREAM);
    const st = new SpdyStream(this, syn.streamId, headers, this.initialSendWindow);
    this.streams.set(syn.streamId, st);
    if (f.flags & FLAG_UNIDIRECTIONAL) st.onLocalUnidirectional();
    this.emit('stream', st);
    if (f.flags & FLAG_FIN) st.onRemoteFin();
  }

  /**
   * A frame for a stream we do not have gets one RST_STREAM (on its first piece); the rest of a
   * frame whose stream went meanwhile (reset, destroyed) is dropped. Its bytes count either way.
   * The piece's reference (read-leases.ts) goes to the stream's reader with the payload.
   */
  private onDataPiece(p: DataPiece): void {
    const n = p.payload.length;
    this.bytesIn += n;
    this.sessionRecvUnacked += n;
    if (this.sessionRecvUnacked >= DEFAULT_WINDOW / 2) {
      this.sendWindowUpdate(0, this.sessionRecvUnacked);
      this.sessionRecvUnacked = 0;
    }
    const st = this.streams.get(p.streamId);
    if (!st) {
      release(p.payload);
      if (!p.first) return;
      const status = p.streamId <= this.lastPeerStreamId ? RstStatus.STREAM_ALREADY_CLOSED : RstStatus.INVALID_STREAM;
      return this.sendRst(p.streamId, status);
    }
    st.onData(p.payload, p.last && (p.flags & FLAG_FIN) !== 0);
  }

  // --- writing ---

  /**
   * Writes frames in order. A ready frame with nothing queued before it is written at once; one
   * that must wait (behind a header block being compressed, or a full socket) goes on the chain.
   * Resolves once the socket has written the frame (its buffers are free to reuse) and has room.
   */
  private enqueue(frame: Buffer | Buffer[] | (() => Promise<Buffer>)): Promise<void> {
    if (this.queuedWrites === 0 && typeof frame !== 'function') return this.writeNow(frame);
    return this.chain(async () => this.writeNow(typeof frame === 'function' ? await frame() : frame));
  }

  private writeNow(frame: Buffer | Buffer[]): Promise<void> {
    return new Promise((resolve) => {
      let room = true;
      room = this.write(frame, () => {
        if (room) resolve();
        else void waitDrain(this.socket).then(resolve);
      });
    });
  }

  private chain(step: () => Promise<void>): Promise<void> {
    this.queuedWrites++;
    const run = this.writeChain.then(step).finally(() => this.queuedWrites--);
    this.writeChain = run.catch((err: unknown) => this.options.log.debug({ err }, 'spdy write failed'));
    return run;
  }

  /**
   * One frame onto the socket; false when it holds too much. The socket is corked until the end
   * of the tick, so the frames of one tick (data, window updates) leave in one write. `written`
   * is called once the socket is done with the frame's buffers (never synchronously).
   */
  private write(frame: Buffer | Buffer[], written: () => void): boolean {
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) {
      process.nextTick(written);
      return true;
    }
    this.touch();
    if (socket.writableCorked === 0) {
      socket.cork();
      process.nextTick(() => socket.uncork());
    }
    writeAll(socket, frame, written);
    const updates = this.takeWindowUpdates();
    if (updates) socket.write(updates);
    return socket.writableLength < SOCKET_BUFFER_LIMIT;
  }

  sendControl(type: number, flags: number, payload: Buffer): Promise<void> {
    return this.enqueue(encodeControl(type, flags, payload));
  }

  sendRst(streamId: number, status: number): void {
    void this.sendControl(ControlType.RST_STREAM, 0, twoWords(streamId, status)).catch(() => undefined);
  }

  sendReply(streamId: number, headers: SpdyHeaders, fin: boolean): Promise<void> {
    // Compression happens inside the write chain so blocks hit the wire in compression order.
    return this.enqueue(async () => {
      const block = await this.deflater.compress(encodeHeaderBlock(headers));
      return encodeControl(ControlType.SYN_REPLY, fin ? FLAG_FIN : 0, streamBlockPayload(streamId, block));
    });
  }

  /** Queues `delta` for the stream's (0: the session's) next WINDOW_UPDATE; see the header comment. */
  sendWindowUpdate(streamId: number, delta: number): void {
    if (delta <= 0 || this.closed) return;
    this.windowDue.set(streamId, (this.windowDue.get(streamId) ?? 0) + delta);
    this.windowFlush ??= setImmediate(() => {
      this.windowFlush = undefined;
      const updates = this.closed ? undefined : this.takeWindowUpdates();
      if (updates) void this.enqueue(updates).catch(() => undefined);
    });
  }

  /** The WINDOW_UPDATE frames due, as one buffer (none for a stream that is gone meanwhile). */
  private takeWindowUpdates(): Buffer | undefined {
    if (this.windowDue.size === 0) return undefined;
    const frames: Buffer[] = [];
    for (const [id, delta] of this.windowDue) if (id === 0 || this.streams.has(id)) frames.push(encodeControl(ControlType.WINDOW_UPDATE, 0, twoWords(id, delta)));
    this.windowDue.clear();
    return frames.length > 0 ? Buffer.concat(frames) : undefined;
  }

  /** Send `data` on a stream in window-sized DATA frames; `fin` marks the last one. */
  async sendData(st: SpdyStream, parts: Buffer | Buffer[], fin: boolean): Promise<void> {
    if (Array.isArray(parts)) {
      const total = parts.reduce((n, b) => n + b.length, 0);
      // Several buffered writes as one frame, the payloads not copied (the common bulk case).
      if (!this.peerFlowControl && total <= MAX_DATA_CHUNK) {
        if (this.closed) throw new Error('spdy session closed');
        st.sendWindow -= total;
        this.sessionSendWindow -= total;
        this.bytesOut += total;
        return this.enqueue([dataFrameHead(st.id, fin ? FLAG_FIN : 0, total), ...parts]);
      }
    }
    const data = Array.isArray(parts) ? Buffer.concat(parts) : parts;
    let off = 0;
    do {
      if (this.closed) throw new Error('spdy session closed');
      let n = Math.min(data.length - off, MAX_DATA_CHUNK);
      if (this.peerFlowControl && n > 0) {
        while (Math.min(st.sendWindow, this.sessionSendWindow) <= 0) {
          await new Promise<void>((r) => this.windowWaiters.push(r));
          if (this.closed || st.destroyed) throw new Error('spdy stream closed while waiting for the flow-control window');
        }
        n = Math.min(n, st.sendWindow, this.sessionSendWindow);
      }
      st.sendWindow -= n;
      this.sessionSendWindow -= n;
      const chunk = data.subarray(off, off + n);
      off += n;
      const last = fin && off >= data.length;
      this.bytesOut += chunk.length;
      await this.enqueue(encodeDataParts(st.id, last ? FLAG_FIN : 0, chunk));
    } while (off < data.length);
  }

  private wakeWriters(): void {
    const w = this.windowWaiters;
    this.windowWaiters = [];
    for (const r of w) r();
  }

  // --- bookkeeping used by streams ---

  forget(st: SpdyStream): void {
    if (this.streams.get(st.id) === st) this.streams.delete(st.id);
    this.unblock(st);
  }

  /**
   * A stream's reader is behind. A flow-controlling peer is held back by the WINDOW_UPDATEs we do
   * not send yet, and the socket must keep being read (its own WINDOW_UPDATEs for our sends arrive
   * there: pausing would deadlock an echo). A peer that ignores windows is held back by TCP.
   */
  block(st: SpdyStream): void {
    this.blocked.add(st);
    if (!this.peerFlowControl) this.socket.pause();
  }

  unblock(st: SpdyStream): void {
    if (this.blocked.delete(st) && this.blocked.size === 0 && !this.closed) this.socket.resume();
  }

  private touch(): void {
    if (this.options.idleTimeoutMs <= 0 || this.closed) return;
    if (this.idleTimer) this.idleTimer.refresh();
    else {
      this.idleTimer = setTimeout(() => {
        this.options.log.info({ idleTimeoutMs: this.options.idleTimeoutMs }, 'streaming session idle, closing');
        this.close();
        setTimeout(() => this.destroy(), 1000).unref();
      }, this.options.idleTimeoutMs);
      this.idleTimer.unref();
    }
  }

  private fail(err: unknown): void {
    if (this.closed) return;
    this.options.log.warn({ err }, 'spdy protocol error, closing session');
    if (!this.goneAway) {
      this.goneAway = true;
      const status = err instanceof FrameError ? GoAwayStatus.PROTOCOL_ERROR : GoAwayStatus.INTERNAL_ERROR;
      void this.sendControl(ControlType.GOAWAY, 0, twoWords(this.lastPeerStreamId, status)).catch(() => undefined);
    }
    void this.writeChain.then(() => {
      this.flush();
      this.destroy();
    });
  }

  /** Sends what the end-of-tick cork holds now (before the socket is destroyed). */
  private flush(): void {
    while (this.socket.writableCorked > 0) this.socket.uncork();
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.idleTimer);
    clearImmediate(this.windowFlush);
    this.wakeWriters();
    for (const st of [...this.streams.values()]) st.destroy();
    this.streams.clear();
    this.inflater.close();
    this.deflater.close();
    if (!this.socket.destroyed) this.socket.destroy();
    this.emit('close');
  }
}

/**
 * One frame (a header and its payload) onto a corked socket: a socket sends them in one writev
 * without copying the payload; a transport that writes chunk by chunk (a WebSocket stream, one
 * message each) gets them joined. `written` comes with the last part's write callback.
 */
function writeAll(socket: Duplex, buf: Buffer | Buffer[], written: () => void): void {
  if (!Array.isArray(buf)) socket.write(buf, () => written());
  else if (typeof (socket as { _writev?: unknown })._writev !== 'function') socket.write(Buffer.concat(buf), () => written());
  else buf.forEach((b, i) => (i === buf.length - 1 ? socket.write(b, () => written()) : socket.write(b)));
}

function waitDrain(socket: Duplex): Promise<void> {
  // 'drain' comes only after a write() that returned false (always so above SOCKET_BUFFER_LIMIT).
  if (!socket.writableNeedDrain) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/** One SPDY stream opened by the client; the server replies, then reads and writes it. */
export class SpdyStream extends Duplex {
  /** Write callbacks come once the session's socket has written the frame (or it was copied). */
  readonly [REUSABLE_AFTER_WRITE] = true;
  private remoteClosed = false;
  private localClosed = false;
  private wasReset = false;
  private recvUnacked = 0;
  /** The reset status the peer sent, if it reset the stream. */
  resetStatus: number | undefined;

  constructor(
    private readonly session: SpdySession,
    readonly id: number,
    readonly headers: SpdyHeaders,
    public sendWindow: number,
  ) {
    super({ allowHalfOpen: true, highWaterMark: STREAM_HIGH_WATER_MARK });
  }

  /** Accept the stream (SYN_REPLY). Kubernetes clients wait for it before using the stream. */
  reply(headers: SpdyHeaders = {}): Promise<void> {
    return this.session.sendReply(this.id, headers, false);
  }

  /** Refuse or abort the stream with RST_STREAM. */
  reset(status: number = RstStatus.CANCEL): void {
    if (this.wasReset) return;
    this.wasReset = true;
    this.session.sendRst(this.id, status);
    this.destroy();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.localClosed) return cb(new Error(`spdy stream ${this.id} is closed for writing`));
    this.session.sendData(this, chunk, false).then(() => cb(), cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    if (this.localClosed) return cb(new Error(`spdy stream ${this.id} is closed for writing`));
    this.session.sendData(
      this,
      chunks.map((c) => c.chunk),
      false,
    ).then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.localClosed) return cb();
    this.localClosed = true;
    this.session.sendData(this, Buffer.alloc(0), true).then(
      () => {
        this.maybeForget();
        cb();
      },
      cb,
    );
  }

  override _read(): void {
    // Below half a window the peer still has half a window to send on: no need to tell it yet.
    if (this.recvUnacked >= DEFAULT_WINDOW / 2) {
      this.session.sendWindowUpdate(this.id, this.recvUnacked);
      this.recvUnacked = 0;
    }
    this.session.unblock(this);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.wasReset && !(this.localClosed && this.remoteClosed) && !this.session.isClosed) {
      this.wasReset = true;
      this.session.sendRst(this.id, RstStatus.CANCEL);
    }
    this.session.forget(this);
    cb(err);
  }

  onData(payload: Buffer, fin: boolean): void {
    if (this.remoteClosed) {
      release(payload);
      this.reset(RstStatus.STREAM_ALREADY_CLOSED);
      return;
    }
    if (payload.length > 0) {
      this.recvUnacked += payload.length;
      if (this.push(payload)) {
        if (this.recvUnacked >= DEFAULT_WINDOW / 2) this._read();
      } else {
        this.session.block(this);
      }
    }
    if (fin) this.onRemoteFin();
  }

  onRemoteFin(): void {
    if (this.remoteClosed) return;
    this.remoteClosed = true;
    this.push(null);
    this.maybeForget();
  }

  onLocalUnidirectional(): void {
    this.localClosed = true;
  }

  onReset(status: number): void {
    this.resetStatus = status;
    this.wasReset = true;
    this.remoteClosed = true;
    this.destroy();
  }

  private maybeForget(): void {
    if (this.localClosed && this.remoteClosed) this.session.forget(this);
  }
}
