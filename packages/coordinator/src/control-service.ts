// gRPC adapter for ControlService. Domain errors become gRPC statuses here and nowhere else.
import { status, type ServerUnaryCall, type sendUnaryData, type ServiceError } from '@grpc/grpc-js';
import {
  nameProblem,
  nodeModeWire,
  snapshotToWire,
  eventToWire,
  WireError,
  type ControlServiceServer,
  type LbhaEvent,
  type NodeMode,
  type pbControl,
} from '@lbha/shared';
import { InvalidArgumentError, NotFoundError, PermissionError, PreconditionError } from './errors.js';
import type { EventLog } from './event-log.js';
import type { NodeRecord, Registry } from './registry.js';

export interface ControlServiceOptions {
  readonly registry: Registry;
  /** The coordinator-owned mode of a node (active unless drained or in maintenance). */
  readonly modeOf: (node: string) => NodeMode;
  readonly events: EventLog;
}

export function toStatus(err: unknown): Partial<ServiceError> {
  if (err instanceof InvalidArgumentError || err instanceof WireError) return { code: status.INVALID_ARGUMENT, details: err.message };
  if (err instanceof NotFoundError) return { code: status.NOT_FOUND, details: err.message };
  if (err instanceof PreconditionError) return { code: status.FAILED_PRECONDITION, details: err.message };
  if (err instanceof PermissionError) return { code: status.PERMISSION_DENIED, details: err.message };
  return { code: status.INTERNAL, details: 'internal error' };
}

/** Wraps a unary handler: returns its value or maps its error to a status. */
export function unary<Req, Res>(fn: (req: Req, call: ServerUnaryCall<Req, Res>) => Res | Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    Promise.resolve()
      .then(() => fn(call.request, call))
      .then(
        (res) => callback(null, res),
        (err: unknown) => callback(toStatus(err) as ServiceError),
      );
  };
}

export function nodeInfo(r: NodeRecord, mode: NodeMode): pbControl.NodeInfo {
  return {
    name: r.name,
    cluster: r.cluster,
    connected: r.connected,
    stale: r.stale,
    lastSeenMs: r.lastSeenMs,
    agentVersion: r.agentVersion,
    bootId: r.bootId,
    mode: nodeModeWire.toWire(mode),
    healthy: r.snapshot?.healthy ?? false,
    desiredVersion: r.desiredVersion,
    appliedVersion: r.appliedVersion,
    nackError: r.nackError,
    state: r.snapshot ? snapshotToWire(r.snapshot) : undefined,
    peerAddress: r.peer,
    connectedSinceMs: r.connectedSinceMs,
  };
}

function checkName(field: string, value: string): void {
  const p = nameProblem(value);
  if (p) throw new InvalidArgumentError(field, p);
}

const unimplemented = (what: string) => (_call: unknown, callback: sendUnaryData<never>) =>
  callback({ code: status.UNIMPLEMENTED, details: `${what} is not implemented yet` } as ServiceError);

export function createControlService(opts: ControlServiceOptions): ControlServiceServer {
  const { registry, modeOf, events } = opts;
  return {
    listNodes: unary<pbControl.ListNodesRequest, pbControl.ListNodesResponse>((req) => {
      if (req.cluster) checkName('cluster', req.cluster);
      return { nodes: registry.list(req.cluster || undefined).map((r) => nodeInfo(r, modeOf(r.name))) };
    }),
    getNode: unary<pbControl.GetNodeRequest, pbControl.GetNodeResponse>((req) => {
      checkName('name', req.name);
      const r = registry.get(req.name);
      if (!r) throw new NotFoundError(`node ${req.name} is unknown`);
      return { node: nodeInfo(r, modeOf(r.name)) };
    }),
    listVips: unimplemented('ListVips'),
    getPlacement: unimplemented('GetPlacement'),
    drain: unimplemented('Drain'),
    undrain: unimplemented('Undrain'),
    restartService: unimplemented('RestartService'),
    reloadService: unimplemented('ReloadService'),
    rollingRestart: unimplemented('RollingRestart'),
    getOperation: unimplemented('GetOperation'),
    listOperations: unimplemented('ListOperations'),
    listEvents: unary<pbControl.ListEventsRequest, pbControl.ListEventsResponse>((req) => {
      if (req.cluster) checkName('cluster', req.cluster);
      if (req.node) checkName('node', req.node);
      const limit = req.limit === 0 ? 1000 : Math.min(req.limit, 10_000);
      const filter = { ...(req.cluster ? { cluster: req.cluster } : {}), ...(req.node ? { node: req.node } : {}) };
      return { events: events.list(req.afterSeq, limit, filter).map(eventToWire) };
    }),
    watchEvents: (call) => {
      const req = call.request;
      try {
        if (req.cluster) checkName('cluster', req.cluster);
        if (req.node) checkName('node', req.node);
      } catch (err) {
        call.emit('error', toStatus(err));
        return;
      }
      const filter = { ...(req.cluster ? { cluster: req.cluster } : {}), ...(req.node ? { node: req.node } : {}) };
      // Replay what the watcher missed, then follow live; seq keeps the two from overlapping.
      let last = req.afterSeq;
      const send = (e: LbhaEvent) => {
        if (e.seq <= last || call.writableEnded) return;
        last = e.seq;
        call.write({ event: eventToWire(e) });
      };
      const unsubscribe = events.subscribe(send, filter);
      for (const e of events.list(req.afterSeq, 10_000, filter)) send(e);
      const stop = () => unsubscribe();
      call.on('cancelled', stop);
      call.on('close', stop);
      call.on('error', stop);
    },
    validateSpec: unimplemented('ValidateSpec'),
    applySpec: unimplemented('ApplySpec'),
    getSpec: unimplemented('GetSpec'),
  };
}
