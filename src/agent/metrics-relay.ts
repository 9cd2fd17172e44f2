// /daemon/metrics on the agent's port: the daemon's Prometheus metrics, read from its metrics
// socket (config `metricsSocket`, in the socket directory the agent's pod mounts). The daemon keeps
// listening on loopback only; Prometheus reaches it through the agent, one target per node.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage } from '../lib/errors.js';

const TIMEOUT_MS = 10_000;

export function daemonMetricsRoute(socketPath: string): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => {
    const fail = (why: string): void => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`daemon metrics unavailable at ${socketPath}: ${why}\n`);
    };
    // Not an ESM import of node:http: see http-endpoint.ts (undici).
    const upstream = process.getBuiltinModule('node:http').request({ socketPath, path: '/metrics', method: 'GET', timeout: TIMEOUT_MS }, (up) => {
      if (up.statusCode !== 200) {
        up.resume();
        fail(`HTTP ${up.statusCode ?? 0}`);
        return;
      }
      res.writeHead(200, { 'content-type': up.headers['content-type'] ?? 'text/plain; version=0.0.4; charset=utf-8' });
      up.pipe(res);
      up.on('error', (err) => fail(errorMessage(err)));
    });
    upstream.on('timeout', () => upstream.destroy(new Error(`no answer within ${TIMEOUT_MS} ms`)));
    upstream.on('error', (err) => fail(errorMessage(err)));
    upstream.end();
  };
}
