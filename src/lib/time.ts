// Timestamps as the CRI carries them: nanoseconds since the epoch as a decimal string (int64 on the
// wire). Date.now() has millisecond resolution; the sub-millisecond part from the monotonic clock
// keeps two records made in the same millisecond ordered.
export function nowNs(): string {
  return (BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n)).toString();
}

/** Seconds since `started` (process.hrtime.bigint()). */
export function secondsSince(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}
