// gRPC adapter for ControlService. Domain errors become gRPC statuses here and nowhere else.
import { status, type ServerUnaryCall, type sendUnaryData, type ServiceError } from '@grpc/grpc-js';
import {
  nameProblem,
  nodeModeWire,
  snapshotToWire,
  eventToWire,
  linkToWire,
  WireError,
  type ControlServiceServer,
  type LbhaEvent,
  type NodeMode,
  type pbControl,
} from '@lbha/shared';
import type { AgentOutbox } from './agent-outbox.js';
import type { ControlPlane } from './control-plane.js';
import { nodeWeightsToWire, operationToWire, specErrorsToWire, vipInfoToWire } from './control-wire.js';
import { InvalidArgumentError, NotFoundError, PermissionError, PreconditionError, ResourceExhaustedError, StoreError } from './errors.js';
import type { EventLog } from './event-log.js';
import type { NodeRecord, Registry } from './registry.js';

export interface ControlServiceOptions {
  readonly registry: Registry;
  /** The desired-state versions sent to each node. */
  readonly outbox: Pick<AgentOutbox, 'sentVersion'>;
  /** The coordinator-owned mode of a node (active unless drained or in maintenance). */
  readonly modeOf: (node: string) => NodeMode;
  readonly events: EventLog;
  /** The domain facade; undefined until the coordinator has loaded its state. */
  readonly plane?: () => ControlPlane | undefined;
  /** Who made a call, for the event log (the authenticated identity); default "anonymous". */
  readonly actorOf?: (call: object) => string | undefined;
  /** Whether the caller holds the operator role (sees secrets); default false. */
  readonly isOperator?: (call: object) => boolean;
}

export function toStatus(err: unknown): Partial<ServiceError> {
  if (err instanceof InvalidArgumentError || err instanceof WireError) return { code: status.INVALID_ARGUMENT, details: err.message };
  if (err instanceof NotFoundError) return { code: status.NOT_FOUND, details: err.message };
  if (err instanceof PreconditionError) return { code: status.FAILED_PRECONDITION, details: err.message };
  if (err instanceof PermissionError) return { code: status.PERMISSION_DENIED, details: err.message };
  if (err instanceof StoreError) return { code: status.UNAVAILABLE, details: `store unavailable: ${err.message}` };
  if (err instanceof ResourceExhaustedError) return { code: status.RESOURCE_EXHAUSTED, details: err.message };
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

export function nodeInfo(r: NodeRecord, mode: NodeMode, desiredVersion: number): pbControl.NodeInfo {
  return {
    name: r.name,
    cluster: r.cluster,
    ...linkToWire(r.link),
    lastSeenMs: r.lastSeenMs,
    agentVersion: r.agentVersion,
    bootId: r.bootId,
    mode: nodeModeWire.toWire(mode),
    healthy: r.snapshot?.healthy ?? false,
    desiredVersion,
    appliedVersion: r.appliedVersion,
    nackError: r.nackError,
    state: r.snapshot ? snapshotToWire(r.snapshot) : undefined,
    peerAddress: r.peer,
    connectedSinceMs: r.connectedSinceMs,
  };
}

/** A node of the spec whose agent has never connected (since this coordinator started). */
function neverConnected(name: string, cluster: string, mode: NodeMode): pbControl.NodeInfo {
  return {
    name,
    cluster,
    ...linkToWire('disconnected'),
    lastSeenMs: 0,
    agentVersion: '',
    bootId: '',
    mode: nodeModeWire.toWire(mode),
    healthy: false,
    desiredVersion: 0,
    appliedVersion: 0,
    nackError: '',
    state: undefined,
    peerAddress: '',
    connectedSinceMs: 0,
  };
}

function checkName(field: string, value: string): void {
  const p = nameProblem(value);
  if (p) throw new InvalidArgumentError(field, p);
}

export function createControlService(opts: ControlServiceOptions): ControlServiceServer {
  const { registry, modeOf, events, outbox } = opts;
  const info = (r: NodeRecord) => nodeInfo(r, modeOf(r.name), outbox.sentVersion(r.name));
  const actorOf = (call: object): string => opts.actorOf?.(call) ?? 'anonymous';
  const plane = (): ControlPlane => {
    const p = opts.plane?.();
    if (!p) throw new PreconditionError('the coordinator is still loading its state; retry in a moment');
    return p;
  };
  return {
    listNodes: unary<pbControl.ListNodesRequest, pbControl.ListNodesResponse>((req) => {
      if (req.cluster) checkName('cluster', req.cluster);
      const known = registry.list(req.cluster || undefined).map(info);
      // The spec's nodes whose agents never connected are listed too, as disconnected: an
      // operator sees which agents are missing instead of an empty list.
      const seen = new Set(known.map((n) => n.name));
      const spec = opts.plane?.()?.currentSpec().spec;
      const missing = (spec?.clusters ?? [])
        .filter((c) => !req.cluster || c.name === req.cluster)
        .flatMap((c) => c.nodes.filter((n) => !seen.has(n.name)).map((n) => neverConnected(n.name, c.name, modeOf(n.name))));
      return { nodes: [...known, ...missing] };
    }),
    getNode: unary<pbControl.GetNodeRequest, pbControl.GetNodeResponse>((req) => {
      checkName('name', req.name);
      const r = registry.get(req.name);
      if (!r) throw new NotFoundError(`node ${req.name} is unknown`);
      return { node: info(r) };
    }),
    listVips: unary<pbControl.ListVipsRequest, pbControl.ListVipsResponse>((req) => {
      if (req.cluster) checkName('cluster', req.cluster);
      return { vips: plane().vips(req.cluster || undefined).map(vipInfoToWire) };
    }),
    getPlacement: unary<pbControl.GetPlacementRequest, pbControl.GetPlacementResponse>((req) => {
      if (req.cluster) checkName('cluster', req.cluster);
      const p = plane();
      const vips = p.vips(req.cluster || undefined).map(vipInfoToWire);
      const nodes = [...p.placement().clusters.values()].filter((c) => !req.cluster || c.cluster === req.cluster).flatMap(nodeWeightsToWire);
      return { vips, nodes, specVersion: p.currentSpec().version };
    }),
    drain: unary<pbControl.DrainRequest, pbControl.DrainResponse>(async (req, call) => {
      checkName('node', req.node);
      const op = await plane().drain(req.node, { timeoutMs: req.timeoutMs, force: req.force, maintenance: req.maintenance, actor: actorOf(call), reason: req.reason });
      return { operation: operationToWire(op) };
    }),
    undrain: unary<pbControl.UndrainRequest, pbControl.UndrainResponse>(async (req, call) => {
      checkName('node', req.node);
      const op = await plane().undrain(req.node, { actor: actorOf(call), reason: req.reason });
      return { operation: operationToWire(op) };
    }),
    restartService: unary<pbControl.RestartServiceRequest, pbControl.RestartServiceResponse>(async (req, call) => {
      checkName('node', req.node);
      checkName('service', req.service);
      const op = await plane().restart(req.node, req.service, { timeoutMs: req.timeoutMs, force: req.force, actor: actorOf(call), reason: req.reason });
      return { operation: operationToWire(op) };
    }),
    reloadService: unary<pbControl.ReloadServiceRequest, pbControl.ReloadServiceResponse>(async (req, call) => {
      checkName('node', req.node);
      checkName('service', req.service);
      const op = await plane().reload(req.node, req.service, { actor: actorOf(call), reason: req.reason });
      return { operation: operationToWire(op) };
    }),
    rollingRestart: unary<pbControl.RollingRestartRequest, pbControl.RollingRestartResponse>(async (req, call) => {
      checkName('cluster', req.cluster);
      checkName('service', req.service);
      const op = await plane().rollingRestart(req.cluster, req.service, { timeoutMs: req.timeoutMs, force: req.force, actor: actorOf(call), reason: req.reason });
      return { operation: operationToWire(op) };
    }),
    getOperation: unary<pbControl.GetOperationRequest, pbControl.GetOperationResponse>((req) => {
      if (!req.id) throw new InvalidArgumentError('id', 'must not be empty');
      return { operation: operationToWire(plane().operation(req.id)) };
    }),
    cancelOperation: unary<pbControl.CancelOperationRequest, pbControl.CancelOperationResponse>(async (req, call) => {
      if (!req.id) throw new InvalidArgumentError('id', 'must not be empty');
      const op = await plane().cancelOperation(req.id, { actor: actorOf(call), reason: req.reason });
      return { operation: operationToWire(op) };
    }),
    listOperations: unary<pbControl.ListOperationsRequest, pbControl.ListOperationsResponse>((req) => {
      const limit = req.limit === 0 ? 100 : Math.min(req.limit, 1000);
      return { operations: plane().listOperations(limit).map(operationToWire) };
    }),
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
    validateSpec: unary<pbControl.ValidateSpecRequest, pbControl.ValidateSpecResponse>(async (req, call) => {
      const r = await plane().validateSpec(req.yaml, actorOf(call));
      return { valid: r.valid, errors: specErrorsToWire(r.issues), changes: [...r.changes] };
    }),
    applySpec: unary<pbControl.ApplySpecRequest, pbControl.ApplySpecResponse>(async (req, call) => {
      const r = await plane().applySpec(req.yaml, { dryRun: req.dryRun, expectedVersion: req.expectedVersion, actor: actorOf(call), reason: req.reason });
      return { applied: r.applied, version: r.version, errors: specErrorsToWire(r.issues), changes: [...r.changes] };
    }),
    getSpec: unary<pbControl.GetSpecRequest, pbControl.GetSpecResponse>((_req, call) => {
      const s = plane().currentSpec();
      // VRRP passwords and URL credentials are for operators only.
      return { yaml: opts.isOperator?.(call) ? s.yaml : s.redacted, version: s.version };
    }),
  };
}
