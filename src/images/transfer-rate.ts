// The minimum-throughput rule for blob downloads (registry.minBlobBytesPerSecond): a registry that
// trickles a few bytes now and then never trips the socket's no-progress timeout, and would hold a
// pull until its caller's deadline. So each connection is also judged window by window on its
// average rate. Pure logic: the caller supplies the clock (milliseconds, monotonic).

export interface RateFloor {
  /** Below this average over a window the connection is dropped; 0 = no floor. */
  bytesPerSecond: number;
  /** Length of a window; also the grace a new connection gets before it is first judged. */
  windowMs: number;
}

/** A window that fell short: its measured average and how long it was. */
export interface SlowWindow {
  bytesPerSecond: number;
  windowMs: number;
}

/**
 * Bytes per connection over back-to-back windows. A blob that completes inside its first window is
 * never judged; a window is judged when `check` is called at or after its end (over its real
 * length, so a late check does not inflate the rate).
 */
export class ThroughputWatch {
  private windowStart: number;
  private bytes = 0;

  constructor(
    private readonly floor: RateFloor,
    now: number,
  ) {
    this.windowStart = now;
  }

  record(bytes: number): void {
    this.bytes += bytes;
  }

  /** The short window, if the one that ended by `now` fell below the floor; else starts the next. */
  check(now: number): SlowWindow | undefined {
    if (this.floor.bytesPerSecond <= 0) return undefined;
    const elapsed = now - this.windowStart;
    if (elapsed < this.floor.windowMs) return undefined;
    const rate = (this.bytes * 1000) / elapsed;
    if (rate < this.floor.bytesPerSecond) return { bytesPerSecond: rate, windowMs: elapsed };
    this.windowStart = now;
    this.bytes = 0;
    return undefined;
  }
}

/**
 * Bytes one connection must bring before its failure counts as progress (resetting the retry
 * count): a window's worth at the floor. Else a trickle of a few bytes per connection, dropped and
 * resumed, would be retried forever. With no floor, any byte is progress.
 */
export function progressBytes(floor: RateFloor | undefined): number {
  if (!floor || floor.bytesPerSecond <= 0) return 1;
  return Math.max(1, Math.ceil((floor.bytesPerSecond * floor.windowMs) / 1000));
}

/** How often a running download is checked against its floor. */
export function checkIntervalMs(floor: RateFloor): number {
  return Math.max(50, Math.min(1000, Math.floor(floor.windowMs / 4)));
}

/** "12.5 B/s", "3 KiB/s": a measured rate for a message. */
export function formatRate(bytesPerSecond: number): string {
  if (bytesPerSecond < 1024) return `${Math.round(bytesPerSecond * 10) / 10} B/s`;
  return `${Math.round((bytesPerSecond / 1024) * 10) / 10} KiB/s`;
}
