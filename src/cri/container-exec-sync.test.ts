import { describe, expect, it } from 'vitest';
import { fitOutput } from './container-exec-sync.js';

describe('fitOutput', () => {
  it('keeps output that fits and cuts stderr first, then stdout, to the budget', () => {
    const a = Buffer.alloc(10, 'a');
    const b = Buffer.alloc(10, 'b');
    expect(fitOutput(a, b, 20)).toEqual({ stdout: a, stderr: b });
    expect(fitOutput(a, b, 15)).toEqual({ stdout: a, stderr: b.subarray(0, 5) });
    expect(fitOutput(a, b, 8)).toEqual({ stdout: a.subarray(0, 8), stderr: Buffer.alloc(0) });
  });
});
