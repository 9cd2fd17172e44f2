import { describe, expect, it } from 'vitest';
import { collectProcessMetrics, registry } from './metrics.js';

describe('process metrics', () => {
  it('are collected once, whatever the number of calls (a second registration would throw)', async () => {
    collectProcessMetrics();
    expect(() => collectProcessMetrics()).not.toThrow();
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names.filter((n) => n === 'process_cpu_user_seconds_total')).toHaveLength(1);
  });
});
