// The minimum-throughput rule on a fake clock: when a connection is judged, over which span, and
// what counts as progress.
import { describe, expect, it } from 'vitest';
import { checkIntervalMs, formatRate, progressBytes, ThroughputWatch } from './transfer-rate.js';

const floor = { bytesPerSecond: 1024, windowMs: 30_000 };

describe('ThroughputWatch', () => {
  it('gives a new connection one whole window of grace, however slow it starts', () => {
    const w = new ThroughputWatch(floor, 1000);
    expect(w.check(1000)).toBeUndefined();
    expect(w.check(30_999)).toBeUndefined();
    expect(w.check(31_000)).toEqual({ bytesPerSecond: 0, windowMs: 30_000 });
  });

  it('fails a trickle of a few bytes every half second (never idle long enough for the no-progress timeout)', () => {
    const w = new ThroughputWatch(floor, 0);
    for (let t = 500; t <= 30_000; t += 500) {
      w.record(4);
      if (t < 30_000) expect(w.check(t)).toBeUndefined();
    }
    const slow = w.check(30_000);
    expect(slow?.windowMs).toBe(30_000);
    expect(slow?.bytesPerSecond).toBeCloseTo((60 * 4) / 30, 5);
  });

  it('passes a window at exactly the floor and judges the next one on its own bytes', () => {
    const w = new ThroughputWatch(floor, 0);
    w.record(1024 * 30);
    expect(w.check(30_000)).toBeUndefined();
    // The bytes of the first window do not carry over.
    w.record(1024 * 29);
    expect(w.check(60_000)?.bytesPerSecond).toBeCloseTo((1024 * 29) / 30, 5);
  });

  it('averages over the real span when the check comes late', () => {
    const w = new ThroughputWatch(floor, 0);
    w.record(40 * 1024);
    // 40 KiB over 40 s is 1 KiB/s: passes, although 40 KiB over the nominal 30 s would be more.
    expect(w.check(40_000)).toBeUndefined();
    w.record(10 * 1024);
    expect(w.check(80_000)).toEqual({ bytesPerSecond: 256, windowMs: 40_000 });
  });

  it('lets a burst then silence pass as long as the window average holds', () => {
    const w = new ThroughputWatch({ bytesPerSecond: 100, windowMs: 10_000 }, 0);
    w.record(1000);
    expect(w.check(10_000)).toBeUndefined();
    expect(w.check(19_999)).toBeUndefined();
    expect(w.check(20_000)).toEqual({ bytesPerSecond: 0, windowMs: 10_000 });
  });

  it('never judges with the floor off', () => {
    const w = new ThroughputWatch({ bytesPerSecond: 0, windowMs: 1000 }, 0);
    expect(w.check(1_000_000)).toBeUndefined();
  });
});

describe('progressBytes', () => {
  it('is a window worth at the floor, so a resumed trickle still runs out of retries', () => {
    expect(progressBytes(floor)).toBe(30 * 1024);
    expect(progressBytes({ bytesPerSecond: 1, windowMs: 100 })).toBe(1);
  });

  it('is any byte with no floor', () => {
    expect(progressBytes(undefined)).toBe(1);
    expect(progressBytes({ bytesPerSecond: 0, windowMs: 30_000 })).toBe(1);
  });
});

describe('checkIntervalMs and formatRate', () => {
  it('checks a few times per window, at most once a second and at least every 50 ms', () => {
    expect(checkIntervalMs(floor)).toBe(1000);
    expect(checkIntervalMs({ bytesPerSecond: 1, windowMs: 2000 })).toBe(500);
    expect(checkIntervalMs({ bytesPerSecond: 1, windowMs: 100 })).toBe(50);
  });

  it('formats a rate for a message', () => {
    expect(formatRate(7.96)).toBe('8 B/s');
    expect(formatRate(12.34)).toBe('12.3 B/s');
    expect(formatRate(3 * 1024)).toBe('3 KiB/s');
  });
});
