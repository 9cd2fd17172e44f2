// The error catalogue: each class carries the gRPC code the status map relies on and its own name;
// CommandError's message names the command, how it ended and the end of its stderr.
import { describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  CommandError,
  ConfigError,
  DeadlineExceededError,
  ExecutableNotFoundError,
  FailedPreconditionError,
  InternalError,
  InvalidArgumentError,
  NotFoundError,
  ResourceExhaustedError,
  UnavailableError,
  UnimplementedError,
  errorMessage,
  isErrno,
} from './errors.js';

describe('error catalogue', () => {
  it('each class has its gRPC code and its own name; the cause is kept', () => {
    const cause = new Error('root');
    const cases = [
      [new InvalidArgumentError('m'), 'INVALID_ARGUMENT', 'InvalidArgumentError'],
      [new NotFoundError('m'), 'NOT_FOUND', 'NotFoundError'],
      [new AlreadyExistsError('m'), 'ALREADY_EXISTS', 'AlreadyExistsError'],
      [new FailedPreconditionError('m'), 'FAILED_PRECONDITION', 'FailedPreconditionError'],
      [new ExecutableNotFoundError('m'), 'FAILED_PRECONDITION', 'ExecutableNotFoundError'],
      [new UnavailableError('m'), 'UNAVAILABLE', 'UnavailableError'],
      [new DeadlineExceededError('m'), 'DEADLINE_EXCEEDED', 'DeadlineExceededError'],
      [new ResourceExhaustedError('m'), 'RESOURCE_EXHAUSTED', 'ResourceExhaustedError'],
      [new UnimplementedError('m'), 'UNIMPLEMENTED', 'UnimplementedError'],
      [new InternalError('m', { cause }), 'INTERNAL', 'InternalError'],
      [new ConfigError('m'), 'INVALID_ARGUMENT', 'ConfigError'],
    ] as const;
    for (const [err, code, name] of cases) expect([err.code, err.name, err.message]).toEqual([code, name, 'm']);
    expect(new InternalError('m', { cause }).cause).toBe(cause);
    expect(new ExecutableNotFoundError('m')).toBeInstanceOf(FailedPreconditionError);
  });

  it('CommandError: exit code, signal, given reason, unknown exit; the last 5 non-empty stderr lines', () => {
    expect(new CommandError('runc', ['start', 'c1'], 1, null, 'a\n\nb\n').message).toBe('runc start c1: exit code 1: a | b');
    expect(new CommandError('runc', ['kill'], null, 'SIGKILL', '').message).toBe('runc kill: killed by SIGKILL');
    expect(new CommandError('runc', [], null, null, '').message).toBe('runc : exit code unknown');
    expect(new CommandError('conmon', ['-c'], null, null, '1\n2\n3\n4\n5\n6', 'timed out after 5 ms').message).toBe('conmon -c: timed out after 5 ms: 2 | 3 | 4 | 5 | 6');
    const e = new CommandError('x', ['y'], 2, null, 'why');
    expect([e.code, e.command, e.args, e.exitCode, e.stderr]).toEqual(['INTERNAL', 'x', ['y'], 2, 'why']);
  });

  it('errorMessage takes any thrown value; isErrno reads a system error code', () => {
    expect(errorMessage(new Error('e'))).toBe('e');
    expect(errorMessage('plain string')).toBe('plain string');
    expect(errorMessage(42)).toBe('42');
    expect(errorMessage(undefined)).toBe('undefined');
    expect(isErrno(Object.assign(new Error('x'), { code: 'ENOENT' }), 'ENOENT')).toBe(true);
    expect(isErrno(Object.assign(new Error('x'), { code: 'EEXIST' }), 'ENOENT')).toBe(false);
    expect(isErrno(null, 'ENOENT')).toBe(false);
    expect(isErrno('ENOENT', 'ENOENT')).toBe(false);
  });
});
