// The reconcile loop: observe → decide → push. On every change (an agent's report, a connect or
// disconnect, a mode or spec change, a wake-up the last pass asked for) it runs passCluster
// over each changed cluster, publishes the outcome to the fleet view, records the events it
// drafted, numbers each changed desired state and pushes it, through the outbox, to agents that
// do not run it yet. Decisions are all in passCluster; this only schedules and carries out.
// Over 400 lines: scheduling, delivery and the batched writes of holders share the loop's
// per-cluster state (dirty sets, memory, versions); split, each part would reach into the others.
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import type { DesiredBackends, DesiredState, Logger, NodeMode } from '@lbha/shared';
import { AckLatency } from './ack-latency.js';
import type { AgentOutbox } from './agent-outbox.js';
import { EMPTY_MEMORY, restoredMemory, type ClusterMemory } from './cluster-memory.js';
import { passCluster } from './cluster-pass.js';
import type { DesiredContent } from './desired-state-builder.js';
import type { EventLog } from './event-log.js';
import type { FleetView } from './fleet-view.js';
import { retimeHandoversFrom, type HandoverEntry } from './handover-plan.js';
import type { NodeObservation } from './node-observation.js';
import type { VipPin } from './placement.js';
import type { NodeRecord, Registry, RegistryEvent } from './registry.js';
import { EMPTY_SPEC, type ClusterSpec, type Spec } from './spec/cluster-spec.js';
import type { CoordinatorState } from './store/coordinator-state.js';
import { WakeQueue } from './wake-queue.js';

/** The most a reconcile pass works before it lets the event loop turn (ms of its own time). */
const PASS_SLICE_MS = 5;

/**
 * Clusters whose holders and handovers go into one store write. etcd refuses a transaction of
 * more than 128 operations (its --max-txn-ops default); a pass at start, or while thousands of
 * agents connect, changes the holders of far more clusters than that.
 */
const CLUSTERS_PER_WRITE = 50;

/**
 * The least time between the starts of two writes of desired holders and handovers: the
 * coordinator's own decisions, pushed before they are stored and waited for by nobody
 * (docs/design/reconcile.md); the file store rewrites its whole file per write.
 */
const PERSIST_INTERVAL_MS = 100;

/** After a failed pass (the store did not answer a version reservation), its clusters are passed again this much later. */
const RETRY_FAILED_PASS_MS = 1000;

export interface ReconcileLoopOptions {
  /** What agents report (the loop only reads it and follows its events). */
  readonly registry: Pick<Registry, 'get' | 'subscribe'>;
  readonly outbox: Pick<AgentOutbox, 'sendDesiredState'>;
  readonly view: FleetView;
  readonly events: Pick<EventLog, 'record'>;
  readonly state: Pick<CoordinatorState, 'nextDesiredVersion' | 'write'>;
  readonly logger: Logger;
  /** The coordinator-owned mode of a node. */
  readonly modeOf: (node: string) => NodeMode;
  /** The cluster's backend pool as its agents are told it. */
  readonly backendsOf: (cluster: ClusterSpec) => DesiredBackends;
  /** Where operators moved or pinned a cluster's VIPs (lbha move), by VIP. */
  readonly pinsOf?: (cluster: string) => ReadonlyMap<string, VipPin>;
  /** Moves whose node can no longer hold the VIP (by VIP, with why): the owner removes them. */
  readonly onLapsedPins?: (cluster: string, lapsed: ReadonlyMap<string, string>) => void;
  readonly clock?: () => number;
  /** A VIP problem must last this long before it is reported and acted on (default 2s). */
  readonly settleMs?: number;
  /** Changes arriving within this window are handled in one pass (default 0: the pass runs right after the I/O of the event-loop turn in which the first change arrived). */
  readonly debounceMs?: number;
  /** The least time between the starts of two writes of holders and handovers (default PERSIST_INTERVAL_MS). */
  readonly persistIntervalMs?: number;
  /** The most a pass works before it lets the event loop turn (default PASS_SLICE_MS; 0: after every cluster). */
  readonly passSliceMs?: number;
}

function observe(r: NodeRecord, ackLatencyMs: number | undefined): NodeObservation {
  const o: { -readonly [K in keyof NodeObservation]: NodeObservation[K] } = { link: r.link, snapshot: r.snapshot, cluster: r.cluster, capabilities: r.capabilities, appliedVersion: r.appliedVersion, session: r.session?.id };
  // Absent, not undefined, before the first round trip; set without an object spread per node and pass.
  if (ackLatencyMs !== undefined) o.ackLatencyMs = ackLatencyMs;
  return o;
}

/** The modes of a pass in which every node is active (a node missing from the modes is active). */
const ALL_ACTIVE: ReadonlyMap<string, NodeMode> = new Map();

export class ReconcileLoop {
  private readonly o: ReconcileLoopOptions;
  private readonly clock: () => number;
  private readonly settleMs: number;
  private spec: Spec = EMPTY_SPEC;
  private readonly clusterByName = new Map<string, ClusterSpec>();
  private readonly nodeCluster = new Map<string, string>();
  // A pass covers only the clusters marked dirty (by their nodes' agents, or all of them on a
  // spec, mode or timer change): at thousands of agents, recomputing everything on every delta
  // would hog the event loop.
  private readonly memory = new Map<string, ClusterMemory>();
  private readonly wakes = new WakeQueue();
  private dirty = new Set<string>();
  private allDirty = true;
  /** Per node: the version given to its current desired state, and that content. */
  private readonly versions = new Map<string, { readonly content: DesiredContent; readonly version: number }>();
  /** Per node: the session and version last sent. */
  private readonly sent = new Map<string, { readonly session: string; readonly version: number }>();
  /** Per node: its agent's recent push-to-acknowledgement round trips (the budgets that wait on it follow them). */
  private readonly acks = new AckLatency();
  private holdersDirty = new Set<string>();
  private handoversDirty = new Set<string>();
  /** Per cluster: its handovers as last handed to the store. */
  private readonly storedHandovers = new Map<string, ReadonlyMap<string, HandoverEntry>>();

  private unsubscribe: (() => void) | undefined;
  /** Cancels the armed run of the next pass (a timer or an immediate); undefined when none is armed. */
  private cancelArmed: (() => void) | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
  /** When the armed wake timer fires (the earliest wake-up asked for); null when none is armed. */
  private wakeArmedAt: number | null = null;
  private retryTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private persisting: Promise<void> = Promise.resolve();
  /** A batch of holders and handovers is being written. */
  private writing = false;
  private lastWriteAt = -Infinity;
  private persistTimer: NodeJS.Timeout | undefined;

  constructor(opts: ReconcileLoopOptions) {
    this.o = opts;
    this.clock = opts.clock ?? Date.now;
    this.settleMs = opts.settleMs ?? 2000;
  }

  /**
   * Restores the last desired holders and the handovers in progress (from the store), and the
   * standby readiness last reported (from the events), before the first pass.
   */
  restore(
    holders: ReadonlyMap<string, Readonly<Record<string, string>>>,
    handovers: ReadonlyMap<string, readonly HandoverEntry[]> = new Map(),
    readiness: ReadonlyMap<string, ClusterMemory['readiness']> = new Map(),
  ): void {
    for (const cluster of new Set([...holders.keys(), ...handovers.keys(), ...readiness.keys()])) {
      const h = handovers.get(cluster) ?? [];
      this.memory.set(cluster, restoredMemory(holders.get(cluster) ?? {}, h, readiness.get(cluster)));
      this.storedHandovers.set(cluster, new Map(h.map((e) => [e.vip, e])));
    }
  }

  start(): void {
    this.stopped = false;
    this.unsubscribe = this.o.registry.subscribe((e) => this.onRegistryEvent(e));
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.cancelArmed?.();
    this.cancelArmed = undefined;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    this.wakeArmedAt = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.running;
    // Stopped: what is waiting for the interval is written now.
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    this.persist();
    let last: Promise<void> | undefined;
    while (last !== this.persisting) await (last = this.persisting);
  }

  setSpec(spec: Spec): void {
    this.spec = spec;
    // Forget what belongs to clusters and nodes that are gone.
    const clusters = new Set(spec.clusters.map((c) => c.name));
    for (const c of [...this.memory.keys()]) if (!clusters.has(c)) this.memory.delete(c);
    for (const c of [...this.wakes.clusters()]) if (!clusters.has(c)) this.wakes.delete(c);
    this.nodeCluster.clear();
    this.clusterByName.clear();
    for (const c of spec.clusters) {
      this.clusterByName.set(c.name, c);
      for (const n of c.nodes) this.nodeCluster.set(n.name, c.name);
    }
    for (const n of [...this.versions.keys()]) if (!this.nodeCluster.has(n)) this.versions.delete(n);
    this.o.view.setSpec(spec);
    this.schedule();
  }

  /**
   * Recompute soon (only `cluster` when given, else every cluster); changes arriving meanwhile
   * are handled in the same pass.
   */
  schedule(cluster?: string): void {
    if (cluster === undefined) this.allDirty = true;
    else this.dirty.add(cluster);
    this.arm();
  }

  /** Arms the debounce timer for what is marked dirty (after the pass in progress, if any). */
  private arm(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.cancelArmed) return;
    const run = (): void => {
      this.cancelArmed = undefined;
      void this.runNow();
    };
    const debounceMs = this.o.debounceMs ?? 0;
    if (debounceMs > 0) {
      const t = setTimeout(run, debounceMs);
      t.unref();
      this.cancelArmed = () => clearTimeout(t);
    } else {
      // After the I/O of this turn of the event loop: every report read in it is in this pass.
      const i = setImmediate(run);
      i.unref();
      this.cancelArmed = () => clearImmediate(i);
    }
  }

  /** Runs one pass now (waits for a pass in progress first). */
  async runNow(): Promise<void> {
    while (this.running) await this.running;
    this.running = this.pass()
      .catch((err: unknown) => {
        this.o.logger.error({ event: 'reconcile.failed', err }, 'reconcile pass failed; its clusters are passed again in a second');
        // The clusters the pass did not finish are marked dirty again (pass()): without another
        // pass, a change they held (a health flip) would never be pushed.
        if (this.retryTimer || this.stopped) return;
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          if (!this.stopped) void this.runNow();
        }, RETRY_FAILED_PASS_MS);
        this.retryTimer.unref();
      })
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          // Only the clusters marked dirty meanwhile (all only if something asked for that).
          this.again = false;
          this.arm();
        }
      });
    await this.running;
  }

  /**
   * Forgets what was sent and passes over every cluster: after a lapse of leadership, pushes
   * the fence held back were counted as sent. Each agent not running its desired state gets it
   * again; one that runs it is not sent anything (deliver).
   */
  resync(): void {
    this.sent.clear();
    this.schedule();
  }

  /** Keeps the handovers away from `node` open until at least `untilMs` (a drain waiting for connections). */
  extendHandovers(node: string, untilMs: number): void {
    this.retimeHandovers(node, untilMs, true);
  }

  /** Ends the handovers away from `node` at the next pass (its connections are drained, or about to be cut). */
  endHandovers(node: string): void {
    this.retimeHandovers(node, this.clock(), false);
  }

  private retimeHandovers(node: string, untilMs: number, extend: boolean): void {
    const cluster = this.nodeCluster.get(node);
    const m = cluster === undefined ? undefined : this.memory.get(cluster);
    if (cluster === undefined || !m) return;
    const handovers = retimeHandoversFrom(m.handovers, node, untilMs, extend);
    if (handovers === m.handovers) return;
    this.memory.set(cluster, { ...m, handovers });
    this.o.view.publishHandovers(cluster, handovers.entries);
    this.schedule(cluster);
  }

  private onRegistryEvent(e: RegistryEvent): void {
    // A command's result changes nothing a pass looks at; the dispatcher follows those.
    if (e.type === 'command-result') return;
    if (e.type === 'ack') this.acks.acked(e.node, e.version, this.clock());
    else if (e.type === 'disconnected' || e.type === 'connected') this.acks.dropPending(e.node);
    else if (e.type === 'forgotten') this.acks.forget(e.node);
    if (e.type === 'connected' && !this.nodeCluster.has(e.node)) {
      const r = this.o.registry.get(e.node);
      if (r) this.o.events.record({ type: 'node.unknown', cluster: r.cluster, node: e.node, severity: 'warning', message: `agent of ${e.node} connected, but the spec has no such node; it gets no desired state` });
    }
    const cluster = this.nodeCluster.get(e.node);
    if (cluster !== undefined && this.passReads(e, cluster)) this.schedule(cluster);
    // Operations wait on what agents report (an ACK, a healthy snapshot) as well as on passes.
    this.o.view.notify();
  }

  /**
   * Whether a pass over the cluster could decide anything new from the event. An ACK (or NACK)
   * changes only the version the agent runs (and its error), which a pass reads only to end a
   * handover's hold; every other event may change what a pass sees.
   */
  private passReads(e: RegistryEvent, cluster: string): boolean {
    if (e.type !== 'ack') return true;
    return this.memory.get(cluster)?.handovers.hold !== undefined;
  }

  private async pass(): Promise<void> {
    if (this.stopped) return;
    let now = this.clock();
    const all = this.allDirty;
    const dirty = this.dirty;
    this.allDirty = false;
    this.dirty = new Set();
    // A pass over many clusters (start, a new spec, the clusters of a thousand agents that
    // connected meanwhile) would hold the event loop for as long as it takes: seconds at
    // 10,000 nodes, with every agent stream and TLS handshake waiting. It lets the loop turn
    // every PASS_SLICE_MS of work instead.
    const spec = this.spec;
    // Only the dirty clusters are visited: a pass after one agent's report costs that cluster,
    // not a walk over the fleet.
    const clusters = all ? spec.clusters : [...dirty].flatMap((name) => this.clusterByName.get(name) ?? []);
    let sliceStart = performance.now();
    for (const [i, c] of clusters.entries()) {
      try {
        await this.passOne(c, now);
      } catch (err) {
        // This cluster and those after it were not passed: they are due again.
        for (const rest of clusters.slice(i)) this.dirty.add(rest.name);
        throw err;
      }
      if (performance.now() - sliceStart < (this.o.passSliceMs ?? PASS_SLICE_MS)) continue;
      await nextTurn();
      // Stopped, or a new spec (whose setSpec asked for a pass over every cluster): the rest
      // of this pass would decide on the old spec.
      if (this.stopped || this.spec !== spec) break;
      sliceStart = performance.now();
      now = this.clock();
    }
    this.persist();
    this.armWake(now);
    this.o.view.notify();
  }

  private async passOne(c: ClusterSpec, now: number): Promise<void> {
    // Observe.
    const nodes = new Map<string, NodeObservation>();
    // Only the nodes that are not active: in most passes none, and no Map is built.
    let modes: Map<string, NodeMode> | undefined;
    const versions = new Map<string, number>();
    for (const n of c.nodes) {
      const r = this.o.registry.get(n.name);
      if (r) nodes.set(n.name, observe(r, this.acks.recentMs(n.name)));
      const mode = this.o.modeOf(n.name);
      if (mode !== 'active') (modes ??= new Map()).set(n.name, mode);
      const v = this.versions.get(n.name);
      if (v) versions.set(n.name, v.version);
    }
    // Decide.
    const pins = this.o.pinsOf?.(c.name);
    const before = this.memory.get(c.name) ?? EMPTY_MEMORY;
    const result = passCluster({ cluster: c, nodes, modes: modes ?? ALL_ACTIVE, versions, settleMs: this.settleMs, backends: this.o.backendsOf(c), ...(pins ? { pins } : {}) }, before, now);
    this.memory.set(c.name, result.memory);
    if (result.holdersChanged) this.holdersDirty.add(c.name);
    const handovers = result.memory.handovers.entries;
    const stored = this.storedHandovers.get(c.name);
    if (stored === undefined ? handovers.size > 0 : stored !== handovers && !isDeepStrictEqual(stored, handovers)) {
      this.handoversDirty.add(c.name);
    }
    this.storedHandovers.set(c.name, handovers);
    this.wakes.set(c.name, result.wakeAt);
    this.o.view.publish(c.name, result);
    for (const e of result.events) this.o.events.record(e);
    if (result.lapsedPins.size > 0) this.o.onLapsedPins?.(c.name, result.lapsedPins);

    // Push: number each changed desired state, send it to agents that do not run it yet.
    for (const n of c.nodes) {
      const entry = result.desired.get(n.name);
      if (!entry) continue;
      let v = this.versions.get(n.name);
      if (v?.content !== entry.content) {
        // A new entry: a new version, unless it is what the node was numbered for already (a
        // cluster's memory rebuilt after a spec change builds equal states anew). When the
        // numbered content is the entry the pass started from, the pass has compared the two
        // already (it keeps that entry for equal content): no second walk over the state.
        const compared = before.desired.get(n.name)?.content === v?.content;
        v = v !== undefined && !compared && isDeepStrictEqual(v.content, entry.content) ? { content: entry.content, version: v.version } : { content: entry.content, version: await this.o.state.nextDesiredVersion() };
        this.versions.set(n.name, v);
      }
      this.o.view.publishDesired(n.name, entry.content, v.version);
      this.deliver(n.name, entry.content, v.version, result.withheld.has(n.name), now);
    }
  }

  /** Sends the node its desired state if its agent does not run that version yet (built only then). */
  private deliver(node: string, content: DesiredContent, version: number, withheld: boolean, now: number): void {
    const r = this.o.registry.get(node);
    // Not before its first report: a restarted coordinator must see what the agent runs
    // (a handover in progress) before telling it what to run.
    if (!r?.session || r.link === 'disconnected' || !r.snapshot || withheld) return;
    const sent = this.sent.get(node);
    const sameSession = sent?.session === r.session.id;
    if (sameSession && sent?.version === version) return;
    if (!sameSession && r.appliedVersion === version) {
      // Reconnected already running this version: nothing to send.
      this.sent.set(node, { session: r.session.id, version });
      return;
    }
    const desired: DesiredState = { ...content, version };
    if (this.o.outbox.sendDesiredState(desired)) {
      this.sent.set(node, { session: r.session.id, version });
      this.acks.pushed(node, version, this.clock());
      this.o.logger.debug({ event: 'desired_state.pushed', node, version, at: now }, 'pushed desired state');
    }
  }

  /**
   * Writes the desired holders and handovers that changed, at most CLUSTERS_PER_WRITE clusters
   * per write, one batch at a time: what changes meanwhile goes into the next batch, started when
   * that one is done and `persistIntervalMs` after it. A failed write is retried after the next pass.
   */
  private persist(): void {
    if (this.writing || (this.holdersDirty.size === 0 && this.handoversDirty.size === 0)) return;
    const wait = this.lastWriteAt + (this.o.persistIntervalMs ?? PERSIST_INTERVAL_MS) - performance.now();
    if (wait > 0 && !this.stopped) {
      if (!this.persistTimer) {
        this.persistTimer = setTimeout(() => {
          this.persistTimer = undefined;
          this.persist();
        }, wait);
        this.persistTimer.unref();
      }
      return;
    }
    this.writing = true;
    this.lastWriteAt = performance.now();
    const dirty = { holders: this.holdersDirty, handovers: this.handoversDirty };
    this.holdersDirty = new Set();
    this.handoversDirty = new Set();
    const clusters = [...new Set([...dirty.holders, ...dirty.handovers])];
    let failed = false;
    for (let i = 0; i < clusters.length; i += CLUSTERS_PER_WRITE) {
      const part = clusters.slice(i, i + CLUSTERS_PER_WRITE);
      const holders: Array<[string, Record<string, string>]> = part.filter((c) => dirty.holders.has(c)).map((c) => [c, Object.fromEntries(this.memory.get(c)?.holders ?? [])]);
      const handovers: Array<[string, HandoverEntry[]]> = part.filter((c) => dirty.handovers.has(c)).map((c) => [c, [...(this.memory.get(c)?.handovers.entries.values() ?? [])]]);
      this.persisting = this.persisting
        .then(() => this.o.state.write({ holders, handovers }))
        .catch((err: unknown) => {
          failed = true;
          for (const [c] of holders) this.holdersDirty.add(c);
          for (const [c] of handovers) this.handoversDirty.add(c);
          this.o.logger.error({ event: 'store.write_failed', err }, 'could not persist desired holders and handovers; will retry');
        });
    }
    this.persisting = this.persisting.then(() => {
      this.writing = false;
      // What changed meanwhile goes next; after a failure, at the next pass.
      if (!failed) this.persist();
    });
  }

  /** Arms the timer for the earliest wake-up the clusters asked for (kept when that did not change). */
  private armWake(now: number): void {
    const at = this.wakes.next();
    if (at === this.wakeArmedAt && this.wakeTimer !== undefined && !this.stopped) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    this.wakeArmedAt = null;
    if (at === null || this.stopped) return;
    this.wakeArmedAt = at;
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.wakeArmedAt = null;
      // Only the clusters whose hold-down, settle time or handover window has come.
      for (const cluster of this.wakes.takeDue(this.clock() + 1)) this.schedule(cluster);
    }, Math.max(0, at - now) + 1);
    this.wakeTimer.unref?.();
  }
}
