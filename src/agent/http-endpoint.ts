// The agent's HTTP endpoint: /healthz (alive), /readyz (the daemon answered in the last round),
// /metrics (the agent's own metrics) and extra GET routes (the /daemon/metrics relay).
// node:http is taken with process.getBuiltinModule: an ESM import of it builds the module
// namespace, whose lazy WebSocket/fetch getters load undici, ~10 MB of RSS the agent never uses.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Logger } from '../lib/log.js';
import { registry } from '../lib/metrics.js';

export interface Readiness {
  ready: boolean;
  reason: string;
}

export type Route = (req: IncomingMessage, res: ServerResponse) => void;

export function parseHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

export function agentHttpHandler(readiness: () => Promise<Readiness>, log: Logger, routes: Record<string, Route> = {}): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const reply = (code: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(code, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'method not allowed\n');
    if (path === '/healthz') return reply(200, 'ok\n');
    if (path === '/readyz') {
      readiness().then(
        (r) => (r.ready ? reply(200, 'ok\n') : reply(503, `not ready: ${r.reason}\n`)),
        (err: unknown) => reply(503, `not ready: ${(err as Error).message}\n`),
      );
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => reply(200, text, registry.contentType),
        (err: unknown) => {
          log.error({ err }, 'collecting metrics failed');
          reply(500, 'metrics collection failed\n');
        },
      );
      return;
    }
    const route = Object.hasOwn(routes, path) ? routes[path] : undefined;
    if (route) return route(req, res);
    reply(404, 'not found\n');
  };
}

export async function startAgentHttp(address: string, readiness: () => Promise<Readiness>, log: Logger, routes: Record<string, Route> = {}): Promise<Server> {
  const http = process.getBuiltinModule('node:http');
  const server = http.createServer(agentHttpHandler(readiness, log, routes));
  const { host, port } = parseHostPort(address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
