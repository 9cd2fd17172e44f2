// The one error catalogue. Domain code throws these; src/cri/grpc/status-map.ts is the one
// place that turns them into gRPC status codes. Messages name the object and the cause.

export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'RESOURCE_EXHAUSTED'
  | 'UNIMPLEMENTED'
  | 'INTERNAL';

export abstract class NexcageError extends Error {
  abstract readonly code: ErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class InvalidArgumentError extends NexcageError {
  readonly code = 'INVALID_ARGUMENT';
}
export class NotFoundError extends NexcageError {
  readonly code = 'NOT_FOUND';
}
export class AlreadyExistsError extends NexcageError {
  readonly code = 'ALREADY_EXISTS';
}
export class FailedPreconditionError extends NexcageError {
  readonly code = 'FAILED_PRECONDITION';
}
/**
 * The container's command is not in its rootfs (runc found no executable at create or start).
 * containerd and CRI-O pass runc's text on as UNKNOWN; we say FAILED_PRECONDITION, not
 * INVALID_ARGUMENT: the request is well formed, and the binary may come from a volume or an init
 * container's work, so fixing the node's state (not the request) can be what makes a retry pass.
 */
export class ExecutableNotFoundError extends FailedPreconditionError {}
export class UnavailableError extends NexcageError {
  readonly code = 'UNAVAILABLE';
}
export class DeadlineExceededError extends NexcageError {
  readonly code = 'DEADLINE_EXCEEDED';
}
export class ResourceExhaustedError extends NexcageError {
  readonly code = 'RESOURCE_EXHAUSTED';
}
export class UnimplementedError extends NexcageError {
  readonly code = 'UNIMPLEMENTED';
}
export class InternalError extends NexcageError {
  readonly code = 'INTERNAL';
}

/** An external command failed: carries what ran, how it ended and the tail of its stderr. */
export class CommandError extends NexcageError {
  readonly code = 'INTERNAL';
  constructor(
    readonly command: string,
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly signal: string | null,
    readonly stderr: string,
    reason?: string,
  ) {
    const how = reason ?? (signal ? `killed by ${signal}` : `exit code ${exitCode ?? 'unknown'}`);
    const tail = stderrTail(stderr);
    super(`${command} ${args.join(' ')}: ${how}${tail ? `: ${tail}` : ''}`);
  }
}

/** A configuration problem found at start-up: the daemon prints it and exits 1. */
export class ConfigError extends NexcageError {
  readonly code = 'INVALID_ARGUMENT';
}

const TAIL_LINES = 5;
function stderrTail(stderr: string): string {
  const lines = stderr.trim().split('\n').filter((l) => l.trim() !== '');
  return lines.slice(-TAIL_LINES).join(' | ');
}

/** The message of anything thrown, for logs and status details. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Node's system errors (ENOENT, EACCES, ...) carry a string code. */
export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
