// How long each VIP has been in its status, and the events that status raises: divergence,
// split brain and orphan once they have lasted the settle time, convergence once they are over,
// and every move of its holder. After a split brain, the VIP is `healing` until its one holder
// confirms that it announced the VIP after the others let go (clients that followed the last
// announcement of a node that let go would otherwise keep sending to it). A planned move has
// both of its nodes hold the VIP for a moment (the new holder takes it, the old one hears it and
// lets go; their reports arrive apart): that is the move, not a split brain, for as long as a
// split brain has to last before it counts (the settle time). Pure.
import type { EventInput } from './event-log.js';
import type { VipPlacement } from './placement.js';
import { vipStatus, type VipObservation, type VipStatus } from './vip-observation.js';

/** An announcement asked of a node (DesiredInstance.announce), and whether it confirmed it. */
export interface AnnounceRequest {
  readonly node: string;
  /** The coordinator's clock when it asked: the request's value. */
  readonly request: number;
  /** The holders that let go before it was asked. */
  readonly after: readonly string[];
  readonly confirmed: boolean;
}

export interface VipTrack {
  readonly status: VipStatus;
  /** Since when the VIP has had this status. */
  readonly sinceMs: number;
  /** Status an event was last raised for. */
  readonly reported: VipStatus;
  /** Single actual holder last seen, for vip.moved events. */
  readonly holder: string | undefined;
  /** The holders seen in the last pass. */
  readonly holders: readonly string[];
  /** The last announcement asked for after a split brain (kept once confirmed: it stays in the desired state). */
  readonly announce: AnnounceRequest | undefined;
  /** Foreign routers already reported (source and priority). */
  readonly foreign: readonly string[];
  /** The holder the agents were told in the last pass (a handover's hold tells the old one). */
  readonly told?: string;
  /**
   * The last move: the holders the agents were told before and after it, and when they were
   * told. That is when keepalived can start to move the VIP: at once for a move without a
   * handover, after the handover's prepare (at most prepareBudgetMs) for one with.
   */
  readonly moved?: { readonly from: string; readonly to: string; readonly atMs: number };
  /** Since when several nodes have held the VIP, without a pass in between seeing fewer. */
  readonly overlapSinceMs?: number;
}

export interface TrackResult {
  readonly track: VipTrack;
  readonly events: readonly EventInput[];
  /** A split brain that has lasted the settle time: the coordinator arbitrates. */
  readonly settledSplit: boolean;
  /** When an unreported problem will have lasted the settle time; null if none. */
  readonly wakeAt: number | null;
}

const PROBLEMS: ReadonlySet<VipStatus> = new Set(['divergent', 'split_brain', 'orphan', 'foreign', 'healing']);

/** The announcement to ask for, or keep asking for, now. */
function announceRequest(obs: VipObservation, before: VipTrack | undefined, now: number): AnnounceRequest | undefined {
  const last = before?.announce;
  const single = obs.holders.length === 1 ? obs.holders[0] : undefined;
  // A split brain that was reported has just ended: ask its one holder.
  const ended = before !== undefined && before.status === 'split_brain' && before.reported === 'split_brain' && single !== undefined;
  const pending = last !== undefined && !last.confirmed;
  if (single === undefined || (!ended && !pending)) return last;
  const req = ended || last === undefined || last.node !== single ? { node: single, request: now, after: (before?.holders ?? []).filter((h) => h !== single), confirmed: false } : last;
  const announced = obs.perNode.find((p) => p.node === single)?.announced ?? 0;
  return announced >= req.request ? { ...req, confirmed: true } : req;
}

/**
 * Whether the VIP's holders are the two ends of a planned move, overlapping as the move happens:
 * the overlap began once the agents were told the move and within the settle time after (the
 * time keepalived may take to carry it out), and has lasted less than the settle time. Measured
 * from the push, not from the decision: a handover's prepare may hold the move back for up to
 * prepareBudgetMs, a move without one has no prepare, and an overlap before the push is not
 * the move.
 */
export function plannedOverlap(holders: readonly string[], desired: string, moved: VipTrack['moved'], overlapSinceMs: number, now: number, settleMs: number): boolean {
  if (moved === undefined || moved.to !== desired || holders.length !== 2 || !holders.includes(moved.to) || !holders.includes(moved.from)) return false;
  const began = overlapSinceMs - moved.atMs;
  return began >= 0 && began <= settleMs && now - overlapSinceMs < settleMs;
}

/**
 * One VIP's status and events in a pass. `told`: the holder the agents are told in this pass
 * (the desired one, or the old one while a handover's prepare holds the move back).
 */
export function trackVip(cluster: string, vp: VipPlacement, obs: VipObservation, before: VipTrack | undefined, now: number, settleMs: number, told: string): TrackResult {
  const announce = announceRequest(obs, before, now);
  const healing = announce !== undefined && !announce.confirmed && obs.holders.length === 1;
  const moved = before?.told !== undefined && before.told !== told ? { from: before.told, to: told, atMs: now } : before?.moved;
  const overlapSinceMs = obs.holders.length > 1 ? (before?.overlapSinceMs ?? now) : undefined;
  const planned = overlapSinceMs !== undefined && plannedOverlap(obs.holders, vp.holder, moved, overlapSinceMs, now, settleMs);
  // During a planned overlap the VIP stands as it will once the old holder has let go.
  const status: VipStatus = healing ? 'healing' : vipStatus(vp.holder, planned ? { ...obs, holders: [vp.holder] } : obs);
  const events: EventInput[] = [];
  // A split brain counts from when the nodes began to overlap, planned or not.
  const sinceMs = before === undefined || before.status !== status ? (status === 'split_brain' ? (overlapSinceMs ?? now) : now) : before.sinceMs;
  let reported = before?.reported ?? 'ok';
  const single = obs.holders.length === 1 ? obs.holders[0] : undefined;
  if (single !== undefined && before?.holder !== undefined && single !== before.holder) {
    events.push({ type: 'vip.moved', cluster, vip: vp.vip, node: single, message: `${vp.vip} moved from ${before.holder} to ${single}` });
  }
  const holder = single ?? before?.holder;
  // Every router that is not a node is named once, when it is first seen (or its priority changes).
  const foreign = obs.foreign.map((f) => `${f.source}@${f.priority}`);
  for (const f of obs.foreign) {
    if (before?.foreign.includes(`${f.source}@${f.priority}`)) continue;
    events.push({
      type: 'vrrp.foreign_router',
      cluster,
      vip: vp.vip,
      node: f.seenBy[0] ?? '',
      severity: 'warning',
      message: `${f.source} advertises ${vp.vip}'s VRID with priority ${f.priority}; it is not a node of the cluster (seen by ${f.seenBy.join(', ')})`,
    });
  }

  const settled = now - sinceMs >= settleMs;
  if (PROBLEMS.has(status) && settled && reported !== status) {
    reported = status;
    const base = { cluster, vip: vp.vip, node: single ?? vp.holder, reason: vp.reason };
    if (status === 'split_brain') {
      events.push({ ...base, type: 'vip.split_brain', severity: 'critical', message: `${vp.vip} is held by ${obs.holders.join(' and ')} at once` });
    } else if (status === 'foreign') {
      const who = obs.foreign.map((f) => `${f.source} (priority ${f.priority})`).join(', ');
      events.push({ ...base, type: 'vip.foreign', severity: 'critical', message: `${vp.vip} is held by no node of the cluster: ${who}, not a node, advertises its VRID` });
    } else if (status === 'orphan') {
      events.push({ ...base, type: 'vip.orphan', severity: 'critical', message: `${vp.vip} is held by no node (desired: ${vp.holder})` });
    } else if (status === 'healing') {
      const others = announce?.after.join(' and ') || 'the other holder';
      events.push({ ...base, type: 'vip.unannounced', severity: 'critical', message: `${single} holds ${vp.vip} but has not announced it since the split brain ended: clients may still send to ${others}` });
    } else {
      events.push({ ...base, type: 'vip.divergent', severity: 'warning', message: `${vp.vip} is held by ${single} but should be held by ${vp.holder}` });
    }
  } else if (status === 'ok' && PROBLEMS.has(reported)) {
    const healed = announce?.confirmed === true && before?.status === 'healing';
    const was = healed ? 'split brain' : reported === 'foreign' ? 'held by a router that is not a node' : reported.replace('_', ' ');
    const heal = healed ? `; it announced the VIP after ${announce.after.join(' and ') || 'the other holder'} let go` : '';
    events.push({ type: 'vip.converged', cluster, vip: vp.vip, node: vp.holder, message: `${vp.vip} is held by ${vp.holder} as desired again (was ${was})${heal}` });
    reported = 'ok';
  }
  return {
    track: { status, sinceMs, reported, holder, holders: obs.holders, announce, foreign, told, ...(moved ? { moved } : {}), ...(overlapSinceMs !== undefined ? { overlapSinceMs } : {}) },
    events,
    settledSplit: status === 'split_brain' && settled,
    // A planned overlap that lasts becomes a split brain at the settle time: look again then.
    wakeAt: PROBLEMS.has(status) && reported !== status ? sinceMs + settleMs : planned && overlapSinceMs !== undefined ? overlapSinceMs + settleMs : null,
  };
}
