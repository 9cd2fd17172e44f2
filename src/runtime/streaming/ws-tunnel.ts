// client-go's tunneling dialer (SPDY/3.1+portforward.k8s.io) carries one byte stream, a SPDY/3.1
// session, in binary WebSocket messages whose boundaries mean nothing. For it the server end of
// RFC 6455 is done here rather than by `ws`: a payload goes up as it arrives (unmasked in place a
// word at a time; `ws` unmasks byte by byte in JavaScript without its native add-on and joins
// each message before handing it over), and each batch of writes leaves as one binary frame, its
// buffers not copied. No message is ever assembled, so no payload limit is needed.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { leaseRead, release, retain } from './read-leases.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY = /^[+/0-9A-Za-z]{22}==$/;

const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;
const CLOSE_NORMAL = 1000;
const CLOSE_PROTOCOL_ERROR = 1002;
const MAX_CONTROL_PAYLOAD = 125;

/**
 * The 101 answer to a WebSocket upgrade with `protocol`, or undefined when the request is not a
 * valid RFC 6455 handshake (not GET, version other than 13, malformed key).
 */
export function tunnelHandshake(req: IncomingMessage, protocol: string): string | undefined {
  const key = req.headers['sec-websocket-key'];
  if (req.method !== 'GET' || req.headers['sec-websocket-version'] !== '13' || typeof key !== 'string' || !KEY.test(key)) return undefined;
  const accept = createHash('sha1').update(key + GUID).digest('base64');
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`;
}

const scratch = new Uint8Array(4);
const scratchWord = new Uint32Array(scratch.buffer);

/** XOR `buf` in place with the 4-byte `mask`, starting at mask byte `phase`. */
export function unmask(buf: Uint8Array, mask: Uint8Array, phase: number): void {
  const n = buf.length;
  let i = 0;
  const lead = Math.min(n, (4 - (buf.byteOffset & 3)) & 3);
  for (; i < lead; i++) buf[i] = (buf[i] as number) ^ (mask[(phase + i) & 3] as number);
  const words = (n - i) >>> 2;
  if (words > 0) {
    for (let j = 0; j < 4; j++) scratch[j] = mask[(phase + i + j) & 3] as number;
    const m = scratchWord[0] as number;
    const w = new Uint32Array(buf.buffer, buf.byteOffset + i, words);
    for (let k = 0; k < words; k++) w[k] = (w[k] as number) ^ m;
    i += words * 4;
  }
  for (; i < n; i++) buf[i] = (buf[i] as number) ^ (mask[(phase + i) & 3] as number);
}

/** The head of an unmasked (server) frame with FIN set. */
export function frameHead(opcode: number, length: number): Buffer {
  if (length < 126) return Buffer.from([0x80 | opcode, length]);
  if (length < 0x10000) {
    const h = Buffer.allocUnsafe(4);
    h[0] = 0x80 | opcode;
    h[1] = 126;
    h.writeUInt16BE(length, 2);
    return h;
  }
  const h = Buffer.allocUnsafe(10);
  h[0] = 0x80 | opcode;
  h[1] = 127;
  h.writeUInt32BE(Math.floor(length / 0x100000000), 2);
  h.writeUInt32BE(length >>> 0, 6);
  return h;
}

/**
 * The byte stream inside a WebSocket connection whose handshake is done: what the client sends
 * in data frames comes out, what is written goes in binary frames. Ping is answered; a close frame
 * is answered and ends the stream; a protocol violation closes the connection with 1002. With
 * `leaseReads` (a plain TCP socket) each read is leased and every payload piece that comes out
 * carries a reference to it (read-leases.ts).
 */
export class WebSocketTunnel extends Duplex {
  /** Frame head bytes received so far (at most 14). */
  private readonly head = Buffer.alloc(14);
  private headLen = 0;
  private readonly mask = Buffer.alloc(4);
  private maskPhase = 0;
  /** Payload bytes of the current frame still to come; -1 between frames. */
  private remaining = -1;
  private opcode = 0;
  private control: Buffer[] = [];
  /** A message (text or binary) is open: continuation frames may follow. */
  private inMessage = false;
  private closing = false;

  constructor(
    private readonly socket: Socket,
    head: Buffer,
    leaseReads = false,
  ) {
    super({ allowHalfOpen: true });
    if (leaseReads) {
      socket.on('data', (chunk: Buffer) => {
        leaseRead(chunk);
        this.onChunk(chunk);
      });
    } else socket.on('data', (chunk: Buffer) => this.onChunk(chunk));
    socket.on('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.on('close', () => this.destroy());
    if (head.length > 0) this.onChunk(head);
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.sendFrame(OP_BINARY, [chunk], cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this.sendFrame(
      OP_BINARY,
      chunks.map((c) => c.chunk),
      cb,
    );
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.sendClose(CLOSE_NORMAL);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }

  /** One frame of `parts` (not copied); `cb` once the socket has written them. */
  private sendFrame(opcode: number, parts: Buffer[], cb?: (err?: Error | null) => void): void {
    const length = parts.reduce((n, b) => n + b.length, 0);
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) {
      if (cb) process.nextTick(cb, new Error('websocket connection closed'));
      return;
    }
    if (length === 0 && opcode === OP_BINARY) {
      if (cb) process.nextTick(cb);
      return;
    }
    socket.cork();
    socket.write(frameHead(opcode, length));
    parts.forEach((p, i) => (i === parts.length - 1 && cb ? socket.write(p, cb) : socket.write(p)));
    socket.uncork();
  }

  private sendClose(code: number): void {
    if (this.closing) return;
    this.closing = true;
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(code);
    this.sendFrame(OP_CLOSE, [payload]);
    this.socket.end();
  }

  private fail(): void {
    this.sendClose(CLOSE_PROTOCOL_ERROR);
    this.push(null);
    this.socket.destroySoon();
  }

  /** Takes the chunk's reference (read-leases.ts), if leased; each payload piece gets one of its own. */
  private onChunk(chunk: Buffer): void {
    try {
      this.takeFrames(chunk);
    } finally {
      release(chunk);
    }
  }

  private takeFrames(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length && !this.closing) {
      if (this.remaining < 0) {
        off = this.readHead(chunk, off);
        continue;
      }
      const n = Math.min(this.remaining, chunk.length - off);
      const piece = chunk.subarray(off, off + n);
      off += n;
      unmask(piece, this.mask, this.maskPhase);
      this.maskPhase = (this.maskPhase + n) & 3;
      this.remaining -= n;
      if (this.opcode >= OP_CLOSE) this.control.push(Buffer.copyBytesFrom(piece));
      else if (n > 0) {
        retain(piece);
        if (!this.push(piece)) this.socket.pause();
      }
      if (this.remaining === 0) this.endFrame();
    }
  }

  /** Takes frame head bytes from `chunk` at `off`; returns the new offset. */
  private readHead(chunk: Buffer, off: number): number {
    const h = this.head;
    while (off < chunk.length) {
      h[this.headLen++] = chunk[off++] as number;
      if (this.headLen < 2) continue;
      const len7 = (h[1] as number) & 0x7f;
      const need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + ((h[1] as number) & 0x80 ? 4 : 0);
      if (this.headLen < need) continue;
      this.headLen = 0;
      const fin = ((h[0] as number) & 0x80) !== 0;
      const opcode = (h[0] as number) & 0x0f;
      const masked = ((h[1] as number) & 0x80) !== 0;
      const length = len7 === 126 ? h.readUInt16BE(2) : len7 === 127 ? h.readUInt32BE(2) * 0x100000000 + h.readUInt32BE(6) : len7;
      const isControl = opcode >= OP_CLOSE;
      const known = opcode === OP_CONTINUATION || opcode === OP_TEXT || opcode === OP_BINARY || opcode === OP_CLOSE || opcode === OP_PING || opcode === OP_PONG;
      if (((h[0] as number) & 0x70) !== 0 || !masked || !known || (isControl && (!fin || length > MAX_CONTROL_PAYLOAD))) {
        this.fail();
        return chunk.length;
      }
      if (!isControl) {
        // A continuation needs an open message; a new message must not start inside one.
        if ((opcode === OP_CONTINUATION) !== this.inMessage) {
          this.fail();
          return chunk.length;
        }
        this.inMessage = !fin;
      }
      h.copy(this.mask, 0, need - 4, need);
      this.maskPhase = 0;
      this.opcode = opcode;
      this.remaining = length;
      if (length === 0) this.endFrame();
      return off;
    }
    return off;
  }

  private endFrame(): void {
    this.remaining = -1;
    if (this.opcode < OP_CLOSE) return;
    const payload = Buffer.concat(this.control);
    this.control = [];
    if (this.opcode === OP_PING) this.sendFrame(OP_PONG, [payload]);
    else if (this.opcode === OP_CLOSE) {
      const code = payload.length >= 2 ? payload.readUInt16BE(0) : CLOSE_NORMAL;
      this.sendClose(code === 1005 || code === 1006 || code === 1015 ? CLOSE_NORMAL : code);
      this.push(null);
    }
  }
}
