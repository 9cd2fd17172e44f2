// Gives memory back after a burst of work. V8 collects the old generation only when it grows, and
// sees dead ArrayBuffers (port-forward and pull data) only then: after 100 pod starts or one
// port-forwarded transfer the daemon kept 6-22 MiB of garbage (heap pages and buffers) for as
// long as it stayed quiet, which a node's system-reserved has to cover. A check every few seconds
// runs one full GC once the burst is over (the heap grew little since the previous check) and that
// much is collectable, at most one per gap. Needs --expose-gc (deploy/node-flags); without it this
// does nothing.
import { getHeapStatistics } from 'node:v8';

export interface MemoryReleaseOptions {
  /** How often to look (ms): within two looks of the end of a burst, it is collected. */
  everyMs?: number;
  /** Estimated bytes a full GC gives back (heap pages grown since the last GC + ArrayBuffers) worth one. */
  thresholdBytes?: number;
  /** Least time between two forced GCs (ms): they pause the event loop for a few ms. */
  minGapMs?: number;
  /** Heap growth since the previous check below which the daemon counts as quiet. */
  quietBytes?: number;
  /** Called after each forced GC with the bytes it gave back (heap pages and ArrayBuffers). */
  onCollect?: (collectableBytes: number) => void;
}

/** What a check looks at (a seam for tests). */
export interface HeapReading {
  heapUsed: number;
  /** Heap pages held, used or not. */
  heapTotal: number;
  arrayBuffers: number;
}

export function readHeap(): HeapReading {
  const h = getHeapStatistics();
  return { heapUsed: h.used_heap_size, heapTotal: h.total_heap_size, arrayBuffers: process.memoryUsage().arrayBuffers };
}

export interface CollectPolicy {
  thresholdBytes: number;
  minGapMs: number;
  quietBytes: number;
}

/**
 * The decision, pure. What a GC could give back is not known before it runs: the growth of the
 * heap's pages since a GC last left them (`baseline`; a compacting GC returns the pages that only
 * garbage or nothing held) plus the ArrayBuffer memory is the estimate. Collect when
 * the daemon is quiet (the heap grew less than `quietBytes` since the previous reading: a GC in
 * the middle of a burst frees little for long), that estimate is large enough, and the last
 * forced GC is old enough.
 */
export function shouldCollect(r: HeapReading, prev: HeapReading | undefined, baseline: number, sinceLastMs: number, p: CollectPolicy): boolean {
  const quiet = prev !== undefined && r.heapUsed - prev.heapUsed < p.quietBytes;
  return quiet && sinceLastMs >= p.minGapMs && r.heapTotal - baseline + r.arrayBuffers >= p.thresholdBytes;
}

/** Start the checks; returns the stop function. `gc` defaults to the one --expose-gc provides. */
export function startMemoryRelease(o: MemoryReleaseOptions = {}, gc = (globalThis as { gc?: () => void }).gc, read: () => HeapReading = readHeap): () => void {
  if (!gc) return () => undefined;
  const policy: CollectPolicy = { thresholdBytes: o.thresholdBytes ?? 8 * 2 ** 20, minGapMs: o.minGapMs ?? 10_000, quietBytes: o.quietBytes ?? 2 ** 20 };
  let last = -Infinity;
  let prev: HeapReading | undefined;
  let baseline = read().heapTotal;
  const timer = setInterval(() => {
    const now = performance.now();
    const r = read();
    // A GC of V8's own since (the heap shrank) left a smaller heap: measure from there.
    baseline = Math.min(baseline, r.heapTotal);
    const collect = shouldCollect(r, prev, baseline, now - last, policy);
    prev = r;
    if (!collect) return;
    last = now;
    gc();
    prev = read();
    baseline = prev.heapTotal;
    o.onCollect?.(r.heapTotal - prev.heapTotal + r.arrayBuffers - prev.arrayBuffers);
  }, o.everyMs ?? 2000);
  timer.unref();
  return () => clearInterval(timer);
}
