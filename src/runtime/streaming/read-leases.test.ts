import { describe, expect, it } from 'vitest';
import { isLeased, leaseRead, release, retain } from './read-leases.js';

/** A released read: its buffer detached, the memory gone. */
const freed = (b: Uint8Array): boolean => (b.buffer as ArrayBuffer).detached;

describe('read leases', () => {
  it('frees a leased buffer only with the last release, each view counted', () => {
    const chunk = Buffer.allocUnsafeSlow(1024).fill(7);
    expect(leaseRead(chunk)).toBe(true);
    const a = chunk.subarray(0, 100);
    const b = chunk.subarray(100);
    retain(a);
    retain(b);
    release(chunk);
    release(a);
    expect(freed(chunk)).toBe(false);
    expect(b.every((x) => x === 7)).toBe(true);
    release(b);
    expect(freed(chunk)).toBe(true);
    expect(b.length).toBe(0);
    expect(isLeased(b)).toBe(false);
    // Another release (a holder that miscounted) finds nothing left to free.
    release(b);
  });

  it('leases only a whole buffer of its own, once', () => {
    const pooled = Buffer.from('small strings share a pool');
    expect(leaseRead(pooled)).toBe(false);
    const slice = Buffer.allocUnsafeSlow(64).subarray(8);
    expect(leaseRead(slice)).toBe(false);
    expect(leaseRead(Buffer.allocUnsafeSlow(0))).toBe(false);
    const own = Buffer.allocUnsafeSlow(64);
    expect(leaseRead(own)).toBe(true);
    expect(leaseRead(own)).toBe(false);
    release(own);
    expect(freed(own)).toBe(true);
  });

  it('leaves buffers it does not know alone', () => {
    const b = Buffer.allocUnsafeSlow(16).fill(1);
    retain(b);
    release(b);
    release(b);
    expect(freed(b)).toBe(false);
    expect(b.length).toBe(16);
  });
});
