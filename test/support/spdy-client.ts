// A SPDY/3.1 client for the tests, written from the SPDY/3 draft independently of the server's
// implementation (only the dictionary bytes are shared; their adler32 is checked against the
// spec's DICTID in a unit test). It speaks like Kubernetes' client (moby/spdystream): HTTP
// upgrade with X-Stream-Protocol-Version, odd stream ids, SYN_STREAM with headers, waits for
// SYN_REPLY, half-closes with an empty DATA+FIN, GOAWAY on close. By default it ignores flow
// control exactly as spdystream does; `flowControl: true` makes it a strict SPDY/3.1 peer.
import { connect, type Socket } from 'node:net';
import { constants, createDeflate, createInflate } from 'node:zlib';
import { SPDY3_DICTIONARY } from '../../src/runtime/streaming/spdy/dictionary.js';

export interface ClientOptions {
  protocols: string[];
  flowControl?: boolean;
}

export interface UpgradeRefused {
  status: number;
  body: string;
}

class Zlib {
  private out: Buffer[] = [];
  constructor(private readonly z: ReturnType<typeof createDeflate> | ReturnType<typeof createInflate>) {
    z.on('data', (c: Buffer) => this.out.push(c));
  }
  run(b: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      this.z.once('error', reject);
      this.z.write(b);
      this.z.flush(constants.Z_SYNC_FLUSH, () => {
        const r = Buffer.concat(this.out);
        this.out = [];
        resolve(r);
      });
    });
  }
  close(): void {
    this.z.destroy();
  }
}

export class ClientStream {
  readonly chunks: Buffer[] = [];
  remoteFin = false;
  reset: number | undefined;
  replied = false;
  sendWindow = 65536;
  private waiters: Array<() => void> = [];
  constructor(
    readonly client: SpdyClient,
    readonly id: number,
  ) {}
  /** Resolves with everything received once the server sends FIN (or resets). */
  async all(): Promise<Buffer> {
    await this.until(() => this.remoteFin || this.reset !== undefined);
    return Buffer.concat(this.chunks);
  }
  text(): string {
    return Buffer.concat(this.chunks).toString();
  }
  until(cond: () => boolean): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (cond()) resolve();
        else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }
  notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  write(data: Buffer | string): Promise<void> {
    return this.client.sendData(this, Buffer.from(data), false);
  }
  end(): Promise<void> {
    return this.client.sendData(this, Buffer.alloc(0), true);
  }
}

export class SpdyClient {
  protocol = '';
  readonly streams = new Map<number, ClientStream>();
  goAway: { lastId: number; status: number } | undefined;
  closed = false;
  pings: number[] = [];
  sessionSendWindow = 65536;
  private nextId = 1;
  private buf = Buffer.alloc(0);
  private chain: Promise<void> = Promise.resolve();
  private readonly deflate = new Zlib(createDeflate({ dictionary: SPDY3_DICTIONARY }));
  private readonly inflate = new Zlib(createInflate({ dictionary: SPDY3_DICTIONARY }));
  private writeLock: Promise<void> = Promise.resolve();
  private windowWaiters: Array<() => void> = [];
  private closeWaiters: Array<() => void> = [];

  private constructor(
    readonly socket: Socket,
    readonly flowControl: boolean,
  ) {}

  /** Upgrade `url` to SPDY/3.1; rejects with an UpgradeRefused when the server answers otherwise. */
  static connect(url: string, options: ClientOptions): Promise<SpdyClient> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      const socket = connect({ host: u.hostname, port: Number(u.port) });
      socket.once('error', reject);
      socket.once('connect', () => {
        const protoHeaders = options.protocols.map((p) => `X-Stream-Protocol-Version: ${p}\r\n`).join('');
        socket.write(`POST ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n${protoHeaders}Content-Length: 0\r\n\r\n`);
      });
      let head = Buffer.alloc(0);
      const onData = (b: Buffer): void => {
        head = Buffer.concat([head, b]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        const lines = head.subarray(0, end).toString().split('\r\n');
        const status = Number(lines[0]?.split(' ')[1]);
        const rest = head.subarray(end + 4);
        if (status !== 101) {
          let body = rest.toString();
          socket.on('data', (more: Buffer) => (body += more.toString()));
          socket.on('close', () => reject(Object.assign(new Error(`upgrade refused: ${status}`), { status, body } as UpgradeRefused)));
          return;
        }
        const client = new SpdyClient(socket, options.flowControl ?? false);
        client.protocol = lines.find((l) => l.toLowerCase().startsWith('x-stream-protocol-version:'))?.split(':')[1]?.trim() ?? '';
        socket.on('data', (more: Buffer) => client.onBytes(more));
        socket.on('close', () => client.onClose());
        socket.on('error', () => undefined);
        if (client.flowControl) client.rawWrite(control(4, 0, settings([[7, 65536]])));
        if (rest.length > 0) client.onBytes(rest);
        socket.off('error', reject);
        resolve(client);
      };
      socket.on('data', onData);
    });
  }

  /** SYN_STREAM with these headers; resolves after the server's SYN_REPLY. */
  async createStream(headers: Record<string, string>, fin = false): Promise<ClientStream> {
    const id = this.nextId;
    this.nextId += 2;
    const st = new ClientStream(this, id);
    this.streams.set(id, st);
    await this.serialWrite(async () => {
      const block = await this.deflate.run(headerBlock(headers));
      const p = Buffer.alloc(10);
      p.writeUInt32BE(id, 0);
      p.writeUInt32BE(0, 4);
      p.writeUInt8(0, 8);
      p.writeUInt8(0, 9);
      return control(1, fin ? 1 : 0, Buffer.concat([p, block]));
    });
    await st.until(() => st.replied || st.reset !== undefined || this.closed);
    if (!st.replied) throw new Error(`stream ${id} not accepted (reset ${st.reset}, closed ${this.closed})`);
    return st;
  }

  async sendData(st: ClientStream, data: Buffer, fin: boolean): Promise<void> {
    let off = 0;
    do {
      let n = Math.min(data.length - off, 16384);
      if (this.flowControl && n > 0) {
        while (Math.min(st.sendWindow, this.sessionSendWindow) <= 0) await new Promise<void>((r) => this.windowWaiters.push(r));
        n = Math.min(n, st.sendWindow, this.sessionSendWindow);
      }
      st.sendWindow -= n;
      this.sessionSendWindow -= n;
      const chunk = data.subarray(off, off + n);
      off += n;
      const last = fin && off >= data.length;
      const head = Buffer.alloc(8);
      head.writeUInt32BE(st.id, 0);
      head.writeUInt32BE(((last ? 1 : 0) << 24) | chunk.length, 4);
      await this.serialWrite(() => Buffer.concat([head, chunk]));
    } while (off < data.length);
  }

  ping(id: number): void {
    const p = Buffer.alloc(4);
    p.writeUInt32BE(id);
    this.rawWrite(control(6, 0, p));
  }

  /** GOAWAY then close the TCP connection, as spdystream's Close does. */
  close(): void {
    const p = Buffer.alloc(8);
    p.writeUInt32BE(0, 0);
    p.writeUInt32BE(0, 4);
    void this.serialWrite(() => control(7, 0, p)).then(() => this.socket.end());
  }

  waitClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((r) => this.closeWaiters.push(r));
  }

  rawWrite(b: Buffer): void {
    void this.serialWrite(() => b);
  }

  private serialWrite(produce: () => Buffer | Promise<Buffer>): Promise<void> {
    const step = this.writeLock.then(async () => {
      const b = await produce();
      if (this.socket.destroyed) return;
      if (!this.socket.write(b)) {
        await new Promise<void>((r) => {
          const done = (): void => {
            this.socket.off('drain', done);
            this.socket.off('close', done);
            r();
          };
          this.socket.on('drain', done);
          this.socket.on('close', done);
        });
      }
    });
    this.writeLock = step.catch(() => undefined);
    return step;
  }

  private onBytes(b: Buffer): void {
    this.buf = Buffer.concat([this.buf, b]);
    this.chain = this.chain.then(() => this.parse());
  }

  private async parse(): Promise<void> {
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4) & 0xffffff;
      if (this.buf.length < 8 + len) return;
      const w0 = this.buf.readUInt32BE(0);
      const flags = this.buf.readUInt8(4);
      const payload = this.buf.subarray(8, 8 + len);
      this.buf = this.buf.subarray(8 + len);
      if (w0 & 0x80000000) await this.onControl((w0 >>> 16) & 0x7fff, w0 & 0xffff, flags, payload);
      else this.onData(w0 & 0x7fffffff, flags, payload);
    }
  }

  private onData(id: number, flags: number, payload: Buffer): void {
    const st = this.streams.get(id);
    if (!st) return;
    if (payload.length > 0) st.chunks.push(Buffer.from(payload));
    if (this.flowControl && payload.length > 0) {
      this.rawWrite(control(9, 0, words(id, payload.length)));
      this.rawWrite(control(9, 0, words(0, payload.length)));
    }
    if (flags & 1) st.remoteFin = true;
    st.notify();
  }

  private async onControl(version: number, type: number, flags: number, p: Buffer): Promise<void> {
    if (version !== 3) throw new Error(`server sent SPDY version ${version}`);
    if (type === 2) {
      const id = p.readUInt32BE(0) & 0x7fffffff;
      parseBlock(await this.inflate.run(p.subarray(4)));
      const st = this.streams.get(id);
      if (st) {
        st.replied = true;
        if (flags & 1) st.remoteFin = true;
        st.notify();
      }
    } else if (type === 3) {
      const st = this.streams.get(p.readUInt32BE(0) & 0x7fffffff);
      if (st) {
        st.reset = p.readUInt32BE(4);
        st.notify();
      }
    } else if (type === 6) {
      this.pings.push(p.readUInt32BE(0));
    } else if (type === 7) {
      this.goAway = { lastId: p.readUInt32BE(0) & 0x7fffffff, status: p.readUInt32BE(4) };
    } else if (type === 9) {
      const id = p.readUInt32BE(0) & 0x7fffffff;
      const d = p.readUInt32BE(4) & 0x7fffffff;
      if (id === 0) this.sessionSendWindow += d;
      else {
        const st = this.streams.get(id);
        if (st) st.sendWindow += d;
      }
      const w = this.windowWaiters;
      this.windowWaiters = [];
      for (const f of w) f();
    } else if (type === 1 || type === 8) {
      await this.inflate.run(p.subarray(type === 1 ? 10 : 4));
    }
  }

  private onClose(): void {
    this.closed = true;
    this.deflate.close();
    this.inflate.close();
    for (const st of this.streams.values()) st.notify();
    const w = this.windowWaiters;
    this.windowWaiters = [];
    for (const f of w) f();
    for (const f of this.closeWaiters) f();
  }
}

function control(type: number, flags: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(0x8003, 0);
  h.writeUInt16BE(type, 2);
  h.writeUInt32BE(((flags & 0xff) << 24) >>> 0 | payload.length, 4);
  return Buffer.concat([h, payload]);
}

function words(a: number, b: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(a, 0);
  p.writeUInt32BE(b, 4);
  return p;
}

function settings(entries: [number, number][]): Buffer {
  const p = Buffer.alloc(4 + 8 * entries.length);
  p.writeUInt32BE(entries.length, 0);
  entries.forEach(([id, v], i) => {
    p.writeUInt32BE(id & 0xffffff, 4 + 8 * i);
    p.writeUInt32BE(v, 8 + 8 * i);
  });
  return p;
}

export function headerBlock(h: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  const n = Buffer.alloc(4);
  n.writeUInt32BE(Object.keys(h).length);
  parts.push(n);
  for (const [k, v] of Object.entries(h)) {
    for (const s of [k.toLowerCase(), v]) {
      const b = Buffer.from(s);
      const l = Buffer.alloc(4);
      l.writeUInt32BE(b.length);
      parts.push(l, b);
    }
  }
  return Buffer.concat(parts);
}

export function parseBlock(b: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let o = 4;
  for (let i = 0; i < b.readUInt32BE(0); i++) {
    const nl = b.readUInt32BE(o);
    const name = b.subarray(o + 4, o + 4 + nl).toString();
    o += 4 + nl;
    const vl = b.readUInt32BE(o);
    out[name] = b.subarray(o + 4, o + 4 + vl).toString();
    o += 4 + vl;
  }
  return out;
}
