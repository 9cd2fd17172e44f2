// The one place that turns a thrown error into a gRPC status. Our catalogue maps by code;
// anything else is an internal error whose message still reaches the caller.
import { status, type ServiceError } from '@grpc/grpc-js';
import { NexcageError, errorMessage, type ErrorCode } from '../errors.js';

const CODES: Record<ErrorCode, status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  UNAVAILABLE: status.UNAVAILABLE,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  UNIMPLEMENTED: status.UNIMPLEMENTED,
  INTERNAL: status.INTERNAL,
};

export function toServiceError(err: unknown): Partial<ServiceError> & { code: status; details: string } {
  const code = err instanceof NexcageError ? CODES[err.code] : status.INTERNAL;
  return { code, details: errorMessage(err) };
}
