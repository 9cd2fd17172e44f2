// gRPC status codes (the numbers every gRPC library shares) and the error that carries one.

export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type StatusCode = (typeof Status)[keyof typeof Status];

const NAMES = Object.fromEntries(Object.entries(Status).map(([k, v]) => [v, k])) as Record<number, string>;

/** The code's name; a code outside the 17 gRPC defines reads as UNKNOWN (as grpc-go maps it). */
export function statusName(code: number): string {
  return NAMES[code] ?? 'UNKNOWN';
}

/** Thrown (or rejected) by a handler to answer with this status. */
export class StatusError extends Error {
  constructor(
    readonly code: StatusCode,
    readonly details: string,
  ) {
    super(details);
  }
}
