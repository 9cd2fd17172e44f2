// The HTTP/2 session on a real socket pair, with an application that fails: a throw while
// handling a client's frames ends that connection with GOAWAY INTERNAL_ERROR, not the process.
import { createServer, connect, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, FrameType, PREFACE, frame, settingsPayload, type H2Error } from './frames.js';
import { encodeHeaderBlock } from './hpack.js';
import { H2ServerSession } from './session.js';

describe('H2ServerSession', () => {
  let server: Server;
  let port = 0;
  const errors: H2Error[] = [];
  beforeAll(async () => {
    server = createServer((socket) => {
      new H2ServerSession(socket, {
        onStream: (s) => {
          if (s.header(':path') === '/throw') throw new Error('the application broke');
          s.sendHeaders(encodeHeaderBlock([[':status', '200']]), true);
        },
        maxConcurrentStreams: 10,
        streamWindow: 65535,
        connectionWindow: 65535,
        maxHeaderListSize: 16384,
        onProtocolError: (e) => errors.push(e),
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  /** What the server sent on a connection that sent `bytes`, once the server closed it. */
  const exchange = (bytes: Buffer): Promise<Buffer> =>
    new Promise((resolve) => {
      const got: Buffer[] = [];
      const s = connect(port, '127.0.0.1', () => s.write(bytes));
      s.on('data', (b: Buffer) => got.push(b));
      s.on('error', () => undefined);
      s.on('close', () => resolve(Buffer.concat(got)));
    });
  const headers = (id: number, path: string): Buffer =>
    frame(FrameType.HEADERS, 0x4 | 0x1, id, encodeHeaderBlock([[':method', 'POST'], [':path', path]]));

  it('answers a stream, then ends the connection with GOAWAY INTERNAL_ERROR when the application throws', async () => {
    const got = await exchange(Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0, settingsPayload([])), headers(1, '/ok'), headers(3, '/throw')]));
    const frames: [number, number, Buffer][] = [];
    for (let i = 0; i + 9 <= got.length; i += 9 + got.readUIntBE(i, 3)) frames.push([got[i + 3] as number, got.readUInt32BE(i + 5), got.subarray(i + 9, i + 9 + got.readUIntBE(i, 3))]);
    expect(frames.some(([t, id]) => t === FrameType.HEADERS && id === 1)).toBe(true);
    const goaway = frames.find(([t]) => t === FrameType.GOAWAY);
    expect(goaway?.[2].readUInt32BE(0)).toBe(3); // last stream id seen
    expect(goaway?.[2].readUInt32BE(4)).toBe(ErrorCode.INTERNAL_ERROR);
    expect(errors.map((e) => e.message)).toEqual(['internal error: the application broke']);
  });
});
