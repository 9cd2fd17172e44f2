import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { isLeased, release } from './read-leases.js';
import { frameHead, tunnelHandshake, unmask, WebSocketTunnel } from './ws-tunnel.js';

/** A released read: its buffer detached, the memory gone. */
const freed = (b: Uint8Array): boolean => (b.buffer as ArrayBuffer).detached;

function naiveUnmask(buf: Buffer, mask: Buffer, phase: number): Buffer {
  return Buffer.from(buf.map((b, i) => b ^ (mask[(phase + i) & 3] as number)));
}

describe('unmask', () => {
  it('equals the byte-wise XOR for every alignment, phase and length (word-wise in the middle)', () => {
    const mask = Buffer.from([0x12, 0x34, 0x56, 0x78]);
    const backing = randomBytes(64);
    for (let offset = 0; offset < 4; offset++) {
      for (let phase = 0; phase < 4; phase++) {
        for (let length = 0; length <= 21; length++) {
          const data = Buffer.from(backing.subarray(0, 32)).subarray(offset, offset + length);
          const want = naiveUnmask(data, mask, phase);
          unmask(data, mask, phase);
          expect(data.equals(want), `offset ${offset} phase ${phase} length ${length}`).toBe(true);
        }
      }
    }
  });
});

describe('frameHead', () => {
  it('uses the 7-bit, 16-bit and 64-bit length forms, FIN set, no mask', () => {
    expect([...frameHead(2, 125)]).toEqual([0x82, 125]);
    expect([...frameHead(2, 126)]).toEqual([0x82, 126, 0, 126]);
    expect([...frameHead(2, 0xffff)]).toEqual([0x82, 126, 0xff, 0xff]);
    expect([...frameHead(2, 0x10000)]).toEqual([0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    expect([...frameHead(2, 2 ** 33 + 5)]).toEqual([0x82, 127, 0, 0, 0, 2, 0, 0, 0, 5]);
  });
});

describe('WebSocketTunnel', () => {
  let server: Server | undefined;
  afterEach(async () => {
    const s = server;
    server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  });

  /** A server whose tunnels go to `use`; the address to reach it. */
  async function serve(use: (t: WebSocketTunnel) => void, leaseReads = false): Promise<string> {
    server = createServer();
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      const answer = tunnelHandshake(req, 'tunnel');
      if (!answer) return socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      socket.write(answer);
      use(new WebSocketTunnel(socket, head, leaseReads));
    });
    await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
    return `127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('is a byte stream: fragmented, binary and text messages come out in order; writes go back as binary frames', async () => {
    const addr = await serve((t) => t.pipe(t));
    const ws = new WebSocket(`ws://${addr}/`, ['tunnel']);
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    expect(ws.protocol).toBe('tunnel');
    const sent = randomBytes(300_000);
    let back = Buffer.alloc(0);
    const all = new Promise<void>((r) =>
      ws.on('message', (d: Buffer, binary: boolean) => {
        expect(binary).toBe(true);
        back = Buffer.concat([back, d]);
        if (back.length >= sent.length + 5) r();
      }),
    );
    ws.send(sent.subarray(0, 100_000), { fin: false });
    ws.send(sent.subarray(100_000, 100_001), { fin: false });
    ws.send(sent.subarray(100_001, 200_000), { fin: true });
    ws.send(sent.subarray(200_000));
    ws.send('hello', { binary: false });
    await all;
    expect(back.equals(Buffer.concat([sent, Buffer.from('hello')]))).toBe(true);
    ws.close();
  });

  it('with leased reads: every payload piece holds its read until released, the bytes exact; control payloads are copies', async () => {
    const pieces: Buffer[] = [];
    let got = 0;
    const addr = await serve((t) => t.on('data', (b: Buffer) => (pieces.push(b), (got += b.length))), true);
    const ws = new WebSocket(`ws://${addr}/`, ['tunnel']);
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    const sent = randomBytes(1_000_000);
    const pong = new Promise<Buffer>((r) => ws.once('pong', r));
    ws.send(sent.subarray(0, 300_000), { fin: false });
    ws.ping(Buffer.from('between fragments'));
    ws.send(sent.subarray(300_000, 300_003), { fin: true });
    ws.send(sent.subarray(300_003));
    expect((await pong).toString()).toBe('between fragments');
    await new Promise<void>((r) => {
      const poll = (): unknown => (got >= sent.length ? r() : setTimeout(poll, 5));
      poll();
    });
    expect(pieces.every((p) => isLeased(p))).toBe(true);
    expect(Buffer.concat(pieces).equals(sent)).toBe(true);
    for (const p of pieces) release(p);
    expect(pieces.every((p) => freed(p))).toBe(true);
    ws.close();
  });

  it('answers ping with pong, and a close with a close of the same code, ending the stream', async () => {
    let ended!: Promise<void>;
    const addr = await serve((t) => {
      ended = new Promise((r) => t.on('end', r));
      t.resume();
    });
    const ws = new WebSocket(`ws://${addr}/`, ['tunnel']);
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    const pong = new Promise<Buffer>((r) => ws.once('pong', r));
    ws.ping(Buffer.from('are you there'));
    expect((await pong).toString()).toBe('are you there');
    const closed = new Promise<number>((r) => ws.once('close', r));
    ws.close(4001);
    expect(await closed).toBe(4001);
    await ended;
  });

  it('an unmasked client frame is a protocol error: close 1002 and the connection ends', async () => {
    const got: Buffer[] = [];
    const addr = await serve((t) => t.on('data', (b: Buffer) => got.push(b)));
    const [host, port] = addr.split(':');
    const sock = connect(Number(port), host);
    const key = randomBytes(16).toString('base64');
    sock.write(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`);
    let text = '';
    const reply = new Promise<Buffer>((r) => {
      let all = Buffer.alloc(0);
      sock.on('data', (b: Buffer) => {
        all = Buffer.concat([all, b]);
        text = all.toString('latin1');
      });
      sock.on('close', () => r(all));
    });
    await new Promise((r) => setTimeout(r, 50));
    sock.write(Buffer.from([0x82, 3, 1, 2, 3]));
    const all = await reply;
    expect(text).toMatch(/^HTTP\/1\.1 101 /);
    const frame = all.subarray(all.indexOf('\r\n\r\n') + 4);
    expect([...frame]).toEqual([0x88, 2, 0x03, 0xea]);
    expect(got).toEqual([]);
  });

  it('refuses a handshake that is not RFC 6455 (version, key)', () => {
    const req = (headers: Record<string, string>, method = 'GET'): IncomingMessage => ({ method, headers }) as unknown as IncomingMessage;
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    expect(tunnelHandshake(req({ 'sec-websocket-version': '13', 'sec-websocket-key': key }), 'p')).toContain('Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n');
    expect(tunnelHandshake(req({ 'sec-websocket-version': '8', 'sec-websocket-key': key }), 'p')).toBeUndefined();
    expect(tunnelHandshake(req({ 'sec-websocket-version': '13', 'sec-websocket-key': 'short' }), 'p')).toBeUndefined();
    expect(tunnelHandshake(req({ 'sec-websocket-version': '13', 'sec-websocket-key': key }, 'POST'), 'p')).toBeUndefined();
  });
});
