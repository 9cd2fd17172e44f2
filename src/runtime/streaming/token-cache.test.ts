import { describe, expect, it } from 'vitest';
import { ResourceExhaustedError } from '../../lib/errors.js';
import { TokenCache } from './token-cache.js';

function cache(max = 1000) {
  let now = 1_000_000;
  const c = new TokenCache<string>({ ttlMs: 60_000, maxOutstanding: max, now: () => now });
  return { c, advance: (ms: number) => (now += ms) };
}

describe('TokenCache', () => {
  it('hands out random url-safe tokens that are single use', () => {
    const { c } = cache();
    const a = c.insert('a');
    const b = c.insert('b');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(c.consume(a)).toBe('a');
    expect(c.consume(a)).toBeUndefined();
    expect(c.consume('unknown')).toBeUndefined();
    expect(c.consume(b)).toBe('b');
  });

  it('accepts a token at 59 s and refuses one used after 61 s', () => {
    const { c, advance } = cache();
    const early = c.insert('early');
    const late = c.insert('late');
    advance(59_000);
    expect(c.consume(early)).toBe('early');
    advance(2_000);
    expect(c.consume(late)).toBeUndefined();
  });

  it('caps outstanding tokens at the limit; expired ones free their slots', () => {
    const { c, advance } = cache(1000);
    for (let i = 0; i < 1000; i++) c.insert(String(i));
    expect(() => c.insert('one too many')).toThrow(ResourceExhaustedError);
    advance(61_000);
    expect(c.size).toBe(0);
    expect(() => c.insert('fits again')).not.toThrow();
  });
});
