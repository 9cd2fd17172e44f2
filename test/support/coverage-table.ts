// `make coverage`: merges the coverage of the test processes (vitest's v8 provider, istanbul JSON)
// with the coverage of the daemon child processes and CLI runs (raw NODE_V8_COVERAGE files) and
// prints line and branch coverage per directory of src/ (each folder on its own row, its files
// only: src/runtime/sandbox and src/runtime/network/cni are separate rows), then checks the
// branch goal: the whole of src/ and every folder. Without a raw dir it summarises the tests'
// JSON alone (a quick unit-only look while writing tests).
// Both sides go through the same converter (ast-v8-to-istanbul, remapped to src/*.ts by source
// maps), so statements and branch arms are the same objects at the same source positions and are
// merged exactly: an arm is taken if either side took it. The few entries whose positions differ
// (vite and tsc emit slightly different JS) are counted and printed, not guessed.
import { mergeProcessCovs, type ProcessCov, type ScriptCov } from '@bcoe/v8-coverage';
import { parse } from 'acorn';
import convert from 'ast-v8-to-istanbul';
import libCoverage from 'istanbul-lib-coverage';
import type { FileCoverageData, Range } from 'istanbul-lib-coverage';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = resolve(import.meta.dirname, '../../..');
const DIST_SRC = pathToFileURL(join(REPO, 'dist/src')).href + '/';

/** Branch coverage wanted for the whole of src/, and at least this in every folder. */
const GOAL_OVERALL = 88;
const GOAL_FOLDER = 80;

/**
 * Product code only: not tests, not the generated protobuf types, and not the fakes and fixtures
 * that tests import from beside the code (test-*.ts, e.g. src/runtime/test-fakes.ts).
 */
function ours(rel: string): boolean {
  return rel.startsWith('src/') && !rel.endsWith('.test.ts') && !basename(rel).startsWith('test-') && !rel.startsWith('src/cri/generated/');
}

/** The daemon side: raw V8 coverage of every child process, merged per script, then converted. */
async function daemonCoverage(rawDir: string): Promise<Map<string, FileCoverageData>> {
  const processes: ProcessCov[] = [];
  for (const name of existsSync(rawDir) ? readdirSync(rawDir) : []) {
    if (!name.endsWith('.json')) continue;
    const raw = JSON.parse(readFileSync(join(rawDir, name), 'utf8')) as ProcessCov;
    const result = raw.result.filter((s) => s.url.startsWith(DIST_SRC) && !s.url.endsWith('.test.js') && !basename(s.url).startsWith('test-') && !s.url.includes('/cri/generated/'));
    processes.push({ result });
  }
  const out = new Map<string, FileCoverageData>();
  for (const script of mergeProcessCovs(processes).result) {
    for (const [path, data] of Object.entries(await convertScript(script))) {
      const rel = relative(REPO, path);
      // dist/ may still hold the output of a source file since moved or deleted: not counted.
      if (ours(rel) && existsSync(path)) out.set(rel, data as FileCoverageData);
    }
  }
  return out;
}

async function convertScript(script: ScriptCov): Promise<Record<string, unknown>> {
  const file = fileURLToPath(script.url);
  const code = readFileSync(file, 'utf8');
  const mapFile = `${file}.map`;
  const sourceMap = existsSync(mapFile) ? (JSON.parse(readFileSync(mapFile, 'utf8')) as { version: number; sources: string[]; mappings: string; names: string[] }) : undefined;
  const ast = parse(code, { ecmaVersion: 'latest', sourceType: 'module' });
  return (await convert({ code, sourceMap, ast, coverage: { url: script.url, functions: script.functions } })) as Record<string, unknown>;
}

const at = (r: Range): string => `${r.start.line}:${r.start.column}`;

interface MergeStats {
  matched: number;
  unmatched: number;
}

/** Adds `extra`'s hits into `base` where both have the same statement / branch at the same place. */
function mergeInto(base: FileCoverageData, extra: FileCoverageData, stats: MergeStats): void {
  const statements = new Map<string, string>();
  for (const [id, loc] of Object.entries(base.statementMap)) statements.set(at(loc), id);
  for (const [id, loc] of Object.entries(extra.statementMap)) {
    const target = statements.get(at(loc));
    if (target === undefined) {
      stats.unmatched++;
      continue;
    }
    stats.matched++;
    base.s[target] = (base.s[target] ?? 0) + (extra.s[id] ?? 0);
  }
  const branches = new Map<string, string>();
  for (const [id, br] of Object.entries(base.branchMap)) branches.set(`${br.type}@${at(br.loc)}/${br.locations.length}`, id);
  for (const [id, br] of Object.entries(extra.branchMap)) {
    const target = branches.get(`${br.type}@${at(br.loc)}/${br.locations.length}`);
    const counts = extra.b[id] ?? [];
    if (target === undefined) {
      stats.unmatched += counts.length;
      continue;
    }
    stats.matched += counts.length;
    const into = base.b[target] ?? [];
    counts.forEach((c, i) => (into[i] = (into[i] ?? 0) + c));
    base.b[target] = into;
  }
}

interface Totals {
  lines: number;
  linesHit: number;
  arms: number;
  taken: number;
}

async function main(): Promise<void> {
  const [testsJson, rawDir = ''] = process.argv.slice(2);
  if (!testsJson) throw new Error('usage: coverage-table <tests coverage-final.json> [<NODE_V8_COVERAGE dir>]');
  const files = new Map<string, FileCoverageData>();
  const tests = existsSync(testsJson) ? (JSON.parse(readFileSync(testsJson, 'utf8')) as Record<string, FileCoverageData>) : {};
  for (const [path, data] of Object.entries(tests)) {
    const rel = relative(REPO, resolve(path));
    if (ours(rel)) files.set(rel, data);
  }
  const stats: MergeStats = { matched: 0, unmatched: 0 };
  for (const [rel, data] of await daemonCoverage(rawDir)) {
    const base = files.get(rel);
    if (base) mergeInto(base, data, stats);
    else files.set(rel, data);
  }

  const dirs = new Map<string, Totals>();
  const total: Totals = { lines: 0, linesHit: 0, arms: 0, taken: 0 };
  for (const [rel, data] of files) {
    const d = dirs.get(dirname(rel)) ?? { lines: 0, linesHit: 0, arms: 0, taken: 0 };
    const fc = libCoverage.createFileCoverage(data);
    for (const hits of Object.values(fc.getLineCoverage())) {
      d.lines++;
      if (hits > 0) d.linesHit++;
    }
    for (const counts of Object.values(fc.b)) {
      d.arms += counts.length;
      d.taken += counts.filter((c) => c > 0).length;
    }
    dirs.set(dirname(rel), d);
  }
  const ratio = (a: number, b: number): number => (b === 0 ? 100 : (100 * a) / b);
  const pct = (a: number, b: number): string => (b === 0 ? '-' : `${ratio(a, b).toFixed(1)}%`);
  const width = Math.max(28, ...[...dirs.keys()].map((d) => d.length + 1));
  const row = (name: string, d: Totals, goal: number): string =>
    `${name.padEnd(width)} ${pct(d.linesHit, d.lines).padStart(8)} ${`${d.linesHit}/${d.lines}`.padStart(13)} ${pct(d.taken, d.arms).padStart(9)} ${`${d.taken}/${d.arms}`.padStart(13)}` +
    (ratio(d.taken, d.arms) < goal ? `  < ${goal}%` : '');
  const out: string[] = [`${'directory'.padEnd(width)} ${'lines'.padStart(8)} ${''.padStart(13)} ${'branches'.padStart(9)} ${''.padStart(13)}`];
  const sorted = [...dirs.entries()].sort(([a], [b]) => a.localeCompare(b));
  for (const [dir, d] of sorted) {
    out.push(row(dir, d, GOAL_FOLDER));
    total.lines += d.lines;
    total.linesHit += d.linesHit;
    total.arms += d.arms;
    total.taken += d.taken;
  }
  out.push(row('all of src/', total, GOAL_OVERALL));
  const below = sorted.filter(([, d]) => ratio(d.taken, d.arms) < GOAL_FOLDER).map(([dir, d]) => `${dir} ${pct(d.taken, d.arms)}`);
  const overallMet = ratio(total.taken, total.arms) >= GOAL_OVERALL;
  out.push(
    `branch goal: all of src/ >= ${GOAL_OVERALL}%: ${overallMet ? 'met' : 'NOT met'} (${pct(total.taken, total.arms)}); ` +
      `every folder >= ${GOAL_FOLDER}%: ${below.length === 0 ? 'met' : `NOT met (${below.join(', ')})`}`,
  );
  if (rawDir !== '') {
    const all = stats.matched + stats.unmatched;
    out.push(`daemon-side entries matched to the tests' map: ${stats.matched}/${all} (${pct(stats.matched, all)}); unmatched ones are left out, not guessed`);
  }
  process.stdout.write(`${out.join('\n')}\n`);
  mkdirSync(resolve(REPO, 'coverage'), { recursive: true });
  writeFileSync(resolve(REPO, 'coverage', 'summary.txt'), `${out.join('\n')}\n`);
  writeFileSync(resolve(REPO, 'coverage', 'merged.json'), JSON.stringify(Object.fromEntries([...files].map(([rel, d]) => [join(REPO, rel), { ...d, path: join(REPO, rel) }]))));
}

await main();
