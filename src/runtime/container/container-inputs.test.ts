import { describe, expect, it } from 'vitest';
import { normalizeSignal, resolveLogPath } from './container-inputs.js';

describe('normalizeSignal', () => {
  it('takes names with or without SIG, numbers, and the CRI real-time names', () => {
    expect(normalizeSignal('SIGTERM')).toBe('SIGTERM');
    expect(normalizeSignal('term')).toBe('SIGTERM');
    expect(normalizeSignal('15')).toBe('15');
    expect(normalizeSignal('SIGRTMIN')).toBe('34');
    expect(normalizeSignal('SIGRTMINPLUS3')).toBe('37');
    expect(normalizeSignal('SIGRTMAXMINUS1')).toBe('63');
    expect(normalizeSignal('SIGRTMAX')).toBe('64');
  });
  it('refuses garbage', () => {
    expect(() => normalizeSignal('SIG TERM; rm')).toThrow(/not a signal name/);
  });
});

describe('resolveLogPath', () => {
  it('joins the relative CRI log path to the pod log directory', () => {
    expect(resolveLogPath('/var/log/pods/ns_pod_uid', 'app/0.log')).toBe('/var/log/pods/ns_pod_uid/app/0.log');
    expect(resolveLogPath('/var/log/pods/x', '')).toBe('');
    expect(resolveLogPath('', '/abs/path.log')).toBe('/abs/path.log');
  });
  it('refuses a path escaping the directory or a relative path without a directory', () => {
    expect(() => resolveLogPath('/var/log/pods/x', '../../etc/passwd')).toThrow(/escapes/);
    expect(() => resolveLogPath('', 'a.log')).toThrow(/no log_directory/);
  });
});
