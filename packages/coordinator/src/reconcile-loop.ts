// The reconcile loop: observe → decide → push. On every change (an agent's report, a connect or
// disconnect, a mode or spec change, a wake-up the last pass asked for) it runs passCluster
// over each changed cluster, publishes the outcome to the fleet view, records the events it
// drafted, numbers each changed desired state and pushes it, through the outbox, to agents that
// do not run it yet. Decisions are all in passCluster; this only schedules and carries out.
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { DesiredBackends, DesiredState, Logger, NodeMode } from '@lbha/shared';
import type { AgentOutbox } from './agent-outbox.js';
import { EMPTY_MEMORY, restoredMemory, type ClusterMemory } from './cluster-memory.js';
import { passCluster } from './cluster-pass.js';
import type { EventLog } from './event-log.js';
import type { FleetView } from './fleet-view.js';
import { retimeHandoversFrom, type HandoverEntry } from './handover-plan.js';
import type { NodeObservation } from './node-observation.js';
import type { VipPin } from './placement.js';
import type { NodeRecord, Registry, RegistryEvent } from './registry.js';
import { EMPTY_SPEC, type ClusterSpec, type Spec } from './spec/cluster-spec.js';
import type { CoordinatorState } from './store/coordinator-state.js';

/** The most a reconcile pass works before it lets the event loop turn (ms of its own time). */
const PASS_SLICE_MS = 5;

/**
 * Clusters whose holders and handovers go into one store write. etcd refuses a transaction of
 * more than 128 operations (its --max-txn-ops default); a pass at start, or while thousands of
 * agents connect, changes the holders of far more clusters than that.
 */
const CLUSTERS_PER_WRITE = 50;

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
  /** Changes arriving within this window are handled in one pass (default 10ms). */
  readonly debounceMs?: number;
  /** The most a pass works before it lets the event loop turn (default PASS_SLICE_MS; 0: after every cluster). */
  readonly passSliceMs?: number;
}

function observe(r: NodeRecord): NodeObservation {
  return { link: r.link, snapshot: r.snapshot, cluster: r.cluster, capabilities: r.capabilities, appliedVersion: r.appliedVersion, session: r.session?.id };
}

export class ReconcileLoop {
  private readonly o: ReconcileLoopOptions;
  private readonly clock: () => number;
  private readonly settleMs: number;
  private spec: Spec = EMPTY_SPEC;
  private readonly nodeCluster = new Map<string, string>();
  // A pass covers only the clusters marked dirty (by their nodes' agents, or all of them on a
  // spec, mode or timer change): at thousands of agents, recomputing everything on every delta
  // would hog the event loop.
  private readonly memory = new Map<string, ClusterMemory>();
  private readonly wakes = new Map<string, number>();
  private dirty = new Set<string>();
  private allDirty = true;
  /** Per node: the version given to its current desired state (by its JSON). */
  private readonly versions = new Map<string, { readonly key: string; readonly version: number }>();
  /** Per node: the session and version last sent. */
  private readonly sent = new Map<string, { readonly session: string; readonly version: number }>();
  private holdersDirty = new Set<string>();
  private handoversDirty = new Set<string>();
  /** Per cluster: its handovers (JSON) as last handed to the store. */
  private readonly storedHandovers = new Map<string, string>();

  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private persisting: Promise<void> = Promise.resolve();

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
      this.storedHandovers.set(cluster, JSON.stringify(h));
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
    if (this.timer) clearTimeout(this.timer);
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    await this.running;
    await this.persisting;
  }

  setSpec(spec: Spec): void {
    this.spec = spec;
    // Forget what belongs to clusters and nodes that are gone.
    const clusters = new Set(spec.clusters.map((c) => c.name));
    for (const c of [...this.memory.keys()]) if (!clusters.has(c)) this.memory.delete(c);
    for (const c of [...this.wakes.keys()]) if (!clusters.has(c)) this.wakes.delete(c);
    this.nodeCluster.clear();
    for (const c of spec.clusters) for (const n of c.nodes) this.nodeCluster.set(n.name, c.name);
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
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runNow();
    }, this.o.debounceMs ?? 10);
    this.timer.unref?.();
  }

  /** Runs one pass now (waits for a pass in progress first). */
  async runNow(): Promise<void> {
    while (this.running) await this.running;
    this.running = this.pass()
      .catch((err: unknown) => this.o.logger.error({ event: 'reconcile.failed', err }, 'reconcile pass failed'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          // Only what changed during the pass: the clusters it marked dirty (all of them only
          // if something asked for that).
          this.again = false;
          this.arm();
        }
      });
    await this.running;
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
    if (e.type === 'connected' && !this.nodeCluster.has(e.node)) {
      const r = this.o.registry.get(e.node);
      if (r) this.o.events.record({ type: 'node.unknown', cluster: r.cluster, node: e.node, severity: 'warning', message: `agent of ${e.node} connected, but the spec has no such node; it gets no desired state` });
    }
    const cluster = this.nodeCluster.get(e.node);
    if (cluster !== undefined) this.schedule(cluster);
    // Operations wait on what agents report (an ACK, a healthy snapshot) as well as on passes.
    this.o.view.notify();
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
    let sliceStart = performance.now();
    for (const c of spec.clusters) {
      if (!all && !dirty.has(c.name)) continue;
      await this.passOne(c, now);
      if (performance.now() - sliceStart < (this.o.passSliceMs ?? PASS_SLICE_MS)) continue;
      await nextTurn();
      // Stopped, or a new spec (whose setSpec asked for a pass over every cluster): the rest
      // of this pass would decide on the old spec.
      if (this.stopped || this.spec !== spec) break;
      sliceStart = performance.now();
      now = this.clock();
    }
    this.persist();
    let wakeAt: number | null = null;
    for (const w of this.wakes.values()) if (wakeAt === null || w < wakeAt) wakeAt = w;
    this.armWake(wakeAt, now);
    this.o.view.notify();
  }

  private async passOne(c: ClusterSpec, now: number): Promise<void> {
    // Observe.
    const nodes = new Map<string, NodeObservation>();
    const modes = new Map<string, NodeMode>();
    const versions = new Map<string, number>();
    for (const n of c.nodes) {
      const r = this.o.registry.get(n.name);
      if (r) nodes.set(n.name, observe(r));
      modes.set(n.name, this.o.modeOf(n.name));
      const v = this.versions.get(n.name);
      if (v) versions.set(n.name, v.version);
    }
    // Decide.
    const pins = this.o.pinsOf?.(c.name);
    const result = passCluster({ cluster: c, nodes, modes, versions, settleMs: this.settleMs, backends: this.o.backendsOf(c), ...(pins ? { pins } : {}) }, this.memory.get(c.name) ?? EMPTY_MEMORY, now);
    this.memory.set(c.name, result.memory);
    if (result.holdersChanged) this.holdersDirty.add(c.name);
    const handovers = JSON.stringify([...result.memory.handovers.entries.values()]);
    if (handovers !== (this.storedHandovers.get(c.name) ?? '[]')) {
      this.storedHandovers.set(c.name, handovers);
      this.handoversDirty.add(c.name);
    }
    if (result.wakeAt === null) this.wakes.delete(c.name);
    else this.wakes.set(c.name, result.wakeAt);
    this.o.view.publish(c.name, result);
    for (const e of result.events) this.o.events.record(e);
    if (result.lapsedPins.size > 0) this.o.onLapsedPins?.(c.name, result.lapsedPins);

    // Push: number each changed desired state, send it to agents that do not run it yet.
    for (const n of c.nodes) {
      const entry = result.desired.get(n.name);
      if (!entry) continue;
      let v = this.versions.get(n.name);
      if (!v || v.key !== entry.key) {
        v = { key: entry.key, version: await this.o.state.nextDesiredVersion() };
        this.versions.set(n.name, v);
      }
      this.o.view.publishDesired(n.name, entry.content, v.version);
      this.deliver({ ...entry.content, version: v.version }, result.withheld.has(n.name), now);
    }
  }

  private deliver(desired: DesiredState, withheld: boolean, now: number): void {
    const r = this.o.registry.get(desired.node);
    // Not before its first report: a restarted coordinator must see what the agent runs
    // (a handover in progress) before telling it what to run.
    if (!r?.session || r.link === 'disconnected' || !r.snapshot || withheld) return;
    const sent = this.sent.get(desired.node);
    const sameSession = sent?.session === r.session.id;
    if (sameSession && sent?.version === desired.version) return;
    if (!sameSession && r.appliedVersion === desired.version) {
      // Reconnected already running this version: nothing to send.
      this.sent.set(desired.node, { session: r.session.id, version: desired.version });
      return;
    }
    if (this.o.outbox.sendDesiredState(desired)) {
      this.sent.set(desired.node, { session: r.session.id, version: desired.version });
      this.o.logger.debug({ event: 'desired_state.pushed', node: desired.node, version: desired.version, at: now }, 'pushed desired state');
    }
  }

  /**
   * Writes the desired holders and handovers that changed, at most CLUSTERS_PER_WRITE clusters
   * per write; a failed write is retried after the next pass.
   */
  private persist(): void {
    if (this.holdersDirty.size === 0 && this.handoversDirty.size === 0) return;
    const dirty = { holders: this.holdersDirty, handovers: this.handoversDirty };
    this.holdersDirty = new Set();
    this.handoversDirty = new Set();
    const clusters = [...new Set([...dirty.holders, ...dirty.handovers])];
    for (let i = 0; i < clusters.length; i += CLUSTERS_PER_WRITE) {
      const part = clusters.slice(i, i + CLUSTERS_PER_WRITE);
      const holders: Array<[string, Record<string, string>]> = part.filter((c) => dirty.holders.has(c)).map((c) => [c, Object.fromEntries(this.memory.get(c)?.holders ?? [])]);
      const handovers: Array<[string, HandoverEntry[]]> = part.filter((c) => dirty.handovers.has(c)).map((c) => [c, [...(this.memory.get(c)?.handovers.entries.values() ?? [])]]);
      this.persisting = this.persisting
        .then(() => this.o.state.write({ holders, handovers }))
        .catch((err: unknown) => {
          for (const [c] of holders) this.holdersDirty.add(c);
          for (const [c] of handovers) this.handoversDirty.add(c);
          this.o.logger.error({ event: 'store.write_failed', err }, 'could not persist desired holders and handovers; will retry');
        });
    }
  }

  private armWake(at: number | null, now: number): void {
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    if (at === null || this.stopped) return;
    this.wakeTimer = setTimeout(() => {
      // Only the clusters whose hold-down, settle time or handover window has come.
      const t = this.clock();
      for (const [cluster, w] of this.wakes) if (w <= t + 1) this.schedule(cluster);
    }, Math.max(0, at - now) + 1);
    this.wakeTimer.unref?.();
  }
}
