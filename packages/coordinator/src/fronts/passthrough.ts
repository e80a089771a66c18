// The operator's calls on a front (ControlService, grpc.health.v1, server reflection), passed to
// the coordinator as they are: the front decodes nothing, it copies each message's bytes and
// adds who called (the address and the TLS client certificate it saw; the caller's own metadata,
// a bearer token say, goes along). The coordinator authenticates and authorises the call as the
// original caller's (fronts/front-caller.ts), so what an operator can do does not depend on
// whether a front took the connection.
import { status, type CallOptions, type Client, type Server, type ServerDuplexStream, type ServerUnaryCall, type ServerWritableStream, type ServiceDefinition, type ServiceError, type UntypedHandleCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { forwardedMetadata } from '../etcd/agent-relay.js';

export interface PassedMethod {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

/** grpc.reflection.v1 and v1alpha (what @grpc/reflection serves on the coordinator). */
export const REFLECTION_METHODS: Readonly<Record<string, PassedMethod>> = {
  v1: { path: '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', requestStream: true, responseStream: true },
  v1alpha: { path: '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo', requestStream: true, responseStream: true },
};

const same = (b: Buffer): Buffer => b;

type Call = ServerUnaryCall<Buffer, Buffer> | ServerWritableStream<Buffer, Buffer> | ServerDuplexStream<Buffer, Buffer>;

function optionsOf(call: Call): CallOptions {
  const deadline = call.getDeadline();
  return deadline === Infinity ? {} : { deadline };
}

function asStatus(err: ServiceError): Partial<ServiceError> {
  return { code: err.code, details: err.details, metadata: err.metadata };
}

function handler(m: PassedMethod, client: Client, selfId: string): UntypedHandleCall {
  const metadataOf = (call: Call) => forwardedMetadata(call, selfId);
  const closed = { code: status.UNAVAILABLE, details: 'the connection closed before the call could be passed on' };
  if (!m.requestStream && !m.responseStream) {
    return (call: ServerUnaryCall<Buffer, Buffer>, callback: (err: Partial<ServiceError> | null, value?: Buffer) => void) => {
      let md;
      try {
        md = metadataOf(call);
      } catch {
        return callback(closed);
      }
      const up = client.makeUnaryRequest(m.path, same, same, call.request, md, optionsOf(call), (err, res) => callback(err ? asStatus(err) : null, res));
      call.on('cancelled', () => up.cancel());
    };
  }
  /** The streaming call's metadata to pass on; undefined once the call is ended because its connection is gone. */
  const metadataOrEnd = (call: ServerWritableStream<Buffer, Buffer> | ServerDuplexStream<Buffer, Buffer>) => {
    try {
      return metadataOf(call);
    } catch {
      call.emit('error', closed);
      return undefined;
    }
  };
  const pipeBack = (call: ServerWritableStream<Buffer, Buffer> | ServerDuplexStream<Buffer, Buffer>, up: NodeJS.EventEmitter & { cancel(): void }) => {
    up.on('data', (b: Buffer) => {
      if (!call.writableEnded) call.write(b);
    });
    up.on('end', () => {
      if (!call.writableEnded) call.end();
    });
    up.on('error', (err: ServiceError) => call.emit('error', asStatus(err)));
    call.on('cancelled', () => up.cancel());
  };
  if (!m.requestStream) {
    return (call: ServerWritableStream<Buffer, Buffer>) => {
      const md = metadataOrEnd(call);
      if (!md) return;
      pipeBack(call, client.makeServerStreamRequest(m.path, same, same, call.request, md, optionsOf(call)));
    };
  }
  return (call: ServerDuplexStream<Buffer, Buffer>) => {
    const md = metadataOrEnd(call);
    if (!md) return;
    const up = m.responseStream
      ? client.makeBidiStreamRequest(m.path, same, same, md, optionsOf(call))
      : undefined;
    if (!up) {
      call.emit('error', { code: status.UNIMPLEMENTED, details: 'client streaming is not passed on' });
      return;
    }
    call.on('data', (b: Buffer) => up.write(b));
    call.on('end', () => up.end());
    pipeBack(call, up);
  };
}

/** Serves `methods` on `server` by passing every call to `client`'s address. */
export function addPassthrough(server: Server, methods: Readonly<Record<string, PassedMethod>>, client: Client, selfId: string): void {
  const definition: Record<string, ServiceDefinition[string]> = {};
  const impl: UntypedServiceImplementation = {};
  for (const [name, m] of Object.entries(methods)) {
    definition[name] = { path: m.path, requestStream: m.requestStream, responseStream: m.responseStream, requestSerialize: same, requestDeserialize: same, responseSerialize: same, responseDeserialize: same };
    impl[name] = handler(m, client, selfId);
  }
  server.addService(definition as ServiceDefinition, impl);
}
