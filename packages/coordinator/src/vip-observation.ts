// What is actually true about each VIP, from the agents' snapshots (keepalived's notify FIFO
// state and the address on the interface), and how it compares with the desired holder. Pure.
import type { ForeignRouter, Handover, InstanceStatus, NodeSnapshot, PriorityTerm, VipReadiness, VrrpState } from '@lbha/shared';
import type { ClusterSpec, VipSpec } from './spec/cluster-spec.js';

/** What the coordinator can see of one node right now. */
export interface NodeReport {
  /** Connected and sending heartbeats. */
  readonly live: boolean;
  readonly snapshot: NodeSnapshot | undefined;
}

export interface NodeVipState {
  readonly node: string;
  readonly live: boolean;
  readonly state: VrrpState;
  readonly vipPresent: boolean;
  readonly effectivePriority: number;
  readonly priorityTerms: readonly PriorityTerm[];
  readonly handover?: Handover;
  readonly handoverError?: string;
  /** Outgoing handover, the VIP gone from the node: the connections it still serves through it. */
  readonly handoverConnections?: number;
  /** The last announcement request the node carried out (0: none). */
  readonly announced: number;
  /** Whether the node's proxy would serve the VIP (standby readiness); absent: not reported. */
  readonly readiness?: VipReadiness;
}

/**
 * ok: one holder, the desired one. divergent: one holder, another node. split_brain: several
 * holders. orphan: every node reports and none holds it. unknown: not enough nodes report.
 * foreign: no node holds it and a router that is not a node advertises its VRID (it took it).
 * healing (vip-tracking.ts): one holder after a split brain, which has not yet confirmed that it
 * announced the VIP after the other holders let go: clients may still send to one of them.
 */
export type VipStatus = 'ok' | 'divergent' | 'split_brain' | 'orphan' | 'unknown' | 'foreign' | 'healing';

/** A router that is not a node of the cluster, as the nodes see it advertise a VIP's VRID. */
export interface ForeignSighting {
  readonly source: string;
  /** The highest priority a node saw it advertise. */
  readonly priority: number;
  /** The nodes that see it, sorted. */
  readonly seenBy: readonly string[];
  readonly lastSeenMs: number;
}

/** At most this many foreign routers per VIP are tracked (a flood of forged sources stays bounded). */
export const MAX_FOREIGN_PER_VIP = 8;

export interface VipObservation {
  /** Live nodes that have the address or report MASTER, sorted by name. */
  readonly holders: readonly string[];
  readonly perNode: readonly NodeVipState[];
  /** Every node of the cluster is live, so "no holder" means no holder. */
  readonly complete: boolean;
  /** Routers that are not nodes advertising the VIP's VRID, by source. */
  readonly foreign: readonly ForeignSighting[];
}

function mergeForeign(into: Map<string, ForeignSighting>, node: string, list: readonly ForeignRouter[]): void {
  for (const r of list) {
    const before = into.get(r.source);
    if (!before && into.size >= MAX_FOREIGN_PER_VIP) continue;
    into.set(r.source, {
      source: r.source,
      priority: Math.max(r.priority, before?.priority ?? 0),
      seenBy: [...new Set([...(before?.seenBy ?? []), node])].sort(),
      lastSeenMs: Math.max(r.lastSeenMs, before?.lastSeenMs ?? 0),
    });
  }
}

function instanceFor(snapshot: NodeSnapshot, vip: VipSpec): InstanceStatus | undefined {
  return snapshot.instances.find((i) => i.name === vip.name) ?? snapshot.instances.find((i) => i.vrid === vip.vrid && i.interface === vip.interface);
}

export function observeCluster(cluster: ClusterSpec, report: (node: string) => NodeReport): Map<string, VipObservation> {
  const reports = cluster.nodes.map((n) => ({ name: n.name, r: report(n.name) }));
  const complete = reports.every((x) => x.r.live && x.r.snapshot !== undefined);
  const out = new Map<string, VipObservation>();
  for (const vip of cluster.vips) {
    const holders: string[] = [];
    const perNode: NodeVipState[] = [];
    // Built only when a node sees a foreign router (next to never): a pass builds this per VIP.
    let foreign: Map<string, ForeignSighting> | undefined;
    for (const { name, r } of reports) {
      const inst = r.snapshot ? instanceFor(r.snapshot, vip) : undefined;
      if (r.live && inst?.foreignRouters && inst.foreignRouters.length > 0) mergeForeign((foreign ??= new Map()), name, inst.foreignRouters);
      perNode.push(nodeVipState(name, r, inst, vip.name));
      if (r.live && inst && (inst.vipPresent || inst.state === 'master')) holders.push(name);
    }
    holders.sort();
    out.set(vip.name, { holders, perNode, complete, foreign: foreign === undefined ? [] : [...foreign.values()].sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0)) });
  }
  return out;
}

/**
 * One node's part in a VIP. Its optional fields are set only when present (absent, not
 * undefined), in the order the type lists them, without the object spreads that built one
 * throw-away object per field for every VIP and node of every pass.
 */
function nodeVipState(node: string, r: NodeReport, inst: InstanceStatus | undefined, vip: string): NodeVipState {
  // announced comes after the handover fields, as it always has: set below.
  const s = {
    node,
    live: r.live,
    state: inst?.state ?? 'unknown',
    vipPresent: inst?.vipPresent ?? false,
    effectivePriority: inst?.effectivePriority ?? 0,
    priorityTerms: inst?.priorityTerms ?? [],
  } as { -readonly [K in keyof NodeVipState]: NodeVipState[K] };
  if (inst?.handover) s.handover = inst.handover;
  if (inst?.handoverError) s.handoverError = inst.handoverError;
  if (inst?.handoverConnections !== undefined) s.handoverConnections = inst.handoverConnections;
  s.announced = inst?.announced ?? 0;
  const readiness = r.live ? r.snapshot?.readiness?.vips.find((x) => x.vip === vip) : undefined;
  if (readiness) s.readiness = readiness;
  return s;
}

export function vipStatus(desiredHolder: string, o: VipObservation): VipStatus {
  if (o.holders.length > 1) return 'split_brain';
  if (o.holders.length === 1) return o.holders[0] === desiredHolder ? 'ok' : 'divergent';
  if (o.foreign.length > 0) return 'foreign';
  return o.complete ? 'orphan' : 'unknown';
}
