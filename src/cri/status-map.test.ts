import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { CommandError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../errors.js';
import { toServiceError } from './status-map.js';

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
});
