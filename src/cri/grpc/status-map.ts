// The one place that turns a thrown error into a gRPC status. Our catalogue maps by code;
// anything else is an internal error whose message still reaches the caller.
import { status, type ServiceError } from '@grpc/grpc-js';
import { NexcageError, errorMessage, type ErrorCode } from '../../lib/errors.js';

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

/**
 * The message travels percent-encoded in the grpc-message trailer, and a client drops a response
 * whose metadata passes its limit (8 KiB in grpc-go and grpc-js) by resetting the stream: a 10 MB
 * id echoed in "not found" broke the caller's whole connection. Long messages are cut.
 */
export const MAX_DETAILS_BYTES = 2048;

export function capDetails(details: string): string {
  const bytes = Buffer.byteLength(details);
  if (bytes <= MAX_DETAILS_BYTES) return details;
  let n = Math.min(details.length, MAX_DETAILS_BYTES - 64);
  while (Buffer.byteLength(details.slice(0, n)) > MAX_DETAILS_BYTES - 64) n = Math.floor(n * 0.75);
  return `${details.slice(0, n)}... (${bytes} bytes, cut)`;
}

export function toServiceError(err: unknown): Partial<ServiceError> & { code: status; details: string } {
  const code = err instanceof NexcageError ? CODES[err.code] : status.INTERNAL;
  return { code, details: capDetails(errorMessage(err)) };
}
