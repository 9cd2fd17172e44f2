// Shared pieces of the benchmarks: timing, percentiles, the printed table and the JSON result.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';

export interface Row {
  /** What was measured, e.g. "RunPodSandbox (sequential)". */
  name: string;
  /** Unit of the figures: "ms", "MB/s", "MiB". */
  unit: string;
  n: number;
  p50?: number;
  p95?: number;
  p99?: number;
  mean?: number;
  value?: number;
  note?: string;
}

export interface Suite {
  name: string;
  /** Runs the benchmark and returns its rows. Must clean up after itself. */
  run(): Promise<Row[]>;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] as number;
}

/** Summarise samples (milliseconds or any unit) into a row. */
export function summarize(name: string, unit: string, samples: number[], note?: string): Row {
  const s = [...samples].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return { name, unit, n: s.length, p50: percentile(s, 50), p95: percentile(s, 95), p99: percentile(s, 99), mean, note };
}

export function single(name: string, unit: string, value: number, note?: string): Row {
  return { name, unit, n: 1, value, note };
}

/** Time one async call in milliseconds. */
export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const fmt = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '' : v >= 100 ? v.toFixed(0) : v.toFixed(2));

export function printTable(suite: string, rows: Row[]): void {
  const header = ['benchmark', 'unit', 'n', 'p50', 'p95', 'p99', 'mean', 'value', 'note'];
  const body = rows.map((r) => [r.name, r.unit, String(r.n), fmt(r.p50), fmt(r.p95), fmt(r.p99), fmt(r.mean), fmt(r.value), r.note ?? '']);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  console.log(`\n== ${suite}`);
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const b of body) console.log(line(b));
}

export function writeResult(suite: string, rows: Row[]): string {
  const dir = resolve(import.meta.dirname, '../../bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${suite}.json`);
  writeFileSync(file, JSON.stringify({ suite, date: new Date().toISOString(), host: { cpus: 2 }, rows }, null, 2) + '\n');
  return file;
}

/** Remove a cgroup parent the benchmark's pods used, depth first, in every hierarchy (empty cgroups only). */
export async function removeCgroups(parent: string): Promise<void> {
  for (const ctrl of readdirSync('/sys/fs/cgroup')) {
    const base = join('/sys/fs/cgroup', ctrl, parent);
    if (!existsSync(base)) continue;
    const walk = async (d: string): Promise<void> => {
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) await walk(join(d, e.name));
      await rmdir(d).catch(() => undefined);
    };
    await walk(base);
  }
}
