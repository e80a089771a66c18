// Runs maintenance operations (drain, undrain, restart, reload, rolling restart, and the backend
// operations on a server across a cluster's LB nodes): validates and
// starts them, keeps their records (every change in the store), cancels them, and resumes the
// ones a previous run of the coordinator left unfinished at their first unfinished step. The
// procedures themselves are one file each; commands carry ids derived from operation and step,
// so a resumed step never runs a command twice (docs/design/operations.md).
import { nameProblem, serverKey, type Logger } from '@lbha/shared';
import { InvalidArgumentError, NotFoundError, OperationFailedError, PreconditionError } from '../errors.js';
import type { EventLog } from '../event-log.js';
import { interlockProblems } from '../interlock.js';
import type { ClusterSpec } from '../spec/cluster-spec.js';
import { isBackendKind, isFinalOperationState, type BackendOperationKind, type CoordinatorState, type OperationKind, type OperationRecord, type OperationState } from '../store/coordinator-state.js';
import { backendChange } from './backend-change.js';
import { backendInterlockProblems, changeOf, checkWeight, resolveTargets } from './backend-request.js';
import { drain } from './drain.js';
import { drill } from './drill.js';
import { checkDrill, whyNotMove } from './drill-check.js';
import { decodePlan } from './drill-plan.js';
import { move } from './move.js';
import { DEFAULT_TIMEOUT_MS, opId, timeoutUnits, title } from './operation-kinds.js';
import { checkMove } from './move-check.js';
import { Interrupted, OperationContext } from './operation-context.js';
import type { OperationEnv } from './operation-env.js';
import { reload } from './reload.js';
import { restart } from './restart.js';
import { rollingRestart } from './rolling-restart.js';
import { undrain } from './undrain.js';

export interface OperationRequest {
  readonly kind: OperationKind;
  /** Node for drain, undrain, restart and reload; the target of a move. */
  readonly node?: string;
  /** Cluster for rolling_restart and drill; optional for move (the VIP's cluster). */
  readonly cluster?: string;
  /** move: the VIP, and whether to pin it there (kept until unpinned); drill: the one VIP to drill (all when absent). */
  readonly vip?: string;
  readonly pin?: boolean;
  readonly service?: string;
  /** Backend operations: "SERVER" (in every pool that has it) or "POOL/SERVER". */
  readonly server?: string;
  /** backend_weight: the weight; null: back to the configured one. */
  readonly weight?: number | null;
  /** The operation's time (per node for a rolling restart); 0: the default for the kind. */
  readonly timeoutMs?: number;
  readonly force?: boolean;
  /** drain: end in maintenance mode instead of drained. */
  readonly maintenance?: boolean;
  readonly actor: string;
  readonly reason?: string;
}

export interface OperationRunnerOptions {
  readonly env: OperationEnv;
  readonly state: Pick<CoordinatorState, 'write'>;
  readonly events: Pick<EventLog, 'record'>;
  readonly logger: Logger;
}

/** A validated target: the record's fields, and which running operation this one must not run beside. */
interface Target {
  readonly cluster: ClusterSpec;
  readonly node: string;
  readonly service: string;
  readonly data: Record<string, string>;
  readonly conflicts: (other: OperationRecord) => boolean;
}

/** Whether a running operation holds the whole cluster (a rolling restart's nodes, a drill's VIPs). */
function holdsCluster(r: OperationRecord, cluster: ClusterSpec): boolean {
  return (r.kind === 'rolling_restart' || r.kind === 'drill') && r.cluster === cluster.name;
}

export class OperationRunner {
  private readonly env: OperationEnv;
  private readonly o: OperationRunnerOptions;
  private readonly records = new Map<string, OperationRecord>();
  private readonly tasks = new Map<string, Promise<void>>();
  /** Per running operation: aborted by cancel(), with who asked and why. */
  private readonly cancels = new Map<string, { controller: AbortController; by?: { actor: string; reason: string } }>();
  private readonly listeners = new Set<(op: OperationRecord) => void>();
  private abort = new AbortController();
  private writes: Promise<void> = Promise.resolve();

  constructor(opts: OperationRunnerOptions) {
    this.o = opts;
    this.env = opts.env;
  }

  load(records: readonly OperationRecord[]): void {
    for (const r of records) this.records.set(r.id, r);
  }

  /**
   * Continues every operation a previous run of the coordinator left unfinished. The time it
   * was away does not count against the operations' deadlines.
   */
  resume(): void {
    const now = this.env.clock();
    for (const r of this.records.values()) {
      if (isFinalOperationState(r.state) || this.tasks.has(r.id)) continue;
      const units = timeoutUnits(r, this.env.view.currentSpec().clusters.find((c) => c.name === r.cluster)?.nodes.length ?? 1);
      // Records written before operations had deadlines: their deadline counts from creation.
      const deadlineMs = (r.deadlineMs || r.createdMs + r.timeoutMs * units) + Math.max(0, now - r.updatedMs);
      this.o.logger.info({ event: 'operation.resumed', operationId: r.id, kind: r.kind, node: r.node, cluster: r.cluster }, 'resuming operation after restart');
      this.o.events.record({ type: `${r.kind}.resumed`, cluster: r.cluster, node: r.node, operationId: r.id, actor: r.actor, message: `resuming ${r.kind} ${r.node || r.cluster} after a coordinator restart` });
      this.launch({ ...r, deadlineMs });
    }
  }

  /** Stops running operations without failing them; they resume at the next start. */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.allSettled([...this.tasks.values()]);
    await this.writes;
    this.abort = new AbortController();
  }

  get(id: string): OperationRecord | undefined {
    return this.records.get(id);
  }

  list(limit = 100): OperationRecord[] {
    return [...this.records.values()].sort((a, b) => b.createdMs - a.createdMs || (a.id < b.id ? 1 : -1)).slice(0, limit);
  }

  running(): OperationRecord[] {
    return [...this.records.values()].filter((r) => !isFinalOperationState(r.state));
  }

  subscribe(listener: (op: OperationRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Validates a request, applies the safety interlock and starts the operation in the
   * background; resolves with its first record. Throws InvalidArgumentError, NotFoundError or
   * PreconditionError (busy node, interlock) without changing anything.
   */
  async start(req: OperationRequest): Promise<OperationRecord> {
    const kind = req.kind;
    const target = isBackendKind(kind) ? this.backendTarget(req, kind) : kind === 'move' ? this.moveTarget(req) : kind === 'drill' ? this.drillTarget(req) : this.nodeTarget(req);
    const { cluster, node, service, data } = target;
    const timeoutMs = req.timeoutMs && req.timeoutMs > 0 ? req.timeoutMs : DEFAULT_TIMEOUT_MS[kind];
    const force = req.force ?? false;
    const other = this.running().find(target.conflicts);
    if (other) throw new PreconditionError(`${other.node || other.data['server'] || other.cluster} is busy with operation ${other.id} (${other.kind}); wait for it or check lbha operations`);

    const now = this.env.clock();
    const record: OperationRecord = {
      id: opId(kind, now),
      kind,
      cluster: cluster.name,
      node,
      service,
      state: 'pending',
      message: 'starting',
      createdMs: now,
      updatedMs: now,
      deadlineMs: now + timeoutMs * timeoutUnits({ kind, data }, cluster.nodes.length),
      steps: [],
      actor: req.actor,
      reason: req.reason ?? '',
      force,
      timeoutMs,
      activeConnections: 0,
      data,
    };
    await this.saved(record, true);
    this.o.events.record({
      type: `${kind}.started`,
      cluster: cluster.name,
      node,
      operationId: record.id,
      actor: req.actor,
      reason: record.reason,
      message: `${title(record)} started${force ? ' (forced)' : ''}`,
      ...(kind === 'move' ? { vip: data['vip'] ?? '' } : {}),
    });
    this.launch(record);
    return record;
  }

  /** A node operation's target: the node (or cluster) and service, the node safety interlock. */
  private nodeTarget(req: OperationRequest): Target {
    const { view } = this.env;
    const kind = req.kind;
    const field = kind === 'rolling_restart' ? 'cluster' : 'node';
    const name = (kind === 'rolling_restart' ? req.cluster : req.node) ?? '';
    const problem = nameProblem(name);
    if (problem) throw new InvalidArgumentError(field, problem);
    const cluster: ClusterSpec | undefined = kind === 'rolling_restart' ? view.currentSpec().clusters.find((c) => c.name === name) : view.clusterOfNode(name);
    if (!cluster) throw new NotFoundError(`${field} ${name} is not in the cluster spec`);
    const node = kind === 'rolling_restart' ? '' : name;
    const service = req.service ?? '';
    if (kind === 'restart' || kind === 'reload' || kind === 'rolling_restart') {
      const p = nameProblem(service);
      if (p) throw new InvalidArgumentError('service', p);
    }
    if (!req.force && (kind === 'drain' || (kind === 'restart' && view.vipsOf(node).length > 0))) {
      const problems = interlockProblems(view.interlockInput(), [node]);
      if (problems.length > 0) throw new PreconditionError(`refused by the safety interlock: ${problems.join('; ')}. Use --force to do it anyway`);
    }
    const data: Record<string, string> = {};
    if (kind === 'drain' && req.maintenance) data['final'] = 'maintenance';
    if (kind === 'rolling_restart') data['nodes'] = String(cluster.nodes.length);
    const touched = kind === 'rolling_restart' ? cluster.nodes.map((n) => n.name) : [node];
    return {
      cluster,
      node,
      service,
      data,
      conflicts: (r) => holdsCluster(r, cluster) || (!isBackendKind(r.kind) && touched.includes(r.node)),
    };
  }

  /** A move's target: the VIP and the node it goes to, checked (move-check.ts); one move per VIP. */
  private moveTarget(req: OperationRequest): Target {
    const node = req.node ?? '';
    const problem = nameProblem(node);
    if (problem) throw new InvalidArgumentError('node', problem);
    const { cluster, vip } = checkMove(this.env.view, req.vip ?? '', req.cluster ?? '', node);
    return {
      cluster,
      node,
      service: '',
      data: { vip: vip.name, pin: String(req.pin ?? false) },
      conflicts: (r) => holdsCluster(r, cluster) || (!isBackendKind(r.kind) && (r.node === node || (r.kind === 'move' && r.cluster === cluster.name && r.data['vip'] === vip.name))),
    };
  }

  /** A drill's target: the cluster and its plan (drill-check.ts); it runs beside no other operation of the cluster. */
  private drillTarget(req: OperationRequest): Target {
    const { cluster, plan } = checkDrill(this.env.view, this.env.pins, req.cluster ?? '', req.vip ?? '');
    return { cluster, node: '', service: '', data: { plan }, conflicts: (r) => r.cluster === cluster.name };
  }

  /** A backend operation's target: the servers it names, the weight, the minimum-healthy interlock. */
  private backendTarget(req: OperationRequest, kind: BackendOperationKind): Target {
    const name = req.cluster ?? '';
    const problem = nameProblem(name);
    if (problem) throw new InvalidArgumentError('cluster', problem);
    const cluster = this.env.view.currentSpec().clusters.find((c) => c.name === name);
    if (!cluster) throw new NotFoundError(`cluster ${name} is not in the cluster spec`);
    checkWeight(cluster, kind, req.weight);
    const view = this.env.backends.view(cluster);
    const targets = resolveTargets(cluster, view, req.server ?? '');
    if (!req.force) {
      const problems = backendInterlockProblems(cluster, view, targets, changeOf(kind, req.weight));
      if (problems.length > 0) throw new PreconditionError(`refused by the minimum-healthy interlock: ${problems.join('; ')}. Use --force to do it anyway`);
    }
    const keys = targets.map((t) => serverKey(t.pool, t.server));
    const weight = kind !== 'backend_weight' ? '' : req.weight === null || req.weight === undefined ? 'reset' : String(req.weight);
    return {
      cluster,
      node: '',
      service: '',
      data: { server: req.server ?? '', targets: keys.join(','), weight },
      conflicts: (r) => (r.kind === 'drill' && r.cluster === cluster.name) || (isBackendKind(r.kind) && r.cluster === cluster.name && (r.data['targets'] ?? '').split(',').some((k) => keys.includes(k))),
    };
  }

  /**
   * Stops a running operation at the step it is in and records it as cancelled. Nothing is
   * rolled back: the node keeps the mode it has reached. Throws NotFoundError for an unknown id
   * and PreconditionError for a finished operation.
   */
  async cancel(id: string, actor: string, reason: string): Promise<OperationRecord> {
    const r = this.records.get(id);
    if (!r) throw new NotFoundError(`no operation ${id}`);
    const c = this.cancels.get(id);
    if (isFinalOperationState(r.state) || !c) throw new PreconditionError(`operation ${id} is already ${r.state}`);
    c.by ??= { actor, reason };
    c.controller.abort();
    await this.tasks.get(id);
    return this.records.get(id) ?? r;
  }

  /** Keeps the record and tells listeners; persists unless told not to (progress ticks). */
  private async saved(r: OperationRecord, persist: boolean): Promise<void> {
    this.records.set(r.id, r);
    for (const l of [...this.listeners]) l(r);
    if (!persist) return;
    const write = this.writes.then(() => this.o.state.write({ operations: [r] }));
    this.writes = write.catch(() => undefined);
    await write;
  }

  private launch(record: OperationRecord): void {
    const controller = new AbortController();
    this.cancels.set(record.id, { controller });
    const ctx = new OperationContext(record, this.env, AbortSignal.any([this.abort.signal, controller.signal]), (r, persist) => this.saved(r, persist));
    const task = this.run(ctx).finally(() => {
      this.tasks.delete(record.id);
      this.cancels.delete(record.id);
    });
    this.tasks.set(record.id, task);
  }

  private async run(ctx: OperationContext): Promise<void> {
    const r = ctx.record;
    try {
      await ctx.save({ state: 'running' });
      await this.finish(ctx, 'succeeded', await this.procedure(ctx));
    } catch (err) {
      const cancelled = this.cancels.get(r.id)?.by;
      if (err instanceof Interrupted && cancelled) {
        if (r.kind === 'drill') await this.releasePins(ctx.record).catch((e: unknown) => this.o.logger.error({ event: 'store.write_failed', err: e }, 'could not remove a cancelled drill\'s pins'));
        await this.finish(ctx, 'cancelled', this.cancelMessage(ctx, cancelled)).catch((e: unknown) => this.o.logger.error({ event: 'store.write_failed', err: e }, 'could not record operation cancel'));
        return;
      }
      if (err instanceof Interrupted) {
        this.o.logger.info({ event: 'operation.interrupted', operationId: r.id }, 'operation interrupted by shutdown; it resumes at the next start');
        return;
      }
      const message = err instanceof OperationFailedError ? err.message : `internal error: ${(err as Error).message}`;
      if (!(err instanceof OperationFailedError)) this.o.logger.error({ event: 'operation.error', operationId: r.id, err }, 'operation failed unexpectedly');
      await this.finish(ctx, 'failed', message).catch((e: unknown) => this.o.logger.error({ event: 'store.write_failed', err: e }, 'could not record operation failure'));
    }
  }

  private procedure(ctx: OperationContext): Promise<string> {
    const r = ctx.record;
    switch (r.kind) {
      case 'drain':
        return drain(ctx, r.node, '', r.data['final'] === 'maintenance' ? 'maintenance' : 'drained');
      case 'undrain':
        return undrain(ctx, r.node, '', 'active');
      case 'restart':
        return restart(ctx, r.node, r.service, '');
      case 'reload':
        return reload(ctx, r.node, r.service);
      case 'rolling_restart':
        return rollingRestart(ctx);
      case 'backend_drain':
      case 'backend_undrain':
      case 'backend_disable':
      case 'backend_enable':
      case 'backend_weight':
        return backendChange(ctx);
      case 'move':
        return move(ctx);
      case 'drill':
        return drill(ctx, (vip, node) => whyNotMove(this.env.view, r.cluster, vip, node));
    }
  }

  /** A cancelled drill takes its pins back: placement, with the handover, brings each VIP home. */
  private async releasePins(r: OperationRecord): Promise<void> {
    for (const { vip } of decodePlan(r.data['plan'] ?? '')) {
      if (this.env.pins.pinOf(r.cluster, vip)?.operationId === r.id) await this.env.pins.setPin(r.cluster, vip, null);
    }
  }

  private cancelMessage(ctx: OperationContext, by: { actor: string; reason: string }): string {
    const r = ctx.record;
    const step = r.steps.find((s) => s.state === 'running')?.name;
    if (r.kind === 'drill') return `cancelled by ${by.actor}${by.reason ? ` (${by.reason})` : ''}${step ? ` during ${step}` : ''}; the drill's pins are removed and placement brings each VIP home`;
    if (isBackendKind(r.kind)) {
      const intents = this.env.backends.intentsOf(r.cluster);
      const wanted = (r.data['targets'] ?? '').split(',').map((k) => `${k} is wanted ${intents[k]?.admin ?? 'ready'}`);
      return `cancelled by ${by.actor}${by.reason ? ` (${by.reason})` : ''}${step ? ` during ${step}` : ''}; nothing was rolled back: ${wanted.join(', ')}`;
    }
    const nodes = r.kind === 'rolling_restart' ? (this.env.view.currentSpec().clusters.find((c) => c.name === r.cluster)?.nodes.map((n) => n.name) ?? []) : [r.node];
    const modes = nodes.map((n) => `${n} is ${this.env.modeOf(n)}`).join(', ');
    return `cancelled by ${by.actor}${by.reason ? ` (${by.reason})` : ''}${step ? ` during ${step}` : ''}; nothing was rolled back: ${modes}`;
  }

  private async finish(ctx: OperationContext, state: OperationState, message: string): Promise<void> {
    const r = ctx.record;
    // The event first: whoever sees the final state through the API finds the event too.
    this.o.events.record({
      type: `${r.kind}.${state}`,
      cluster: r.cluster,
      node: r.node,
      operationId: r.id,
      actor: r.actor,
      severity: state === 'failed' ? 'warning' : 'info',
      message: `${title(r)} ${state}: ${message}`,
      ...(r.kind === 'move' ? { vip: r.data['vip'] ?? '' } : {}),
    });
    this.o.logger.info({ event: `operation.${state}`, operationId: r.id, kind: r.kind, node: r.node, cluster: r.cluster, message }, `operation ${state}`);
    await ctx.save({ state, message });
  }
}
