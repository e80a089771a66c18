// Calls ControlService handlers in-process for the HTTP API, so both APIs run the same code
// (including authorisation, validation and audit): a request becomes a call object shaped
// like grpc-js's, the handler's callback or stream becomes a promise or a writer.
import { EventEmitter } from 'node:events';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { ControlServiceServer } from '@lbha/shared';
import { actAs } from '../auth/control-authorization.js';
import type { Identity } from '../auth/roles.js';
import { fromGrpcStatus } from './http-error.js';

export interface CallContext {
  readonly identity: Identity;
  /** host:port of the HTTP client, for logs. */
  readonly peer: string;
  /**
   * The caller's bearer token header, kept as call metadata: a follower forwarding the call to
   * the leader over plaintext passes it on, and the leader checks it again (nothing else can
   * vouch for the caller there).
   */
  readonly authorization?: string;
}

class InProcessCall<Req> extends EventEmitter {
  readonly metadata = new Metadata();
  cancelled = false;
  writableEnded = false;

  constructor(
    readonly request: Req,
    private readonly path: string,
    private readonly ctx: CallContext,
  ) {
    super();
    actAs(this, ctx.identity);
    if (ctx.authorization) this.metadata.set('authorization', ctx.authorization);
  }

  getPeer(): string {
    return `http:${this.ctx.peer}`;
  }
  getPath(): string {
    return this.path;
  }
  getDeadline(): number {
    return Infinity;
  }
  getAuthContext(): null {
    return null;
  }
  getHost(): string {
    return 'http';
  }
  sendMetadata(): void {}
}

type Handlers = Record<string, (...args: unknown[]) => void>;

/** Runs a unary method; resolves with its response, rejects with an HttpError for its status. */
export function invokeUnary<Res>(service: ControlServiceServer, method: string, request: unknown, ctx: CallContext): Promise<Res> {
  const handler = (service as unknown as Handlers)[method];
  if (!handler) return Promise.reject(fromGrpcStatus(status.UNIMPLEMENTED, `${method} is not available`));
  const call = new InProcessCall(request, `/lbha.v1.ControlService/${method}`, ctx);
  return new Promise<Res>((resolve, reject) => {
    try {
      handler.call(service, call, (err: Partial<ServiceError> | null, res?: Res) => {
        if (err) reject(fromGrpcStatus(err.code, err.details));
        else resolve(res as Res);
      });
    } catch (err) {
      reject(err);
    }
  });
}

export interface StreamSink<Res> {
  /** Called for every message the handler writes. */
  readonly write: (msg: Res) => void;
  /** Called once when the handler fails (before or after its first message). */
  readonly fail: (err: ReturnType<typeof fromGrpcStatus>) => void;
  readonly end: () => void;
}

/** Runs a server-streaming method; returns a function that cancels it (the client went away). */
export function invokeStream<Res>(service: ControlServiceServer, method: string, request: unknown, ctx: CallContext, sink: StreamSink<Res>): () => void {
  const handler = (service as unknown as Handlers)[method];
  const call = new InProcessCall(request, `/lbha.v1.ControlService/${method}`, ctx);
  let finished = false;
  const finish = () => {
    if (finished) return false;
    finished = true;
    call.writableEnded = true;
    return true;
  };
  Object.assign(call, {
    write: (msg: Res) => {
      if (!finished) sink.write(msg);
      return true;
    },
    end: () => {
      if (finish()) sink.end();
    },
  });
  call.on('error', (err: Partial<ServiceError>) => {
    if (finish()) sink.fail(fromGrpcStatus(err.code, err.details));
  });
  if (!handler) {
    call.emit('error', { code: status.UNIMPLEMENTED, details: `${method} is not available` });
  } else {
    handler.call(service, call);
  }
  return () => {
    if (finished) return;
    finished = true;
    call.cancelled = true;
    call.writableEnded = true;
    call.emit('cancelled');
    call.emit('close');
  };
}
