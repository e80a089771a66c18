// HTTP API errors: a stable code, a status and a message, sent as
// { "error": { "code": "NOT_FOUND", "message": "...", "details": [...] } }.
import { status as grpcStatus } from '@grpc/grpc-js';

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

/** gRPC status -> HTTP status, as grpc-gateway maps them. */
const GRPC_TO_HTTP: Readonly<Partial<Record<grpcStatus, number>>> = {
  [grpcStatus.CANCELLED]: 499,
  [grpcStatus.UNKNOWN]: 500,
  [grpcStatus.INVALID_ARGUMENT]: 400,
  [grpcStatus.DEADLINE_EXCEEDED]: 504,
  [grpcStatus.NOT_FOUND]: 404,
  [grpcStatus.ALREADY_EXISTS]: 409,
  [grpcStatus.PERMISSION_DENIED]: 403,
  [grpcStatus.RESOURCE_EXHAUSTED]: 429,
  [grpcStatus.FAILED_PRECONDITION]: 409,
  [grpcStatus.ABORTED]: 409,
  [grpcStatus.OUT_OF_RANGE]: 400,
  [grpcStatus.UNIMPLEMENTED]: 501,
  [grpcStatus.INTERNAL]: 500,
  [grpcStatus.UNAVAILABLE]: 503,
  [grpcStatus.DATA_LOSS]: 500,
  [grpcStatus.UNAUTHENTICATED]: 401,
};

/** The error a ControlService status becomes over HTTP; the code is the gRPC status name. */
export function fromGrpcStatus(code: number | undefined, details: string | undefined): HttpError {
  const c = (code ?? grpcStatus.UNKNOWN) as grpcStatus;
  const name = grpcStatus[c] ?? 'UNKNOWN';
  const headers: Record<string, string> = c === grpcStatus.UNAUTHENTICATED ? { 'www-authenticate': 'Bearer realm="lbha"' } : {};
  return new HttpError(GRPC_TO_HTTP[c] ?? 500, name, details || name.toLowerCase().replace(/_/g, ' '), undefined, headers);
}
