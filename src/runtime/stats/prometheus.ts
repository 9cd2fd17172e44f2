// Optional per-container container_* series on the daemon's own /metrics (stats.containerMetrics):
// the same table as the CRI metrics, collected at scrape time. Off by default: with many pods the
// series count is large, and the kubelet already publishes them under /metrics/cadvisor.
import { Counter, Gauge, type Registry } from 'prom-client';
import { metricDescriptors } from './metric-descriptors.js';
import type { PodMetrics } from './pod-metrics.js';
import type { StatsService } from './stats-service.js';

export function registerContainerMetrics(stats: StatsService, registry: Registry): void {
  // One read of every pod per scrape, shared by all the series' collect() calls: the registry
  // starts every collect() in one synchronous loop, so the snapshot lives until that loop ends.
  let snapshot: Promise<PodMetrics[]> | undefined;
  const current = (): Promise<PodMetrics[]> => {
    if (!snapshot) {
      snapshot = stats.servesPods ? stats.podSandboxMetrics().catch(() => []) : Promise.resolve([]);
      queueMicrotask(() => (snapshot = undefined));
    }
    return snapshot;
  };
  const valuesOf = async (name: string, keys: string[]): Promise<{ labels: Record<string, string>; value: number }[]> =>
    (await current()).flatMap((p) =>
      [...p.metrics, ...p.containerMetrics.flatMap((c) => c.metrics)]
        .filter((m) => m.name === name)
        .map((m) => ({ labels: Object.fromEntries(keys.map((k, i) => [k, m.labelValues[i] ?? ''])), value: m.value })),
    );
  for (const d of metricDescriptors()) {
    if (d.type === 'counter') {
      new Counter({
        name: d.name,
        help: d.help,
        labelNames: d.labelKeys,
        registers: [registry],
        async collect() {
          this.reset();
          for (const v of await valuesOf(d.name, d.labelKeys)) this.inc(v.labels, v.value);
        },
      });
    } else {
      new Gauge({
        name: d.name,
        help: d.help,
        labelNames: d.labelKeys,
        registers: [registry],
        async collect() {
          this.reset();
          for (const v of await valuesOf(d.name, d.labelKeys)) this.set(v.labels, v.value);
        },
      });
    }
  }
}
