// The side HTTP endpoint of the daemon and of the agent: /healthz (alive), /readyz (ready, or why
// not), /metrics (Prometheus text of this process) and extra GET routes (the daemon's /pulls, the
// agent's /daemon/metrics relay). node:http is taken with process.getBuiltinModule: an ESM import
// of it builds the module namespace, whose lazy WebSocket/fetch getters load undici (~3-10 MB of RSS).
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { Logger } from './log.js';
import { registry } from './metrics.js';

export interface Readiness {
  ready: boolean;
  reason: string;
}

/** An extra GET path. */
export type Route = (req: IncomingMessage, res: ServerResponse) => void;

export function parseHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

export function httpHandler(readiness: () => Promise<Readiness>, log: Logger, routes: Record<string, Route> = {}): RequestListener {
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

export async function startHttpEndpoint(address: string, readiness: () => Promise<Readiness>, log: Logger, routes: Record<string, Route> = {}): Promise<Server> {
  const http = process.getBuiltinModule('node:http');
  const server = http.createServer(httpHandler(readiness, log, routes));
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
