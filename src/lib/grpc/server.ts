// A gRPC server (unary and server-streaming methods) on our own HTTP/2 sessions over a unix
// socket. Per call it allocates a handful of short-lived objects and writes one buffer; the wire
// format is gRPC over HTTP/2 as every client speaks it (length-prefixed messages, status in
// trailers, grpc-timeout deadlines, resets as cancellation).
import { createServer, type Server, type Socket } from 'node:net';
import { gunzipSync, inflateSync } from 'node:zlib';
import { ErrorCode, type H2Error } from '../h2/frames.js';
import { encodeHeaderBlock } from '../h2/hpack.js';
import { H2ServerSession, type H2Stream, type StreamListener } from '../h2/session.js';
import { NO_SLOT } from '../slot-set.js';
import { Deadlines } from './deadlines.js';
import { Status, StatusError } from './status.js';

export interface ServerCall {
  /** Fires when the caller goes away: reset, connection lost, or its deadline passed. */
  readonly signal: AbortSignal;
  /** A request metadata value (lower-case name), the first if sent more than once. */
  metadata(name: string): string | undefined;
}

export interface MethodHandler {
  responseStream: boolean;
  decode(bytes: Buffer): unknown;
  encode(value: unknown): Buffer;
  /** Unary: resolves to the answer. Server-streaming: calls `send` per message, resolves at the end. */
  handle(request: unknown, call: ServerCall, send: (message: unknown) => void): unknown;
}

export interface GrpcServerOptions {
  maxMessageBytes: number;
  /** A client that broke HTTP/2 (its connection was closed). */
  onProtocolError?: (err: H2Error) => void;
  /** A client that broke HTTP/2 on one stream (that stream was reset). */
  onStreamError?: (err: H2Error, streamId: number) => void;
}

const HEADERS_OK = encodeHeaderBlock([
  [':status', '200'],
  ['content-type', 'application/grpc'],
]);
const TRAILERS_OK = encodeHeaderBlock([['grpc-status', '0']]);
const TRAILERS_ONLY_OK = encodeHeaderBlock([
  [':status', '200'],
  ['content-type', 'application/grpc'],
  ['grpc-status', '0'],
]);
const MESSAGE_PREFIX_BYTES = 5;
/** Request metadata we take (announced as SETTINGS_MAX_HEADER_LIST_SIZE); the kubelet's is a few hundred bytes. */
const MAX_HEADER_LIST_BYTES = 64 * 1024;
/** Messages below this are copied behind their 5-byte prefix (one DATA frame); larger ones are not. */
const COPY_BELOW = 16 * 1024;
const MAX_TIMER_MS = 2 ** 31 - 1;
const TIMEOUT_UNIT_MS: Partial<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** grpc-message is percent-encoded UTF-8: bytes outside printable ASCII, and '%'. */
export function percentEncode(s: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(s)) return s;
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** grpc-timeout ("<1-8 digits><unit>") in ms, or undefined if absent or malformed. */
export function timeoutMs(value: string | undefined): number | undefined {
  // By hand, not a regex: every call of every client carries one, and a match array is garbage.
  if (value === undefined || value.length < 2 || value.length > 9) return undefined;
  const unit = TIMEOUT_UNIT_MS[value.charAt(value.length - 1)];
  if (unit === undefined) return undefined;
  let n = 0;
  for (let i = 0; i < value.length - 1; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return undefined;
    n = n * 10 + d;
  }
  return n * unit;
}

function statusBlock(code: number, details: string, withHeaders: boolean): Buffer {
  const fields: [string, string][] = withHeaders ? [[':status', '200'], ['content-type', 'application/grpc']] : [];
  fields.push(['grpc-status', String(code)]);
  if (details !== '') fields.push(['grpc-message', percentEncode(details)]);
  return encodeHeaderBlock(fields);
}

class Call implements ServerCall, StreamListener {
  private readonly controller = new AbortController();
  private parts: Buffer[] = [];
  private bytes = 0;
  /** Prefix + message bytes, once the prefix is in. */
  private expected = Infinity;
  /** When the caller's deadline passes (Date.now() ms); Infinity without one. */
  deadlineAt = Infinity;
  deadlineSlot = NO_SLOT;
  private headersSent = false;
  private done = false;

  constructor(
    private readonly stream: H2Stream,
    private readonly handler: MethodHandler,
    private readonly maxBytes: number,
    private readonly deadlines: Deadlines<Call>,
  ) {
    stream.listener = this;
    const ms = timeoutMs(stream.header('grpc-timeout'));
    // A deadline past what a timer can hold (~24.8 days; up to 99999999H may be sent) is no deadline.
    if (ms !== undefined && ms <= MAX_TIMER_MS) {
      this.deadlineAt = Date.now() + ms;
      deadlines.add(this);
    }
  }

  deadlinePassed(): void {
    this.finish(Status.DEADLINE_EXCEEDED, 'Deadline exceeded');
    this.controller.abort(new StatusError(Status.DEADLINE_EXCEEDED, 'the deadline passed'));
  }

  end(): void {
    this.dispatch();
  }

  abort(reason: string): void {
    this.cancel(new Error(reason));
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  metadata(name: string): string | undefined {
    return this.stream.header(name);
  }

  data(piece: Buffer): void {
    if (this.done) return;
    const before = this.bytes;
    this.bytes += piece.length;
    this.parts.push(piece);
    // The length prefix is read once, as soon as it is complete: a message over the limit is
    // refused before its bytes are held, and so are bytes past the one message.
    if (before < MESSAGE_PREFIX_BYTES && this.bytes >= MESSAGE_PREFIX_BYTES) {
      const head = this.parts.length === 1 ? piece : Buffer.concat(this.parts);
      this.parts = [head];
      this.expected = MESSAGE_PREFIX_BYTES + head.readUInt32BE(1);
      if (this.expected - MESSAGE_PREFIX_BYTES > this.maxBytes) {
        this.parts = [];
        return this.finish(Status.RESOURCE_EXHAUSTED, `Received message larger than max (${this.expected - MESSAGE_PREFIX_BYTES} vs. ${this.maxBytes})`);
      }
    }
    if (this.bytes > this.expected) {
      this.parts = [];
      this.finish(Status.INTERNAL, 'more than one request message for a method that takes one');
    }
  }

  private dispatch(): void {
    if (this.done) return;
    const body = this.parts.length === 1 ? (this.parts[0] as Buffer) : Buffer.concat(this.parts);
    this.parts = [];
    if (body.length < MESSAGE_PREFIX_BYTES) return this.finish(Status.INTERNAL, body.length === 0 ? 'the request holds no message' : 'the request message is cut short');
    const length = body.readUInt32BE(1);
    if (body.length !== MESSAGE_PREFIX_BYTES + length) {
      return this.finish(Status.INTERNAL, body.length < MESSAGE_PREFIX_BYTES + length ? 'the request message is cut short' : 'more than one request message for a method that takes one');
    }
    let message = body.subarray(MESSAGE_PREFIX_BYTES);
    if (body[0] === 1) {
      const encoding = this.stream.header('grpc-encoding') ?? 'identity';
      try {
        if (encoding === 'gzip') message = gunzipSync(message, { maxOutputLength: this.maxBytes });
        else if (encoding === 'deflate') message = inflateSync(message, { maxOutputLength: this.maxBytes });
        else return this.finish(Status.UNIMPLEMENTED, `a compressed message in an encoding not supported: ${encoding}`);
      } catch (err) {
        const big = err instanceof RangeError || (err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE';
        return this.finish(big ? Status.RESOURCE_EXHAUSTED : Status.INTERNAL, big ? `Received message larger than max (decompressed, over ${this.maxBytes})` : `cannot decompress the request: ${(err as Error).message}`);
      }
    }
    let request: unknown;
    try {
      request = this.handler.decode(message);
    } catch (err) {
      return this.finish(Status.INTERNAL, `Error deserializing request: ${(err as Error).message}`);
    }
    let answer: unknown;
    try {
      answer = this.handler.handle(request, this, (m) => this.send(m));
    } catch (err) {
      return this.failed(err);
    }
    void Promise.resolve(answer).then(
      (res) => {
        if (this.done) return;
        if (this.handler.responseStream) this.finish(Status.OK, '');
        else if (this.send(res)) this.finish(Status.OK, '');
      },
      (err: unknown) => this.failed(err),
    );
  }

  /** Sends one message; false (and the call ended) if it could not be. */
  private send(value: unknown): boolean {
    if (this.done) return false;
    let bytes: Buffer;
    try {
      bytes = this.handler.encode(value);
    } catch (err) {
      this.finish(Status.INTERNAL, `Error serializing response: ${(err as Error).message}`);
      return false;
    }
    if (bytes.length > this.maxBytes) {
      this.finish(Status.RESOURCE_EXHAUSTED, `the answer is larger than max (${bytes.length} vs. ${this.maxBytes})`);
      return false;
    }
    const s = this.stream;
    if (!this.headersSent) {
      this.headersSent = true;
      s.sendHeaders(HEADERS_OK);
    }
    if (bytes.length < COPY_BELOW) {
      const msg = Buffer.allocUnsafe(MESSAGE_PREFIX_BYTES + bytes.length);
      msg[0] = 0;
      msg.writeUInt32BE(bytes.length, 1);
      bytes.copy(msg, MESSAGE_PREFIX_BYTES);
      s.sendData(msg);
    } else {
      const prefix = Buffer.allocUnsafe(MESSAGE_PREFIX_BYTES);
      prefix[0] = 0;
      prefix.writeUInt32BE(bytes.length, 1);
      s.sendData(prefix);
      s.sendData(bytes);
    }
    // A client that stops reading must not make us hold its messages without end, on one stream
    // or across many. It could not take trailers either: the stream is reset and what waited for
    // it dropped.
    if (s.pendingBytes > 2 * this.maxBytes || s.session.pendingBytes > 4 * this.maxBytes) {
      this.cancel(new StatusError(Status.RESOURCE_EXHAUSTED, 'the client is not reading the stream'));
      s.reset(ErrorCode.ENHANCE_YOUR_CALM);
      return false;
    }
    return true;
  }

  private failed(err: unknown): void {
    if (err instanceof StatusError) this.finish(err.code, err.details);
    else this.finish(Status.UNKNOWN, err instanceof Error ? err.message : String(err));
  }

  private finish(code: number, details: string): void {
    if (this.done) return;
    this.done = true;
    if (this.deadlineAt !== Infinity) this.deadlines.delete(this);
    const s = this.stream;
    // No message sent yet: one HEADERS frame holds it all ("trailers-only").
    if (!this.headersSent) s.sendHeaders(code === Status.OK ? TRAILERS_ONLY_OK : statusBlock(code, details, true), true);
    else s.sendTrailers(code === Status.OK ? TRAILERS_OK : statusBlock(code, details, false));
  }

  private cancel(reason: Error): void {
    if (this.done) return;
    this.done = true;
    if (this.deadlineAt !== Infinity) this.deadlines.delete(this);
    this.controller.abort(reason);
  }
}

export class GrpcServer {
  private readonly methods = new Map<string, MethodHandler>();
  private readonly sessions = new Set<H2ServerSession>();
  private readonly deadlines = new Deadlines<Call>();
  private server: Server | undefined;

  constructor(private readonly opts: GrpcServerOptions) {}

  add(path: string, handler: MethodHandler): void {
    this.methods.set(path, handler);
  }

  listen(socketPath: string): Promise<void> {
    const server = createServer((socket) => this.connection(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  /** Stops taking connections and calls, lets open calls end within `timeoutMs`, then cuts them. */
  async shutdown(timeoutMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    for (const s of this.sessions) s.goAway();
    const deadline = Date.now() + timeoutMs;
    while (this.sessions.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const s of this.sessions) s.destroy();
    await closed;
  }

  private connection(socket: Socket): void {
    const session = new H2ServerSession(socket, {
      onStream: (stream) => this.stream(stream),
      maxConcurrentStreams: 1000,
      streamWindow: 1024 * 1024,
      connectionWindow: 8 * 1024 * 1024,
      maxHeaderListSize: MAX_HEADER_LIST_BYTES,
      onProtocolError: this.opts.onProtocolError,
      onStreamError: this.opts.onStreamError,
    });
    this.sessions.add(session);
    socket.on('close', () => this.sessions.delete(session));
  }

  private stream(s: H2Stream): void {
    if (s.header(':method') !== 'POST') return s.sendHeaders(encodeHeaderBlock([[':status', '405']]), true);
    const type = s.header('content-type');
    if (!type?.startsWith('application/grpc')) return s.sendHeaders(encodeHeaderBlock([[':status', '415']]), true);
    const path = s.header(':path') ?? '';
    const handler = this.methods.get(path);
    if (!handler) return s.sendHeaders(statusBlock(Status.UNIMPLEMENTED, `The server does not implement the method ${path.slice(0, 256)}`, true), true);
    if (s.headerListSize > MAX_HEADER_LIST_BYTES) return s.sendHeaders(statusBlock(Status.RESOURCE_EXHAUSTED, 'the request metadata is too large', true), true);
    new Call(s, handler, this.opts.maxMessageBytes, this.deadlines);
  }
}

