// The daemon's side HTTP endpoint for operators: lib/http-endpoint.ts (/metrics, /healthz, /readyz
// = CRI Status says RuntimeReady) plus /pulls (the image pulls running now and how far they are,
// JSON; what `nexcage pull` shows). On HOST:PORT and, for the node agent's pod to relay the
// metrics, optionally on a unix socket (metrics-socket.ts).
import type { RequestListener, Server } from 'node:http';
import { pullTracker } from '../images/pull-progress.js';
import { httpHandler, startHttpEndpoint, type Readiness, type Route } from '../lib/http-endpoint.js';
import type { Logger } from '../lib/log.js';

export type { Readiness } from '../lib/http-endpoint.js';

const DAEMON_ROUTES: Record<string, Route> = {
  '/pulls': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ pulls: pullTracker.list() }) + '\n');
  },
};

export function daemonHttpHandler(readiness: () => Promise<Readiness>, log: Logger): RequestListener {
  return httpHandler(readiness, log, DAEMON_ROUTES);
}

export function startDaemonHttp(address: string, readiness: () => Promise<Readiness>, log: Logger): Promise<Server> {
  return startHttpEndpoint(address, readiness, log, DAEMON_ROUTES);
}
