import { describe, expect, it } from 'vitest';
import { Backoff, sleep } from './backoff.js';

describe('Backoff', () => {
  it('doubles from the initial delay up to the cap, and starts over after reset', () => {
    const b = new Backoff(100, 1000, () => 0.5);
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(b.failures).toBe(6);
    b.reset();
    expect(b.next()).toBe(100);
  });

  it('spreads retries by +-20% so agents on many nodes do not retry in step', () => {
    expect(new Backoff(1000, 10_000, () => 0).next()).toBe(800);
    expect(new Backoff(1000, 10_000, () => 0.999999).next()).toBe(1200);
  });

  it('sleep ends early when aborted', async () => {
    const ac = new AbortController();
    const started = Date.now();
    const p = sleep(60_000, ac.signal);
    ac.abort();
    await p;
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
