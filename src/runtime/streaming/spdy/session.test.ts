import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../lib/log.js';
import { ControlType, encodeControl, encodeData, FLAG_FIN, FrameSplitter, GoAwayStatus, pingPayload, RstStatus, settingsPayload, SettingId, synStreamPayload, twoWords, type RawFrame } from './frames.js';
import { encodeHeaderBlock } from './header-block.js';
import { HeaderCompressor } from './header-codec.js';
import { DEFAULT_WINDOW, SpdySession, type SpdyStream } from './session.js';
import { isLeased, release } from '../read-leases.js';

// A SpdySession on one end of a loopback TCP connection; the test plays the client with raw frames.
interface Rig {
  session: SpdySession;
  client: Socket;
  frames: RawFrame[];
  streams: SpdyStream[];
  send(b: Buffer): void;
  syn(id: number, headers: Record<string, string[]>, flags?: number): Promise<void>;
  waitFrame(match: (f: RawFrame) => boolean): Promise<RawFrame>;
}

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function rig(idleTimeoutMs = 0, leaseReads = false): Promise<Rig> {
  const server = createServer();
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const client = connect(port, '127.0.0.1');
  const [serverSock] = (await once(server, 'connection')) as [Socket];
  const session = new SpdySession(serverSock, { idleTimeoutMs, log: silentLogger(), leaseReads });
  const frames: RawFrame[] = [];
  const streams: SpdyStream[] = [];
  session.on('stream', (s) => streams.push(s));
  const splitter = new FrameSplitter();
  let waiters: Array<() => void> = [];
  client.on('data', (b: Buffer) => {
    splitter.push(b);
    for (let f = splitter.next(); f; f = splitter.next()) frames.push(f);
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  });
  const deflate = new HeaderCompressor();
  const r: Rig = {
    session,
    client,
    frames,
    streams,
    send: (b) => client.write(b),
    syn: async (id, headers, flags = 0) => {
      const block = await deflate.compress(encodeHeaderBlock(headers));
      client.write(encodeControl(ControlType.SYN_STREAM, flags, synStreamPayload({ streamId: id, associatedId: 0, priority: 0, slot: 0, block })));
    },
    waitFrame: (match) =>
      new Promise((resolve) => {
        const timer = setInterval(check, 10);
        function check(): void {
          const f = frames.find(match);
          if (f) {
            clearInterval(timer);
            resolve(f);
          } else waiters.push(check);
        }
        check();
      }),
  };
  return r;
}

async function until(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((res) => setTimeout(res, 5));
}

const isControl = (type: number) => (f: RawFrame) => f.control && f.type === type;

describe('SpdySession', () => {
  it('a stream write calls back only once the socket has written the frame: the writer may reuse its buffer then', async () => {
    const held: Array<() => void> = [];
    const sock = new Duplex({
      read() {},
      writev(_chunks, cb) {
        held.push(cb);
      },
    });
    const session = new SpdySession(sock, { idleTimeoutMs: 0, log: silentLogger() });
    const block = await new HeaderCompressor().compress(encodeHeaderBlock({ streamtype: ['data'] }));
    sock.push(encodeControl(ControlType.SYN_STREAM, 0, synStreamPayload({ streamId: 1, associatedId: 0, priority: 0, slot: 0, block })));
    const [st] = (await once(session, 'stream')) as [SpdyStream];
    let called = false;
    st.write(Buffer.from('payload'), () => (called = true));
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(held.length).toBeGreaterThan(0);
    expect(called).toBe(false);
    while (!called) {
      for (const cb of held.splice(0)) cb();
      await new Promise((r) => setImmediate(r));
    }
    session.destroy();
  });

  it('echoes a client PING (odd id) and ignores control frames of unknown type', async () => {
    const r = await rig();
    r.send(encodeControl(0x55, 0, Buffer.from('whatever')));
    r.send(encodeControl(ControlType.PING, 0, pingPayload(7)));
    const pong = await r.waitFrame(isControl(ControlType.PING));
    expect(pong.payload.readUInt32BE(0)).toBe(7);
    r.client.destroy();
  });

  it('hands a SYN_STREAM to the server with its headers, and carries data both ways with FIN', async () => {
    const r = await rig();
    await r.syn(1, { streamtype: ['stdin'] });
    await until(() => r.streams.length === 1);
    const st = r.streams[0]!;
    expect(st.headers.streamtype).toEqual(['stdin']);
    await st.reply();
    await r.waitFrame(isControl(ControlType.SYN_REPLY));
    r.send(encodeData(1, FLAG_FIN, Buffer.from('in')));
    const chunks: Buffer[] = [];
    st.on('data', (b: Buffer) => chunks.push(b));
    await once(st, 'end');
    expect(Buffer.concat(chunks).toString()).toBe('in');
    st.end('out');
    const fin = await r.waitFrame((f) => !f.control && (f.flags & FLAG_FIN) !== 0);
    const data = r.frames.filter((f) => !f.control).map((f) => f.payload.toString()).join('');
    expect(data).toBe('out');
    expect(fin.control).toBe(false);
    r.client.destroy();
  });

  it('answers DATA for a stream that does not exist with RST_STREAM INVALID_STREAM', async () => {
    const r = await rig();
    r.send(encodeData(9, 0, Buffer.from('x')));
    const rst = await r.waitFrame(isControl(ControlType.RST_STREAM));
    expect(rst.payload).toEqual(twoWords(9, RstStatus.INVALID_STREAM));
    r.client.destroy();
  });

  it('refuses a server-style (even) stream id with RST_STREAM PROTOCOL_ERROR', async () => {
    const r = await rig();
    await r.syn(2, { a: ['b'] });
    const rst = await r.waitFrame(isControl(ControlType.RST_STREAM));
    expect(rst.payload).toEqual(twoWords(2, RstStatus.PROTOCOL_ERROR));
    r.client.destroy();
  });

  it('ends the session with GOAWAY PROTOCOL_ERROR when stream ids go backwards', async () => {
    const r = await rig();
    await r.syn(5, { a: ['1'] });
    await r.syn(3, { a: ['2'] });
    const ga = await r.waitFrame(isControl(ControlType.GOAWAY));
    expect(ga.payload).toEqual(twoWords(5, GoAwayStatus.PROTOCOL_ERROR));
    await until(() => r.session.isClosed);
  });

  it('sends WINDOW_UPDATE for data it has consumed (stream and session)', async () => {
    const r = await rig();
    await r.syn(1, { streamtype: ['stdin'] });
    await until(() => r.streams.length === 1);
    const st = r.streams[0]!;
    st.resume();
    r.send(encodeData(1, 0, Buffer.alloc(40000)));
    const wu = await r.waitFrame((f) => f.control && f.type === ControlType.WINDOW_UPDATE && f.payload.readUInt32BE(0) === 1);
    expect(wu.payload.readUInt32BE(4)).toBe(40000);
    await r.waitFrame((f) => f.control && f.type === ControlType.WINDOW_UPDATE && f.payload.readUInt32BE(0) === 0);
    r.client.destroy();
  });

  it('with leased reads: a stream\'s data are views of the socket\'s reads, each freed once the reader releases it; control frames still work', async () => {
    const r = await rig(0, true);
    await r.syn(1, { streamtype: ['data'] });
    await until(() => r.streams.length === 1);
    const pieces: Buffer[] = [];
    let got = 0;
    r.streams[0]!.on('data', (b: Buffer) => (pieces.push(b), (got += b.length)));
    const sent = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 13) & 0xff));
    r.send(Buffer.concat([encodeData(1, 0, sent.subarray(0, 100_000)), encodeControl(ControlType.PING, 0, pingPayload(7)), encodeData(1, 0, sent.subarray(100_000))]));
    await r.waitFrame((f) => f.control && f.type === ControlType.PING);
    await until(() => got === sent.length);
    expect(pieces.every((p) => isLeased(p))).toBe(true);
    expect(Buffer.concat(pieces).equals(sent)).toBe(true);
    for (const p of pieces) release(p);
    expect(pieces.every((p) => (p.buffer as ArrayBuffer).detached)).toBe(true);
    r.client.destroy();
  });

  it('with a flow-controlling peer, sends no more than the window until WINDOW_UPDATE arrives', async () => {
    const r = await rig();
    r.send(encodeControl(ControlType.SETTINGS, 0, settingsPayload([{ flags: 0, id: SettingId.INITIAL_WINDOW_SIZE, value: 1000 }])));
    await r.syn(1, { streamtype: ['stdout'] });
    await until(() => r.streams.length === 1);
    const st = r.streams[0]!;
    st.write(Buffer.alloc(3000, 1));
    await r.waitFrame((f) => !f.control);
    await new Promise((res) => setTimeout(res, 100));
    const sent = (): number => r.frames.filter((f) => !f.control).reduce((n, f) => n + f.payload.length, 0);
    expect(sent()).toBe(1000);
    r.send(encodeControl(ControlType.WINDOW_UPDATE, 0, twoWords(1, 5000)));
    await until(() => sent() === 3000);
    r.client.destroy();
  });

  it('keeps reading WINDOW_UPDATEs while a stream\'s reader is full (no echo deadlock)', async () => {
    const r = await rig();
    r.send(encodeControl(ControlType.SETTINGS, 0, settingsPayload([{ flags: 0, id: SettingId.INITIAL_WINDOW_SIZE, value: 1000 }])));
    await r.syn(1, { streamtype: ['data'] });
    await until(() => r.streams.length === 1);
    const st = r.streams[0]!;
    // Nobody reads the stream: its buffer fills far past the high-water mark.
    r.send(encodeData(1, 0, Buffer.alloc(200_000, 3)));
    await until(() => st.readableLength >= 200_000);
    st.write(Buffer.alloc(3000, 1));
    const sent = (): number => r.frames.filter((f) => !f.control).reduce((n, f) => n + f.payload.length, 0);
    await until(() => sent() === 1000);
    r.send(encodeControl(ControlType.WINDOW_UPDATE, 0, twoWords(1, 5000)));
    r.send(encodeControl(ControlType.WINDOW_UPDATE, 0, twoWords(0, 5000)));
    await until(() => sent() === 3000);
    r.client.destroy();
  });

  it('without flow control from the peer (as moby/spdystream), does not stall past 64 KiB', async () => {
    const r = await rig();
    await r.syn(1, { streamtype: ['stdout'] });
    await until(() => r.streams.length === 1);
    r.streams[0]!.end(Buffer.alloc(300_000, 2));
    await r.waitFrame((f) => !f.control && (f.flags & FLAG_FIN) !== 0);
    expect(r.frames.filter((f) => !f.control).reduce((n, f) => n + f.payload.length, 0)).toBe(300_000);
    r.client.destroy();
  });

  it('closes an idle session after the idle timeout with GOAWAY', async () => {
    const r = await rig(200);
    const ga = await r.waitFrame(isControl(ControlType.GOAWAY));
    expect(ga.payload.readUInt32BE(4)).toBe(GoAwayStatus.OK);
    await until(() => r.session.isClosed);
  });
});

/** A session on an in-memory socket: the test decides exactly how the bytes are cut into reads. */
function memRig(): { session: SpdySession; sock: Duplex; frames: () => RawFrame[]; streams: SpdyStream[] } {
  const out = new FrameSplitter();
  const frames: RawFrame[] = [];
  const sock = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      out.push(Buffer.from(chunk));
      for (let f = out.next(); f; f = out.next()) frames.push(f);
      cb();
    },
  });
  const session = new SpdySession(sock, { idleTimeoutMs: 0, log: silentLogger() });
  const streams: SpdyStream[] = [];
  session.on('stream', (st) => streams.push(st));
  return { session, sock, frames: () => frames, streams };
}

/** Pushes `wire` as reads of 1..maxPiece bytes (deterministic), each in its own buffer and tick. */
async function pushCut(sock: Duplex, wire: Buffer, seed: number, maxPiece: number): Promise<void> {
  let x = seed;
  for (let at = 0; at < wire.length; ) {
    x = (x * 1103515245 + 12345) % 0x80000000;
    const next = Math.min(wire.length, at + 1 + (x % maxPiece));
    sock.push(Buffer.from(wire.subarray(at, next)));
    at = next;
    await new Promise((r) => setImmediate(r));
  }
}

async function synOn(sock: Duplex, deflate: HeaderCompressor, id: number, headers: Record<string, string[]>): Promise<void> {
  const block = await deflate.compress(encodeHeaderBlock(headers));
  sock.push(encodeControl(ControlType.SYN_STREAM, 0, synStreamPayload({ streamId: id, associatedId: 0, priority: 0, slot: 0, block })));
}

const windowUpdates = (frames: RawFrame[], streamId: number): number =>
  frames.filter((f) => f.control && f.type === ControlType.WINDOW_UPDATE && f.payload.readUInt32BE(0) === streamId).reduce((n, f) => n + f.payload.readUInt32BE(4), 0);

describe('SpdySession: DATA cut across reads', () => {
  it('a stream gets exactly the bytes, FIN only after the last of them, and every byte counts once against the windows', async () => {
    for (const [seed, maxPiece] of [[1, 3000], [2, 40_000], [3, 70_000]] as const) {
      const r = memRig();
      const deflate = new HeaderCompressor();
      await synOn(r.sock, deflate, 1, { streamtype: ['data'] });
      await until(() => r.streams.length === 1);
      const st = r.streams[0]!;
      const got: Buffer[] = [];
      st.on('data', (b: Buffer) => got.push(Buffer.from(b)));
      const ended = once(st, 'end');
      const sizes = [100_000, 32_768, 7, 40_000];
      const payloads = sizes.map((n, k) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + k) & 0xff)));
      const wire = Buffer.concat(payloads.map((p, k) => encodeData(1, k === payloads.length - 1 ? FLAG_FIN : 0, p)));
      await pushCut(r.sock, wire, seed, maxPiece);
      await ended;
      const total = sizes.reduce((a, b) => a + b, 0);
      expect(Buffer.concat(got).equals(Buffer.concat(payloads))).toBe(true);
      expect(r.session.bytesIn).toBe(total);
      await new Promise((res) => setImmediate(res));
      // What the session has acknowledged plus what it still holds unacknowledged is every byte.
      const unacked = (r.session as unknown as { sessionRecvUnacked: number }).sessionRecvUnacked;
      expect(windowUpdates(r.frames(), 0) + unacked).toBe(total);
      expect(unacked).toBeLessThan(DEFAULT_WINDOW / 2);
      expect(windowUpdates(r.frames(), 1)).toBeLessThanOrEqual(total);
      expect(windowUpdates(r.frames(), 1)).toBeGreaterThan(total - DEFAULT_WINDOW / 2);
      expect(r.frames().filter(isControl(ControlType.RST_STREAM))).toEqual([]);
      r.session.destroy();
      deflate.close();
    }
  });

  it('a frame for an unknown stream gets one RST_STREAM however many pieces it comes in; a stream gone mid-frame drops the rest quietly', async () => {
    const r = memRig();
    const deflate = new HeaderCompressor();
    await pushCut(r.sock, encodeData(9, 0, Buffer.alloc(50_000, 1)), 4, 5000);
    await synOn(r.sock, deflate, 1, { streamtype: ['data'] });
    await until(() => r.streams.length === 1);
    const st = r.streams[0]!;
    let seen = 0;
    st.on('data', (b: Buffer) => {
      seen += b.length;
      if (seen >= 10_000) st.destroy();
    });
    await pushCut(r.sock, encodeData(1, 0, Buffer.alloc(60_000, 2)), 5, 5000);
    r.sock.push(encodeControl(ControlType.PING, 0, pingPayload(11)));
    await until(() => r.frames().some(isControl(ControlType.PING)));
    const rsts = r.frames().filter(isControl(ControlType.RST_STREAM)).map((f) => f.payload);
    expect(rsts).toEqual([twoWords(9, RstStatus.INVALID_STREAM), twoWords(1, RstStatus.CANCEL)]);
    expect(r.session.bytesIn).toBe(110_000);
    expect(r.session.isClosed).toBe(false);
    r.session.destroy();
    deflate.close();
  });
});

describe('SpdySession: WINDOW_UPDATE batching', () => {
  /** A session whose socket records what each write (one per corked turn) carried, as frames. */
  function batchRig(): { session: SpdySession; sock: Duplex; batches: RawFrame[][]; streams: SpdyStream[] } {
    const batches: RawFrame[][] = [];
    const record = (b: Buffer): void => {
      const s = new FrameSplitter();
      s.push(b);
      const frames: RawFrame[] = [];
      for (let f = s.next(); f; f = s.next()) frames.push(f);
      batches.push(frames);
    };
    const sock = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        record(Buffer.from(chunk));
        cb();
      },
      writev(chunks, cb) {
        record(Buffer.concat(chunks.map((c) => c.chunk as Buffer)));
        cb();
      },
    });
    const session = new SpdySession(sock, { idleTimeoutMs: 0, log: silentLogger() });
    const streams: SpdyStream[] = [];
    session.on('stream', (st) => streams.push(st));
    return { session, sock, batches, streams };
  }
  const kinds = (batch: RawFrame[]): string[] => batch.map((f) => (f.control ? `wu${f.type === ControlType.WINDOW_UPDATE ? f.payload.readUInt32BE(0) : `?${f.type}`}` : `data${f.streamId}`));

  it('goes out with the next frame written in the same event-loop turn, even ticks later: one write, not two', async () => {
    const r = batchRig();
    const deflate = new HeaderCompressor();
    await synOn(r.sock, deflate, 1, { streamtype: ['data'] });
    await until(() => r.streams.length === 1);
    const st = r.streams[0]!;
    st.on('data', () => undefined);
    await st.reply();
    r.batches.length = 0;
    r.sock.push(encodeData(1, 0, Buffer.alloc(40_000)));
    // The data goes out a few ticks later, as a read from the pod would in the same turn.
    await new Promise((res) => process.nextTick(res));
    await new Promise((res) => process.nextTick(res));
    st.write(Buffer.from('echo'));
    await new Promise((res) => setImmediate(res));
    await new Promise((res) => setImmediate(res));
    expect(r.batches.map(kinds)).toEqual([['data1', 'wu0', 'wu1']]);
    const wu = r.batches[0]!.filter((f) => f.control).map((f) => f.payload.readUInt32BE(4));
    expect(wu).toEqual([40_000, 40_000]);
    r.session.destroy();
    deflate.close();
  });

  it('goes out on its own at the end of the turn when nothing else is written; not before half a window is consumed', async () => {
    const r = batchRig();
    const deflate = new HeaderCompressor();
    await synOn(r.sock, deflate, 1, { streamtype: ['data'] });
    await until(() => r.streams.length === 1);
    r.streams[0]!.on('data', () => undefined);
    await r.streams[0]!.reply();
    r.batches.length = 0;
    r.sock.push(encodeData(1, 0, Buffer.alloc(DEFAULT_WINDOW / 2 - 1)));
    await new Promise((res) => setTimeout(res, 20));
    expect(r.batches).toEqual([]);
    r.sock.push(encodeData(1, 0, Buffer.alloc(1)));
    await until(() => r.batches.length > 0);
    expect(r.batches.map(kinds)).toEqual([['wu0', 'wu1']]);
    expect(windowUpdates(r.batches.flat(), 0)).toBe(DEFAULT_WINDOW / 2);
    expect(windowUpdates(r.batches.flat(), 1)).toBe(DEFAULT_WINDOW / 2);
    r.session.destroy();
    deflate.close();
  });
});
