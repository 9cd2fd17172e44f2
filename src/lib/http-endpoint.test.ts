// The side HTTP endpoint (daemon and agent) on a real 127.0.0.1 port: what kubelet probes and Prometheus see.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from './log.js';
import { parseHostPort, startHttpEndpoint, type Readiness } from './http-endpoint.js';

const log = pino({ level: 'silent' }) as unknown as Logger;
const servers: Server[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function start(readiness: () => Promise<Readiness>, routes = {}): Promise<string> {
  const s = await startHttpEndpoint('127.0.0.1:0', readiness, log, routes);
  servers.push(s);
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

describe('agent HTTP endpoint', () => {
  it('answers /healthz, /readyz by the last round, /metrics in the Prometheus format, extra routes, and 404/405 otherwise', async () => {
    let state: Readiness = { ready: false, reason: 'daemon not answering: connect ENOENT /run/nexcage/nexcage.sock' };
    const base = await start(() => Promise.resolve(state), {
      '/daemon/metrics': (_req: unknown, res: import('node:http').ServerResponse) => {
        res.writeHead(200);
        res.end('relayed\n');
      },
    });
    expect(await (await fetch(`${base}/healthz`)).text()).toBe('ok\n');
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.text()).toBe(`not ready: ${state.reason}\n`);
    state = { ready: true, reason: '' };
    expect((await fetch(`${base}/readyz?verbose`)).status).toBe(200);
    const m = await fetch(`${base}/metrics`);
    expect(m.status).toBe(200);
    expect(m.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await m.text()).toMatch(/^# HELP /m);
    expect(await (await fetch(`${base}/daemon/metrics`)).text()).toBe('relayed\n');
    expect((await fetch(`${base}/nothing`)).status).toBe(404);
    // Inherited object keys are no routes.
    expect((await fetch(`${base}/constructor`)).status).toBe(404);
    expect((await fetch(`${base}/healthz`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${base}/healthz`, { method: 'HEAD' })).status).toBe(200);
  });

  it('is not ready when the readiness check itself fails, naming why', async () => {
    const base = await start(() => Promise.reject(new Error('readiness check crashed')));
    const r = await fetch(`${base}/readyz`);
    expect(r.status).toBe(503);
    expect(await r.text()).toBe('not ready: readiness check crashed\n');
  });

  it('fails to start on a port in use, and parses IPv6 addresses', async () => {
    const base = await start(() => Promise.resolve({ ready: true, reason: '' }));
    const port = Number(new URL(base).port);
    await expect(startHttpEndpoint(`127.0.0.1:${port}`, () => Promise.resolve({ ready: true, reason: '' }), log)).rejects.toThrow(/EADDRINUSE/);
    expect(parseHostPort('[::1]:9102')).toEqual({ host: '::1', port: 9102 });
    expect(parseHostPort('0.0.0.0:9102')).toEqual({ host: '0.0.0.0', port: 9102 });
  });
});
