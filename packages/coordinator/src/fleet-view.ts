// The read model: the outcome of the latest reconcile pass of every cluster (placement, node
// conditions, what the agents report of each VIP, VIP status, handovers) and each node's
// desired state with its version. The API, metrics and operations read it; only the reconcile
// loop writes it. Waiters are told after every pass and every agent report.
import type { DesiredState } from '@lbha/shared';
import type { ClusterPassResult } from './cluster-pass.js';
import type { DesiredContent } from './desired-state-builder.js';
import type { HandoverEntry } from './handover-plan.js';
import type { InterlockInput } from './interlock.js';
import { weightOf, type ClusterPlacement, type NodeCondition, type NodeWeight, type Placement } from './placement.js';
import { EMPTY_SPEC, type ClusterSpec, type Spec, type VipSpec } from './spec/cluster-spec.js';
import type { ForeignSighting, NodeVipState, VipObservation, VipStatus } from './vip-observation.js';
import type { VipTrack } from './vip-tracking.js';
import type { PinRecord } from './store/coordinator-state.js';

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
  readonly basePriority: number;
  readonly perNode: readonly VipNodeView[];
  /** A planned move in progress. */
  readonly handover?: { readonly from: string; readonly to: string; readonly startedMs: number; readonly untilMs: number };
  /** Routers that are not nodes advertising the VIP's VRID. */
  readonly foreign: readonly ForeignSighting[];
  /** Where an operator moved or pinned the VIP (added by the control plane, which owns pins). */
  readonly pin?: PinRecord;
}

/** The latest pass over one cluster, as the view keeps it. */
interface ClusterState {
  readonly placement: ClusterPlacement;
  readonly conditions: ReadonlyMap<string, NodeCondition>;
  readonly observations: ReadonlyMap<string, VipObservation>;
  readonly presumedHolders: ReadonlyMap<string, string>;
  readonly tracks: ReadonlyMap<string, VipTrack>;
  readonly handovers: ReadonlyMap<string, HandoverEntry>;
  readonly wakeAt: number | null;
  readonly failingEverywhere: readonly string[];
  readonly notReady: ReadonlyMap<string, ReadonlySet<string>>;
}

const NO_WEIGHT: NodeWeight = { rank: 0, weight: 0 };

export class FleetView {
  private spec: Spec = EMPTY_SPEC;
  private readonly clusters = new Map<string, ClusterState>();
  private readonly desired = new Map<string, { readonly content: DesiredContent; readonly version: number }>();
  private readonly waiters = new Set<() => void>();

  constructor(private readonly clock: () => number = Date.now) {}

  // ---- written by the reconcile loop ----

  setSpec(spec: Spec): void {
    this.spec = spec;
    const clusters = new Set(spec.clusters.map((c) => c.name));
    const nodes = new Set(spec.clusters.flatMap((c) => c.nodes.map((n) => n.name)));
    for (const c of [...this.clusters.keys()]) if (!clusters.has(c)) this.clusters.delete(c);
    for (const n of [...this.desired.keys()]) if (!nodes.has(n)) this.desired.delete(n);
  }

  publish(cluster: string, r: ClusterPassResult): void {
    this.clusters.set(cluster, {
      placement: r.placement,
      conditions: r.conditions,
      observations: r.observations,
      presumedHolders: r.presumedHolders,
      tracks: r.memory.tracks,
      handovers: r.memory.handovers.entries,
      wakeAt: r.wakeAt,
      failingEverywhere: r.memory.failingEverywhere,
      notReady: r.notReady,
    });
  }

  /** The handovers of a cluster changed between passes (an operation retimed them). */
  publishHandovers(cluster: string, entries: ReadonlyMap<string, HandoverEntry>): void {
    const s = this.clusters.get(cluster);
    if (s) this.clusters.set(cluster, { ...s, handovers: entries });
  }

  publishDesired(node: string, content: DesiredContent, version: number): void {
    const d = this.desired.get(node);
    if (d?.content === content && d.version === version) return;
    this.desired.set(node, { content, version });
  }

  /** Re-checks every waiter's condition; call after a pass and after every agent report. */
  notify(): void {
    // Called for every report: with nobody waiting (almost always), not even a copy of the set.
    if (this.waiters.size === 0) return;
    for (const w of [...this.waiters]) w();
  }

  // ---- read by the API, metrics and operations ----

  currentSpec(): Spec {
    return this.spec;
  }

  clusterOfNode(node: string): ClusterSpec | undefined {
    return this.spec.clusters.find((c) => c.nodes.some((n) => n.name === node));
  }

  placement(): Placement {
    let next: number | null = null;
    const clusters = new Map<string, ClusterPlacement>();
    for (const [name, s] of this.clusters) {
      clusters.set(name, s.placement);
      if (s.wakeAt !== null && (next === null || s.wakeAt < next)) next = s.wakeAt;
    }
    return { clusters, nextChangeMs: next };
  }

  /** Placement inputs as of the latest passes, for what-if questions (the safety interlock). */
  interlockInput(): InterlockInput {
    const nodes = new Map<string, NodeCondition>();
    const holders = new Map<string, string>();
    const notReady = new Map<string, ReadonlySet<string>>();
    for (const s of this.clusters.values()) {
      for (const [n, c] of s.conditions) nodes.set(n, c);
      for (const [k, h] of s.presumedHolders) holders.set(k, h);
      for (const [k, set] of s.notReady) notReady.set(k, set);
    }
    return { spec: this.spec, nodes, holders, nowMs: this.clock(), notReady };
  }

  desiredOf(node: string): DesiredState | undefined {
    const d = this.desired.get(node);
    return d ? { ...d.content, version: d.version } : undefined;
  }

  /** VIPs a node holds, as its agent reports (address present or MASTER). */
  actualVipsOf(node: string): string[] {
    const out: string[] = [];
    for (const c of this.spec.clusters) {
      const obs = this.clusters.get(c.name)?.observations;
      for (const v of c.vips) if (obs?.get(v.name)?.holders.includes(node)) out.push(v.name);
    }
    return out;
  }

  /** VIPs whose desired holder is `node`. */
  desiredVipsOf(node: string): string[] {
    const out: string[] = [];
    for (const s of this.clusters.values()) for (const v of s.placement.vips) if (v.holder === node) out.push(v.vip);
    return out;
  }

  /** VIPs the node holds or should hold. */
  vipsOf(node: string): string[] {
    return [...new Set([...this.actualVipsOf(node), ...this.desiredVipsOf(node)])];
  }

  /**
   * Desired holder and status of every VIP, one at a time and without building views (for
   * /metrics, which pauses between slices of VIPs: a scrape may see passes that ran meanwhile).
   */
  *vipStates(): Generator<{ readonly cluster: string; readonly vip: string; readonly desired: string; readonly status: VipStatus }, void, undefined> {
    for (const c of this.spec.clusters) {
      const s = this.clusters.get(c.name);
      const holders = new Map<string, string>();
      for (const vp of s?.placement.vips ?? []) holders.set(vp.vip, vp.holder);
      for (const v of c.vips) yield { cluster: c.name, vip: v.name, desired: holders.get(v.name) ?? '', status: s?.tracks.get(v.name)?.status ?? 'unknown' };
    }
  }

  /** Each live node's standby readiness per VIP, as the latest pass saw it. */
  *standbyReadiness(): Generator<{ readonly cluster: string; readonly vip: string; readonly node: string; readonly ready: boolean }, void, undefined> {
    for (const c of this.spec.clusters) {
      for (const [vip, o] of this.clusters.get(c.name)?.observations ?? []) {
        for (const p of o.perNode) if (p.live && p.readiness) yield { cluster: c.name, vip, node: p.node, ready: p.readiness.result.kind === 'healthy' };
      }
    }
  }

  /** Every node of the spec, one at a time. */
  *specNodes(): Generator<{ readonly cluster: string; readonly node: string }, void, undefined> {
    for (const c of this.spec.clusters) for (const n of c.nodes) yield { cluster: c.name, node: n.name };
  }

  /** Fault checks failing on every active node of `cluster` (the latest pass). */
  failingEverywhere(cluster: string): readonly string[] {
    return this.clusters.get(cluster)?.failingEverywhere ?? [];
  }

  vips(cluster?: string): VipView[] {
    const out: VipView[] = [];
    for (const c of this.spec.clusters) {
      if (cluster && c.name !== cluster) continue;
      const s = this.clusters.get(c.name);
      for (const v of c.vips) out.push(vipView(c, v, s));
    }
    return out;
  }

  /**
   * Resolves true once `predicate` holds (checked after every pass and agent report), false
   * after `timeoutMs` or when `signal` aborts.
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
        signal?.removeEventListener('abort', check);
        resolve(v);
      };
      this.waiters.add(check);
      signal?.addEventListener('abort', check);
    });
  }
}

function vipView(c: ClusterSpec, v: VipSpec, s: ClusterState | undefined): VipView {
  const vp = s?.placement.vips.find((x) => x.vip === v.name);
  const obs = s?.observations.get(v.name);
  const weight = (n: string): NodeWeight => (s && vp ? weightOf(s.placement, vp, n) : NO_WEIGHT);
  const reported = obs?.perNode ?? c.nodes.map((n) => ({ node: n.name, live: false, state: 'unknown' as const, vipPresent: false, effectivePriority: 0, priorityTerms: [], announced: 0 }));
  const perNode: VipNodeView[] = reported.map((p) => {
    const w = weight(p.node);
    return { ...p, desiredRank: w.rank, desiredWeight: w.weight };
  });
  const h = s?.handovers.get(v.name);
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
    status: s?.tracks.get(v.name)?.status ?? 'unknown',
    basePriority: c.policy.basePriority,
    perNode,
    foreign: obs?.foreign ?? [],
    ...(h ? { handover: { from: h.from, to: h.to, startedMs: h.startedMs, untilMs: h.untilMs } } : {}),
  };
}
