import { describe, expect, it } from 'vitest';
import { runtimeLogErrors } from './oci-runtime.js';

describe('runtime JSON log', () => {
  it('picks the error messages out of runc --log-format json output', () => {
    const log = [
      '{"level":"info","msg":"starting","time":"2026-01-01T00:00:00Z"}',
      '{"level":"error","msg":"container_linux.go:380: starting container process caused: exec: \\"/nope\\": no such file","time":"x"}',
      'garbage line with error in it',
      '',
    ].join('\n');
    expect(runtimeLogErrors(log)).toEqual(['container_linux.go:380: starting container process caused: exec: "/nope": no such file', 'garbage line with error in it']);
  });
});
