// Follows who holds each VIP from the agents' reported VRRP states and recognises failovers:
// a VIP leaving one holder and arriving at another. No I/O and no clock: callers pass times.
//
// The duration of a failover runs from the moment the old holder lost the VIP (the earliest of:
// its failing check turned bad, its instance left MASTER; or its last message when its agent
// went silent) to the moment the new holder's instance entered MASTER. Both come from the agents'
// own timestamps (`sinceMs`), so stream delays do not count; between nodes the clocks differ by
// their NTP skew, which is small against the 250 ms this measures, and a negative result (the
// new holder took over before the old one let go, e.g. a preemption) counts as zero.
import type { VrrpState } from '@lbha/shared';
import type { FailoverReason } from './metric-definitions.js';

/** One instance as a node reports it (an agent's InstanceStatus is one). */
export interface InstanceObservation {
  /** The VIP's name. */
  readonly name: string;
  readonly state: VrrpState;
  /** Agent time the instance entered `state`; 0 when unknown. */
  readonly sinceMs: number;
  /** The VIP address is on the node's interface. */
  readonly vipPresent: boolean;
}

/** What the tracker keeps of a node's instance: its own record, updated in place. */
interface KeptInstance {
  readonly vip: string;
  state: VrrpState;
  sinceMs: number;
  vipPresent: boolean;
  /** The node's report that last listed it (NodeTrack.reports). */
  seen: number;
}

/** Why and since when a node no longer holds a VIP. */
export interface LossExplanation {
  readonly reason: FailoverReason;
  readonly atMs: number;
}

export interface VrrpTransition {
  readonly cluster: string;
  readonly node: string;
  readonly vip: string;
  readonly from: VrrpState;
  readonly to: VrrpState;
}

export interface Failover {
  readonly cluster: string;
  readonly vip: string;
  readonly from: string;
  readonly to: string;
  readonly reason: FailoverReason;
  readonly durationMs: number;
}

export interface Observed {
  readonly transitions: readonly VrrpTransition[];
  readonly failovers: readonly Failover[];
}

interface VipTrack {
  /** The node believed to hold the VIP now. */
  holder: string | undefined;
  /** The last holder lost the VIP and nobody has it yet. */
  loss: { readonly node: string; readonly atMs: number; readonly reason: FailoverReason } | undefined;
  /** `node` took the VIP while `from` was still believed to hold it; completed when `from` lets go. */
  gain: { readonly from: string; readonly node: string; readonly atMs: number } | undefined;
}

interface NodeTrack {
  cluster: string;
  /** False after the node's agent was lost, until it reports again. */
  live: boolean;
  readonly instances: Map<string, KeptInstance>;
  /** Reports observed so far: an instance whose `seen` is behind was not in the last. */
  reports: number;
}

export function holds(i: { readonly state: VrrpState }): boolean {
  return i.state === 'master';
}

/** What a report without a transition or a failover gives: most reports (one a second per node). */
const NOTHING: Observed = Object.freeze({ transitions: Object.freeze([]), failovers: Object.freeze([]) });

export class FailoverTracker {
  private readonly nodes = new Map<string, NodeTrack>();
  /** The nodes of each cluster (by their track's cluster): a lost VIP looks for another holder among these only. */
  private readonly members = new Map<string, Set<string>>();
  /** Per cluster, per VIP name: looked up with the strings the reports carry, no key built. */
  private readonly vips = new Map<string, Map<string, VipTrack>>();
  /** Failovers found by the call in progress (gained, lost), handed out when it returns. */
  private readonly found: Failover[] = [];

  private join(cluster: string, node: string): void {
    let set = this.members.get(cluster);
    if (!set) this.members.set(cluster, (set = new Set()));
    set.add(node);
  }

  private leave(cluster: string, node: string): void {
    const set = this.members.get(cluster);
    if (!set) return;
    set.delete(node);
    if (set.size === 0) this.members.delete(cluster);
  }

  private track(cluster: string, vip: string): VipTrack {
    let inCluster = this.vips.get(cluster);
    if (!inCluster) this.vips.set(cluster, (inCluster = new Map()));
    let t = inCluster.get(vip);
    if (!t) {
      t = { holder: undefined, loss: undefined, gain: undefined };
      inCluster.set(vip, t);
    }
    return t;
  }

  /** The failovers found by the call in progress, in an array of their own; `found` emptied. */
  private takeFound(): Failover[] {
    return this.found.length === 0 ? [] : this.found.splice(0);
  }

  /**
   * A node's complete list of instances (after a snapshot or a delta), the first `count` of
   * them. `explain` says why the node no longer holds a VIP it held since `heldSinceMs`, and
   * since when; `nowMs` stands in for unknown agent times. Called for every report of every
   * node: a report that changes nothing allocates nothing (each object made here would live
   * until the node's next report and be copied by the young-generation collections between).
   */
  observe(
    cluster: string,
    node: string,
    instances: readonly InstanceObservation[],
    explain: (vip: string, heldSinceMs: number) => LossExplanation,
    nowMs: number,
    count = instances.length,
  ): Observed {
    let transitions: VrrpTransition[] | undefined;
    let n = this.nodes.get(node);
    if (!n) {
      n = { cluster, live: true, instances: new Map(), reports: 0 };
      this.nodes.set(node, n);
      this.join(cluster, node);
    }
    if (n.cluster !== cluster) {
      // The node moved to another cluster: it no longer holds anything in the old one.
      for (const old of n.instances.values()) if (holds(old)) this.lost(n.cluster, old.vip, node, { reason: 'preempted', atMs: nowMs });
      n.instances.clear();
      this.leave(n.cluster, node);
      n.cluster = cluster;
      this.join(cluster, node);
    }
    n.live = true;
    const report = ++n.reports;
    const upTo = Math.min(count, instances.length);
    for (let k = 0; k < upTo; k++) {
      const i = instances[k] as InstanceObservation;
      const prev = n.instances.get(i.name);
      // What the previous report said, before the kept record takes this one's values.
      const prevState = prev?.state;
      const prevSinceMs = prev?.sinceMs ?? 0;
      if (!prev) n.instances.set(i.name, { vip: i.name, state: i.state, sinceMs: i.sinceMs, vipPresent: i.vipPresent, seen: report });
      else {
        prev.seen = report;
        prev.state = i.state;
        prev.sinceMs = i.sinceMs;
        prev.vipPresent = i.vipPresent;
      }
      if (prevState !== undefined && prevState !== i.state) (transitions ??= []).push({ cluster, node, vip: i.name, from: prevState, to: i.state });
      if (holds(i)) this.gained(cluster, i.name, node, i.sinceMs || nowMs);
      else if (prevState === 'master') this.lost(cluster, i.name, node, explain(i.name, prevSinceMs));
    }
    for (const prev of n.instances.values()) {
      if (prev.seen === report) continue;
      n.instances.delete(prev.vip);
      if (holds(prev)) this.lost(cluster, prev.vip, node, explain(prev.vip, prev.sinceMs));
    }
    if (transitions === undefined && this.found.length === 0) return NOTHING;
    return { transitions: transitions ?? [], failovers: this.takeFound() };
  }

  /** The node's agent is gone (disconnected or silent): what it held counts as lost at `atMs`. */
  nodeLost(node: string, atMs: number): Failover[] {
    const n = this.nodes.get(node);
    if (!n || !n.live) return [];
    n.live = false;
    for (const i of n.instances.values()) {
      if (holds(i)) this.lost(n.cluster, i.vip, node, { reason: 'node_lost', atMs });
    }
    return this.takeFound();
  }

  /** Forgets a node whose record is gone (call after nodeLost). */
  forget(node: string): void {
    const n = this.nodes.get(node);
    if (n) this.leave(n.cluster, node);
    this.nodes.delete(node);
  }

  /** The node believed to hold the VIP, if any. */
  holderOf(cluster: string, vip: string): string | undefined {
    return this.vips.get(cluster)?.get(vip)?.holder;
  }

  private gained(cluster: string, vip: string, node: string, atMs: number): void {
    const t = this.track(cluster, vip);
    if (t.holder === node) return;
    if (t.holder === undefined) {
      if (t.loss && t.loss.node !== node) {
        this.found.push({ cluster, vip, from: t.loss.node, to: node, reason: t.loss.reason, durationMs: Math.max(0, atMs - t.loss.atMs) });
      }
      // Otherwise: the VIP's first holder, or the old holder back after its agent reconnected.
      t.loss = undefined;
      t.gain = undefined;
      t.holder = node;
      return;
    }
    // The previous holder has not reported letting go (yet): complete the move when it does.
    t.gain = { from: t.holder, node, atMs };
    t.loss = undefined;
    t.holder = node;
  }

  private lost(cluster: string, vip: string, node: string, why: LossExplanation): void {
    const t = this.track(cluster, vip);
    if (t.gain && t.gain.from === node) {
      this.found.push({ cluster, vip, from: node, to: t.gain.node, reason: why.reason, durationMs: Math.max(0, t.gain.atMs - why.atMs) });
      t.gain = undefined;
      return;
    }
    if (t.holder !== node) return;
    // Another live node still reports MASTER (the other side of a split brain): it holds the VIP.
    const other = this.otherMaster(cluster, vip, node);
    t.gain = undefined;
    if (other) {
      t.holder = other;
      t.loss = undefined;
      return;
    }
    t.holder = undefined;
    t.loss = { node, atMs: why.atMs, reason: why.reason };
  }

  private otherMaster(cluster: string, vip: string, except: string): string | undefined {
    for (const name of this.members.get(cluster) ?? []) {
      const n = this.nodes.get(name);
      if (name === except || !n || !n.live || n.cluster !== cluster) continue;
      const i = n.instances.get(vip);
      if (i && holds(i)) return name;
    }
    return undefined;
  }
}
