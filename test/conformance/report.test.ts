import { describe, expect, it } from 'vitest';
import { formatSummary, summarize } from './report.js';

const spec = (leaf: string, state: string, message = '', type = 'It'): object => ({
  ContainerHierarchyTexts: ['[sig-node] Image Manager'],
  LeafNodeText: leaf,
  LeafNodeType: type,
  State: state,
  Failure: message ? { Message: message, Location: { FileName: 'pkg/validate/image.go', LineNumber: 42 } } : undefined,
});

describe('conformance report', () => {
  const json = JSON.stringify([
    {
      SuiteSucceeded: false,
      SpecReports: [
        spec('', 'passed', '', 'BeforeSuite'),
        spec('pulls', 'passed'),
        spec('removes', 'failed', 'Expected\n  <int>: 1\nto equal\n  <int>: 2'),
        spec('times out', 'timedout'),
        spec('public image with digest should be pulled and removed [Conformance]', 'failed', 'manifest unknown'),
        spec('apparmor', 'skipped', 'Skipped: AppArmor is not enabled'),
        spec('filtered', 'skipped'),
      ],
    },
  ]);

  it('counts only It specs and keeps the digest spec out of the failures', () => {
    const s = summarize(json);
    expect(s.passed.map((x) => x.name)).toEqual(['[sig-node] Image Manager pulls']);
    expect(s.failed.map((x) => x.name)).toEqual(['[sig-node] Image Manager removes', '[sig-node] Image Manager times out']);
    expect(s.failed[1]!.message).toBe('(state timedout)');
    expect(s.expectedFailed).toHaveLength(1);
    expect(s.skipped.map((x) => x.message)).toEqual(['Skipped: AppArmor is not enabled', '(not selected by critest: no skip message)']);
    expect(s.suiteFailures).toEqual([]);
  });

  it('prints the plain summary line and the failure location', () => {
    const text = formatSummary(summarize(json));
    expect(text).toContain('conformance: 1 passed, 2 failed, 2 skipped\n');
    expect(text).toContain('removes  [pkg/validate/image.go:42]');
    expect(text).toContain('conformance: 1 expected failure(s) not counted above');
  });

  it('shows a message up to where Gomega restates the error', () => {
    const dump = (first: string): string => formatSummary(summarize(JSON.stringify([{ SpecReports: [spec('x', 'failed', `${first}\n  <*status.Error>:\n  rpc error\n  {\n    s: {`)] }])));
    expect(dump('failed to create\nUnexpected error:')).toContain('      failed to create\n      ... (5 more lines in the report)');
    expect(dump('Unexpected error:')).toContain('      rpc error\n      ... (2 more lines in the report)');
  });

  it('counts a failed suite node as a failure', () => {
    const s = summarize(JSON.stringify([{ SpecReports: [spec('', 'failed', 'cannot connect', 'BeforeSuite')] }]));
    expect(s.suiteFailures).toHaveLength(1);
    expect(formatSummary(s)).toContain('conformance: 0 passed, 1 failed, 0 skipped');
  });

  it('refuses what is not a Ginkgo report', () => {
    expect(() => summarize('[]')).toThrow(/not a Ginkgo JSON report/);
  });
});
