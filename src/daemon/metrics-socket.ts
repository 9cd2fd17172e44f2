// The side endpoint on a unix socket too (config `metricsSocket`, beside the CRI socket): the node
// agent's pod mounts only the socket directory and relays /metrics from here, so Prometheus can
// scrape the daemon without the daemon listening on a node address. 0660 with socketGroup, like
// the CRI socket; a file left by a dead daemon is replaced.
import type { Server } from 'node:http';
import { chmod, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '../lib/log.js';
import { daemonHttpHandler, type Readiness } from './http-server.js';
import { applySocketGroup } from './socket-group.js';

// Loaded as CommonJS: an ESM import of node:http evaluates every export, and its lazy WebSocket/fetch
// getters load undici (~3 MB of RSS the daemon never uses).
const { createServer } = process.getBuiltinModule('node:http');

export async function startMetricsSocket(path: string, group: string, readiness: () => Promise<Readiness>, log: Logger): Promise<Server> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await unlink(path).catch(() => undefined);
  const server = createServer(daemonHttpHandler(readiness, log));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  await chmod(path, 0o660);
  await applySocketGroup(path, group);
  return server;
}
