import { afterEach, describe, expect, it, vi } from 'vitest';
import { readHeap, shouldCollect, startMemoryRelease, type HeapReading } from './memory-release.js';

const MiB = 2 ** 20;
const policy = { thresholdBytes: 8 * MiB, minGapMs: 30_000, quietBytes: MiB };
// A heap whose pages are all in use (total = used), as the quiet check and the estimate see it.
const heap = (usedMiB: number, buffersMiB = 0): HeapReading => ({ heapUsed: usedMiB * MiB, heapTotal: usedMiB * MiB, arrayBuffers: buffersMiB * MiB });

describe('memory release', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('collects once the daemon is quiet, the heap grew enough since the last GC and the last forced GC is old enough', () => {
    const base = 15 * MiB;
    expect(shouldCollect(heap(20, 3), heap(19.5), base, Infinity, policy)).toBe(true);
    expect(shouldCollect(heap(20, 2), heap(19.5), base, Infinity, policy)).toBe(false); // 7 MiB: too little
    expect(shouldCollect(heap(30), heap(29.5), base, 29_999, policy)).toBe(false); // too soon
    expect(shouldCollect(heap(30), heap(27), base, Infinity, policy)).toBe(false); // still busy: the heap grew 3 MiB
    expect(shouldCollect(heap(30), undefined, base, Infinity, policy)).toBe(false); // no reading to compare with yet
  });

  it('runs a GC on the first quiet check after a burst, not again within the gap, and measures from the heap it left', () => {
    vi.useFakeTimers();
    const gc = vi.fn();
    // start 15; 1 s: quiet; 2 s: the burst (+7); 3 s: quiet with 10.5 MiB estimated -> GC, left 16;
    // 4 s: grown to 23.5 (busy); 5 s: within the gap; 6 s: 7.5 MiB above the 16 it left (8.5 above
    // the 15 before): no GC; 7 s: 8.2 above -> GC.
    const readings = [heap(15), heap(15), heap(22, 2), heap(22.5, 3), heap(16), heap(23.5), heap(23.5), heap(23.5), heap(24.2), heap(17)];
    let i = 0;
    const freed: number[] = [];
    const stop = startMemoryRelease({ everyMs: 1000, minGapMs: 3000, onCollect: (b) => freed.push(b) }, gc, () => readings[Math.min(i++, readings.length - 1)]!);
    vi.advanceTimersByTime(2000);
    expect(gc).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1000);
    expect(gc).toHaveBeenCalledTimes(1);
    expect(freed).toEqual([6.5 * MiB + 3 * MiB]);
    vi.advanceTimersByTime(3000);
    expect(gc).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1000);
    expect(gc).toHaveBeenCalledTimes(2);
    stop();
    vi.advanceTimersByTime(60_000);
    expect(gc).toHaveBeenCalledTimes(2);
  });

  it('does nothing without an exposed gc', () => {
    vi.useFakeTimers();
    const read = vi.fn(readHeap);
    const stop = startMemoryRelease({ everyMs: 10 }, undefined, read);
    vi.advanceTimersByTime(100);
    expect(read).not.toHaveBeenCalled();
    stop();
  });

  it('counts heap pages held but not in use (what a compacting GC gives back)', () => {
    const holding = { heapUsed: 16 * MiB, heapTotal: 24 * MiB, arrayBuffers: 0 };
    expect(shouldCollect(holding, { ...holding }, 15 * MiB, Infinity, policy)).toBe(true);
    expect(shouldCollect({ ...holding, heapTotal: 22 * MiB }, { ...holding }, 15 * MiB, Infinity, policy)).toBe(false);
  });

  it('reads the real heap', () => {
    const r = readHeap();
    expect(r.heapUsed).toBeGreaterThan(0);
    expect(r.heapTotal).toBeGreaterThanOrEqual(r.heapUsed);
    expect(r.arrayBuffers).toBeGreaterThanOrEqual(0);
  });
});
