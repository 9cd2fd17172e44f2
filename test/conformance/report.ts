// Reads critest's Ginkgo JSON report (--ginkgo.json-report) into counts and the specs worth
// naming: failures with their message, skips with their reason.

/** The one spec stand-in images cannot pass: it pulls by the upstream image's own digest. Compared without tags such as "[Conformance]". */
export const EXPECTED_FAILURES = ['public image with digest should be pulled and removed'];

/** A leaf text without its trailing tags: critest writes "[Conformance]" into the text itself. */
const untagged = (leaf: string): string => leaf.replace(/(\s*\[[^\]]*\])+$/, '');

interface GinkgoFailure {
  Message?: string;
  Location?: { FileName?: string; LineNumber?: number };
}

interface GinkgoSpec {
  ContainerHierarchyTexts?: string[] | null;
  LeafNodeText?: string;
  LeafNodeType?: string;
  State?: string;
  Failure?: GinkgoFailure;
}

interface GinkgoSuite {
  SuiteSucceeded?: boolean;
  SpecReports?: GinkgoSpec[] | null;
}

export interface SpecResult {
  name: string;
  /** Failure or skip message ('' when Ginkgo gave none, e.g. skipped by a filter). */
  message: string;
  location: string;
}

export interface Summary {
  passed: SpecResult[];
  failed: SpecResult[];
  /** Failed specs listed in EXPECTED_FAILURES: reported, not counted as failures. */
  expectedFailed: SpecResult[];
  skipped: SpecResult[];
  /** Failures outside any spec (BeforeSuite, AfterSuite, ...): they fail the run too. */
  suiteFailures: SpecResult[];
}

// Ginkgo's spec states: everything that is not passed, skipped or pending is a kind of failure
// (failed, panicked, timedout, interrupted, aborted).
const SKIP_STATES = new Set(['skipped', 'pending']);

export function summarize(json: string): Summary {
  const suites = JSON.parse(json) as GinkgoSuite[];
  if (!Array.isArray(suites) || suites.length === 0) throw new Error('critest report: not a Ginkgo JSON report (no suites)');
  const out: Summary = { passed: [], failed: [], expectedFailed: [], skipped: [], suiteFailures: [] };
  for (const suite of suites) {
    for (const spec of suite.SpecReports ?? []) {
      const leaf = spec.LeafNodeText ?? '';
      const result: SpecResult = {
        name: [...(spec.ContainerHierarchyTexts ?? []), leaf].filter(Boolean).join(' '),
        message: (spec.Failure?.Message ?? '').trim(),
        location: spec.Failure?.Location?.FileName ? `${spec.Failure.Location.FileName}:${spec.Failure.Location.LineNumber ?? 0}` : '',
      };
      const state = spec.State ?? '';
      if (spec.LeafNodeType !== 'It') {
        // Suite-level nodes only matter when they fail.
        if (state !== 'passed' && !SKIP_STATES.has(state)) out.suiteFailures.push({ ...result, name: `${spec.LeafNodeType ?? 'suite node'} ${result.name}`.trim() });
      } else if (state === 'passed') out.passed.push(result);
      // No message: left out by a filter (critest runs its benchmark specs only with -benchmark).
      else if (SKIP_STATES.has(state)) out.skipped.push({ ...result, message: result.message || '(not selected by critest: no skip message)' });
      else if (EXPECTED_FAILURES.includes(untagged(leaf))) out.expectedFailed.push(result);
      else out.failed.push({ ...result, message: result.message || `(state ${state})` });
    }
  }
  return out;
}

/**
 * First `n` non-empty lines of a message, indented for the listing. Gomega's restatement of an error
 * ("Unexpected error:" after the description, then the status struct) is left to the report.
 */
function head(message: string, n: number): string[] {
  const all = message.split('\n').filter((l) => l.trim() !== '');
  const dump = all.findIndex((l, i) => l.trim() === '{' || (i > 0 && l.trim() === 'Unexpected error:'));
  const lines = dump < 0 ? all : all.slice(0, dump);
  const shown = lines.slice(0, n).map((l) => `      ${l}`);
  if (all.length > shown.length) shown.push(`      ... (${all.length - shown.length} more lines in the report)`);
  return shown;
}

/** The human listing: failures with message heads, expected failures, skips with reasons, then the one-line summary. */
export function formatSummary(s: Summary, messageLines = 6): string {
  const out: string[] = [];
  const section = (title: string, specs: SpecResult[], lines: number): void => {
    if (specs.length === 0) return;
    out.push(`${title} (${specs.length}):`);
    for (const spec of specs) {
      out.push(`  - ${spec.name}${spec.location ? `  [${spec.location}]` : ''}`);
      out.push(...head(spec.message, lines));
    }
  };
  section('FAILED', [...s.suiteFailures, ...s.failed], messageLines);
  section('expected failure (needs the upstream image digest; not counted)', s.expectedFailed, 2);
  section('skipped', s.skipped, 1);
  out.push(`conformance: ${s.passed.length} passed, ${s.failed.length + s.suiteFailures.length} failed, ${s.skipped.length} skipped`);
  if (s.expectedFailed.length > 0) out.push(`conformance: ${s.expectedFailed.length} expected failure(s) not counted above`);
  return out.join('\n');
}
