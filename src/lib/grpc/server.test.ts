// The gRPC server against real clients: grpc-js (Node's nghttp2 underneath) for calls, node:http2
// and a raw socket for what a broken or hostile client sends. Messages are raw bytes here; the
// CRI codecs sit on top of this (src/cri/grpc/server.ts).
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FrameType, PREFACE, Setting, frame, settingsPayload, u32 } from '../h2/frames.js';
import { encodeHeaderBlock } from '../h2/hpack.js';
import { GrpcServer, percentEncode, timeoutMs, type ServerCall } from './server.js';
import { Status, StatusError } from './status.js';

const raw = (b: Buffer): Buffer => b;
const method = (name: string, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> => ({
  path: `/test.Echo/${name}`,
  requestStream: false,
  responseStream,
  requestSerialize: raw,
  requestDeserialize: raw,
  responseSerialize: raw,
  responseDeserialize: raw,
});
const SERVICE = {
  Echo: method('Echo', false),
  Big: method('Big', false),
  Fail: method('Fail', false),
  Hang: method('Hang', false),
  Count: method('Count', true),
  Forever: method('Forever', true),
  Flood: method('Flood', true),
  Slow: method('Slow', false),
  Missing: method('Missing', false),
};
type Client = grpc.Client & Record<string, (...a: unknown[]) => unknown>;

describe('GrpcServer', () => {
  let dir: string;
  let socket: string;
  let server: GrpcServer;
  let client: Client;
  const aborted: string[] = [];
  let protocolErrors: string[] = [];
  const streamErrors: string[] = [];
  const MAX = 1024 * 1024;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nexcage-grpc-server-'));
    socket = join(dir, 's.sock');
    server = new GrpcServer({ maxMessageBytes: MAX, onProtocolError: (e) => protocolErrors.push(e.message), onStreamError: (e, id) => streamErrors.push(`${id}: ${e.message}`) });
    const add = (name: keyof typeof SERVICE, handle: (req: Buffer, call: ServerCall, send: (m: unknown) => void) => unknown): void =>
      server.add(SERVICE[name].path, { responseStream: SERVICE[name].responseStream, decode: (b) => Buffer.from(b), encode: (v) => v as Buffer, handle: (r, c, s) => handle(r as Buffer, c, s) });
    add('Echo', (req, call) => Buffer.concat([req, Buffer.from(`|${call.metadata('x-tag') ?? ''}`)]));
    add('Big', (req) => Buffer.alloc(Number(req.toString()), 7));
    add('Fail', (req) => {
      throw new StatusError(Status.NOT_FOUND, req.toString());
    });
    const hang = (name: string) => (_req: Buffer, call: ServerCall) =>
      new Promise((_, reject) => call.signal.addEventListener('abort', () => {
        aborted.push(`${name}: ${String((call.signal.reason as Error).message)}`);
        reject(call.signal.reason as Error);
      }));
    add('Hang', hang('Hang'));
    add('Slow', () => new Promise((resolve) => setTimeout(() => resolve(Buffer.from('slow')), 50)));
    add('Count', async (req, _call, send) => {
      for (let i = 0; i < Number(req.toString()); i++) send(Buffer.from(String(i)));
    });
    add('Forever', hang('Forever'));
    add('Flood', async (_req, call, send) => {
      for (let i = 0; i < 5 && !call.signal.aborted; i++) send(Buffer.alloc(MAX, i));
      if (!call.signal.aborted) await new Promise((resolve) => call.signal.addEventListener('abort', resolve));
      aborted.push(`Flood: ${String((call.signal.reason as Error).message)}`);
    });
    await server.listen(socket);
    const Ctor = grpc.makeGenericClientConstructor(SERVICE as unknown as grpc.ServiceDefinition, 'Echo');
    client = new Ctor(`unix://${socket}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 * MAX, 'grpc.max_send_message_length': 64 * MAX }) as unknown as Client;
  });
  afterAll(async () => {
    client.close();
    await server.shutdown(0);
    rmSync(dir, { recursive: true, force: true });
  });

  const unary = (name: string, req: Buffer, opts: grpc.CallOptions = {}, md = new grpc.Metadata(), c: Client = client): Promise<Buffer> =>
    new Promise((resolve, reject) =>
      (c[name] as (r: Buffer, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v: Buffer) => void) => void).call(c, req, md, opts, (e, v) => (e ? reject(e) : resolve(v))),
    );
  const failure = (p: Promise<unknown>): Promise<grpc.ServiceError> => p.then(() => Promise.reject(new Error('expected a failure')), (e: grpc.ServiceError) => e);

  it('answers unary calls with the request, metadata reaching the handler; empty requests too', async () => {
    const md = new grpc.Metadata();
    md.set('x-tag', 'seen');
    expect((await unary('Echo', Buffer.from('hello'), {}, md)).toString()).toBe('hello|seen');
    expect((await unary('Echo', Buffer.alloc(0))).toString()).toBe('|');
  });

  it('keeps concurrent answers of every size apart, byte-exact (flushes share reused buffers)', async () => {
    const sizes = [3000, 4095, 4097, 20_000, 65_000, 70_000, 150_000, 250_000, 262_000, 300_000];
    const reqs = [...sizes, ...sizes.reverse()].map((n) => randomBytes(n));
    const answers = await Promise.all(reqs.map((r) => unary('Echo', r)));
    answers.forEach((a, i) => expect(a.equals(Buffer.concat([reqs[i] as Buffer, Buffer.from('|')])), `answer ${i}`).toBe(true));
  });

  it('sends answers larger than the flow-control windows and frames, byte-exact', async () => {
    const big = await unary('Big', Buffer.from(String(MAX)));
    expect(big.length).toBe(MAX);
    expect(big.every((b) => b === 7)).toBe(true);
    const err = await failure(unary('Big', Buffer.from(String(MAX + 1))));
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.details).toBe(`the answer is larger than max (${MAX + 1} vs. ${MAX})`);
    // Many at once on one connection share the connection window.
    const all = await Promise.all(Array.from({ length: 20 }, (_, i) => unary('Big', Buffer.from(String(100_000 + i)))));
    expect(all.map((b) => b.length)).toEqual(Array.from({ length: 20 }, (_, i) => 100_000 + i));
  });

  it('takes requests across many DATA frames and refuses one over the limit with RESOURCE_EXHAUSTED', async () => {
    const req = Buffer.alloc(MAX - 10, 1);
    expect((await unary('Echo', req)).length).toBe(MAX - 10 + 1);
    const err = await failure(unary('Echo', Buffer.alloc(MAX + 1)));
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.details).toBe(`Received message larger than max (${MAX + 1} vs. ${MAX})`);
    // The connection still serves.
    expect((await unary('Echo', Buffer.from('after'))).toString()).toBe('after|');
  });

  it('refuses a second request message at once, before its bytes pile up', async () => {
    aborted.length = 0;
    const session = http2.connect('http://localhost', { createConnection: () => connect(socket) });
    try {
      const got = await new Promise<{ status: string | undefined; message: string | undefined }>((resolve, reject) => {
        const req = session.request({ ':method': 'POST', ':path': '/test.Echo/Hang', 'content-type': 'application/grpc' });
        let done: { status: string | undefined; message: string | undefined } | undefined;
        req.on('response', (h) => (done = { status: h['grpc-status'] as string | undefined, message: h['grpc-message'] as string | undefined }));
        req.on('trailers', (t) => (done = { status: t['grpc-status'] as string | undefined, message: t['grpc-message'] as string | undefined }));
        req.on('close', () => resolve(done ?? { status: undefined, message: undefined }));
        req.on('error', reject);
        // Two messages and no end of stream: the answer must not wait for the end.
        req.write(Buffer.from([0, 0, 0, 0, 1, 0x61, 0, 0, 0, 0, 1, 0x62]));
      });
      expect(got).toEqual({ status: String(grpc.status.INTERNAL), message: 'more than one request message for a method that takes one' });
      expect(aborted).toEqual([]); // the handler never ran
    } finally {
      session.close();
    }
  });

  it('reads gzip-compressed requests', async () => {
    const Ctor = grpc.makeGenericClientConstructor(SERVICE as unknown as grpc.ServiceDefinition, 'Echo');
    const gz = new Ctor(`unix://${socket}`, grpc.credentials.createInsecure(), { 'grpc.default_compression_algorithm': 2 }) as unknown as Client;
    try {
      expect((await unary('Echo', Buffer.alloc(5000, 'z'), {}, new grpc.Metadata(), gz)).toString()).toBe(`${'z'.repeat(5000)}|`);
    } finally {
      gz.close();
    }
  });

  it('passes status and message (any UTF-8, percent-encoded on the wire) to the client', async () => {
    const details = 'container "ünï%cødé\n" not found';
    const err = await failure(unary('Fail', Buffer.from(details)));
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.details).toBe(details);
    expect(percentEncode('a%b ü')).toBe('a%25b %C3%BC');
  });

  it('answers UNIMPLEMENTED for a method it does not have', async () => {
    const err = await failure(unary('Missing', Buffer.from('x')));
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(err.details).toContain('/test.Echo/Missing');
  });

  it('streams messages, and ends a stream without any with OK', async () => {
    const read = (n: number): Promise<string[]> =>
      new Promise((resolve, reject) => {
        const got: string[] = [];
        const s = (client.Count as (r: Buffer) => grpc.ClientReadableStream<Buffer>).call(client, Buffer.from(String(n)));
        s.on('data', (m: Buffer) => got.push(m.toString()));
        s.on('end', () => resolve(got));
        s.on('error', reject);
      });
    expect(await read(3)).toEqual(['0', '1', '2']);
    expect(await read(0)).toEqual([]);
    expect((await read(2000)).length).toBe(2000);
  });

  it('ends a call past its deadline with DEADLINE_EXCEEDED and aborts the handler', async () => {
    aborted.length = 0;
    // A bare HTTP/2 client: grpc-js cancels the stream at its own deadline, which can reach the
    // server before the server's timer fires on a busy machine (then the abort says "reset").
    const session = http2.connect('http://localhost', { createConnection: () => connect(socket) });
    try {
      const req = session.request({ ':method': 'POST', ':path': '/test.Echo/Hang', 'content-type': 'application/grpc', 'grpc-timeout': '200m' });
      req.on('error', () => undefined);
      req.end(Buffer.from([0, 0, 0, 0, 0]));
      req.resume();
      // A status without a message comes trailers-only: in the response headers.
      const status = await new Promise<unknown>((resolve) => {
        req.on('response', (h) => h['grpc-status'] !== undefined && resolve(h['grpc-status']));
        req.on('trailers', (h) => resolve(h['grpc-status']));
      });
      expect(status).toBe(String(grpc.status.DEADLINE_EXCEEDED));
    } finally {
      session.close();
    }
    await vi.waitFor(() => expect(aborted).toEqual(['Hang: the deadline passed']), { timeout: 5000, interval: 10 });
    expect(timeoutMs('250m')).toBe(250);
    expect(timeoutMs('2S')).toBe(2000);
    expect(timeoutMs('1000000n')).toBe(1);
    expect(timeoutMs('123456789m')).toBeUndefined();
    expect(timeoutMs('99999999H')).toBe(99999999 * 3_600_000);
    for (const bad of ['', 'm', '5', '5x', '-5m', '5.0S', ' 5S', '5 S', '１S']) expect(timeoutMs(bad), bad).toBeUndefined();
  });

  it('aborts a stream the client cancels', async () => {
    aborted.length = 0;
    const s = (client.Forever as (r: Buffer) => grpc.ClientReadableStream<Buffer>).call(client, Buffer.alloc(0));
    s.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 50));
    s.cancel();
    await vi.waitFor(() => expect(aborted).toHaveLength(1), { timeout: 5000, interval: 10 });
    expect(aborted[0]).toMatch(/^Forever: the client reset the stream/);
  });

  it('resets a stream whose client does not read once its backlog passes twice the message limit', async () => {
    aborted.length = 0;
    // A client that opens no window: nothing can be sent to it.
    const session = http2.connect('http://localhost', { createConnection: () => connect(socket), settings: { initialWindowSize: 0 } });
    try {
      const req = session.request({ ':method': 'POST', ':path': '/test.Echo/Flood', 'content-type': 'application/grpc' });
      req.on('error', () => undefined);
      req.end(Buffer.from([0, 0, 0, 0, 0]));
      const code = await new Promise<number>((resolve) => req.on('close', () => resolve(req.rstCode)));
      expect(code).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      await vi.waitFor(() => expect(aborted).toEqual(['Flood: the client is not reading the stream']), { timeout: 5000, interval: 10 });
    } finally {
      session.close();
    }
  });

  it('resets the stream that takes a connection past four times the message limit of answers its client does not read', async () => {
    const session = http2.connect('http://localhost', { createConnection: () => connect(socket), settings: { initialWindowSize: 0 } });
    try {
      const size = Buffer.from(String(MAX - 100));
      const codes = await Promise.all(
        Array.from({ length: 5 }, (_, i) =>
          new Promise<number>((resolve) => {
            // One at a time: each answer is queued before the next call arrives.
            setTimeout(() => {
              const req = session.request({ ':method': 'POST', ':path': '/test.Echo/Big', 'content-type': 'application/grpc' });
              req.on('error', () => undefined);
              req.on('close', () => resolve(req.rstCode));
              req.end(Buffer.concat([Buffer.from([0, 0, 0, 0, size.length]), size]));
              if (i < 4) setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), 500);
            }, i * 50);
          }),
        ),
      );
      // The first four (about 4 MiB waiting) are held until the client gives up on them; the fifth is refused.
      expect(codes).toEqual([http2.constants.NGHTTP2_CANCEL, http2.constants.NGHTTP2_CANCEL, http2.constants.NGHTTP2_CANCEL, http2.constants.NGHTTP2_CANCEL, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM]);
    } finally {
      session.close();
    }
  });

  it('refuses a request that is not gRPC: wrong content type (415), not POST (405); takes the longest grpc-timeout', async () => {
    const session = http2.connect('http://localhost', { createConnection: () => connect(socket) });
    try {
      const status = (headers: http2.OutgoingHttpHeaders): Promise<number> =>
        new Promise((resolve, reject) => {
          const req = session.request(headers);
          req.on('response', (h) => resolve(Number(h[':status'])));
          req.on('error', reject);
          req.end();
        });
      expect(await status({ ':method': 'POST', ':path': '/test.Echo/Echo', 'content-type': 'text/plain' })).toBe(415);
      expect(await status({ ':method': 'GET', ':path': '/test.Echo/Echo', 'content-type': 'application/grpc' })).toBe(405);
      // The longest grpc-timeout a client may send is beyond a timer's range: the call just has no deadline.
      const answer = await new Promise<{ status: string | undefined; body: Buffer }>((resolve, reject) => {
        const req = session.request({ ':method': 'POST', ':path': '/test.Echo/Slow', 'content-type': 'application/grpc', 'grpc-timeout': '99999999H' });
        const body: Buffer[] = [];
        let st: string | undefined;
        req.on('trailers', (t) => (st = String(t['grpc-status'])));
        req.on('data', (b: Buffer) => body.push(b));
        req.on('end', () => resolve({ status: st, body: Buffer.concat(body) }));
        req.on('error', reject);
        req.end(Buffer.from([0, 0, 0, 0, 0]));
      });
      expect(answer.status).toBe('0');
      expect(answer.body.subarray(5).toString()).toBe('slow');
    } finally {
      session.close();
    }
  });

  /** A raw connection: what it got back once the server closed it. */
  const rawConnection = (bytes: Buffer[]): Promise<Buffer> =>
    new Promise((resolve) => {
      const got: Buffer[] = [];
      const s: Socket = connect(socket, () => {
        for (const b of bytes) s.write(b);
      });
      s.on('data', (b: Buffer) => got.push(b));
      s.on('error', () => undefined);
      s.on('close', () => resolve(Buffer.concat(got)));
    });
  /** The frames in a byte string: [type, flags, stream, payload]. */
  const frames = (b: Buffer): [number, number, number, Buffer][] => {
    const out: [number, number, number, Buffer][] = [];
    for (let i = 0; i + 9 <= b.length; ) {
      const len = b.readUIntBE(i, 3);
      out.push([b[i + 3] as number, b[i + 4] as number, b.readUInt32BE(i + 5), b.subarray(i + 9, i + 9 + len)]);
      i += 9 + len;
    }
    return out;
  };
  const goaway = (b: Buffer): number | undefined => frames(b).find(([t]) => t === FrameType.GOAWAY)?.[3].readUInt32BE(4);
  const settings = frame(FrameType.SETTINGS, 0, 0, settingsPayload([]));

  it('closes a connection that breaks HTTP/2 with GOAWAY naming the error, and keeps serving others', async () => {
    protocolErrors = [];
    expect(goaway(await rawConnection([Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]))).toBe(1);
    expect(goaway(await rawConnection([PREFACE, settings, Buffer.from([0x00, 0x40, 0x01, FrameType.DATA, 0, 0, 0, 0, 1])]))).toBe(6); // 16 KiB + 1 frame
    expect(goaway(await rawConnection([PREFACE, settings, frame(FrameType.DATA, 0, 1, Buffer.alloc(1))]))).toBe(1); // DATA on an idle stream
    expect(goaway(await rawConnection([PREFACE, settings, frame(FrameType.HEADERS, 0x4, 1, Buffer.from([0x80]))]))).toBe(9); // HPACK index 0
    // Endless CONTINUATION: cut at 256 KiB of header block.
    const flood = [PREFACE, settings, frame(FrameType.HEADERS, 0, 1, Buffer.alloc(0)), ...Array.from({ length: 20 }, () => frame(FrameType.CONTINUATION, 0, 1, Buffer.alloc(16384)))];
    expect(goaway(await rawConnection(flood))).toBe(11);
    expect(protocolErrors).toHaveLength(5);
    expect((await unary('Echo', Buffer.from('still'))).toString()).toBe('still|');
  });

  it('sends a big answer whole, trailers last, when the client widens its windows only after the request', async () => {
    const size = 200_000;
    const headers = encodeHeaderBlock([[':method', 'POST'], [':scheme', 'http'], [':path', SERVICE.Big.path], [':authority', 'x'], ['content-type', 'application/grpc'], ['te', 'trailers']]);
    const body = Buffer.from(String(size));
    const request = Buffer.concat([Buffer.from([0]), u32(body.length), body]);
    const got = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const s = connect(socket, () => {
        // The answer starts on the default 64 KiB windows; more room comes later, as grpc-go's BDP estimate gives it.
        s.write(Buffer.concat([PREFACE, settings, frame(FrameType.HEADERS, 0x4, 1, headers), frame(FrameType.DATA, 0x1, 1, request)]));
        setTimeout(() => s.write(Buffer.concat([frame(FrameType.SETTINGS, 0, 0, settingsPayload([[Setting.INITIAL_WINDOW_SIZE, 1 << 20]])), frame(FrameType.WINDOW_UPDATE, 0, 0, u32(1 << 20))])), 50);
      });
      s.on('data', (b: Buffer) => {
        chunks.push(b);
        const all = Buffer.concat(chunks);
        if (frames(all).some(([t, f, id]) => t === FrameType.HEADERS && id === 1 && (f & 0x1) !== 0)) {
          s.destroy();
          resolve(all);
        }
      });
    });
    const ours = frames(got).filter(([, , id]) => id === 1);
    const data = Buffer.concat(ours.filter(([t]) => t === FrameType.DATA).map(([, , , p]) => p));
    expect(data.length).toBe(5 + size);
    expect(data.readUInt32BE(1)).toBe(size);
    expect(data.subarray(5).every((b) => b === 7)).toBe(true);
    const last = ours.at(-1);
    expect(last?.[0]).toBe(FrameType.HEADERS);
    expect((last?.[1] ?? 0) & 0x1).toBe(1);
  });

  it('resets a stream the client breaks (WINDOW_UPDATE of 0), says so, and keeps the connection', async () => {
    const headers = encodeHeaderBlock([[':method', 'POST'], [':scheme', 'http'], [':path', SERVICE.Hang.path], [':authority', 'x'], ['content-type', 'application/grpc']]);
    const got = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const s = connect(socket, () => s.write(Buffer.concat([PREFACE, settings, frame(FrameType.HEADERS, 0x4, 1, headers), frame(FrameType.WINDOW_UPDATE, 0, 1, Buffer.alloc(4))])));
      s.on('data', (b: Buffer) => {
        chunks.push(b);
        const all = Buffer.concat(chunks);
        if (frames(all).some(([t]) => t === FrameType.RST_STREAM)) {
          s.destroy();
          resolve(all);
        }
      });
    });
    const fs = frames(got);
    expect(fs.find(([t]) => t === FrameType.RST_STREAM)?.slice(2, 4)).toEqual([1, Buffer.from([0, 0, 0, 1])]); // PROTOCOL_ERROR
    expect(fs.some(([t]) => t === FrameType.GOAWAY)).toBe(false);
    expect(streamErrors).toEqual(['1: WINDOW_UPDATE of 0']);
  });

  it('answers PING with its payload and acknowledges SETTINGS', async () => {
    const got = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const s = connect(socket, () => s.write(Buffer.concat([PREFACE, settings, frame(FrameType.PING, 0, 0, Buffer.from('12345678'))])));
      s.on('data', (b: Buffer) => {
        chunks.push(b);
        const all = Buffer.concat(chunks);
        if (frames(all).some(([t, f]) => t === FrameType.PING && f === 1)) {
          s.destroy();
          resolve(all);
        }
      });
    });
    const fs = frames(got);
    expect(fs.find(([t, f]) => t === FrameType.PING && f === 1)?.[3].toString()).toBe('12345678');
    expect(fs.some(([t, f]) => t === FrameType.SETTINGS && f === 1)).toBe(true);
  });
});

describe('GrpcServer.shutdown', () => {
  it('lets a call in flight finish, refuses new connections, then closes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nexcage-grpc-shutdown-'));
    const socket = join(dir, 's.sock');
    const server = new GrpcServer({ maxMessageBytes: 1024 });
    let release!: () => void;
    const started = new Promise<void>((ready) =>
      server.add(SERVICE.Hang.path, {
        responseStream: false,
        decode: (b) => b,
        encode: (v) => v as Buffer,
        handle: () => {
          ready();
          return new Promise((resolve) => (release = () => resolve(Buffer.from('done'))));
        },
      }),
    );
    await server.listen(socket);
    const Ctor = grpc.makeGenericClientConstructor(SERVICE as unknown as grpc.ServiceDefinition, 'Echo');
    const c = new Ctor(`unix://${socket}`, grpc.credentials.createInsecure()) as unknown as Client;
    try {
      const answer = new Promise<Buffer>((resolve, reject) => (c.Hang as (r: Buffer, cb: (e: Error | null, v: Buffer) => void) => void).call(c, Buffer.alloc(0), (e, v) => (e ? reject(e) : resolve(v))));
      await started;
      const stopped = server.shutdown(10_000);
      setTimeout(() => release(), 100);
      expect((await answer).toString()).toBe('done');
      await stopped;
      await expect(new Promise((resolve, reject) => connect(socket).on('connect', resolve).on('error', reject))).rejects.toThrow(/ENOENT|ECONNREFUSED/);
    } finally {
      c.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
