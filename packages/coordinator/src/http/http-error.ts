// HTTP API errors: a stable code, a status and a message, sent as
// { "error": { "code": "NOT_FOUND", "message": "...", "details": [...] } }.
import { RequestTooLargeError, type ApiError, type ApiErrorCode } from '../errors.js';

/** Thrown inside the HTTP API to answer with an error; never leaves the http/ folder. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** The HTTP status of each API error, as grpc-gateway maps the gRPC statuses of the same names. */
const HTTP_STATUS: Readonly<Record<ApiErrorCode, number>> = {
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  FAILED_PRECONDITION: 409,
  PERMISSION_DENIED: 403,
  UNAUTHENTICATED: 401,
  RESOURCE_EXHAUSTED: 429,
  OUT_OF_RANGE: 400,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
  CANCELLED: 499,
  UNIMPLEMENTED: 501,
  INTERNAL: 500,
};

/**
 * How the HTTP API answers an ApiError: the code is the error's own, except for a request too
 * large for the store, which is answered as a body over the API's own limit is (413).
 */
export function httpErrorOf(err: ApiError): HttpError {
  if (err instanceof RequestTooLargeError) return new HttpError(413, 'PAYLOAD_TOO_LARGE', err.message);
  const headers: Record<string, string> = err.code === 'UNAUTHENTICATED' ? { 'www-authenticate': 'Bearer realm="lbha"' } : {};
  return new HttpError(HTTP_STATUS[err.code], err.code, err.message, undefined, headers);
}
