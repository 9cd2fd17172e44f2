// The process-wide Prometheus registry. Every module registers its nexcage_* metrics here;
// the daemon's HTTP endpoint serves it.
import { createRequire } from 'node:module';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export const registry = new Registry();
let defaultsCollected = false;

const LAG_SAMPLE_MS = 500;

type DefaultCollector = (register: Registry, config: { eventLoopMonitoringPrecision: number }) => void;

/**
 * Process metrics (CPU, RSS, fds, heap, event loop lag) are only collected in the daemon: prom-client's
 * defaults but its GC histogram. That one observes every GC through perf_hooks, and Node builds each
 * GC entry with deprecated accessors (closures) that V8 promotes: ~5 KB into the old generation per
 * scavenge, which ended in full GCs under the kubelet's polls. The event loop delay is sampled by a
 * timer every LAG_SAMPLE_MS: at prom-client's 10 ms an idle daemon woke 100 times a second for it.
 */
export function collectProcessMetrics(): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  const require = createRequire(import.meta.url);
  const { metricsList } = require('prom-client/lib/defaultMetrics') as { metricsList: string[] };
  for (const name of metricsList) {
    if (name === 'gc') continue;
    (require(`prom-client/lib/metrics/${name}`) as DefaultCollector)(registry, { eventLoopMonitoringPrecision: LAG_SAMPLE_MS });
  }
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
