// Closes the gap between intent and reality. On every change (agent state, mode, spec, a timer)
// it recomputes placement, pushes a new versioned desired state to each agent whose state
// changed (or that reconnected without it), compares desired holders with what the agents
// report, and raises events for divergence, split brain and orphan VIPs. On a lasting split
// brain it tells the holders that should not hold the VIP to step down.
import { CAPABILITY_HANDOVER, isLive, type DesiredState, type Logger, type NodeMode } from '@lbha/shared';
import { buildDesiredState, type DesiredContent } from './desired-state-builder.js';
import type { EventLog } from './event-log.js';
import { HandoverPlanner, type HandoverEntry } from './handover-planner.js';
import { place, weightOf, type ClusterPlacement, type NodeCondition, type NodeHealth, type Placement, type VipPlacement } from './placement.js';
import type { NodeRecord, Registry, RegistryEvent } from './registry.js';
import { EMPTY_SPEC, vipKey, type ClusterSpec, type Spec, type VipSpec } from './spec/cluster-spec.js';
import type { CoordinatorState } from './store/coordinator-state.js';
import { observeCluster, vipStatus, type NodeVipState, type VipObservation, type VipStatus } from './vip-observation.js';

export interface ReconcilerOptions {
  readonly registry: Registry;
  readonly events: EventLog;
  readonly state: CoordinatorState;
  readonly logger: Logger;
  /** The coordinator-owned mode of a node. */
  readonly modeOf: (node: string) => NodeMode;
  readonly clock?: () => number;
  /** A VIP problem must last this long before it is reported and acted on (default 2s). */
  readonly settleMs?: number;
  /** Changes arriving within this window are handled in one pass (default 10ms). */
  readonly debounceMs?: number;
}

/** One node's part in a VIP: what keepalived reports and what the coordinator wants. */
export interface VipNodeView extends NodeVipState {
  readonly desiredRank: number;
  readonly desiredWeight: number;
}

export interface VipView {
  readonly cluster: string;
  readonly name: string;
  readonly address: string;
  readonly vrid: number;
  readonly interface: string;
  readonly home: string | null;
  readonly group: string;
  readonly desiredHolder: string;
  readonly actualHolders: readonly string[];
  readonly ranking: readonly string[];
  readonly reason: string;
  readonly status: VipStatus;
  /** Since when the VIP has had this status. */
  readonly statusSinceMs: number;
  readonly basePriority: number;
  readonly perNode: readonly VipNodeView[];
  /** A planned move in progress. */
  readonly handover?: { readonly from: string; readonly to: string; readonly startedMs: number; readonly untilMs: number };
}

interface DesiredEntry {
  readonly content: DesiredContent;
  readonly key: string;
  readonly version: number;
}

interface VipTrack {
  status: VipStatus;
  sinceMs: number;
  /** Status an event was last raised for. */
  reported: VipStatus;
  /** Single actual holder last seen, for vip.moved events. */
  holder: string | undefined;
}

const PROBLEMS: ReadonlySet<VipStatus> = new Set(['divergent', 'split_brain', 'orphan']);

export class Reconciler {
  private readonly registry: Registry;
  private readonly events: EventLog;
  private readonly state: CoordinatorState;
  private readonly log: Logger;
  private readonly modeOf: (node: string) => NodeMode;
  private readonly clock: () => number;
  private readonly settleMs: number;
  private readonly debounceMs: number;

  private spec: Spec = EMPTY_SPEC;
  // Per-cluster results of the last pass over each cluster. A pass covers only the clusters
  // marked dirty (by their nodes' agents, or all of them on a spec, mode or timer change):
  // at thousands of agents, recomputing everything on every delta would hog the event loop.
  private readonly placements = new Map<string, ClusterPlacement>();
  private readonly wakes = new Map<string, number>();
  private readonly conditions = new Map<string, NodeCondition>();
  private readonly holdersInput = new Map<string, string>();
  private readonly observations = new Map<string, VipObservation>();
  private readonly nodeCluster = new Map<string, string>();
  private dirty = new Set<string>();
  private allDirty = true;
  private readonly desired = new Map<string, DesiredEntry>();
  private readonly sent = new Map<string, { session: string; version: number }>();
  private readonly healthySince = new Map<string, number>();
  private readonly lastHealth = new Map<string, NodeHealth>();
  /** Desired holder per vipKey, persisted so that a restart does not move anything. */
  private readonly lastHolders = new Map<string, string>();
  private holdersDirty = new Set<string>();
  private readonly tracks = new Map<string, VipTrack>();
  /** node -> vipKeys it must step down from. */
  private readonly stepDown = new Map<string, Set<string>>();
  private readonly mismatched = new Set<string>();
  /** Per cluster: what its desired states were last built from, to skip unchanged clusters. */
  private readonly built = new Map<string, { spec: ClusterSpec; key: string }>();
  private readonly waiters = new Set<() => void>();
  private readonly handovers = new HandoverPlanner();

  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private persisting: Promise<void> = Promise.resolve();

  constructor(opts: ReconcilerOptions) {
    this.registry = opts.registry;
    this.events = opts.events;
    this.state = opts.state;
    this.log = opts.logger;
    this.modeOf = opts.modeOf;
    this.clock = opts.clock ?? Date.now;
    this.settleMs = opts.settleMs ?? 2000;
    this.debounceMs = opts.debounceMs ?? 10;
  }

  /** Restores the last desired holders (from the store) before the first pass. */
  loadHolders(byCluster: ReadonlyMap<string, Readonly<Record<string, string>>>): void {
    for (const [cluster, h] of byCluster) for (const [vip, node] of Object.entries(h)) this.lastHolders.set(vipKey(cluster, vip), node);
  }

  start(): void {
    this.stopped = false;
    this.unsubscribe = this.registry.subscribe((e) => this.onRegistryEvent(e));
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
    // Forget what belongs to nodes and VIPs that are gone.
    const nodes = new Set(spec.clusters.flatMap((c) => c.nodes.map((n) => n.name)));
    const vips = new Set(spec.clusters.flatMap((c) => c.vips.map((v) => vipKey(c.name, v.name))));
    for (const n of [...this.desired.keys()]) if (!nodes.has(n)) this.desired.delete(n);
    for (const k of [...this.tracks.keys()]) if (!vips.has(k)) this.tracks.delete(k);
    for (const k of [...this.lastHolders.keys()]) if (!vips.has(k)) this.lastHolders.delete(k);
    const names = new Set(spec.clusters.map((c) => c.name));
    for (const c of [...this.placements.keys()]) {
      if (names.has(c)) continue;
      this.placements.delete(c);
      this.handovers.forgetCluster(c);
    }
    for (const c of [...this.wakes.keys()]) if (!names.has(c)) this.wakes.delete(c);
    this.nodeCluster.clear();
    for (const c of spec.clusters) for (const n of c.nodes) this.nodeCluster.set(n.name, c.name);
    this.schedule();
  }

  currentSpec(): Spec {
    return this.spec;
  }

  /**
   * Recompute soon (only `cluster` when given, else every cluster); changes arriving meanwhile
   * are handled in the same pass.
   */
  schedule(cluster?: string): void {
    if (cluster === undefined) this.allDirty = true;
    else this.dirty.add(cluster);
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runNow();
    }, this.debounceMs);
    this.timer.unref?.();
  }

  /** Runs one pass now (waits for a pass in progress first). */
  async runNow(): Promise<void> {
    while (this.running) await this.running;
    this.running = this.pass()
      .catch((err: unknown) => this.log.error({ event: 'reconcile.failed', err }, 'reconcile pass failed'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.schedule();
        }
      });
    await this.running;
  }

  /**
   * Resolves true once `predicate` holds (checked after every pass and agent state change),
   * false after `timeoutMs`.
   */
  waitUntil(predicate: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (predicate()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const check = () => {
        if (signal?.aborted) return done(false);
        if (predicate()) done(true);
      };
      const timer = setTimeout(() => done(false), Math.max(0, timeoutMs));
      const done = (v: boolean) => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(v);
      };
      this.waiters.add(check);
    });
  }

  private onRegistryEvent(e: RegistryEvent): void {
    // Results are the dispatcher's; a push is this reconciler's own doing.
    if (e.type === 'command-result' || e.type === 'pushed') return;
    if (e.type === 'connected') {
      const r = this.registry.get(e.node);
      if (r && !this.spec.clusters.some((c) => c.nodes.some((n) => n.name === e.node))) {
        this.events.record({ type: 'node.unknown', cluster: r.cluster, node: e.node, severity: 'warning', message: `agent of ${e.node} connected, but the spec has no such node; it gets no desired state` });
      }
      this.mismatched.delete(e.node);
    }
    const cluster = this.nodeCluster.get(e.node);
    if (cluster !== undefined) this.schedule(cluster);
    for (const w of [...this.waiters]) w();
  }

  // ---- handovers (for operations) ----

  /** Handovers of VIPs moving away from `node`. */
  handoversFrom(node: string): HandoverEntry[] {
    return this.handovers.from(node);
  }

  /** Keeps the handovers away from `node` open until `untilMs` (a drain waiting for connections). */
  extendHandovers(node: string, untilMs: number): void {
    for (const c of this.handovers.extendFrom(node, untilMs)) this.schedule(c);
  }

  /** Ends the handovers away from `node` (its connections are drained, or about to be cut). */
  endHandovers(node: string): void {
    for (const c of this.handovers.endFrom(node, this.clock())) this.schedule(c);
  }

  // ---- queries (for operations and the API) ----

  conditionOf(node: string): NodeCondition | undefined {
    return this.conditions.get(node);
  }

  /** Placement inputs as of the last pass, for what-if questions (the safety interlock). */
  inputs(): { spec: Spec; nodes: ReadonlyMap<string, NodeCondition>; holders: ReadonlyMap<string, string>; nowMs: number } {
    return { spec: this.spec, nodes: this.conditions, holders: this.holdersInput, nowMs: this.clock() };
  }

  currentPlacement(): Placement {
    let next: number | null = null;
    for (const w of this.wakes.values()) if (next === null || w < next) next = w;
    return { clusters: this.placements, nextChangeMs: next };
  }

  desiredOf(node: string): DesiredState | undefined {
    const d = this.desired.get(node);
    return d ? { ...d.content, version: d.version } : undefined;
  }

  /** VIPs a node holds, as its agent reports (address present or MASTER). */
  actualVipsOf(node: string): string[] {
    const out: string[] = [];
    for (const c of this.spec.clusters) {
      for (const v of c.vips) if (this.observations.get(vipKey(c.name, v.name))?.holders.includes(node)) out.push(v.name);
    }
    return out;
  }

  /** VIPs whose desired holder is `node`. */
  desiredVipsOf(node: string): string[] {
    const out: string[] = [];
    for (const cp of this.placements.values()) for (const v of cp.vips) if (v.holder === node) out.push(v.vip);
    return out;
  }

  vipViews(cluster?: string): VipView[] {
    const out: VipView[] = [];
    for (const c of this.spec.clusters) {
      if (cluster && c.name !== cluster) continue;
      const cp = this.placements.get(c.name);
      for (const v of c.vips) {
        const key = vipKey(c.name, v.name);
        const vp = cp?.vips.find((x) => x.vip === v.name);
        const obs = this.observations.get(key);
        const track = this.tracks.get(key);
        out.push(this.viewOf(c, v, vp, obs, track, cp ? (n: string) => (vp ? weightOf(cp, vp, n) : { rank: 0, weight: 0 }) : () => ({ rank: 0, weight: 0 })));
      }
    }
    return out;
  }

  private handoverView(cluster: string, vip: string): Pick<VipView, 'handover'> {
    const e = this.handovers.list().find((x) => x.cluster === cluster && x.vip === vip);
    return e ? { handover: { from: e.from, to: e.to, startedMs: e.startedMs, untilMs: e.untilMs } } : {};
  }

  private viewOf(
    c: ClusterSpec,
    v: VipSpec,
    vp: VipPlacement | undefined,
    obs: VipObservation | undefined,
    track: VipTrack | undefined,
    weight: (node: string) => { rank: number; weight: number },
  ): VipView {
    const perNode: VipNodeView[] = (obs?.perNode ?? c.nodes.map((n) => ({ node: n.name, live: false, state: 'unknown' as const, vipPresent: false, effectivePriority: 0, priorityTerms: [] }))).map((p) => {
      const w = weight(p.node);
      return { ...p, desiredRank: w.rank, desiredWeight: w.weight };
    });
    return {
      cluster: c.name,
      name: v.name,
      address: v.cidr,
      vrid: v.vrid,
      interface: v.interface,
      home: v.home,
      group: v.group,
      desiredHolder: vp?.holder ?? '',
      actualHolders: obs?.holders ?? [],
      ranking: vp?.ranking ?? [],
      reason: vp?.reason ?? '',
      status: track?.status ?? 'unknown',
      statusSinceMs: track?.sinceMs ?? 0,
      basePriority: c.policy.basePriority,
      perNode,
      ...this.handoverView(c.name, v.name),
    };
  }

  // ---- the pass ----

  private conditionFrom(r: NodeRecord | undefined, name: string, now: number): NodeCondition {
    const mode = this.modeOf(name);
    const live = r !== undefined && isLive(r.link) && r.snapshot !== undefined;
    const health: NodeHealth = !live ? 'unknown' : r.snapshot?.healthy ? 'healthy' : 'unhealthy';
    const penalty = live
      ? (r.snapshot?.checks ?? []).reduce((s, c) => s + (c.effect === 'penalty' && c.result.kind === 'unhealthy' ? c.penalty : 0), 0)
      : 0;
    const before = this.lastHealth.get(name);
    if (health === 'healthy' && before !== 'healthy') this.healthySince.set(name, now);
    if (health !== before) {
      this.lastHealth.set(name, health);
      const cluster = r?.cluster ?? '';
      if (health === 'unhealthy') {
        const failing = (r?.snapshot?.checks ?? []).filter((c) => c.result.kind !== 'healthy' && c.effect === 'fault').map((c) => `${c.name}: ${c.result.kind === 'healthy' ? '' : c.result.reason}`);
        this.events.record({ type: 'node.unhealthy', cluster, node: name, severity: 'warning', message: `${name} is unhealthy`, reason: failing.join('; ') });
      } else if (health === 'healthy' && before === 'unhealthy') {
        this.events.record({ type: 'node.healthy', cluster, node: name, message: `${name} is healthy again` });
      }
    }
    return { health, penalty, mode, healthySinceMs: health === 'healthy' ? (this.healthySince.get(name) ?? now) : null };
  }

  private async pass(): Promise<void> {
    if (this.stopped) return;
    const now = this.clock();
    const spec = this.spec;
    const all = this.allDirty;
    const dirty = this.dirty;
    this.allDirty = false;
    this.dirty = new Set();
    for (const c of spec.clusters) if (all || dirty.has(c.name)) await this.passCluster(c, now);
    this.persistHolders();
    let wakeAt: number | null = null;
    for (const w of this.wakes.values()) if (wakeAt === null || w < wakeAt) wakeAt = w;
    this.armWake(wakeAt, now);
    for (const w of [...this.waiters]) w();
  }

  private async passCluster(c: ClusterSpec, now: number): Promise<void> {
    for (const n of c.nodes) this.conditions.set(n.name, this.conditionFrom(this.registry.get(n.name), n.name, now));
    const obs = observeCluster(c, (name) => {
      const r = this.registry.get(name);
      return { live: r !== undefined && isLive(r.link), snapshot: r?.snapshot };
    });
    for (const [vip, o] of obs) {
      const key = vipKey(c.name, vip);
      this.observations.set(key, o);
      // Current holder: who reports the VIP; else who was last told to hold it.
      const last = this.lastHolders.get(key);
      const h = o.holders.length === 0 ? last : last !== undefined && o.holders.includes(last) ? last : o.holders[0];
      if (h !== undefined) this.holdersInput.set(key, h);
      else this.holdersInput.delete(key);
    }

    const placement = place({ spec: { clusters: [c] }, nodes: this.conditions, holders: this.holdersInput, nowMs: now });
    const cp = placement.clusters.get(c.name) as ClusterPlacement;
    this.placements.set(c.name, cp);

    let wakeAt = placement.nextChangeMs;
    const stepDown = new Map<string, Set<string>>();
    for (const vp of cp.vips) {
      const key = vipKey(c.name, vp.vip);
      const last = this.lastHolders.get(key);
      if (last !== vp.holder) {
        if (last !== undefined) {
          this.events.record({ type: 'placement.changed', cluster: c.name, vip: vp.vip, node: vp.holder, message: `${vp.vip} should now be held by ${vp.holder} (was ${last})`, reason: vp.reason });
        }
        this.lastHolders.set(key, vp.holder);
        this.holdersDirty.add(c.name);
      }
      const o = this.observations.get(key) as VipObservation;
      const split = this.track(c, vp, o, now);
      if (split) {
        // Keep the desired holder, or the best-ranked of the holders; the rest step down.
        const keep = o.holders.includes(vp.holder) ? vp.holder : [...o.holders].sort((a, b) => vp.ranking.indexOf(a) - vp.ranking.indexOf(b))[0];
        for (const h of o.holders) {
          if (h === keep) continue;
          let set = stepDown.get(h);
          if (!set) stepDown.set(h, (set = new Set()));
          set.add(key);
          if (!this.stepDown.get(h)?.has(key)) {
            this.events.record({ type: 'vip.step_down', cluster: c.name, vip: vp.vip, node: h, severity: 'warning', message: `told ${h} to step down from ${vp.vip}; ${keep} keeps it` });
          }
        }
      }
      const t = this.tracks.get(key);
      if (t && PROBLEMS.has(t.status) && t.reported !== t.status) {
        const at = t.sinceMs + this.settleMs;
        if (wakeAt === null || at < wakeAt) wakeAt = at;
      }
    }
    for (const n of c.nodes) {
      const s = stepDown.get(n.name);
      if (s) this.stepDown.set(n.name, s);
      else this.stepDown.delete(n.name);
    }
    const plan = this.handovers.plan(c, cp, {
      now,
      live: (n) => {
        const r = this.registry.get(n);
        return r !== undefined && isLive(r.link) && r.snapshot !== undefined;
      },
      healthy: (n) => this.conditions.get(n)?.health === 'healthy',
      capable: (n) => this.registry.get(n)?.capabilities.includes(CAPABILITY_HANDOVER) ?? false,
      applied: (n) => this.registry.get(n)?.appliedVersion ?? 0,
      actualHolders: (vip) => this.observations.get(vipKey(c.name, vip))?.holders ?? [],
      mode: (n) => this.modeOf(n),
      reported: (vip) =>
        (this.observations.get(vipKey(c.name, vip))?.perNode ?? []).flatMap((p) => (p.handover ? [{ node: p.node, handover: p.handover }] : [])),
    });
    this.recordHandovers(plan.started, plan.ended, plan.unconfirmed, c.name);
    if (plan.wakeAt !== null && (wakeAt === null || plan.wakeAt < wakeAt)) wakeAt = plan.wakeAt;
    if (wakeAt === null) this.wakes.delete(c.name);
    else this.wakes.set(c.name, wakeAt);
    await this.push(c, plan.placement, plan.modeOf, now);
    this.handovers.pushedVersions(c.name, (n) => this.desired.get(n)?.version);
  }

  private recordHandovers(
    started: readonly HandoverEntry[],
    ended: ReadonlyArray<{ entry: HandoverEntry; reason: string }>,
    unconfirmed: readonly string[],
    cluster: string,
  ): void {
    for (const e of started) {
      const secs = Math.round((e.untilMs - e.startedMs) / 1000);
      this.events.record({ type: 'handover.started', cluster, vip: e.vip, node: e.to, message: `${e.vip} moves from ${e.from} to ${e.to}; ${e.from} keeps answering its open connections for up to ${secs}s` });
    }
    for (const { entry: e, reason } of ended) {
      this.events.record({ type: 'handover.ended', cluster, vip: e.vip, node: e.from, message: `handover of ${e.vip} from ${e.from} to ${e.to} ended: ${reason}` });
    }
    if (unconfirmed.length > 0) {
      this.events.record({ type: 'handover.unconfirmed', cluster, severity: 'warning', message: `agents of ${unconfirmed.join(', ')} did not confirm the handover in time; VIPs move without waiting` });
    }
  }

  /** Updates a VIP's status, raises events once a problem has lasted `settleMs`; true on a settled split brain. */
  private track(c: ClusterSpec, vp: VipPlacement, obs: VipObservation, now: number): boolean {
    const key = vipKey(c.name, vp.vip);
    const status = vipStatus(vp.holder, obs);
    let t = this.tracks.get(key);
    if (!t) {
      t = { status, sinceMs: now, reported: 'ok', holder: undefined };
      this.tracks.set(key, t);
    } else if (t.status !== status) {
      t.status = status;
      t.sinceMs = now;
    }
    const single = obs.holders.length === 1 ? obs.holders[0] : undefined;
    if (single !== undefined && t.holder !== undefined && single !== t.holder) {
      this.events.record({ type: 'vip.moved', cluster: c.name, vip: vp.vip, node: single, message: `${vp.vip} moved from ${t.holder} to ${single}` });
    }
    if (single !== undefined) t.holder = single;

    const settled = now - t.sinceMs >= this.settleMs;
    if (PROBLEMS.has(status) && settled && t.reported !== status) {
      t.reported = status;
      const base = { cluster: c.name, vip: vp.vip, node: single ?? vp.holder, reason: vp.reason };
      if (status === 'split_brain') {
        this.events.record({ ...base, type: 'vip.split_brain', severity: 'critical', message: `${vp.vip} is held by ${obs.holders.join(' and ')} at once` });
      } else if (status === 'orphan') {
        this.events.record({ ...base, type: 'vip.orphan', severity: 'critical', message: `${vp.vip} is held by no node (desired: ${vp.holder})` });
      } else {
        this.events.record({ ...base, type: 'vip.divergent', severity: 'warning', message: `${vp.vip} is held by ${single} but should be held by ${vp.holder}` });
      }
    } else if (status === 'ok' && PROBLEMS.has(t.reported)) {
      this.events.record({ type: 'vip.converged', cluster: c.name, vip: vp.vip, node: vp.holder, message: `${vp.vip} is held by ${vp.holder} as desired again (was ${t.reported.replace('_', ' ')})` });
      t.reported = 'ok';
    }
    return status === 'split_brain' && settled;
  }

  private async push(c: ClusterSpec, cp: ClusterPlacement, modeOf: (node: string) => NodeMode, now: number): Promise<void> {
    {
      // Desired states depend only on these; at thousands of nodes, rebuilding unchanged
      // clusters on every agent delta would dominate the event loop.
      const inputs = JSON.stringify([
        cp.anyEligible,
        cp.vips.map((v) => v.ranking),
        c.nodes.map((n) => [cp.classes.get(n.name), modeOf(n.name), [...(this.stepDown.get(n.name) ?? [])]]),
        this.handovers.key(c.name),
      ]);
      const last = this.built.get(c.name);
      const unchanged = last !== undefined && last.spec === c && last.key === inputs && c.nodes.every((n) => this.desired.has(n.name));
      for (const n of c.nodes) {
        let entry = this.desired.get(n.name);
        if (!unchanged) {
          const content = buildDesiredState(c, cp, n, modeOf(n.name), this.stepDown.get(n.name) ?? new Set(), (vip) => this.handovers.handoverOf(c.name, vip, n.name));
          const key = JSON.stringify(content);
          if (!entry || entry.key !== key) {
            entry = { content, key, version: await this.state.nextDesiredVersion() };
            this.desired.set(n.name, entry);
          }
        }
        if (!entry) continue;
        const r = this.registry.get(n.name);
        // Not before its first report: a restarted coordinator must see what the agent runs
        // (a handover in progress) before telling it what to run.
        if (!r?.session || r.link === 'disconnected' || !r.snapshot) continue;
        if (r.cluster !== c.name) {
          if (!this.mismatched.has(n.name)) {
            this.mismatched.add(n.name);
            this.events.record({ type: 'node.cluster_mismatch', cluster: r.cluster, node: n.name, severity: 'critical', message: `agent of ${n.name} says cluster ${r.cluster}, the spec says ${c.name}; not pushing desired state` });
          }
          continue;
        }
        const sent = this.sent.get(n.name);
        const sameSession = sent?.session === r.session.id;
        if (sameSession && sent?.version === entry.version) continue;
        if (!sameSession && r.appliedVersion === entry.version) {
          // Reconnected already running this version: nothing to send.
          this.sent.set(n.name, { session: r.session.id, version: entry.version });
          continue;
        }
        if (this.registry.pushDesiredState({ ...entry.content, version: entry.version })) {
          this.sent.set(n.name, { session: r.session.id, version: entry.version });
          this.log.debug({ event: 'desired_state.pushed', node: n.name, version: entry.version, at: now }, 'pushed desired state');
        }
      }
      this.built.set(c.name, { spec: c, key: inputs });
    }
  }

  private persistHolders(): void {
    if (this.holdersDirty.size === 0) return;
    const clusters = [...this.holdersDirty];
    this.holdersDirty = new Set();
    const records: Array<[string, Record<string, string>]> = clusters.map((cluster) => {
      const h: Record<string, string> = {};
      const c = this.spec.clusters.find((x) => x.name === cluster);
      for (const v of c?.vips ?? []) {
        const node = this.lastHolders.get(vipKey(cluster, v.name));
        if (node !== undefined) h[v.name] = node;
      }
      return [cluster, h];
    });
    this.persisting = this.persisting
      .then(() => this.state.write({ holders: records }))
      .catch((err: unknown) => {
        for (const c of clusters) this.holdersDirty.add(c);
        this.log.error({ event: 'store.write_failed', err }, 'could not persist desired holders; will retry');
      });
  }

  private armWake(at: number | null, now: number): void {
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    if (at === null || this.stopped) return;
    this.wakeTimer = setTimeout(() => {
      // Only the clusters whose hold-down or settle time has come.
      const t = this.clock();
      for (const [cluster, w] of this.wakes) if (w <= t + 1) this.schedule(cluster);
    }, Math.max(0, at - now) + 1);
    this.wakeTimer.unref?.();
  }
}
