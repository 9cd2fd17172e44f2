// `make coverage`: merges the coverage of the test processes (vitest's v8 provider, istanbul JSON)
// with the coverage of the daemon child processes (NODE_V8_COVERAGE -> c8, remapped to src/*.ts
// through dist's source maps) and prints line and branch coverage per directory.
// The two instrumenters number statements and branches differently, so they are merged by source
// line: a line counts as covered if either saw it run; a line's branch arms as the larger count of
// arms and of taken arms either tool reports there (an estimate for branches, exact for lines).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';

interface Loc {
  start: { line: number };
}
interface FileCoverage {
  path: string;
  statementMap: Record<string, Loc>;
  s: Record<string, number>;
  branchMap: Record<string, { locations: Loc[]; loc: Loc }>;
  b: Record<string, number[]>;
}

interface Lines {
  /** line -> executed at least once */
  lines: Map<number, boolean>;
  /** line -> [arms, taken] */
  branches: Map<number, [number, number]>;
}

const REPO = resolve(import.meta.dirname, '../../..');

function perLine(fc: FileCoverage): Lines {
  const lines = new Map<number, boolean>();
  for (const [id, loc] of Object.entries(fc.statementMap)) {
    const line = loc.start.line;
    lines.set(line, (lines.get(line) ?? false) || (fc.s[id] ?? 0) > 0);
  }
  const branches = new Map<number, [number, number]>();
  for (const [id, br] of Object.entries(fc.branchMap)) {
    const line = br.loc.start.line;
    const counts = fc.b[id] ?? [];
    const [arms, taken] = branches.get(line) ?? [0, 0];
    branches.set(line, [arms + counts.length, taken + counts.filter((c) => c > 0).length]);
  }
  return { lines, branches };
}

function merge(a: Lines | undefined, b: Lines): Lines {
  if (!a) return b;
  const lines = new Map(a.lines);
  for (const [l, hit] of b.lines) lines.set(l, (lines.get(l) ?? false) || hit);
  const branches = new Map(a.branches);
  for (const [l, [arms, taken]] of b.branches) {
    const [arms0, taken0] = branches.get(l) ?? [0, 0];
    const n = Math.max(arms, arms0);
    branches.set(l, [n, Math.min(n, Math.max(taken, taken0))]);
  }
  return { lines, branches };
}

function load(path: string): Record<string, FileCoverage> {
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as Record<string, FileCoverage>) : {};
}

function main(): void {
  const inputs = process.argv.slice(2);
  const files = new Map<string, Lines>();
  for (const input of inputs) {
    for (const [path, fc] of Object.entries(load(input))) {
      const rel = relative(REPO, resolve(path));
      if (!rel.startsWith('src/') || rel.endsWith('.test.ts') || rel.startsWith('src/cri/generated/')) continue;
      files.set(rel, merge(files.get(rel), perLine(fc)));
    }
  }
  const dirs = new Map<string, { lines: number; linesHit: number; arms: number; taken: number }>();
  const total = { lines: 0, linesHit: 0, arms: 0, taken: 0 };
  for (const [rel, cov] of files) {
    const d = dirs.get(dirname(rel)) ?? { lines: 0, linesHit: 0, arms: 0, taken: 0 };
    for (const hit of cov.lines.values()) {
      d.lines++;
      if (hit) d.linesHit++;
    }
    for (const [arms, taken] of cov.branches.values()) {
      d.arms += arms;
      d.taken += taken;
    }
    dirs.set(dirname(rel), d);
  }
  const pct = (a: number, b: number): string => (b === 0 ? '-' : `${((100 * a) / b).toFixed(1)}%`);
  const rows = [...dirs.entries()].sort(([a], [b]) => a.localeCompare(b));
  const out: string[] = [];
  out.push(`${'directory'.padEnd(28)} ${'lines'.padStart(8)} ${''.padStart(13)} ${'branches'.padStart(9)} ${''.padStart(13)}`);
  for (const [dir, d] of rows) {
    out.push(`${dir.padEnd(28)} ${pct(d.linesHit, d.lines).padStart(8)} ${`${d.linesHit}/${d.lines}`.padStart(13)} ${pct(d.taken, d.arms).padStart(9)} ${`${d.taken}/${d.arms}`.padStart(13)}`);
    total.lines += d.lines;
    total.linesHit += d.linesHit;
    total.arms += d.arms;
    total.taken += d.taken;
  }
  out.push(`${'all of src/'.padEnd(28)} ${pct(total.linesHit, total.lines).padStart(8)} ${`${total.linesHit}/${total.lines}`.padStart(13)} ${pct(total.taken, total.arms).padStart(9)} ${`${total.taken}/${total.arms}`.padStart(13)}`);
  process.stdout.write(`${out.join('\n')}\n`);
  writeFileSync(resolve(REPO, 'coverage', 'summary.txt'), `${out.join('\n')}\n`);
}

main();
