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

/** One instance as a node reports it. */
export interface InstanceObservation {
  readonly vip: string;
  readonly state: VrrpState;
  /** Agent time the instance entered `state`; 0 when unknown. */
  readonly sinceMs: number;
  /** The VIP address is on the node's interface. */
  readonly vipPresent: boolean;
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
  readonly instances: Map<string, InstanceObservation>;
}

export function holds(i: InstanceObservation): boolean {
  return i.state === 'master';
}

export class FailoverTracker {
  private readonly nodes = new Map<string, NodeTrack>();
  /** The nodes of each cluster (by their track's cluster): a lost VIP looks for another holder among these only. */
  private readonly members = new Map<string, Set<string>>();
  private readonly vips = new Map<string, VipTrack>();

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
    const key = `${cluster}\u0000${vip}`;
    let t = this.vips.get(key);
    if (!t) {
      t = { holder: undefined, loss: undefined, gain: undefined };
      this.vips.set(key, t);
    }
    return t;
  }

  /**
   * A node's complete list of instances (after a snapshot or a delta). `explain` says why the
   * node no longer holds a VIP it held since `heldSinceMs`, and since when; `nowMs` stands in
   * for unknown agent times.
   */
  observe(
    cluster: string,
    node: string,
    instances: readonly InstanceObservation[],
    explain: (vip: string, heldSinceMs: number) => LossExplanation,
    nowMs: number,
  ): Observed {
    const transitions: VrrpTransition[] = [];
    const failovers: Failover[] = [];
    let n = this.nodes.get(node);
    if (!n) {
      n = { cluster, live: true, instances: new Map() };
      this.nodes.set(node, n);
      this.join(cluster, node);
    }
    if (n.cluster !== cluster) {
      // The node moved to another cluster: it no longer holds anything in the old one.
      for (const old of n.instances.values()) if (holds(old)) this.lost(n.cluster, old.vip, node, { reason: 'preempted', atMs: nowMs }, failovers);
      n.instances.clear();
      this.leave(n.cluster, node);
      n.cluster = cluster;
      this.join(cluster, node);
    }
    n.live = true;
    const seen = new Set<string>();
    for (const i of instances) {
      seen.add(i.vip);
      const prev = n.instances.get(i.vip);
      // An unchanged instance keeps the observation already kept (in the old generation of the
      // heap): a new one for every report would live until the node's next report, a second
      // later, and be copied by the young-generation collections in between.
      if (!prev || prev.state !== i.state || prev.sinceMs !== i.sinceMs || prev.vipPresent !== i.vipPresent) n.instances.set(i.vip, i);
      if (prev && prev.state !== i.state) transitions.push({ cluster, node, vip: i.vip, from: prev.state, to: i.state });
      if (holds(i)) this.gained(cluster, i.vip, node, i.sinceMs || nowMs, failovers);
      else if (prev && holds(prev)) this.lost(cluster, i.vip, node, explain(i.vip, prev.sinceMs), failovers);
    }
    for (const [vip, prev] of n.instances) {
      if (seen.has(vip)) continue;
      n.instances.delete(vip);
      if (holds(prev)) this.lost(cluster, vip, node, explain(vip, prev.sinceMs), failovers);
    }
    return { transitions, failovers };
  }

  /** The node's agent is gone (disconnected or silent): what it held counts as lost at `atMs`. */
  nodeLost(node: string, atMs: number): Failover[] {
    const n = this.nodes.get(node);
    const failovers: Failover[] = [];
    if (!n || !n.live) return failovers;
    n.live = false;
    for (const i of n.instances.values()) {
      if (holds(i)) this.lost(n.cluster, i.vip, node, { reason: 'node_lost', atMs }, failovers);
    }
    return failovers;
  }

  /** Forgets a node whose record is gone (call after nodeLost). */
  forget(node: string): void {
    const n = this.nodes.get(node);
    if (n) this.leave(n.cluster, node);
    this.nodes.delete(node);
  }

  /** The node believed to hold the VIP, if any. */
  holderOf(cluster: string, vip: string): string | undefined {
    return this.vips.get(`${cluster}\u0000${vip}`)?.holder;
  }

  private gained(cluster: string, vip: string, node: string, atMs: number, out: Failover[]): void {
    const t = this.track(cluster, vip);
    if (t.holder === node) return;
    if (t.holder === undefined) {
      if (t.loss && t.loss.node !== node) {
        out.push({ cluster, vip, from: t.loss.node, to: node, reason: t.loss.reason, durationMs: Math.max(0, atMs - t.loss.atMs) });
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

  private lost(cluster: string, vip: string, node: string, why: LossExplanation, out: Failover[]): void {
    const t = this.track(cluster, vip);
    if (t.gain && t.gain.from === node) {
      out.push({ cluster, vip, from: node, to: t.gain.node, reason: why.reason, durationMs: Math.max(0, t.gain.atMs - why.atMs) });
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
