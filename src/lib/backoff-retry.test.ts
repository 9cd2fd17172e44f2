import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from './log.js';
import { BackoffRetry } from './backoff-retry.js';

describe('BackoffRetry', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('retries with doubling delays capped at the maximum until the attempt succeeds', async () => {
    vi.useFakeTimers();
    const r = new BackoffRetry({ initialMs: 100, maxMs: 300, log: silentLogger() });
    const at: number[] = [];
    const start = Date.now();
    let calls = 0;
    r.schedule('pod', async () => {
      at.push(Date.now() - start);
      calls++;
      if (calls === 2) throw new Error('CNI DEL failed');
      return calls >= 4;
    });
    await vi.advanceTimersByTimeAsync(2_000);
    expect(at).toEqual([100, 300, 600, 900]);
    expect(r.has('pod')).toBe(false);
  });

  it('stops a chain that is cancelled, also while its attempt runs, and runs nothing after close', async () => {
    vi.useFakeTimers();
    const r = new BackoffRetry({ initialMs: 10, maxMs: 10, log: silentLogger() });
    let calls = 0;
    r.schedule('a', async () => {
      calls++;
      r.cancel('a');
      return false;
    });
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toBe(1);
    r.schedule('b', async () => {
      calls++;
      return false;
    });
    r.close();
    r.schedule('c', async () => {
      calls++;
      return false;
    });
    await vi.advanceTimersByTimeAsync(100);
    expect(calls).toBe(1);
    expect(r.has('b') || r.has('c')).toBe(false);
  });

  it('restarts from the first delay when a key is scheduled again', async () => {
    vi.useFakeTimers();
    const r = new BackoffRetry({ initialMs: 50, maxMs: 1000, log: silentLogger() });
    const seen: string[] = [];
    r.schedule('k', async () => {
      seen.push('first');
      return true;
    });
    r.schedule('k', async () => {
      seen.push('second');
      return true;
    });
    await vi.advanceTimersByTimeAsync(60);
    expect(seen).toEqual(['second']);
  });
});
