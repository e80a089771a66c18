// The gRPC edge of the operator API: ControlService calls become ControlApi calls with their
// caller (metadata, TLS peer, deadline, what a forwarding coordinator says), and ApiErrors
// become gRPC statuses, here and nowhere else. grpcErrorToApi maps the other way, for the
// answers of another coordinator this one forwards a call to.
import { Metadata, status, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from '@lbha/shared';
import type { ControlServiceServer } from '@lbha/shared/control';
import { CONTROL_METHODS, type Caller, type ControlApi, type StreamSink, type Streaming, type Unary } from './control-api.js';
import { ApiError, RequestTooLargeError, toApiError, type ApiErrorCode } from './errors.js';
import { FORWARDED_BY, FORWARDED_CERT, FORWARDED_FOR, FORWARDED_IDENTITY } from './etcd/forwarded-identity.js';

type AnyCall = ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>;

function first(md: Metadata, key: string): string | Buffer | undefined {
  return md.get(key)[0];
}

function text(v: string | Buffer | undefined): string | undefined {
  return v === undefined ? undefined : Buffer.isBuffer(v) ? v.toString('utf8') : v;
}

/** The caller of a gRPC call, as the ControlApi sees it. */
function grpcCaller(call: AnyCall): Caller {
  const md = call.metadata;
  const raw = call.getAuthContext?.()?.sslPeerCertificate?.raw;
  const by = text(first(md, FORWARDED_BY));
  const cert = first(md, FORWARDED_CERT);
  const deadline = call.getDeadline();
  return {
    identity: undefined,
    authorization: text(first(md, 'authorization')),
    peerCertificate: raw && raw.length > 0 ? raw : undefined,
    peer: call.getPeer(),
    deadlineMs: deadline instanceof Date ? deadline.getTime() : Number(deadline),
    forwarded:
      by === undefined
        ? undefined
        : { by, for: text(first(md, FORWARDED_FOR)) ?? '', certificate: Buffer.isBuffer(cert) ? cert : undefined, identity: text(first(md, FORWARDED_IDENTITY)) },
  };
}

/** Trailer that tells a forwarding coordinator a RESOURCE_EXHAUSTED means "this request is too large". */
const ERROR_REASON = 'lbha-error-reason';
const TOO_LARGE = 'request-too-large';

function apiErrorToGrpc(err: ApiError): Partial<ServiceError> {
  if (!(err instanceof RequestTooLargeError)) return { code: status[err.code], details: err.message };
  const metadata = new Metadata();
  metadata.set(ERROR_REASON, TOO_LARGE);
  return { code: status[err.code], details: err.message, metadata };
}

export function grpcErrorToApi(err: { code?: number; details?: string; metadata?: Metadata }): ApiError {
  if (err.code === status.RESOURCE_EXHAUSTED && err.metadata?.get(ERROR_REASON)[0] === TOO_LARGE) {
    return new RequestTooLargeError(err.details ?? 'request too large');
  }
  const name = status[err.code ?? status.UNKNOWN] as ApiErrorCode | 'UNKNOWN' | 'OK' | 'ABORTED' | 'DATA_LOSS' | undefined;
  const code: ApiErrorCode = name === undefined || name === 'UNKNOWN' || name === 'OK' || name === 'DATA_LOSS' ? 'INTERNAL' : name === 'ABORTED' ? 'FAILED_PRECONDITION' : name;
  return new ApiError(code, err.details || code.toLowerCase().replace(/_/g, ' '));
}

function streamSink(call: ServerWritableStream<unknown, unknown>, toGrpc: (err: unknown) => Partial<ServiceError>): StreamSink<unknown> {
  const closed = new AbortController();
  const stop = () => closed.abort();
  // Gone once the stream is: a failed stream whose client stopped reading still holds its
  // place (its status waits behind what it did not read), so 'error' is not the end.
  call.on('cancelled', stop);
  call.on('close', stop);
  call.on('finish', stop);
  return {
    write: (m) => (call.writableEnded ? true : call.write(m)),
    onDrain: (l) => void call.on('drain', l),
    end: () => {
      if (!call.writableEnded) call.end();
    },
    fail: (err) => {
      if (!call.writableEnded) call.emit('error', toGrpc(err));
    },
    closed: closed.signal,
  };
}

/** ControlService for the gRPC server, on `api`. */
export function grpcControlService(api: ControlApi, logger: Logger): ControlServiceServer {
  const toGrpc = (e: unknown): Partial<ServiceError> => {
    const err = toApiError(e);
    if (err.code === 'INTERNAL') logger.error({ event: 'api.internal_error', err: err.cause ?? err }, 'control call failed unexpectedly');
    return apiErrorToGrpc(err);
  };
  const methods = api as unknown as Record<string, Unary<unknown, unknown> | Streaming<unknown, unknown>>;
  const out: Record<string, unknown> = {};
  for (const { name, streaming } of CONTROL_METHODS) {
    if (streaming) {
      const fn = methods[name] as Streaming<unknown, unknown>;
      out[name] = (call: ServerWritableStream<unknown, unknown>) => {
        const sink = streamSink(call, toGrpc);
        try {
          fn(call.request, grpcCaller(call), sink);
        } catch (err) {
          sink.fail(toApiError(err));
        }
      };
    } else {
      const fn = methods[name] as Unary<unknown, unknown>;
      out[name] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        Promise.resolve()
          .then(() => fn(call.request, grpcCaller(call)))
          .then(
            (res) => callback(null, res),
            (err: unknown) => callback(toGrpc(err) as ServiceError),
          );
      };
    }
  }
  return out as unknown as ControlServiceServer;
}
