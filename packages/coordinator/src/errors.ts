import { WireError } from '@lbha/shared';

/**
 * Why an API call failed. The names are the gRPC status names, which the HTTP API also returns
 * as `error.code`; each server edge maps a code once, to a gRPC status or an HTTP status.
 */
export type ApiErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'PERMISSION_DENIED'
  | 'UNAUTHENTICATED'
  | 'RESOURCE_EXHAUSTED'
  | 'OUT_OF_RANGE'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'CANCELLED'
  | 'UNIMPLEMENTED'
  | 'INTERNAL';

/**
 * Thrown when an API call cannot be done: `code` says why, the message says what, in words
 * meant for the caller. The one error type the gRPC and HTTP edges map; the classes below name
 * the common cases.
 */
export class ApiError extends Error {
  override readonly name: string = 'ApiError';
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Thrown when an API call names something that does not exist (node, VIP, operation). */
export class NotFoundError extends ApiError {
  override readonly name = 'NotFoundError';
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}

/** Thrown when an API call is well-formed but not allowed in the current state (interlock, busy node). */
export class PreconditionError extends ApiError {
  override readonly name = 'PreconditionError';
  constructor(message: string) {
    super('FAILED_PRECONDITION', message);
  }
}

/** Thrown when an API call carries a malformed argument; `field` names it. */
export class InvalidArgumentError extends ApiError {
  override readonly name = 'InvalidArgumentError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('INVALID_ARGUMENT', `${field}: ${message}`);
  }
}

/** Thrown when a caller lacks the role for a call. */
export class PermissionError extends ApiError {
  override readonly name = 'PermissionError';
  constructor(message: string) {
    super('PERMISSION_DENIED', message);
  }
}

/**
 * Thrown when a caller asks for more than the coordinator grants right now: too many
 * validations, watchers or requests at once. Retrying later may succeed.
 */
export class ResourceExhaustedError extends ApiError {
  override readonly name = 'ResourceExhaustedError';
  constructor(message: string) {
    super('RESOURCE_EXHAUSTED', message);
  }
}

/**
 * Thrown when an API call asks for a write larger than the store takes (etcd's
 * --max-request-bytes). Retrying the same request cannot succeed: gRPC RESOURCE_EXHAUSTED (as
 * for a message over gRPC's own limit), HTTP 413 PAYLOAD_TOO_LARGE (as for a body over the
 * API's limit).
 */
export class RequestTooLargeError extends ApiError {
  override readonly name = 'RequestTooLargeError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('RESOURCE_EXHAUSTED', message, options);
  }
}

/** Thrown when the coordinator's store cannot be read or written, or holds something unreadable. */
export class StoreError extends Error {
  override readonly name: string = 'StoreError';
}

/** Thrown when the store refuses a write as larger than it takes; nothing was written. */
export class StoreTooLargeError extends StoreError {
  override readonly name = 'StoreTooLargeError';
}

/**
 * Thrown when a call's TLS connection closed before the call could be judged (its peer
 * certificate is gone with it): nobody is there to answer, so this is no error of ours.
 */
export class ConnectionClosedError extends Error {
  override readonly name = 'ConnectionClosedError';
}

/** Thrown inside an operation when a step fails; the operation ends as failed with this message. */
export class OperationFailedError extends Error {
  override readonly name = 'OperationFailedError';
}

/**
 * Any error as the API reports it: an ApiError as it is, a malformed message as
 * INVALID_ARGUMENT, a write too large for the store as RequestTooLargeError, a store outage as
 * UNAVAILABLE, anything else as INTERNAL (a bug: its text goes to the log through `cause`, not
 * to the caller).
 */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof WireError) return new ApiError('INVALID_ARGUMENT', err.message, { cause: err });
  if (err instanceof StoreTooLargeError) return new RequestTooLargeError(`store refused the write: ${err.message}`, { cause: err });
  if (err instanceof StoreError) return new ApiError('UNAVAILABLE', `store unavailable: ${err.message}`, { cause: err });
  return new ApiError('INTERNAL', 'internal error', { cause: err });
}
