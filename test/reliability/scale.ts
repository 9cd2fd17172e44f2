// Scale of the reliability suite: short inside `make test` (a few minutes of CI in total), full
// under `make test-reliability` (NEXCAGE_RELIABILITY=full). Randomness is seeded so a failure can
// be replayed: NEXCAGE_RELIABILITY_SEED=<n>.
import type { ServiceError } from '@grpc/grpc-js';

export const FULL = process.env.NEXCAGE_RELIABILITY === 'full';

export function pick<T>(short: T, full: T): T {
  return FULL ? full : short;
}

export const SEED = Number(process.env.NEXCAGE_RELIABILITY_SEED ?? 20261127);

/** mulberry32: a small deterministic PRNG in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Settle a call: its value or its gRPC error (never throws). */
export async function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; err: ServiceError }> {
  try {
    return { ok: true, value: await p };
  } catch (err) {
    return { ok: false, err: err as ServiceError };
  }
}

/** Open fds of a process (by /proc/<pid>/fd), or -1 when it is gone. */
export async function fdCount(pid: number): Promise<number> {
  const { readdir } = await import('node:fs/promises');
  try {
    return (await readdir(`/proc/${pid}/fd`)).length;
  } catch {
    return -1;
  }
}

/** Resident set size of a process in bytes (VmRSS), or -1 when it is gone. */
export async function rssBytes(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : -1;
  } catch {
    return -1;
  }
}

/** Print a figure of the run (restarts survived, cases run...) on the test output. */
export function report(line: string): void {
  process.stdout.write(`[reliability] ${line}\n`);
}
