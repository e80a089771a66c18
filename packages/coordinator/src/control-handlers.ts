// The operator API's answers: each ControlService method on the domain (the control plane,
// the registry, the event log), with no transport. Errors are ApiErrors; the gRPC and HTTP
// edges map them (control-api.ts).
import { createHash } from 'node:crypto';
import { nameProblem, nodeModeWire, snapshotToWire, eventToWire, linkToWire, type LbhaEvent, type NodeMode } from '@lbha/shared';
import { pbControl } from '@lbha/shared/control';
import type { AgentOutbox } from './agent-outbox.js';
import type { Caller, ControlApi } from './control-api.js';
import type { ControlPlane } from './control-plane.js';
import { backendPoolToWire, configDriftToWire, nodeWeightsToWire, operationToWire, specErrorsToWire, vipInfoToWire } from './control-wire.js';
import { ApiError, InvalidArgumentError, NotFoundError, PreconditionError, ResourceExhaustedError } from './errors.js';
import type { AuditLog } from './audit-log.js';
import type { EventLog } from './event-log.js';
import { watchEvents, WatchLimits } from './event-watch.js';
import type { NodeRecord, Registry } from './registry.js';
import { runSimulation } from './simulate-request.js';
import type { BackendOperationKind } from './store/coordinator-state.js';

export interface ControlHandlersOptions {
  readonly registry: Registry;
  /** The desired-state versions sent to each node. */
  readonly outbox: Pick<AgentOutbox, 'sentVersion'>;
  /** The coordinator-owned mode of a node (active unless drained or in maintenance). */
  readonly modeOf: (node: string) => NodeMode;
  readonly events: EventLog;
  /** The domain facade; undefined until the coordinator has loaded its state. */
  readonly plane?: () => ControlPlane | undefined;
  /** The audit trail (ListAudit); without it ListAudit answers with nothing. */
  readonly audit?: AuditLog;
  /** Caps on event watchers; default 8 per caller, 256 in total. */
  readonly watchLimits?: WatchLimits;
  /** A watcher that reads nothing for this long is disconnected (default 60 s). */
  readonly watchStallMs?: number;
}

/** Who made a call, for the event log: the authenticated identity. */
function actorOf(caller: Caller): string {
  return caller.identity?.actor ?? 'anonymous';
}

/** A short, one-way fingerprint of a boot id: changes when the agent restarts, reveals nothing. */
export function bootIdFingerprint(bootId: string): string {
  return bootId ? `sha256:${createHash('sha256').update(bootId).digest('hex').slice(0, 12)}` : '';
}

export function nodeInfo(r: NodeRecord, mode: NodeMode, desiredVersion: number, configDrift = ''): pbControl.NodeInfo {
  return {
    name: r.name,
    cluster: r.cluster,
    ...linkToWire(r.link),
    lastSeenMs: r.lastSeenMs,
    agentVersion: r.agentVersion,
    // The boot id is the agent's session secret: show only that it changed, never what it is.
    bootId: bootIdFingerprint(r.bootId),
    mode: nodeModeWire.toWire(mode),
    healthy: r.snapshot?.healthy ?? false,
    desiredVersion,
    appliedVersion: r.appliedVersion,
    nackError: r.nackError,
    state: r.snapshot ? snapshotToWire(r.snapshot) : undefined,
    peerAddress: r.peer,
    connectedSinceMs: r.connectedSinceMs,
    configDrift,
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
    configDrift: '',
  };
}

const A = pbControl.BackendAction;
const BACKEND_ACTIONS: ReadonlyMap<pbControl.BackendAction, BackendOperationKind> = new Map([
  [A.BACKEND_ACTION_DRAIN, 'backend_drain'],
  [A.BACKEND_ACTION_UNDRAIN, 'backend_undrain'],
  [A.BACKEND_ACTION_DISABLE, 'backend_disable'],
  [A.BACKEND_ACTION_ENABLE, 'backend_enable'],
  [A.BACKEND_ACTION_WEIGHT, 'backend_weight'],
]);

function checkName(field: string, value: string): void {
  const p = nameProblem(value);
  if (p) throw new InvalidArgumentError(field, p);
}

export function controlHandlers(opts: ControlHandlersOptions): ControlApi {
  const { registry, modeOf, events, outbox } = opts;
  const info = (r: NodeRecord, drift: ReadonlyMap<string, string> = opts.plane?.()?.backends.driftByNode() ?? new Map()) => nodeInfo(r, modeOf(r.name), outbox.sentVersion(r.name), drift.get(r.name) ?? '');
  const watchLimits = opts.watchLimits ?? new WatchLimits();
  const plane = (): ControlPlane => {
    const p = opts.plane?.();
    if (!p) throw new PreconditionError('the coordinator is still loading its state; retry in a moment');
    return p;
  };
  return {
    listNodes: async (req) => {
      if (req.cluster) checkName('cluster', req.cluster);
      const drift = opts.plane?.()?.backends.driftByNode() ?? new Map<string, string>();
      const known = registry.list(req.cluster || undefined).map((r) => info(r, drift));
      // The spec's nodes whose agents never connected are listed too, as disconnected: an
      // operator sees which agents are missing instead of an empty list.
      const seen = new Set(known.map((n) => n.name));
      const spec = opts.plane?.()?.currentSpec().spec;
      const missing = (spec?.clusters ?? [])
        .filter((c) => !req.cluster || c.name === req.cluster)
        .flatMap((c) => c.nodes.filter((n) => !seen.has(n.name)).map((n) => neverConnected(n.name, c.name, modeOf(n.name))));
      return { nodes: [...known, ...missing] };
    },
    getNode: async (req) => {
      checkName('name', req.name);
      const r = registry.get(req.name);
      if (!r) throw new NotFoundError(`node ${req.name} is unknown`);
      return { node: info(r) };
    },
    listVips: async (req) => {
      if (req.cluster) checkName('cluster', req.cluster);
      return { vips: plane().vips(req.cluster || undefined).map(vipInfoToWire) };
    },
    getPlacement: async (req) => {
      if (req.cluster) checkName('cluster', req.cluster);
      const p = plane();
      const vips = p.vips(req.cluster || undefined).map(vipInfoToWire);
      const nodes = [...p.placement().clusters.values()].filter((c) => !req.cluster || c.cluster === req.cluster).flatMap(nodeWeightsToWire);
      return { vips, nodes, specVersion: p.currentSpec().version };
    },
    drain: async (req, caller) => {
      checkName('node', req.node);
      const op = await plane().drain(req.node, { timeoutMs: req.timeoutMs, force: req.force, maintenance: req.maintenance, actor: actorOf(caller), reason: req.reason });
      return { operation: operationToWire(op) };
    },
    undrain: async (req, caller) => {
      checkName('node', req.node);
      const op = await plane().undrain(req.node, { actor: actorOf(caller), reason: req.reason });
      return { operation: operationToWire(op) };
    },
    restartService: async (req, caller) => {
      checkName('node', req.node);
      checkName('service', req.service);
      const op = await plane().restart(req.node, req.service, { timeoutMs: req.timeoutMs, force: req.force, actor: actorOf(caller), reason: req.reason });
      return { operation: operationToWire(op) };
    },
    reloadService: async (req, caller) => {
      checkName('node', req.node);
      checkName('service', req.service);
      const op = await plane().reload(req.node, req.service, { actor: actorOf(caller), reason: req.reason });
      return { operation: operationToWire(op) };
    },
    rollingRestart: async (req, caller) => {
      checkName('cluster', req.cluster);
      checkName('service', req.service);
      const op = await plane().rollingRestart(req.cluster, req.service, { timeoutMs: req.timeoutMs, force: req.force, actor: actorOf(caller), reason: req.reason });
      return { operation: operationToWire(op) };
    },
    moveVip: async (req, caller) => {
      checkName('vip', req.vip);
      checkName('node', req.node);
      if (req.cluster) checkName('cluster', req.cluster);
      const op = await plane().move(req.vip, req.node, { cluster: req.cluster, pin: req.pin, timeoutMs: req.timeoutMs, actor: actorOf(caller), reason: req.reason });
      return { operation: operationToWire(op) };
    },
    drillCluster: async (req, caller) => {
      checkName('cluster', req.cluster);
      if (req.vip) checkName('vip', req.vip);
      const op = await plane().drill(req.cluster, { vip: req.vip, timeoutMs: req.timeoutMs, actor: actorOf(caller), reason: req.reason });
      return { operation: operationToWire(op) };
    },
    unpinVip: async (req, caller) => {
      checkName('vip', req.vip);
      if (req.cluster) checkName('cluster', req.cluster);
      return plane().unpin(req.vip, req.cluster, { actor: actorOf(caller), reason: req.reason });
    },
    simulate: async (req, caller) => {
      const r = await runSimulation(plane(), { fail: req.fail, drain: req.drain, linkDown: req.linkDown, specYaml: req.specYaml }, actorOf(caller));
      return { vips: r.vips.map((v) => ({ ...v })), notes: [...r.notes] };
    },
    getOperation: async (req) => {
      if (!req.id) throw new InvalidArgumentError('id', 'must not be empty');
      return { operation: operationToWire(plane().operation(req.id)) };
    },
    cancelOperation: async (req, caller) => {
      if (!req.id) throw new InvalidArgumentError('id', 'must not be empty');
      const op = await plane().cancelOperation(req.id, { actor: actorOf(caller), reason: req.reason });
      return { operation: operationToWire(op) };
    },
    listOperations: async (req) => {
      const limit = req.limit === 0 ? 100 : Math.min(req.limit, 1000);
      return { operations: plane().listOperations(limit).map(operationToWire) };
    },
    listEvents: async (req) => {
      if (req.cluster) checkName('cluster', req.cluster);
      if (req.node) checkName('node', req.node);
      const limit = req.limit === 0 ? 1000 : Math.min(req.limit, 10_000);
      const filter = { ...(req.cluster ? { cluster: req.cluster } : {}), ...(req.node ? { node: req.node } : {}) };
      const [page, bounds] = await Promise.all([events.page(req.afterSeq, limit, filter, 50_000), events.bounds()]);
      return { events: page.events.map(eventToWire), firstSeq: bounds.first, lastSeq: bounds.last };
    },
    watchEvents: (req, caller, sink) => {
      if (req.cluster) checkName('cluster', req.cluster);
      if (req.node) checkName('node', req.node);
      const release = watchLimits.acquire(actorOf(caller));
      if (typeof release === 'string') throw new ResourceExhaustedError(release);
      const filter = { ...(req.cluster ? { cluster: req.cluster } : {}), ...(req.node ? { node: req.node } : {}) };
      let ended = false;
      // One drain listener for the stream's life, not one per wait (they would pile up).
      let drained: (() => void) | undefined;
      sink.onDrain(() => {
        const listener = drained;
        drained = undefined;
        listener?.();
      });
      const stop = watchEvents(
        events,
        {
          write: (e: LbhaEvent) => (sink.closed.aborted ? true : sink.write({ event: eventToWire(e) })),
          onceDrained: (listener) => {
            drained = listener;
          },
          fail: (code, details) => {
            if (ended) return;
            ended = true;
            watchLimits.disconnected[code]++;
            stop();
            sink.fail(new ApiError(code === 'behind' ? 'OUT_OF_RANGE' : 'RESOURCE_EXHAUSTED', details));
          },
        },
        { afterSeq: req.afterSeq, filter, ...(opts.watchStallMs === undefined ? {} : { stallMs: opts.watchStallMs }) },
      );
      // The watcher's place is given back when its stream is really gone: one that stopped
      // reading still holds a stream (its status waits behind what it did not read), so it
      // still counts against the caps.
      const gone = () => {
        ended = true;
        release();
        stop();
      };
      if (sink.closed.aborted) gone();
      else sink.closed.addEventListener('abort', gone, { once: true });
    },
    listAudit: async (req) => {
      if (!opts.audit) return { records: [], firstSeq: 0, lastSeq: 0 };
      const limit = req.limit === 0 ? 1000 : Math.min(req.limit, 10_000);
      const [page, bounds] = await Promise.all([opts.audit.page(req.afterSeq, limit, req.actor, 100_000), opts.audit.bounds()]);
      return { records: [...page.records], firstSeq: bounds.first, lastSeq: bounds.last };
    },
    validateSpec: async (req, caller) => {
      const r = await plane().validateSpec(req.yaml, actorOf(caller));
      return { valid: r.valid, errors: specErrorsToWire(r.issues), changes: [...r.changes], warnings: specErrorsToWire(r.warnings) };
    },
    applySpec: async (req, caller) => {
      const r = await plane().applySpec(req.yaml, { dryRun: req.dryRun, expectedVersion: req.expectedVersion, actor: actorOf(caller), reason: req.reason });
      return { applied: r.applied, version: r.version, errors: specErrorsToWire(r.issues), changes: [...r.changes], warnings: specErrorsToWire(r.warnings) };
    },
    getSpec: async (_req, caller) => {
      const s = plane().currentSpec();
      // VRRP passwords and URL credentials are for operators only.
      return { yaml: caller.identity?.role === 'operator' ? s.yaml : s.redacted, version: s.version };
    },
    listBackends: async (req) => {
      if (req.cluster) checkName('cluster', req.cluster);
      const pools = plane().backendPools(req.cluster || undefined);
      const wire = pools.map((p) => backendPoolToWire(p.pool));
      return { servers: wire.flatMap((w) => w.servers), pools: wire.flatMap((w) => w.pools), configs: pools.map((p) => configDriftToWire(p.drift)) };
    },
    changeBackendServer: async (req, caller) => {
      checkName('cluster', req.cluster);
      const kind = BACKEND_ACTIONS.get(req.action);
      if (!kind) throw new InvalidArgumentError('action', `must be one of drain, undrain, disable, enable, weight (got ${req.action})`);
      const weight = kind === 'backend_weight' ? (req.weight ?? null) : req.weight;
      const op = await plane().backendChange(kind, req.cluster, req.server, { weight, timeoutMs: req.timeoutMs, force: req.force, actor: actorOf(caller), reason: req.reason });
      return { operation: operationToWire(op) };
    },
  };
}
