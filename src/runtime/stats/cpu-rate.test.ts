import { describe, expect, it } from 'vitest';
import { CpuRateTracker } from './cpu-rate.js';

const S = 1e9;

describe('usage_nano_cores', () => {
  it('needs two samples a window apart, then gives core-nanoseconds per second', () => {
    const t = new CpuRateTracker(S);
    expect(t.observe('c', { timestampNs: 0, usageNs: 0 })).toBeUndefined();
    expect(t.observe('c', { timestampNs: 0.5 * S, usageNs: 0.5 * S })).toBeUndefined();
    // one core busy for 2 s
    expect(t.observe('c', { timestampNs: 2 * S, usageNs: 2 * S })).toBe(1e9);
  });

  it('stays stable when several clients poll close together', () => {
    const t = new CpuRateTracker(S);
    t.observe('c', { timestampNs: 0, usageNs: 0 });
    expect(t.observe('c', { timestampNs: 10 * S, usageNs: 5 * S })).toBe(0.5e9);
    // a second client 20 ms later sees the same figure instead of a 20 ms window's noise
    expect(t.observe('c', { timestampNs: 10.02 * S, usageNs: 5.02 * S })).toBe(0.5e9);
    expect(t.observe('c', { timestampNs: 10.5 * S, usageNs: 5.5 * S })).toBe(0.5e9);
    // the next full window (from the stored 10 s sample) moves on
    expect(t.observe('c', { timestampNs: 20 * S, usageNs: 25 * S })).toBe(2e9);
  });

  it('starts over when the counter goes back (cgroup re-created) and keeps ids apart', () => {
    const t = new CpuRateTracker(S);
    t.observe('a', { timestampNs: 0, usageNs: 100 * S });
    t.observe('b', { timestampNs: 0, usageNs: 0 });
    expect(t.observe('a', { timestampNs: 5 * S, usageNs: 1 * S })).toBeUndefined();
    expect(t.observe('b', { timestampNs: 5 * S, usageNs: 5 * S })).toBe(1e9);
    t.retain(new Set(['b']));
    expect(t.size).toBe(1);
  });
});
