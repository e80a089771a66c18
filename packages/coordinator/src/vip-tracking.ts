// How long each VIP has been in its status, and the events that status raises: divergence,
// split brain and orphan once they have lasted the settle time, convergence once they are over,
// and every move of its holder. Pure.
import type { EventInput } from './event-log.js';
import type { VipPlacement } from './placement.js';
import { vipStatus, type VipObservation, type VipStatus } from './vip-observation.js';

export interface VipTrack {
  readonly status: VipStatus;
  /** Since when the VIP has had this status. */
  readonly sinceMs: number;
  /** Status an event was last raised for. */
  readonly reported: VipStatus;
  /** Single actual holder last seen, for vip.moved events. */
  readonly holder: string | undefined;
}

export interface TrackResult {
  readonly track: VipTrack;
  readonly events: readonly EventInput[];
  /** A split brain that has lasted the settle time: the coordinator arbitrates. */
  readonly settledSplit: boolean;
  /** When an unreported problem will have lasted the settle time; null if none. */
  readonly wakeAt: number | null;
}

const PROBLEMS: ReadonlySet<VipStatus> = new Set(['divergent', 'split_brain', 'orphan']);

export function trackVip(cluster: string, vp: VipPlacement, obs: VipObservation, before: VipTrack | undefined, now: number, settleMs: number): TrackResult {
  const status = vipStatus(vp.holder, obs);
  const events: EventInput[] = [];
  const sinceMs = before === undefined || before.status !== status ? now : before.sinceMs;
  let reported = before?.reported ?? 'ok';
  const single = obs.holders.length === 1 ? obs.holders[0] : undefined;
  if (single !== undefined && before?.holder !== undefined && single !== before.holder) {
    events.push({ type: 'vip.moved', cluster, vip: vp.vip, node: single, message: `${vp.vip} moved from ${before.holder} to ${single}` });
  }
  const holder = single ?? before?.holder;

  const settled = now - sinceMs >= settleMs;
  if (PROBLEMS.has(status) && settled && reported !== status) {
    reported = status;
    const base = { cluster, vip: vp.vip, node: single ?? vp.holder, reason: vp.reason };
    if (status === 'split_brain') {
      events.push({ ...base, type: 'vip.split_brain', severity: 'critical', message: `${vp.vip} is held by ${obs.holders.join(' and ')} at once` });
    } else if (status === 'orphan') {
      events.push({ ...base, type: 'vip.orphan', severity: 'critical', message: `${vp.vip} is held by no node (desired: ${vp.holder})` });
    } else {
      events.push({ ...base, type: 'vip.divergent', severity: 'warning', message: `${vp.vip} is held by ${single} but should be held by ${vp.holder}` });
    }
  } else if (status === 'ok' && PROBLEMS.has(reported)) {
    events.push({ type: 'vip.converged', cluster, vip: vp.vip, node: vp.holder, message: `${vp.vip} is held by ${vp.holder} as desired again (was ${reported.replace('_', ' ')})` });
    reported = 'ok';
  }
  return {
    track: { status, sinceMs, reported, holder },
    events,
    settledSplit: status === 'split_brain' && settled,
    wakeAt: PROBLEMS.has(status) && reported !== status ? sinceMs + settleMs : null,
  };
}
