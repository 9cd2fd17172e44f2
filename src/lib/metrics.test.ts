import { describe, expect, it } from 'vitest';
import { collectProcessMetrics, registry } from './metrics.js';

describe('process metrics', () => {
  it('are collected once, whatever the number of calls (a second registration would throw)', async () => {
    collectProcessMetrics();
    expect(() => collectProcessMetrics()).not.toThrow();
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names.filter((n) => n === 'process_cpu_user_seconds_total')).toHaveLength(1);
  });

  it("are prom-client's defaults but the GC histogram (its perf_hooks observer feeds the old generation)", async () => {
    collectProcessMetrics();
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
    for (const n of ['process_resident_memory_bytes', 'process_open_fds', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_version_info']) {
      expect(names).toContain(n);
    }
    expect(names).not.toContain('nodejs_gc_duration_seconds');
  });
});
