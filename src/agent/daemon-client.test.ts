// The agent's own CRI client against raw HTTP/2 servers on unix sockets that answer the way a
// broken, old or foreign endpoint would (the well-behaved daemon path runs against grpc-js in
// agent-sync.test.ts): every failure must come back as a gRPC-style error saying what happened.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DaemonCallError, DaemonClient, daemonCalls, GRPC_DEADLINE_EXCEEDED, GRPC_INTERNAL, GRPC_UNAVAILABLE } from './daemon-client.js';

let dir: string;
let n = 0;
const servers: Http2Server[] = [];
const clients: DaemonClient[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'daemon-client-'));
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An HTTP/2 server on a fresh unix socket answering every stream with `answer`; a client for it. */
async function serve(answer: (stream: ServerHttp2Stream) => void): Promise<DaemonClient> {
  const socket = join(dir, `s${++n}.sock`);
  const s = createServer();
  s.on('stream', (stream) => {
    // A stream reset on purpose errors on this side too.
    stream.on('error', () => undefined);
    stream.on('data', () => undefined);
    stream.on('end', () => answer(stream));
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(socket, r));
  const c = new DaemonClient(socket);
  clients.push(c);
  return c;
}

async function callError(p: Promise<unknown>): Promise<DaemonCallError> {
  const err = await p.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(DaemonCallError);
  return err as DaemonCallError;
}

describe('DaemonClient against broken endpoints', () => {
  it('nothing listening: UNAVAILABLE naming the socket and why', async () => {
    const c = new DaemonClient(join(dir, 'absent.sock'));
    clients.push(c);
    const e = await callError(c.version(2000));
    expect(e.code).toBe(GRPC_UNAVAILABLE);
    expect(e.message).toMatch(/^14 UNAVAILABLE: .*absent\.sock/);
    expect(e.message).toMatch(/ENOENT/);
  });

  it('an HTTP/2 answer without a gRPC status is INTERNAL naming the HTTP status', async () => {
    const c = await serve((s) => {
      s.respond({ ':status': 404, 'content-type': 'text/plain' });
      s.end('no such path');
    });
    const e = await callError(c.status(2000));
    expect(e.code).toBe(GRPC_INTERNAL);
    expect(e.details).toBe('HTTP 404 without a gRPC status (/runtime.v1.RuntimeService/Status)');
  });

  it('a gRPC error status comes back with its code and its (percent-decoded) message; an unknown code is named UNKNOWN', async () => {
    const c = await serve((s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '5', 'grpc-message': encodeURIComponent('image "x:1" not found: 100%') }));
      s.end();
    });
    const e = await callError(c.imageStatus('x:1', 2000));
    expect(e.code).toBe(5);
    expect(e.message).toBe('5 NOT_FOUND: image "x:1" not found: 100%');

    const d = await serve((s) => {
      // Trailers-only: the status in the headers.
      s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '42' }, { endStream: true });
    });
    const u = await callError(d.version(2000));
    expect(u.code).toBe(42);
    expect(u.message).toBe('42 UNKNOWN: ');
  });

  it('a compressed or malformed reply is INTERNAL, not misread', async () => {
    for (const body of [Buffer.from([1, 0, 0, 0, 1, 0x0a]), Buffer.from([0, 0, 0, 0, 9, 0x0a]), Buffer.from([0, 0])]) {
      const c = await serve((s) => {
        s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
        s.end(body);
      });
      const e = await callError(c.pullImage('busybox', 2000));
      expect(e.code).toBe(GRPC_INTERNAL);
      expect(e.details).toBe('a malformed or compressed reply to /runtime.v1.ImageService/PullImage');
    }
  });

  it('a daemon that never answers is DEADLINE_EXCEEDED after the timeout', async () => {
    const c = await serve(() => undefined);
    const t0 = Date.now();
    const e = await callError(c.version(200));
    expect(e.code).toBe(GRPC_DEADLINE_EXCEEDED);
    expect(e.details).toBe('Deadline exceeded after 200 ms (/runtime.v1.RuntimeService/Version)');
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('a stream the daemon resets is UNAVAILABLE; the next call connects again', async () => {
    let resets = 1;
    const c = await serve((s) => {
      if (resets-- > 0) return s.close(0x2); // INTERNAL_ERROR
      const reply = Buffer.from([0x0a, 0x04, 0x73, 0x68, 0x61, 0x31]); // image_ref "sha1"
      const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, reply.length]), reply]);
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
      s.end(frame);
    });
    const e = await callError(c.pullImage('busybox', 2000));
    expect(e.code).toBe(GRPC_UNAVAILABLE);
    expect(await c.pullImage('busybox', 2000)).toBe('sha1');
  });
});

describe('daemonCalls over a grpc-js client', () => {
  it('maps a Status without a status field to no conditions', async () => {
    const unary = (res: unknown) => (_req: unknown, _o: unknown, cb: (e: Error | null, r?: unknown) => void) => cb(null, res);
    const calls = daemonCalls({ runtime: { Status: unary({ runtime_handlers: [{ name: '' }, { name: 'runc' }] }) }, image: {}, close: () => undefined });
    expect(await calls.status(1000)).toEqual({ conditions: [], handlers: ['', 'runc'] });
  });
});
