import { describe, expect, it } from 'vitest';
import { KeyedLock } from './keyed-lock.js';

describe('KeyedLock', () => {
  it('runs operations on one key one after another, other keys in parallel, and survives failures', async () => {
    const lock = new KeyedLock();
    const events: string[] = [];
    const step = (name: string, ms: number, fail = false) => async (): Promise<string> => {
      events.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      events.push(`end ${name}`);
      if (fail) throw new Error(name);
      return name;
    };
    const results = await Promise.allSettled([lock.with('a', step('a1', 30, true)), lock.with('a', step('a2', 1)), lock.with('b', step('b1', 5))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    expect(events.indexOf('end a1')).toBeLessThan(events.indexOf('start a2'));
    expect(events.indexOf('start b1')).toBeLessThan(events.indexOf('end a1'));
  });
});

describe('KeyedLock bookkeeping', () => {
  it('keeps nothing for a key once its last operation settled (ids come and go for the daemon\'s life)', async () => {
    const lock = new KeyedLock();
    const tails = (lock as unknown as { tails: Map<string, unknown> }).tails;
    await Promise.allSettled(Array.from({ length: 20 }, (_, i) => lock.with(`pod-${i % 4}`, async () => {
      if (i % 3 === 0) throw new Error(`op ${i}`);
      return i;
    })));
    expect(tails.size).toBe(0);
  });

  it('passes the value or the error of each operation to its own caller only', async () => {
    const lock = new KeyedLock();
    const first = lock.with('k', () => Promise.reject(new Error('first failed')));
    const second = lock.with('k', () => Promise.resolve('second'));
    await expect(first).rejects.toThrow('first failed');
    await expect(second).resolves.toBe('second');
  });
});
