// Maintenance operations as resumable step sequences: drain, undrain, restart, reload and
// rolling restart. Every step is recorded in the store as it starts and ends; a coordinator
// restarted in the middle resumes the operation at the first unfinished step, and commands
// carry ids derived from operation and step, so a resumed step never runs a command twice.
import { randomBytes } from 'node:crypto';
import { isLive, nameProblem, type Logger, type NodeMode } from '@lbha/shared';
import type { CommandDispatcher } from './command-dispatcher.js';
import { InvalidArgumentError, NotFoundError, OperationFailedError, PreconditionError } from './errors.js';
import type { EventLog } from './event-log.js';
import { interlockProblems } from './interlock.js';
import type { FleetView } from './fleet-view.js';
import type { ReconcileLoop } from './reconcile-loop.js';
import type { Registry } from './registry.js';
import type { ClusterSpec } from './spec/cluster-spec.js';
import {
  isFinalOperationState,
  type CoordinatorState,
  type OperationKind,
  type OperationRecord,
  type OperationState,
  type OperationStep,
} from './store/coordinator-state.js';

export interface OperationRequest {
  readonly kind: OperationKind;
  /** Node for drain, undrain, restart and reload. */
  readonly node?: string;
  /** Cluster for rolling_restart. */
  readonly cluster?: string;
  readonly service?: string;
  /** 0: the default for the kind. */
  readonly timeoutMs?: number;
  readonly force?: boolean;
  /** drain: end in maintenance mode instead of drained. */
  readonly maintenance?: boolean;
  readonly actor: string;
  readonly reason?: string;
}

export interface OperationsOptions {
  readonly state: CoordinatorState;
  readonly view: FleetView;
  readonly loop: Pick<ReconcileLoop, 'extendHandovers' | 'endHandovers'>;
  readonly commands: CommandDispatcher;
  readonly registry: Registry;
  readonly events: EventLog;
  readonly logger: Logger;
  readonly clock?: () => number;
  readonly modeOf: (node: string) => NodeMode;
  readonly setMode: (node: string, mode: NodeMode, actor: string, reason: string, operationId: string) => Promise<void>;
}

/** Defaults when a request gives no timeout. */
export const DEFAULT_TIMEOUT_MS: Readonly<Record<OperationKind, number>> = {
  drain: 60_000,
  undrain: 30_000,
  restart: 120_000,
  reload: 60_000,
  rolling_restart: 120_000,
};

/** Raised inside a step when the coordinator shuts down: the operation stays running and resumes later. */
class Interrupted extends Error {}

function opId(kind: OperationKind, now: number): string {
  return `${kind.replace('_', '-')}-${now.toString(36)}-${randomBytes(3).toString('hex')}`;
}

function secs(ms: number): string {
  return `${Math.round(ms / 100) / 10}s`;
}

class OperationContext {
  constructor(
    public record: OperationRecord,
    private readonly ops: Operations,
    readonly signal: AbortSignal,
  ) {}

  get id(): string {
    return this.record.id;
  }

  data(key: string): string | undefined {
    return this.record.data[key];
  }

  async setData(values: Record<string, string>): Promise<void> {
    await this.save({ data: { ...this.record.data, ...values } });
  }

  async save(change: Partial<OperationRecord>, persist = true): Promise<void> {
    this.record = { ...this.record, ...change, updatedMs: this.ops.now() };
    await this.ops.saved(this.record, persist);
  }

  /** Runs a step unless an earlier run of this operation completed it. */
  async step(name: string, fn: () => Promise<string>): Promise<void> {
    const done = this.record.steps.find((s) => s.name === name && (s.state === 'succeeded' || s.state === 'skipped'));
    if (done) return;
    if (this.signal.aborted) throw new Interrupted();
    const startedMs = this.ops.now();
    await this.putStep({ name, state: 'running', message: '', startedMs, finishedMs: 0 });
    let message: string;
    try {
      message = await fn();
    } catch (err) {
      if (err instanceof Interrupted || this.signal.aborted) throw new Interrupted();
      const msg = err instanceof OperationFailedError ? err.message : `internal error: ${(err as Error).message}`;
      await this.putStep({ name, state: 'failed', message: msg, startedMs, finishedMs: this.ops.now() });
      throw err instanceof OperationFailedError ? err : new OperationFailedError(msg);
    }
    if (this.signal.aborted) throw new Interrupted();
    await this.putStep({ name, state: 'succeeded', message, startedMs, finishedMs: this.ops.now() });
  }

  private async putStep(s: OperationStep): Promise<void> {
    const steps = this.record.steps.filter((x) => x.name !== s.name);
    steps.push(s);
    await this.save({ steps, message: s.state === 'running' ? `${s.name}...` : s.message || this.record.message });
  }
}

export class Operations {
  private readonly state: CoordinatorState;
  private readonly view: FleetView;
  private readonly loop: OperationsOptions['loop'];
  private readonly commands: CommandDispatcher;
  private readonly registry: Registry;
  private readonly events: EventLog;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly modeOf: (node: string) => NodeMode;
  private readonly setMode: OperationsOptions['setMode'];
  private readonly records = new Map<string, OperationRecord>();
  private readonly tasks = new Map<string, Promise<void>>();
  /** Per running operation: aborted by cancel(), with who asked and why. */
  private readonly cancels = new Map<string, { controller: AbortController; by?: { actor: string; reason: string } }>();
  private readonly listeners = new Set<(op: OperationRecord) => void>();
  private abort = new AbortController();
  private writes: Promise<void> = Promise.resolve();

  constructor(opts: OperationsOptions) {
    this.state = opts.state;
    this.view = opts.view;
    this.loop = opts.loop;
    this.commands = opts.commands;
    this.registry = opts.registry;
    this.events = opts.events;
    this.log = opts.logger;
    this.clock = opts.clock ?? Date.now;
    this.modeOf = opts.modeOf;
    this.setMode = opts.setMode;
  }

  now(): number {
    return this.clock();
  }

  load(records: readonly OperationRecord[]): void {
    for (const r of records) this.records.set(r.id, r);
  }

  /** Continues every operation a previous run of the coordinator left unfinished. */
  resume(): void {
    for (const r of this.records.values()) {
      if (isFinalOperationState(r.state) || this.tasks.has(r.id)) continue;
      this.log.info({ event: 'operation.resumed', operationId: r.id, kind: r.kind, node: r.node, cluster: r.cluster }, 'resuming operation after restart');
      this.events.record({ type: `${r.kind}.resumed`, cluster: r.cluster, node: r.node, operationId: r.id, actor: r.actor, message: `resuming ${r.kind} ${r.node || r.cluster} after a coordinator restart` });
      this.launch(r);
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

  /** Resolves with the operation once finished, or as it is after `timeoutMs`. */
  waitFinished(id: string, timeoutMs: number): Promise<OperationRecord | undefined> {
    const r = this.records.get(id);
    if (!r || isFinalOperationState(r.state)) return Promise.resolve(r);
    return new Promise((resolve) => {
      const off = this.subscribe((op) => {
        if (op.id === id && isFinalOperationState(op.state)) finish();
      });
      const timer = setTimeout(() => finish(), timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        off();
        resolve(this.records.get(id));
      };
    });
  }

  /** Called by OperationContext on every change; persists unless told not to (progress ticks). */
  async saved(r: OperationRecord, persist: boolean): Promise<void> {
    this.records.set(r.id, r);
    for (const l of [...this.listeners]) l(r);
    if (!persist) return;
    const write = this.writes.then(() => this.state.write({ operations: [r] }));
    this.writes = write.catch(() => undefined);
    await write;
  }

  // ---- starting ----

  private clusterOfNode(node: string): ClusterSpec {
    const c = this.view.currentSpec().clusters.find((x) => x.nodes.some((n) => n.name === node));
    if (!c) throw new NotFoundError(`node ${node} is not in the cluster spec`);
    return c;
  }

  private busy(nodes: readonly string[], cluster: string): OperationRecord | undefined {
    return this.running().find((r) => (r.kind === 'rolling_restart' ? r.cluster === cluster : nodes.includes(r.node)));
  }

  /**
   * Validates a request, applies the safety interlock and starts the operation in the
   * background; resolves with its first record. Throws InvalidArgumentError, NotFoundError or
   * PreconditionError (busy node, interlock) without changing anything.
   */
  async start(req: OperationRequest): Promise<OperationRecord> {
    const kind = req.kind;
    let cluster: ClusterSpec;
    let node = '';
    if (kind === 'rolling_restart') {
      const name = req.cluster ?? '';
      const p = nameProblem(name);
      if (p) throw new InvalidArgumentError('cluster', p);
      const c = this.view.currentSpec().clusters.find((x) => x.name === name);
      if (!c) throw new NotFoundError(`cluster ${name} is not in the cluster spec`);
      cluster = c;
    } else {
      node = req.node ?? '';
      const p = nameProblem(node);
      if (p) throw new InvalidArgumentError('node', p);
      cluster = this.clusterOfNode(node);
    }
    const service = req.service ?? '';
    if (kind === 'restart' || kind === 'reload' || kind === 'rolling_restart') {
      const p = nameProblem(service);
      if (p) throw new InvalidArgumentError('service', p);
    }
    const timeoutMs = req.timeoutMs && req.timeoutMs > 0 ? req.timeoutMs : DEFAULT_TIMEOUT_MS[kind];
    const force = req.force ?? false;

    const touched = kind === 'rolling_restart' ? cluster.nodes.map((n) => n.name) : [node];
    const other = this.busy(touched, cluster.name);
    if (other) throw new PreconditionError(`${other.node || other.cluster} is busy with operation ${other.id} (${other.kind}); wait for it or check lbha operations`);

    if (!force && (kind === 'drain' || (kind === 'restart' && this.holdsVips(node)))) {
      const problems = interlockProblems(this.view.interlockInput(), [node]);
      if (problems.length > 0) throw new PreconditionError(`refused by the safety interlock: ${problems.join('; ')}. Use --force to do it anyway`);
    }

    const now = this.clock();
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
      steps: [],
      actor: req.actor,
      reason: req.reason ?? '',
      force,
      timeoutMs,
      activeConnections: 0,
      data: kind === 'drain' && req.maintenance ? { final: 'maintenance' } : {},
    };
    await this.saved(record, true);
    this.events.record({
      type: `${kind}.started`,
      cluster: cluster.name,
      node,
      operationId: record.id,
      actor: req.actor,
      reason: record.reason,
      message: `${kind.replace('_', ' ')} of ${service ? `${service} on ` : ''}${node || `cluster ${cluster.name}`} started${force ? ' (forced)' : ''}`,
    });
    this.launch(record);
    return record;
  }

  private holdsVips(node: string): boolean {
    return this.view.actualVipsOf(node).length > 0 || this.view.desiredVipsOf(node).length > 0;
  }

  private launch(record: OperationRecord): void {
    const controller = new AbortController();
    this.cancels.set(record.id, { controller });
    const ctx = new OperationContext(record, this, AbortSignal.any([this.abort.signal, controller.signal]));
    const task = this.run(ctx).finally(() => {
      this.tasks.delete(record.id);
      this.cancels.delete(record.id);
    });
    this.tasks.set(record.id, task);
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

  private async run(ctx: OperationContext): Promise<void> {
    const r = ctx.record;
    try {
      await ctx.save({ state: 'running' });
      let message: string;
      switch (r.kind) {
        case 'drain':
          message = await this.drain(ctx, r.node, '', r.data['final'] === 'maintenance' ? 'maintenance' : 'drained');
          break;
        case 'undrain':
          message = await this.undrain(ctx, r.node, '', 'active');
          break;
        case 'restart':
          message = await this.restart(ctx, r.node, r.service, '');
          break;
        case 'reload':
          message = await this.reload(ctx, r.node, r.service);
          break;
        case 'rolling_restart':
          message = await this.rollingRestart(ctx);
          break;
      }
      await this.finish(ctx, 'succeeded', message);
    } catch (err) {
      const cancelled = this.cancels.get(r.id)?.by;
      if (err instanceof Interrupted && cancelled) {
        await this.finish(ctx, 'cancelled', this.cancelMessage(ctx, cancelled)).catch((e: unknown) => this.log.error({ event: 'store.write_failed', err: e }, 'could not record operation cancel'));
        return;
      }
      if (err instanceof Interrupted) {
        this.log.info({ event: 'operation.interrupted', operationId: r.id }, 'operation interrupted by shutdown; it resumes at the next start');
        return;
      }
      const message = err instanceof OperationFailedError ? err.message : `internal error: ${(err as Error).message}`;
      if (!(err instanceof OperationFailedError)) this.log.error({ event: 'operation.error', operationId: r.id, err }, 'operation failed unexpectedly');
      await this.finish(ctx, 'failed', message).catch((e: unknown) => this.log.error({ event: 'store.write_failed', err: e }, 'could not record operation failure'));
    }
  }

  private cancelMessage(ctx: OperationContext, by: { actor: string; reason: string }): string {
    const r = ctx.record;
    const step = r.steps.find((s) => s.state === 'running')?.name;
    const nodes = r.kind === 'rolling_restart' ? (this.view.currentSpec().clusters.find((c) => c.name === r.cluster)?.nodes.map((n) => n.name) ?? []) : [r.node];
    const modes = nodes.map((n) => `${n} is ${this.modeOf(n)}`).join(', ');
    return `cancelled by ${by.actor}${by.reason ? ` (${by.reason})` : ''}${step ? ` during ${step}` : ''}; nothing was rolled back: ${modes}`;
  }

  private async finish(ctx: OperationContext, state: OperationState, message: string): Promise<void> {
    const r = ctx.record;
    // The event first: whoever sees the final state through the API finds the event too.
    this.events.record({
      type: `${r.kind}.${state}`,
      cluster: r.cluster,
      node: r.node,
      operationId: r.id,
      actor: r.actor,
      severity: state === 'failed' ? 'warning' : 'info',
      message: `${r.kind.replace('_', ' ')} of ${r.service ? `${r.service} on ` : ''}${r.node || `cluster ${r.cluster}`} ${state}: ${message}`,
    });
    this.log.info({ event: `operation.${state}`, operationId: r.id, kind: r.kind, node: r.node, cluster: r.cluster, message }, `operation ${state}`);
    await ctx.save({ state, message });
  }

  // ---- procedures ----

  private remaining(ctx: OperationContext): number {
    return Math.max(1000, ctx.record.timeoutMs);
  }

  private async waitFor(ctx: OperationContext, predicate: () => boolean, timeoutMs: number): Promise<boolean> {
    const ok = await this.view.waitUntil(predicate, timeoutMs, ctx.signal);
    if (ctx.signal.aborted) throw new Interrupted();
    return ok;
  }

  private live(node: string): boolean {
    const r = this.registry.get(node);
    return r !== undefined && isLive(r.link);
  }

  /** Moves the node's VIPs away, waits for its connections to drain, leaves it drained (or in maintenance). */
  private async drain(ctx: OperationContext, node: string, p: string, final: 'drained' | 'maintenance' = 'drained'): Promise<string> {
    const cluster = this.clusterOfNode(node);
    await ctx.step(`${p}mode:draining`, async () => {
      const held = [...new Set([...this.view.actualVipsOf(node), ...this.view.desiredVipsOf(node)])];
      await ctx.setData({ [`${p}vips`]: held.join(',') });
      await this.setMode(node, 'draining', ctx.record.actor, ctx.record.reason || `operation ${ctx.id}`, ctx.id);
      return held.length > 0 ? `moving ${held.join(', ')} away` : 'holds no VIPs';
    });

    await ctx.step(`${p}move-vips`, async () => {
      const held = (ctx.data(`${p}vips`) ?? '').split(',').filter((v) => v !== '');
      const moved = () => {
        if (this.view.desiredVipsOf(node).length > 0 || this.view.actualVipsOf(node).length > 0) return false;
        // When the node's agent is away, other nodes reporting the VIPs is the only evidence.
        const views = this.view.vips(cluster.name);
        return held.every((v) => views.find((x) => x.name === v)?.actualHolders.some((h) => h !== node));
      };
      if (held.length === 0 && moved()) return 'no VIPs to move';
      const ok = await this.waitFor(ctx, () => moved() || (ctx.record.force && !this.view.placement().clusters.get(cluster.name)?.anyEligible), this.remaining(ctx));
      if (!ok) {
        const still = [...new Set([...this.view.actualVipsOf(node), ...this.view.desiredVipsOf(node)])];
        throw new OperationFailedError(`VIPs did not leave ${node} within ${secs(this.remaining(ctx))}: ${still.join(', ') || held.join(', ')} (the node stays draining; undrain to restore it)`);
      }
      return moved() ? (held.length > 0 ? `${held.join(', ')} moved to ${this.newHolders(cluster, held)}` : 'no VIPs to move') : 'forced: no other eligible node, VIPs stay';
    });

    await ctx.step(`${p}connections`, async () => {
      const timeoutMs = this.remaining(ctx);
      const id = `${ctx.id}.${p.replace(/[^a-z0-9]/g, '-')}connections`;
      // The node keeps answering the connections it had when its VIPs left until they are done.
      this.loop.extendHandovers(node, this.clock() + timeoutMs);
      await this.commands.issue({ id, node, action: { kind: 'drain', timeoutMs }, operationId: ctx.id, deadlineMs: this.clock() + timeoutMs });
      const e = await this.commands.wait(
        id,
        timeoutMs + 5000,
        (u) => void ctx.save({ activeConnections: u.activeConnections, message: `${u.activeConnections} connections left on ${node}` }, false),
        ctx.signal,
      );
      if (ctx.signal.aborted) throw new Interrupted();
      this.loop.endHandovers(node);
      await ctx.save({ activeConnections: e?.activeConnections ?? 0 });
      if (!e || e.state === 'pending') return `connections not confirmed: the agent of ${node} did not answer within ${secs(timeoutMs)}`;
      if (e.state === 'succeeded') return e.message || 'connections drained';
      return `connections not confirmed (${e.state}: ${e.message})`;
    });

    const done = final === 'drained' ? `${node} drained` : `${node} drained, in maintenance`;
    await ctx.step(`${p}mode:${final}`, async () => {
      await this.setMode(node, final, ctx.record.actor, ctx.record.reason || `operation ${ctx.id}`, ctx.id);
      return done;
    });
    return done;
  }

  private newHolders(cluster: ClusterSpec, vips: readonly string[]): string {
    const views = this.view.vips(cluster.name);
    return [...new Set(vips.flatMap((v) => views.find((x) => x.name === v)?.actualHolders ?? []))].join(', ') || 'other nodes';
  }

  private async undrain(ctx: OperationContext, node: string, p: string, mode: NodeMode): Promise<string> {
    await ctx.step(`${p}mode:${mode}`, async () => {
      await this.setMode(node, mode, ctx.record.actor, ctx.record.reason || `operation ${ctx.id}`, ctx.id);
      return `${node} is ${mode}`;
    });
    await ctx.step(`${p}agent-undrain`, async () => {
      if (!this.live(node)) return `agent of ${node} not connected; it gets the mode with its desired state`;
      // The agent must run the desired state with the new mode before it lifts its own drain,
      // or it would fall back to the old mode for a moment.
      await this.waitFor(
        ctx,
        () => {
          const d = this.view.desiredOf(node);
          const r = this.registry.get(node);
          return d !== undefined && d.mode === mode && r !== undefined && r.appliedVersion >= d.version;
        },
        10_000,
      );
      const id = `${ctx.id}.${p.replace(/[^a-z0-9]/g, '-')}undrain`;
      await this.commands.issue({ id, node, action: { kind: 'undrain' }, operationId: ctx.id, deadlineMs: this.clock() + 30_000 });
      const e = await this.commands.wait(id, 10_000, undefined, ctx.signal);
      if (ctx.signal.aborted) throw new Interrupted();
      return e && e.state === 'succeeded' ? e.message || 'agent undrained' : `agent answered ${e?.state ?? 'nothing'}${e?.message ? `: ${e.message}` : ''}`;
    });
    return `${node} is ${mode}`;
  }

  /** Restarts a service; a node holding VIPs is drained first and undrained once healthy. */
  private async restart(ctx: OperationContext, node: string, service: string, p: string): Promise<string> {
    if (ctx.data(`${p}plan`) === undefined) {
      const mode = this.modeOf(node);
      const drain = mode === 'active' && this.holdsVips(node);
      await ctx.setData({ [`${p}plan`]: drain ? 'drain' : 'direct', [`${p}mode`]: mode });
    }
    const drained = ctx.data(`${p}plan`) === 'drain';
    if (drained) await this.drain(ctx, node, p);

    await ctx.step(`${p}restart`, async () => {
      const before = this.registry.get(node)?.snapshot?.services.find((s) => s.name === service);
      await ctx.setData({ [`${p}pid`]: String(before?.pid ?? 0), [`${p}restarts`]: String(before?.restarts ?? 0) });
      const id = `${ctx.id}.${p.replace(/[^a-z0-9]/g, '-')}restart`;
      const timeoutMs = this.remaining(ctx);
      await this.commands.issue({ id, node, action: { kind: 'restart', service }, operationId: ctx.id, deadlineMs: this.clock() + timeoutMs });
      const e = await this.commands.wait(id, timeoutMs, undefined, ctx.signal);
      if (ctx.signal.aborted) throw new Interrupted();
      if (!e || e.state !== 'succeeded') {
        const why = !e || e.state === 'pending' ? `the agent of ${node} did not answer within ${secs(timeoutMs)}` : `${e.state}: ${e.message}`;
        throw new OperationFailedError(`restart of ${service} on ${node} failed (${why})${drained ? `; ${node} stays drained` : ''}`);
      }
      return e.message || `${service} restarted`;
    });

    await ctx.step(`${p}healthy`, async () => {
      const pid = Number(ctx.data(`${p}pid`) ?? '0');
      const healthy = () => {
        const r = this.registry.get(node);
        if (!r || !isLive(r.link) || !r.snapshot?.healthy) return false;
        const svc = r.snapshot.services.find((s) => s.name === service);
        // A new pid shows the snapshot is from after the restart, not a leftover from before.
        return svc === undefined || (svc.state === 'running' && (pid === 0 || svc.pid !== pid));
      };
      const ok = await this.waitFor(ctx, healthy, this.remaining(ctx));
      if (!ok) throw new OperationFailedError(`${node} was not healthy with ${service} running within ${secs(this.remaining(ctx))} after the restart${drained ? `; ${node} stays drained` : ''}`);
      return `${node} healthy`;
    });

    if (drained) await this.undrain(ctx, node, p, (ctx.data(`${p}mode`) as NodeMode | undefined) ?? 'active');
    return `${service} restarted on ${node}${drained ? ' (drained first, undrained after)' : ''}`;
  }

  private async reload(ctx: OperationContext, node: string, service: string): Promise<string> {
    let message = '';
    await ctx.step('reload', async () => {
      const id = `${ctx.id}.reload`;
      const timeoutMs = this.remaining(ctx);
      await this.commands.issue({ id, node, action: { kind: 'reload', service }, operationId: ctx.id, deadlineMs: this.clock() + timeoutMs });
      const e = await this.commands.wait(id, timeoutMs, undefined, ctx.signal);
      if (ctx.signal.aborted) throw new Interrupted();
      if (!e || e.state !== 'succeeded') {
        const why = !e || e.state === 'pending' ? `the agent of ${node} did not answer within ${secs(timeoutMs)}` : `${e.state}: ${e.message}`;
        throw new OperationFailedError(`reload of ${service} on ${node} refused or failed (${why}); the running configuration is unchanged`);
      }
      message = e.message || `${service} reloaded`;
      return message;
    });
    return message || `${service} reloaded on ${node}`;
  }

  private async rollingRestart(ctx: OperationContext): Promise<string> {
    const cluster = this.view.currentSpec().clusters.find((c) => c.name === ctx.record.cluster);
    if (!cluster) throw new OperationFailedError(`cluster ${ctx.record.cluster} is no longer in the spec`);
    const service = ctx.record.service;
    const done: string[] = [];
    for (const n of cluster.nodes) {
      const node = n.name;
      const p = `${node}/`;
      await ctx.step(`${p}settle`, async () => {
        const settled = () => this.view.vips(cluster.name).every((v) => v.status === 'ok');
        const ok = await this.waitFor(ctx, settled, this.remaining(ctx));
        if (!ok) {
          const bad = this.view.vips(cluster.name).filter((v) => v.status !== 'ok').map((v) => `${v.name} ${v.status}`);
          throw new OperationFailedError(`stopped before ${node}: the cluster did not settle within ${secs(this.remaining(ctx))} (${bad.join(', ')}); restarted so far: ${done.join(', ') || 'none'}`);
        }
        if (!ctx.record.force && this.modeOf(node) === 'active' && this.holdsVips(node)) {
          const problems = interlockProblems(this.view.interlockInput(), [node]);
          if (problems.length > 0) throw new OperationFailedError(`stopped before ${node}: refused by the safety interlock: ${problems.join('; ')}`);
        }
        return 'cluster settled';
      });
      try {
        await this.restart(ctx, node, service, p);
      } catch (err) {
        if (err instanceof OperationFailedError) {
          throw new OperationFailedError(`stopped at ${node}: ${err.message}; restarted before it: ${done.join(', ') || 'none'}`);
        }
        throw err;
      }
      done.push(node);
    }
    return `${service} restarted on ${done.join(', ')}, one node at a time`;
  }
}
