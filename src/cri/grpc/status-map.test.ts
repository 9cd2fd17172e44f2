import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { CommandError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../../lib/errors.js';
import { MAX_DETAILS_BYTES, toServiceError } from './status-map.js';

describe('toServiceError', () => {
  it('maps catalogue errors to their gRPC codes and keeps the message', () => {
    expect(toServiceError(new NotFoundError('container "3f2a" not found'))).toEqual({ code: status.NOT_FOUND, details: 'container "3f2a" not found' });
    expect(toServiceError(new InvalidArgumentError('x')).code).toBe(status.INVALID_ARGUMENT);
    expect(toServiceError(new FailedPreconditionError('x')).code).toBe(status.FAILED_PRECONDITION);
  });

  it('reports a failed command as INTERNAL with its stderr tail', () => {
    const e = toServiceError(new CommandError('runc', ['start', 'abc'], 1, null, 'line1\ncontainer not created\n'));
    expect(e.code).toBe(status.INTERNAL);
    expect(e.details).toBe('runc start abc: exit code 1: line1 | container not created');
  });

  it('treats unknown throwables as INTERNAL', () => {
    expect(toServiceError(new TypeError('boom'))).toEqual({ code: status.INTERNAL, details: 'boom' });
    expect(toServiceError('plain')).toEqual({ code: status.INTERNAL, details: 'plain' });
  });

  it('cuts a huge message (a 10 MB id echoed back) to fit the grpc-message trailer, multi-byte text too', () => {
    for (const unit of ['x', 'ü', '😀']) {
      const e = toServiceError(new NotFoundError(`pod sandbox "${unit.repeat(5_000_000)}" not found`));
      expect(Buffer.byteLength(e.details)).toBeLessThanOrEqual(MAX_DETAILS_BYTES);
      expect(e.details).toMatch(/^pod sandbox "/);
      expect(e.details).toMatch(/bytes, cut\)$/);
    }
    expect(toServiceError(new NotFoundError('short')).details).toBe('short');
  });
});
