// The process-wide Prometheus registry. Every module registers its nexcage_* metrics here;
// the daemon's HTTP endpoint serves it.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export const registry = new Registry();
let defaultsCollected = false;

/** Process metrics (CPU, RSS, fds, event loop lag) are only collected in the daemon. */
export function collectProcessMetrics(): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  collectDefaultMetrics({ register: registry });
}

export const buildInfo = new Gauge({
  name: 'nexcage_build_info',
  help: 'Always 1; the version label carries the nexcage version.',
  labelNames: ['version'] as const,
  registers: [registry],
});

export const grpcRequests = new Counter({
  name: 'nexcage_grpc_requests_total',
  help: 'CRI calls served, by method and gRPC status code.',
  labelNames: ['method', 'code'] as const,
  registers: [registry],
});

export const grpcDuration = new Histogram({
  name: 'nexcage_grpc_request_duration_seconds',
  help: 'Time to answer a CRI call, by method.',
  labelNames: ['method'] as const,
  buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
  registers: [registry],
});
