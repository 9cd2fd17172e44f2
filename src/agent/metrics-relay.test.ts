// /daemon/metrics relayed from a real HTTP server on a unix socket (standing in for the daemon's
// metrics socket) through the agent's route on a real HTTP server on 127.0.0.1.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { daemonMetricsRoute } from './metrics-relay.js';

let dir: string;
const servers: Server[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'metrics-relay-'));
});

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The daemon's side: an HTTP server on a unix socket answering with `handler`. */
async function daemon(name: string, handler: (path: string, res: ServerResponse) => void): Promise<string> {
  const socket = join(dir, name);
  const s = createServer((req, res) => handler(req.url ?? '', res));
  servers.push(s);
  await new Promise<void>((r) => s.listen(socket, r));
  return socket;
}

/** The agent's side: its HTTP port with the relay route. */
async function agent(socket: string): Promise<string> {
  const s = createServer(daemonMetricsRoute(socket));
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}/daemon/metrics`;
}

describe('daemon metrics relay', () => {
  it('relays the daemon\'s /metrics body and content type', async () => {
    const asked: string[] = [];
    const body = '# HELP nexcage_up 1 when up\n# TYPE nexcage_up gauge\nnexcage_up 1\n';
    const socket = await daemon('ok.sock', (path, res) => {
      asked.push(path);
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(body);
    });
    const r = await fetch(await agent(socket));
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await r.text()).toBe(body);
    expect(asked).toEqual(['/metrics']);
  });

  it('gives the Prometheus text type when the daemon names none', async () => {
    const socket = await daemon('notype.sock', (_path, res) => {
      res.removeHeader('content-type');
      res.writeHead(200);
      res.end('x 1\n');
    });
    const r = await fetch(await agent(socket));
    expect(r.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await r.text()).toBe('x 1\n');
  });

  it('answers 502 naming the socket and the daemon\'s status when it does not answer 200', async () => {
    const socket = await daemon('err.sock', (_path, res) => {
      res.writeHead(503);
      res.end('not ready');
    });
    const r = await fetch(await agent(socket));
    expect(r.status).toBe(502);
    expect(await r.text()).toBe(`daemon metrics unavailable at ${socket}: HTTP 503\n`);
  });

  it('answers 502 naming the socket when nothing listens there', async () => {
    const socket = join(dir, 'absent.sock');
    const r = await fetch(await agent(socket));
    expect(r.status).toBe(502);
    expect(await r.text()).toMatch(new RegExp(`^daemon metrics unavailable at ${socket}: .*ENOENT`));
  });

  it('cuts the relayed response when the daemon dies mid-body (no truncated 200 taken as complete)', async () => {
    const socket = await daemon('cut.sock', (_path, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100000' });
      res.write('partial_metric 1\n');
      setImmediate(() => res.socket?.destroy());
    });
    const r = await fetch(await agent(socket));
    expect(r.status).toBe(200);
    await expect(r.text()).rejects.toThrow();
  });
});
