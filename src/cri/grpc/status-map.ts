// The one place that turns a thrown error into a gRPC status. Our catalogue maps by code;
// anything else is an internal error whose message still reaches the caller.
import { Status, type StatusCode } from '../../lib/grpc/status.js';
import { NexcageError, errorMessage, type ErrorCode } from '../../lib/errors.js';

const CODES: Record<ErrorCode, StatusCode> = {
  INVALID_ARGUMENT: Status.INVALID_ARGUMENT,
  NOT_FOUND: Status.NOT_FOUND,
  ALREADY_EXISTS: Status.ALREADY_EXISTS,
  FAILED_PRECONDITION: Status.FAILED_PRECONDITION,
  UNAVAILABLE: Status.UNAVAILABLE,
  DEADLINE_EXCEEDED: Status.DEADLINE_EXCEEDED,
  RESOURCE_EXHAUSTED: Status.RESOURCE_EXHAUSTED,
  UNIMPLEMENTED: Status.UNIMPLEMENTED,
  INTERNAL: Status.INTERNAL,
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

export function toServiceError(err: unknown): { code: StatusCode; details: string } {
  const code = err instanceof NexcageError ? CODES[err.code] : Status.INTERNAL;
  return { code, details: capDetails(errorMessage(err)) };
}
