// The streaming server with fake backends (the seam real containers plug into): which requests get
// a URL, what an unknown/used/expired token or a bad upgrade is answered, and exec/attach/
// port-forward over every WebSocket variant (v5 close signal, base64 text framing, the legacy
// protocol's plain-text status) and over SPDY (stream set, creation timeout, port-forward pairs).
import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { finished } from 'node:stream/promises';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ClientStream, SpdyClient, type UpgradeRefused } from '../../../test/support/spdy-client.js';
import { FailedPreconditionError, NotFoundError } from '../../lib/errors.js';
import type { StreamIO, StreamingBackends } from './backend.js';
import { StreamingService, type StreamingConfig } from './streaming-service.js';

interface Line {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** What the fake exec/attach backends were asked, and the abort signals they got. */
const seen: { call: string; signal: AbortSignal }[] = [];

async function readAll(stream: NodeJS.ReadableStream | null): Promise<string> {
  if (!stream) return '';
  let s = '';
  for await (const c of stream) s += c.toString();
  return s;
}

/** Commands of the fake exec: echo ARGS, cat (stdin to stdout), err TEXT, exit N, boom, wait (until aborted), size. */
async function fakeExec(cmd: readonly string[], io: StreamIO, signal: AbortSignal): Promise<number> {
  switch (cmd[0]) {
    case 'echo':
      io.stdout?.write(cmd.slice(1).join(' '));
      return 0;
    case 'cat':
      io.stdout?.write((await readAll(io.stdin)).toUpperCase());
      return 0;
    case 'err':
      io.stderr?.write(cmd[1] ?? '');
      return 0;
    case 'exit':
      await readAll(io.stdin);
      return Number(cmd[1]);
    case 'boom':
      throw new Error('the runtime exploded');
    case 'wait':
      if (!signal.aborted) await once(signal, 'abort');
      return 137;
    case 'size': {
      const r = io.resize!;
      const size = r.latest ?? (await new Promise<{ width: number; height: number }>((res) => r.subscribe(res)));
      io.stdout?.write(`${size.width}x${size.height}`);
      return 0;
    }
    default:
      throw new Error(`fake exec does not know ${cmd[0]}`);
  }
}

const backends: StreamingBackends = {
  exec: {
    checkExec: async (id) => {
      if (id === 'missing') throw new NotFoundError(`container "${id}" not found`);
      if (id === 'stopped') throw new FailedPreconditionError(`container "${id}" is not running`);
    },
    exec: async (id, cmd, _tty, io, signal) => {
      seen.push({ call: `exec ${id} ${cmd.join(' ')}`, signal });
      return fakeExec(cmd, io, signal);
    },
  },
  attach: {
    checkAttach: async (id, stdin) => {
      if (stdin && id === 'no-stdin') throw new FailedPreconditionError(`container "${id}" was created without stdin`);
    },
    attach: async (id, _tty, io, signal) => {
      seen.push({ call: `attach ${id}`, signal });
      io.stdout?.write(`attached to ${id}`);
      if (io.stdin) await readAll(io.stdin);
    },
  },
  portForward: {
    checkPortForward: async (id) => {
      if (id === 'no-net') throw new FailedPreconditionError(`pod "${id}" has no network`);
    },
    portForward: async (_pod, port, stream: Duplex, signal) => {
      if (port === 9) throw new Error('connect ECONNREFUSED 127.0.0.1:9');
      // An echo server: what comes in goes back, upper-cased, until the client half-closes.
      stream.on('data', (d: Buffer) => stream.write(Buffer.from(d.toString().toUpperCase())));
      await Promise.race([finished(stream, { writable: false }).catch(() => undefined), once(signal, 'abort')]);
    },
  },
};

let clock = 1_000_000;
const lines: Line[] = [];
const log = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
const config: StreamingConfig = { address: '127.0.0.1', port: 0, tlsCert: '', tlsKey: '', idleTimeoutMs: 0, streamCreationTimeoutMs: 300, now: () => clock };
const service = new StreamingService(config, backends, log);
beforeAll(() => service.start());
afterAll(() => service.stop());
afterEach(() => {
  seen.length = 0;
});

const std = { stdin: false, stdout: true, stderr: false, tty: false };
const execUrl = (cmd: string[], o: Partial<typeof std> = {}): Promise<string> => service.exec({ containerId: 'c1', cmd, ...std, ...o });

/** Plain HTTP request to a streaming URL: [status, body]. */
function httpGet(url: string, headers: Record<string, string> = {}): Promise<[number, string]> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve([res.statusCode ?? 0, body]));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A raw upgrade request; resolves with the status line and body the server wrote before closing. */
function rawUpgrade(url: string, headers: string): Promise<string> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => s.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: Upgrade\r\n${headers}\r\n`));
    let text = '';
    s.on('data', (c: Buffer) => (text += c.toString()));
    s.on('end', () => resolve(text));
    s.on('error', reject);
  });
}

interface WsResult {
  messages: { channel: number; data: Buffer; text: boolean }[];
  code: number;
  protocol: string;
}

/** Opens a WebSocket, runs `talk`, collects every message until the server closes. */
async function wsSession(url: string, protocols: string[], talk: (ws: WebSocket) => void = () => undefined): Promise<WsResult> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), protocols);
  const messages: WsResult['messages'] = [];
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    if (isBinary) messages.push({ channel: data[0]!, data: Buffer.from(data.subarray(1)), text: false });
    else {
      const s = data.toString();
      messages.push({ channel: s.charCodeAt(0) - 48, data: Buffer.from(s.slice(1), 'base64'), text: true });
    }
  });
  await once(ws, 'open');
  talk(ws);
  const [code] = (await once(ws, 'close')) as [number];
  return { messages, code, protocol: ws.protocol };
}

const on = (r: WsResult, channel: number): string =>
  Buffer.concat(r.messages.filter((m) => m.channel === channel).map((m) => m.data)).toString();

describe('streaming URLs', () => {
  it('validates the request and asks the backend before handing out a URL', async () => {
    await expect(execUrl([])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: 'exec in container "c1": cmd is required' });
    await expect(service.exec({ containerId: 'missing', cmd: ['sh'], ...std })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(service.exec({ containerId: 'stopped', cmd: ['sh'], ...std })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    await expect(service.attach({ containerId: 'no-stdin', ...std, stdin: true })).rejects.toThrow('created without stdin');
    await expect(service.portForward({ sandboxId: 'no-net', ports: [80] })).rejects.toThrow('has no network');
    await expect(service.portForward({ sandboxId: 'p', ports: [70000] })).rejects.toThrow(/port 70000 is not between 1 and 65535/);
    expect(await execUrl(['echo'])).toMatch(new RegExp(`^${service.baseUrl}/exec/[A-Za-z0-9_-]{20,}$`));
  });

  it('without a backend the call is UNIMPLEMENTED; without a running server too', async () => {
    const none = new StreamingService(config, {}, log);
    expect([none.supports('exec'), none.supports('attach'), none.supports('portforward')]).toEqual([false, false, false]);
    expect([service.supports('exec'), service.supports('attach'), service.supports('portforward')]).toEqual([true, true, true]);
    await expect(none.exec({ containerId: 'c', cmd: ['sh'], ...std })).rejects.toMatchObject({ code: 'UNIMPLEMENTED', message: 'Exec is not implemented by nexcage yet' });
    await expect(none.attach({ containerId: 'c', ...std })).rejects.toMatchObject({ code: 'UNIMPLEMENTED' });
    await expect(none.portForward({ sandboxId: 'p', ports: [] })).rejects.toMatchObject({ code: 'UNIMPLEMENTED' });
    const stopped = new StreamingService(config, backends, log);
    await expect(stopped.exec({ containerId: 'c', cmd: ['sh'], ...std })).rejects.toThrow('the streaming server is not running');
    await stopped.stop();
  });

  it('a plain GET is 400 (an Upgrade is needed) and uses the token up; unknown, reused and other-kind tokens are 404', async () => {
    const url = await execUrl(['echo']);
    expect(await httpGet(url)).toEqual([400, 'this URL needs an Upgrade to SPDY/3.1 or websocket\n']);
    expect(await httpGet(url)).toEqual([404, 'streaming request not found or expired\n']);
    expect((await httpGet(`${service.baseUrl}/exec/unknown-token`))[0]).toBe(404);
    expect((await httpGet(`${service.baseUrl}/elsewhere`))[0]).toBe(404);
    const other = await execUrl(['echo']);
    expect((await httpGet(other.replace('/exec/', '/attach/')))[0]).toBe(404);
    expect((await httpGet(other))[0]).toBe(404); // the wrong-kind attempt used it up
    expect(seen).toEqual([]);
  });

  it('a token used after its TTL (60 s) is 404 and nothing runs', async () => {
    const url = await execUrl(['echo', 'late']);
    clock += 61_000;
    await expect(wsSession(url, ['v4.channel.k8s.io'])).rejects.toThrow(/Unexpected server response: 404/);
    expect(seen).toEqual([]);
  });

  it('an upgrade to something else is 400 naming it; SPDY protocols it does not speak are 403 listing its own', async () => {
    expect(await rawUpgrade(await execUrl(['echo']), 'Upgrade: h2c\r\n')).toMatch(/^HTTP\/1.1 400 Bad Request\r\n[\s\S]*unsupported upgrade "h2c": use SPDY\/3.1 or websocket\n$/);
    const refused = (await SpdyClient.connect(await execUrl(['echo']), { protocols: ['v9.channel.k8s.io'] }).catch((e: unknown) => e)) as UpgradeRefused;
    expect(refused.status).toBe(403);
    expect(refused.body).toBe(
      'unable to upgrade: unable to negotiate protocol: client supports [v9.channel.k8s.io], server supports [v4.channel.k8s.io v3.channel.k8s.io v2.channel.k8s.io channel.k8s.io]\n',
    );
    expect(await rawUpgrade(await execUrl(['echo']), 'Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: nope\r\n')).toContain('X-Accepted-Stream-Protocol-Versions: v4.channel.k8s.io, v3.channel.k8s.io, v2.channel.k8s.io, channel.k8s.io');
    // An unknown token is 404 whatever the upgrade.
    expect(await rawUpgrade(`${service.baseUrl}/exec/nope`, 'Upgrade: SPDY/3.1\r\n')).toMatch(/^HTTP\/1.1 404 Not Found/);
  });
});

describe('exec and attach over WebSocket', () => {
  it('v5.channel.k8s.io: stdin ended by the close signal, stdout, and a Success status', async () => {
    const r = await wsSession(await execUrl(['cat'], { stdin: true }), ['v5.channel.k8s.io'], (ws) => {
      ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('hello ')]));
      ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('world')]));
      ws.send(Buffer.from([255, 0]));
    });
    expect(r.protocol).toBe('v5.channel.k8s.io');
    expect(on(r, 1)).toBe('HELLO WORLD');
    expect(JSON.parse(on(r, 3))).toEqual({ metadata: {}, status: 'Success' });
    expect(r.code).toBe(1000);
  });

  it('v4.base64.channel.k8s.io: text messages with a digit and base64 both ways; a non-zero exit is NonZeroExitCode', async () => {
    const r = await wsSession(await execUrl(['err', 'to stderr'], { stderr: true }), ['v4.base64.channel.k8s.io']);
    expect(r.messages.every((m) => m.text)).toBe(true);
    expect(on(r, 2)).toBe('to stderr');
    const exit = await wsSession(await execUrl(['exit', '3']), ['v4.base64.channel.k8s.io']);
    expect(JSON.parse(on(exit, 3))).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } });
    // stdin in base64 text too
    const cat = await wsSession(await execUrl(['cat'], { stdin: true }), ['v4.base64.channel.k8s.io'], (ws) => {
      ws.send(`0${Buffer.from('via base64').toString('base64')}`);
      ws.close(1000);
    });
    expect(cat.code).toBe(1000);
  });

  it('the legacy channel.k8s.io (also what no subprotocol means): plain-text failures, nothing on success', async () => {
    const ok = await wsSession(await execUrl(['echo', 'hi']), ['channel.k8s.io']);
    expect(on(ok, 1)).toBe('hi');
    expect(on(ok, 3)).toBe('');
    const failed = await wsSession(await execUrl(['boom']), []);
    expect(failed.protocol).toBe('');
    expect(on(failed, 3)).toBe('Internal error occurred: the runtime exploded');
    const exit = await wsSession(await execUrl(['exit', '2']), ['base64.channel.k8s.io']);
    expect(on(exit, 3)).toBe('command terminated with non-zero exit code: command ["exit","2"] exited with 2');
  });

  it('a subprotocol it does not speak is 400 listing its own', async () => {
    const url = await execUrl(['echo']);
    const err = await wsSession(url, ['v9.channel.k8s.io']).catch((e: unknown) => e);
    expect(String(err)).toMatch(/Unexpected server response: 400/);
    expect(seen).toEqual([]);
  });

  it('with a TTY: the resize channel reaches the process (stderr is merged, not a channel)', async () => {
    const r = await wsSession(await execUrl(['size'], { tty: true }), ['v4.channel.k8s.io'], (ws) => {
      ws.send(Buffer.concat([Buffer.from([4]), Buffer.from('{"Width":132,"Height":43}')]));
    });
    expect(on(r, 1)).toBe('132x43');
  });

  it('attach over WebSocket: output, then Success once the client ends stdin', async () => {
    const url = await service.attach({ containerId: 'c9', stdin: true, stdout: true, stderr: false, tty: false });
    const r = await wsSession(url, ['v5.channel.k8s.io'], (ws) => ws.send(Buffer.from([255, 0])));
    expect(on(r, 1)).toBe('attached to c9');
    expect(JSON.parse(on(r, 3)).status).toBe('Success');
    expect(seen.map((s) => s.call)).toEqual(['attach c9']);
  });

  it('a client that goes away aborts the process (the backend sees its signal)', async () => {
    const url = await execUrl(['wait']);
    const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v4.channel.k8s.io']);
    await once(ws, 'open');
    const deadline = Date.now() + 5000;
    while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    ws.terminate();
    while (!seen[0]!.signal.aborted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(seen[0]!.signal.aborted).toBe(true);
  });
});

describe('port forward over WebSocket', () => {
  it('v4.channel.k8s.io: each port gets a data and an error channel opened with its number; data flows both ways', async () => {
    const url = await service.portForward({ sandboxId: 'pod1', ports: [] });
    const r = await wsSession(`${url}?port=8080`, ['v4.channel.k8s.io'], (ws) => {
      ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('ping')]));
      ws.on('message', (d: Buffer) => {
        if (d.subarray(1).toString() === 'PING') ws.close(1000);
      });
    });
    const first = r.messages.slice(0, 2).map((m) => [m.channel, m.data.readUInt16LE(0)]);
    expect(first).toEqual([
      [0, 8080],
      [1, 8080],
    ]);
    expect(Buffer.concat(r.messages.slice(2).filter((m) => m.channel === 0).map((m) => m.data)).toString()).toBe('PING');
  });

  it('uses the CRI request\'s ports without a query; a failing port writes its error on its error channel', async () => {
    const url = await service.portForward({ sandboxId: 'pod1', ports: [9] });
    const r = await wsSession(url, ['v4.base64.channel.k8s.io']);
    expect(r.messages.filter((m) => m.channel === 1).map((m) => m.data.toString()).at(-1)).toBe('error forwarding port 9 to pod pod1: connect ECONNREFUSED 127.0.0.1:9');
  });

  it('no ports at all, or an invalid port query, is 400', async () => {
    expect(String(await wsSession(await service.portForward({ sandboxId: 'pod1', ports: [] }), ['v4.channel.k8s.io']).catch((e: unknown) => e))).toMatch(/400/);
    expect(String(await wsSession(`${await service.portForward({ sandboxId: 'pod1', ports: [] })}?port=http`, ['v4.channel.k8s.io']).catch((e: unknown) => e))).toMatch(/400/);
    const raw = await rawUpgrade(`${await service.portForward({ sandboxId: 'pod1', ports: [] })}?port=0`, 'Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n');
    expect(raw).toContain('port forward needs one or more valid "port" query parameters');
  });
});

describe('exec and port forward over SPDY', () => {
  it('v4: one stream per channel; output and the status arrive, the session is closed with GOAWAY', async () => {
    const c = await SpdyClient.connect(await execUrl(['cat'], { stdin: true, stderr: true }), { protocols: ['v4.channel.k8s.io', 'v3.channel.k8s.io'] });
    expect(c.protocol).toBe('v4.channel.k8s.io');
    const error = await c.createStream({ streamtype: 'error' });
    const stdin = await c.createStream({ streamtype: 'stdin' });
    const stdout = await c.createStream({ streamtype: 'stdout' });
    await c.createStream({ streamtype: 'stderr' });
    await stdin.write('spdy in');
    await stdin.end();
    expect((await stdout.all()).toString()).toBe('SPDY IN');
    expect(JSON.parse((await error.all()).toString())).toEqual({ metadata: {}, status: 'Success' });
    await c.waitClosed();
    expect(c.goAway).toEqual({ lastId: 7, status: 0 });
  });

  it('no protocol header is the oldest protocol (plain-text status); an unexpected extra stream is accepted and ignored', async () => {
    const c = await SpdyClient.connect(await execUrl(['exit', '4'], { stdin: true }), { protocols: [] });
    expect(c.protocol).toBe('channel.k8s.io');
    const error = await c.createStream({ streamtype: 'error' });
    const extra = await c.createStream({ streamtype: 'bogus' });
    await c.createStream({ streamtype: 'stdout' });
    await (await c.createStream({ streamtype: 'stdin' })).end();
    expect((await error.all()).toString()).toBe('command terminated with non-zero exit code: command ["exit","4"] exited with 4');
    expect(extra.reset).toBeUndefined();
    await c.waitClosed();
  });

  it('a client that does not open every stream in time: the session is dropped, nothing runs, the missing streams are logged', async () => {
    const c = await SpdyClient.connect(await execUrl(['echo', 'never'], { stdin: true }), { protocols: ['v4.channel.k8s.io'] });
    await c.createStream({ streamtype: 'error' });
    await c.waitClosed();
    expect(seen).toEqual([]);
    expect(lines.find((l) => l.msg === 'timed out waiting for the client to create streams')).toMatchObject({ missing: ['stdin', 'stdout'], timeoutMs: 300 });
  });

  it('port forward: data/error pairs by requestid; a bad port header or an unknown stream type is refused', async () => {
    const c = await SpdyClient.connect(await service.portForward({ sandboxId: 'pod1', ports: [80] }), { protocols: ['portforward.k8s.io'] });
    const err1 = await c.createStream({ streamtype: 'error', port: '80', requestid: '1' });
    const data1 = await c.createStream({ streamtype: 'data', port: '80', requestid: '1' });
    await data1.write('abc');
    await data1.until(() => data1.text() === 'ABC');
    await data1.end();
    await data1.all();
    expect((await err1.all()).toString()).toBe('');

    const err2 = await c.createStream({ streamtype: 'error', port: 'http', requestid: '2' });
    await c.createStream({ streamtype: 'data', port: 'http', requestid: '2' });
    expect((await err2.all()).toString()).toBe('error forwarding port http to pod pod1: invalid port header "http"');

    // Old clients send no requestid: the pair is error id N, data id N+2.
    const err3 = await c.createStream({ streamtype: 'error', port: '9' });
    await c.createStream({ streamtype: 'data', port: '9' });
    expect((await err3.all()).toString()).toBe('error forwarding port 9 to pod pod1: connect ECONNREFUSED 127.0.0.1:9');

    const odd = await c.createStream({ streamtype: 'stdin', requestid: '3' });
    await odd.until(() => odd.reset !== undefined);
    expect(odd.reset).toBe(1); // PROTOCOL_ERROR
    c.close();
    await c.waitClosed();
  });

  it('port forward: a pair whose second stream never comes is reset after the creation timeout', async () => {
    const c = await SpdyClient.connect(await service.portForward({ sandboxId: 'pod1', ports: [80] }), { protocols: ['portforward.k8s.io'] });
    const lonely: ClientStream = await c.createStream({ streamtype: 'error', port: '80', requestid: 'x' });
    await lonely.until(() => lonely.reset !== undefined);
    expect(lonely.reset).toBe(5); // CANCEL
    expect(lines.some((l) => l.msg === 'port forward: timed out waiting for the other stream of the pair' && l.requestId === 'x')).toBe(true);
    c.close();
    await c.waitClosed();
  });
});

describe('session limits', () => {
  it('stop() cuts open sessions: the backend is aborted and the client disconnected', async () => {
    const own = new StreamingService({ ...config, now: undefined }, backends, log);
    await own.start();
    const url = await own.exec({ containerId: 'c2', cmd: ['wait'], ...std });
    const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v4.channel.k8s.io']);
    await once(ws, 'open');
    const deadline = Date.now() + 5000;
    while (seen.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const closed = once(ws, 'close');
    await own.stop();
    await closed;
    expect(seen[0]!.signal.aborted).toBe(true);
  });

  it('an idle WebSocket session is closed after idleTimeoutMs', async () => {
    const own = new StreamingService({ ...config, idleTimeoutMs: 200, now: undefined }, backends, log);
    await own.start();
    try {
      const url = await own.exec({ containerId: 'c3', cmd: ['wait'], ...std });
      const started = Date.now();
      const r = await wsSession(url, ['v4.channel.k8s.io']);
      expect(r.code).toBe(1006); // terminated, no close frame
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(lines.some((l) => l.msg === 'streaming session idle, closing' && l.kind === 'exec')).toBe(true);
    } finally {
      await own.stop();
    }
  });
});
