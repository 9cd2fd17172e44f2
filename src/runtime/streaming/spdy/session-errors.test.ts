// SpdySession against a misbehaving or unusual client: each protocol error gets the answer SPDY/3.1
// prescribes (RST_STREAM for a stream's fault, GOAWAY with the last stream id and a status for the
// session's), and frames a server never expects from a client are refused without breaking the
// header compression context. The test plays the client with raw frames on a loopback socket.
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ControlType,
  encodeControl,
  encodeData,
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  FrameError,
  FrameSplitter,
  GoAwayStatus,
  MAX_FRAME_PAYLOAD,
  parsePing,
  parseStreamBlock,
  parseTwoWords,
  pingPayload,
  RstStatus,
  SettingId,
  settingsPayload,
  streamBlockPayload,
  synStreamPayload,
  twoWords,
  type RawFrame,
} from './frames.js';
import { decodeHeaderBlock, encodeHeaderBlock } from './header-block.js';
import { HeaderCompressor, HeaderDecompressor } from './header-codec.js';
import { SpdySession, STREAM_HIGH_WATER_MARK, type SpdyStream } from './session.js';

interface Rig {
  session: SpdySession;
  client: Socket;
  frames: RawFrame[];
  streams: SpdyStream[];
  warnings: string[];
  clientEnded: () => boolean;
  send(b: Buffer): void;
  /** A header block compressed in the client's one deflate context. */
  block(headers: Record<string, string[]>): Promise<Buffer>;
  syn(id: number, headers: Record<string, string[]>, flags?: number): Promise<void>;
  waitFrame(match: (f: RawFrame) => boolean): Promise<RawFrame>;
}

const servers: Server[] = [];
const sockets: Socket[] = [];
afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
});

async function rig(idleTimeoutMs = 0): Promise<Rig> {
  const server = createServer();
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  sockets.push(client);
  const [serverSock] = (await once(server, 'connection')) as [Socket];
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (s: string) => void warnings.push((JSON.parse(s) as { msg: string; err?: { message: string } }).err?.message ?? '') });
  const session = new SpdySession(serverSock, { idleTimeoutMs, log });
  const frames: RawFrame[] = [];
  const streams: SpdyStream[] = [];
  session.on('stream', (s) => streams.push(s));
  const splitter = new FrameSplitter();
  let ended = false;
  client.on('end', () => (ended = true));
  client.on('error', () => undefined);
  client.on('data', (b: Buffer) => {
    splitter.push(b);
    for (let f = splitter.next(); f; f = splitter.next()) frames.push(f);
  });
  const deflate = new HeaderCompressor();
  const block = (headers: Record<string, string[]>): Promise<Buffer> => deflate.compress(encodeHeaderBlock(headers));
  return {
    session,
    client,
    frames,
    streams,
    warnings,
    clientEnded: () => ended,
    send: (b) => client.write(b),
    block,
    syn: async (id, headers, flags = 0) => {
      client.write(encodeControl(ControlType.SYN_STREAM, flags, synStreamPayload({ streamId: id, associatedId: 0, priority: 0, slot: 0, block: await block(headers) })));
    },
    waitFrame: async (match) => {
      await until(() => frames.some(match));
      return frames.find(match)!;
    },
  };
}

async function until(cond: () => boolean, what = 'condition'): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 5));
  }
}

const isControl = (type: number) => (f: RawFrame) => f.control && f.type === type;
const rstFor = (id: number) => (f: RawFrame) => f.control && f.type === ControlType.RST_STREAM && f.payload.readUInt32BE(0) === id;
const control = (r: Rig, type: number): RawFrame[] => r.frames.filter(isControl(type));
const dataBytes = (r: Rig, id: number): number => r.frames.filter((f) => !f.control && f.streamId === id).reduce((n, f) => n + f.payload.length, 0);

/** PING round trip: every frame sent before it has been handled once the echo is back. */
async function settle(r: Rig, id: number): Promise<void> {
  r.send(encodeControl(ControlType.PING, 0, pingPayload(id)));
  await r.waitFrame((f) => f.control && f.type === ControlType.PING && parsePing(f.payload) === id);
}

async function expectGoAway(r: Rig, lastStreamId: number, status: number, message: RegExp): Promise<void> {
  const ga = await r.waitFrame(isControl(ControlType.GOAWAY));
  expect(parseTwoWords(ga.payload, 'GOAWAY')).toEqual([lastStreamId, status]);
  await until(() => r.session.isClosed, 'the session to close');
  expect(r.warnings).toEqual([expect.stringMatching(message)]);
}

describe('SpdySession: session errors end it with GOAWAY', () => {
  it('a control frame of another SPDY version: GOAWAY PROTOCOL_ERROR naming the version', async () => {
    const r = await rig();
    await r.syn(1, { streamtype: ['stdout'] });
    const v2 = encodeControl(ControlType.PING, 0, pingPayload(1));
    v2.writeUInt16BE(0x8002, 0);
    r.send(v2);
    await expectGoAway(r, 1, GoAwayStatus.PROTOCOL_ERROR, /control frame of SPDY version 2, expected 3/);
    // The open stream goes with the session.
    expect(r.streams[0]!.destroyed).toBe(true);
    expect(control(r, ControlType.PING)).toEqual([]);
  });

  it.each([
    ['a PING of the wrong size', () => encodeControl(ControlType.PING, 0, Buffer.alloc(8)), /PING payload must be 4 bytes, got 8/],
    ['a GOAWAY of the wrong size', () => encodeControl(ControlType.GOAWAY, 0, Buffer.alloc(4)), /GOAWAY payload must be 8 bytes, got 4/],
    ['a RST_STREAM of the wrong size', () => encodeControl(ControlType.RST_STREAM, 0, Buffer.alloc(12)), /RST_STREAM payload must be 8 bytes, got 12/],
    ['a WINDOW_UPDATE of the wrong size', () => encodeControl(ControlType.WINDOW_UPDATE, 0, Buffer.alloc(0)), /WINDOW_UPDATE payload must be 8 bytes, got 0/],
    ['SETTINGS shorter than its count', () => encodeControl(ControlType.SETTINGS, 0, Buffer.alloc(2)), /SETTINGS payload is too short/],
    ['SETTINGS whose count disagrees with its size', () => encodeControl(ControlType.SETTINGS, 0, Buffer.concat([twoWords(2, 0), twoWords(7, 1)])), /SETTINGS says 2 entries but carries 12 bytes/],
    ['a SYN_STREAM too short for its fields', () => encodeControl(ControlType.SYN_STREAM, 0, Buffer.alloc(6)), /SYN_STREAM payload of 6 bytes is too short/],
    ['HEADERS too short for a stream id', () => encodeControl(ControlType.HEADERS, 0, Buffer.alloc(2)), /HEADERS payload of 2 bytes is too short/],
    ['a SYN_REPLY too short for a stream id', () => encodeControl(ControlType.SYN_REPLY, 0, Buffer.alloc(3)), /SYN_REPLY payload of 3 bytes is too short/],
  ])('%s: GOAWAY PROTOCOL_ERROR, session closed', async (_what, frame, message) => {
    const r = await rig();
    r.send(frame());
    await expectGoAway(r, 0, GoAwayStatus.PROTOCOL_ERROR, message);
  });

  it('a SYN_STREAM with stream id 0: GOAWAY PROTOCOL_ERROR', async () => {
    const r = await rig();
    await r.syn(0, { a: ['b'] });
    await expectGoAway(r, 0, GoAwayStatus.PROTOCOL_ERROR, /SYN_STREAM with stream id 0/);
    expect(r.streams).toEqual([]);
  });

  it('a header block that does not decompress: GOAWAY PROTOCOL_ERROR (the client is at fault, not us)', async () => {
    const r = await rig();
    r.send(encodeControl(ControlType.SYN_STREAM, 0, synStreamPayload({ streamId: 1, associatedId: 0, priority: 0, slot: 0, block: Buffer.from('definitely not zlib') })));
    await expectGoAway(r, 0, GoAwayStatus.PROTOCOL_ERROR, /header block does not decompress/);
  });

  it('a header block that decompresses to nonsense (trailing bytes, uppercase, empty name): GOAWAY PROTOCOL_ERROR', async () => {
    for (const [raw, message] of [
      [Buffer.concat([encodeHeaderBlock({ a: ['b'] }), Buffer.from([1, 2])]), /header block has 2 trailing bytes/],
      [Buffer.concat([twoWords(1, 1).subarray(0, 4), twoWords(1, 0).subarray(0, 4), Buffer.from('X'), twoWords(0, 0).subarray(0, 4)]), /header name "X" is not lowercase/],
      [Buffer.concat([twoWords(1, 0)]), /header block has an empty name/],
    ] as const) {
      const r = await rig();
      const deflate = new HeaderCompressor();
      r.send(encodeControl(ControlType.SYN_STREAM, 0, synStreamPayload({ streamId: 1, associatedId: 0, priority: 0, slot: 0, block: await deflate.compress(raw) })));
      await expectGoAway(r, 0, GoAwayStatus.PROTOCOL_ERROR, message);
      deflate.close();
    }
  });

  it('a server error while handling a frame (not the peer\'s fault): GOAWAY INTERNAL_ERROR', async () => {
    const r = await rig();
    await r.syn(1, { streamtype: ['stdout'] });
    await until(() => r.streams.length === 1);
    r.session.on('stream', () => {
      throw new Error('handler blew up');
    });
    await r.syn(3, { streamtype: ['stdout'] });
    await expectGoAway(r, 3, GoAwayStatus.INTERNAL_ERROR, /handler blew up/);
  });
});

describe('SpdySession: frames a server does not expect from a client', () => {
  it('SYN_REPLY from the client: RST_STREAM PROTOCOL_ERROR for that id; the compression context stays in step', async () => {
    const r = await rig();
    r.send(encodeControl(ControlType.SYN_REPLY, 0, streamBlockPayload(4, await r.block({ ':status': ['200'] }))));
    const rst = await r.waitFrame(rstFor(4));
    expect(parseTwoWords(rst.payload, 'RST_STREAM')).toEqual([4, RstStatus.PROTOCOL_ERROR]);
    // The next header block only decodes if the SYN_REPLY's block was inflated too.
    await r.syn(1, { streamtype: ['stdin'], extra: ['a', 'b'] });
    await until(() => r.streams.length === 1);
    expect({ ...r.streams[0]!.headers }).toEqual({ streamtype: ['stdin'], extra: ['a', 'b'] });
    expect(r.session.isClosed).toBe(false);
    expect(r.warnings).toEqual([]);
  });

  it('HEADERS adds to an open stream\'s headers and can end its inbound side; for an unknown stream: RST INVALID_STREAM', async () => {
    const r = await rig();
    await r.syn(1, { streamtype: ['stdin'] });
    await until(() => r.streams.length === 1);
    const st = r.streams[0]!;
    const ended = once(st, 'end');
    st.resume();
    r.send(encodeControl(ControlType.HEADERS, 0, streamBlockPayload(1, await r.block({ 'x-late': ['1'] }))));
    r.send(encodeControl(ControlType.HEADERS, FLAG_FIN, streamBlockPayload(1, await r.block({ 'x-last': ['2'] }))));
    await ended;
    expect(st.headers).toMatchObject({ streamtype: ['stdin'], 'x-late': ['1'], 'x-last': ['2'] });

    r.send(encodeControl(ControlType.HEADERS, 0, streamBlockPayload(7, await r.block({ a: ['b'] }))));
    const rst = await r.waitFrame(rstFor(7));
    expect(parseTwoWords(rst.payload, 'RST_STREAM')).toEqual([7, RstStatus.INVALID_STREAM]);
    // The stream's outbound side still works after its inbound side ended.
    st.end('bye');
    await r.waitFrame((f) => !f.control && f.streamId === 1 && (f.flags & FLAG_FIN) !== 0);
    expect(dataBytes(r, 1)).toBe(3);
  });

  it('RST_STREAM from the client destroys the stream with its status and sends nothing back; an unknown id is ignored', async () => {
    const r = await rig();
    await r.syn(1, { streamtype: ['stdout'] });
    await until(() => r.streams.length === 1);
    const st = r.streams[0]!;
    const closed = once(st, 'close');
    r.send(encodeControl(ControlType.RST_STREAM, 0, twoWords(1, RstStatus.CANCEL)));
    r.send(encodeControl(ControlType.RST_STREAM, 0, twoWords(99, RstStatus.CANCEL)));
    await closed;
    expect(st.resetStatus).toBe(RstStatus.CANCEL);
    await settle(r, 11);
    expect(control(r, ControlType.RST_STREAM)).toEqual([]);
    // Writing to a reset stream fails; the session lives on.
    await expect(new Promise((res, rej) => st.write('late', (err) => (err ? rej(err) : res(undefined))))).rejects.toThrow();
    // Data the client still had in flight for it is answered as for a closed stream.
    r.send(encodeData(1, 0, Buffer.from('x')));
    const rst = await r.waitFrame(rstFor(1));
    expect(parseTwoWords(rst.payload, 'RST_STREAM')).toEqual([1, RstStatus.STREAM_ALREADY_CLOSED]);
    expect(r.session.isClosed).toBe(false);
  });

  it('DATA after the client\'s FIN on a stream: RST_STREAM STREAM_ALREADY_CLOSED', async () => {
    const r = await rig();
    await r.syn(1, { streamtype: ['stdin'] }, FLAG_FIN);
    await until(() => r.streams.length === 1);
    r.streams[0]!.resume();
    r.send(encodeData(1, 0, Buffer.from('too late')));
    const rst = await r.waitFrame(rstFor(1));
    expect(parseTwoWords(rst.payload, 'RST_STREAM')).toEqual([1, RstStatus.STREAM_ALREADY_CLOSED]);
    await until(() => r.streams[0]!.destroyed);
  });
});

describe('SpdySession: GOAWAY, PING, streams with flags', () => {
  it('after the client\'s GOAWAY new streams are refused (REFUSED_STREAM) while open ones carry on', async () => {
    const r = await rig();
    await r.syn(1, { streamtype: ['stdout'] });
    await until(() => r.streams.length === 1);
    r.send(encodeControl(ControlType.GOAWAY, 0, twoWords(0, GoAwayStatus.OK)));
    await r.syn(3, { streamtype: ['stderr'] });
    const rst = await r.waitFrame(rstFor(3));
    expect(parseTwoWords(rst.payload, 'RST_STREAM')).toEqual([3, RstStatus.REFUSED_STREAM]);
    expect(r.streams).toHaveLength(1);
    r.streams[0]!.end('still here');
    await r.waitFrame((f) => !f.control && f.streamId === 1 && (f.flags & FLAG_FIN) !== 0);
    expect(dataBytes(r, 1)).toBe('still here'.length);
    // Our own close then sends no GOAWAY (the client has gone away already) but ends the connection.
    r.session.close();
    await until(() => r.clientEnded(), 'the server to end the connection');
    expect(control(r, ControlType.GOAWAY)).toEqual([]);
  });

  it('close() sends GOAWAY OK with the last stream id once, then ends the connection', async () => {
    const r = await rig();
    await r.syn(5, { streamtype: ['stdout'] });
    await until(() => r.streams.length === 1);
    r.session.close();
    r.session.close();
    await until(() => r.clientEnded(), 'the server to end the connection');
    expect(control(r, ControlType.GOAWAY).map((f) => parseTwoWords(f.payload, 'GOAWAY'))).toEqual([[5, GoAwayStatus.OK]]);
    r.client.end();
    await until(() => r.session.isClosed);
    expect(r.streams[0]!.destroyed).toBe(true);
  });

  it('PING: an odd (client) id is echoed with the same id, an even one (an answer to a server ping) is not', async () => {
    const r = await rig();
    r.send(encodeControl(ControlType.PING, 0, pingPayload(2)));
    r.send(encodeControl(ControlType.PING, 0, pingPayload(0xfffffffd)));
    const pong = await r.waitFrame(isControl(ControlType.PING));
    expect(parsePing(pong.payload)).toBe(0xfffffffd);
    await settle(r, 3);
    expect(control(r, ControlType.PING).map((f) => parsePing(f.payload))).toEqual([0xfffffffd, 3]);
  });

  it('a unidirectional stream (client sends only) cannot be written; with FIN too it is done at once', async () => {
    const r = await rig();
    await r.syn(1, { streamtype: ['stdin'] }, FLAG_UNIDIRECTIONAL);
    await until(() => r.streams.length === 1);
    const st = r.streams[0]!;
    st.on('error', () => undefined);
    const err = await new Promise<Error | null | undefined>((res) => st.write('x', res));
    expect(err?.message).toBe('spdy stream 1 is closed for writing');
    // The failed write destroys the stream while the client may still send: it is cancelled.
    await r.waitFrame(rstFor(1));
    await r.syn(3, { streamtype: ['stdin'] }, FLAG_UNIDIRECTIONAL | FLAG_FIN);
    await until(() => r.streams.length === 2);
    const both = r.streams[1]!;
    const chunks: Buffer[] = [];
    both.on('data', (c: Buffer) => chunks.push(c));
    await once(both, 'end');
    expect(chunks).toEqual([]);
    both.end();
    await settle(r, 5);
    // No DATA for either; stream 3 ends cleanly (ending a closed side is not an error), no RST.
    expect(r.frames.filter((f) => !f.control)).toEqual([]);
    expect(control(r, ControlType.RST_STREAM).map((f) => parseTwoWords(f.payload, 'RST_STREAM'))).toEqual([[1, RstStatus.CANCEL]]);
  });

  it('a stream the server resets itself: RST_STREAM with the given status, once', async () => {
    const r = await rig();
    await r.syn(1, { streamtype: ['bogus'] });
    await r.syn(3, { streamtype: ['bogus'] });
    await until(() => r.streams.length === 2);
    r.streams[0]!.reset(RstStatus.REFUSED_STREAM);
    r.streams[0]!.reset(RstStatus.INTERNAL_ERROR);
    r.streams[1]!.reset();
    await r.waitFrame(rstFor(3));
    await settle(r, 7);
    expect(control(r, ControlType.RST_STREAM).map((f) => parseTwoWords(f.payload, 'RST_STREAM'))).toEqual([
      [1, RstStatus.REFUSED_STREAM],
      [3, RstStatus.CANCEL],
    ]);
  });

  it('a stream destroyed before both sides closed is cancelled (RST CANCEL) so the client stops waiting', async () => {
    const r = await rig();
    await r.syn(1, { streamtype: ['stdout'] });
    await until(() => r.streams.length === 1);
    r.streams[0]!.destroy();
    const rst = await r.waitFrame(rstFor(1));
    expect(parseTwoWords(rst.payload, 'RST_STREAM')).toEqual([1, RstStatus.CANCEL]);
  });

  it('ignores empty input and input after it closed', async () => {
    const r = await rig();
    r.session.onBytes(Buffer.alloc(0));
    r.session.destroy();
    await until(() => r.session.isClosed);
    r.session.onBytes(encodeControl(ControlType.PING, 0, pingPayload(1)));
    r.session.close();
    expect(r.frames).toEqual([]);
  });
});

describe('SpdySession: a slow reader', () => {
  it('without peer flow control, stops reading the socket (TCP backpressure) until the reader catches up', async () => {
    const r = await rig();
    await r.syn(1, { streamtype: ['stdin'] });
    await until(() => r.streams.length === 1);
    const st = r.streams[0]!;
    const size = STREAM_HIGH_WATER_MARK + 1000;
    r.send(encodeData(1, 0, Buffer.alloc(size, 1)));
    await until(() => st.readableLength === size, 'the stream buffer to fill');
    // Frames behind the data wait in the socket: the PING is not answered yet.
    r.send(encodeControl(ControlType.PING, 0, pingPayload(1)));
    await new Promise((res) => setTimeout(res, 100));
    expect(control(r, ControlType.PING)).toEqual([]);
    const got: Buffer[] = [];
    st.on('data', (c: Buffer) => got.push(c));
    await r.waitFrame(isControl(ControlType.PING));
    expect(Buffer.concat(got).length).toBe(size);
  });

  it('spdystream\'s half-close (an empty DATA frame with FIN) ends the stream\'s inbound side', async () => {
    const r = await rig();
    await r.syn(1, { streamtype: ['stdin'] });
    await until(() => r.streams.length === 1);
    const st = r.streams[0]!;
    const chunks: Buffer[] = [];
    st.on('data', (c: Buffer) => chunks.push(c));
    r.send(encodeData(1, 0, Buffer.from('abc')));
    r.send(encodeData(1, FLAG_FIN, Buffer.alloc(0)));
    await once(st, 'end');
    expect(Buffer.concat(chunks).toString()).toBe('abc');
    expect(st.destroyed).toBe(false);
  });
});

describe('SpdySession: window settings', () => {
  it('INITIAL_WINDOW_SIZE applies to streams already open (by the difference) and later ones', async () => {
    const r = await rig();
    await r.syn(1, { streamtype: ['stdout'] });
    await until(() => r.streams.length === 1);
    const first = r.streams[0]!;
    expect(first.sendWindow).toBe(65536);
    r.send(encodeControl(ControlType.SETTINGS, 0, settingsPayload([{ flags: 0, id: SettingId.INITIAL_WINDOW_SIZE, value: 1000 }])));
    await settle(r, 1);
    expect(first.sendWindow).toBe(1000);
    expect(r.session.peerFlowControl).toBe(true);
    await r.syn(3, { streamtype: ['stderr'] });
    await until(() => r.streams.length === 2);
    expect(r.streams[1]!.sendWindow).toBe(1000);
    // A second setting moves open windows by the difference, including one partly used.
    first.write(Buffer.alloc(400));
    await until(() => dataBytes(r, 1) === 400);
    r.send(encodeControl(ControlType.SETTINGS, 0, settingsPayload([{ flags: 0, id: SettingId.INITIAL_WINDOW_SIZE, value: 2000 }])));
    await settle(r, 3);
    expect(first.sendWindow).toBe(1600);
    expect(r.streams[1]!.sendWindow).toBe(2000);
  });

  it('other settings (MAX_CONCURRENT_STREAMS) change nothing: no flow control is assumed from them', async () => {
    const r = await rig();
    r.send(encodeControl(ControlType.SETTINGS, 0, settingsPayload([{ flags: 0, id: SettingId.MAX_CONCURRENT_STREAMS, value: 1 }])));
    await r.syn(1, { streamtype: ['stdout'] });
    await until(() => r.streams.length === 1);
    expect(r.session.peerFlowControl).toBe(false);
    r.streams[0]!.end(Buffer.alloc(100_000));
    await r.waitFrame((f) => !f.control && (f.flags & FLAG_FIN) !== 0);
    expect(dataBytes(r, 1)).toBe(100_000);
  });

  it('the session window limits every stream together until a session WINDOW_UPDATE (stream 0)', async () => {
    const r = await rig();
    r.send(encodeControl(ControlType.WINDOW_UPDATE, 0, twoWords(99, 10))); // unknown stream: ignored, but shows flow control
    await r.syn(1, { streamtype: ['stdout'] });
    await r.syn(3, { streamtype: ['stderr'] });
    await until(() => r.streams.length === 2);
    r.send(encodeControl(ControlType.WINDOW_UPDATE, 0, twoWords(1, 100_000)));
    r.send(encodeControl(ControlType.WINDOW_UPDATE, 0, twoWords(3, 100_000)));
    await settle(r, 1);
    r.streams[0]!.write(Buffer.alloc(50_000));
    r.streams[1]!.write(Buffer.alloc(50_000));
    const total = (): number => dataBytes(r, 1) + dataBytes(r, 3);
    await until(() => total() === 65536, 'the session window to fill');
    await settle(r, 3);
    expect(total()).toBe(65536);
    r.send(encodeControl(ControlType.WINDOW_UPDATE, 0, twoWords(0, 40_000)));
    await until(() => total() === 100_000, 'the rest after the session WINDOW_UPDATE');
  });

  it('a writer waiting for the window fails when the session is destroyed, instead of hanging', async () => {
    const r = await rig();
    r.send(encodeControl(ControlType.SETTINGS, 0, settingsPayload([{ flags: 0, id: SettingId.INITIAL_WINDOW_SIZE, value: 10 }])));
    await r.syn(1, { streamtype: ['stdout'] });
    await until(() => r.streams.length === 1);
    const st = r.streams[0]!;
    st.on('error', () => undefined);
    const written = new Promise<Error | null | undefined>((res) => st.write(Buffer.alloc(100), res));
    await until(() => dataBytes(r, 1) === 10);
    r.session.destroy();
    expect(await written).toBeInstanceOf(Error);
    expect(r.session.isClosed).toBe(true);
  });
});

describe('SPDY frame and header encoders refuse what cannot be sent', () => {
  it('frames past the 24-bit length, header names that are empty or not lowercase', () => {
    expect(() => encodeControl(ControlType.SETTINGS, 0, Buffer.alloc(MAX_FRAME_PAYLOAD + 1))).toThrow(FrameError);
    expect(() => encodeData(1, 0, Buffer.alloc(MAX_FRAME_PAYLOAD + 1))).toThrow(/data frame of 16777216 bytes exceeds 24 bits/);
    expect(() => encodeHeaderBlock({ '': ['x'] })).toThrow(/header name "" must be non-empty and lowercase/);
    expect(() => encodeHeaderBlock({ Host: ['x'] })).toThrow(/header name "Host" must be non-empty and lowercase/);
    expect(decodeHeaderBlock(encodeHeaderBlock({ empty: undefined as unknown as string[] }))).toEqual({ empty: [''] });
    expect(parseStreamBlock(streamBlockPayload(0x7fffffff, Buffer.from('b')), 'HEADERS')).toEqual({ streamId: 0x7fffffff, block: Buffer.from('b') });
  });

  it('a decompression context that failed keeps failing (its stream state is lost)', async () => {
    const inflate = new HeaderDecompressor();
    await expect(inflate.decompress(Buffer.from('garbage!'))).rejects.toThrow(FrameError);
    await expect(inflate.decompress(Buffer.from([0x78]))).rejects.toThrow(/header block does not decompress/);
    inflate.close();
  });
});
