// What the node's failing fault checks do to its VIPs. Pure: the failing checks, what the
// coordinator says of the other nodes, and the time in; one of four modes out
// (docs/design/vrrp-edges.md, "A failure every node shares"):
//
// - none: nothing fails.
// - held: a check that can fail on every node for one shared cause (http, tcp: they go through
//   the backends) has just started failing on a node that holds a VIP while the coordinator is
//   connected. Nothing happens until the coordinator says whose failure it is: every other active
//   node fails too (last-resort), or the failure is this node's own (hard), decided on the other
//   nodes' reports (coordinator/src/shared-failure.ts). A coordinator that does not decide
//   (an older one) is waited for the check's interval and timeout at most, one that stops
//   answering for MAX_VERDICT_WAIT_MS.
// - hard: the health track file puts every instance in FAULT (priority-0 advert: a healthy peer
//   takes the VIPs over within its skew time).
// - last-resort: the health file is cleared and every instance gets a priority below any healthy
//   node's (2..26, by rank): keepalived keeps a VIP on the best failing node when no node is
//   healthy, and a healthy node still wins. Either the coordinator says every other active node
//   fails too, or the fault has lasted long enough for a healthy peer to have taken the VIPs
//   (three advert intervals after it took effect): with no coordinator, this is all the agent can
//   know, and a failure every node shares then costs clients about a second instead of the VIP.
// - recovering: the way out of a failure every node shared. The node was a candidate of last
//   resort on the coordinator's word, and its checks pass again while the coordinator still says
//   every other active node fails. The other nodes keep their VIPs at last-resort priorities, and
//   this node's own priorities would outbid them at once: a VIP would move to it, and back a
//   moment later when its holder passes too. So the VIPs it does not hold keep their last-resort
//   priorities until the coordinator stops saying so (the others pass, or stop reporting) or
//   tells a node still failing that its failure is its own (that node faults, and keepalived
//   moves its VIPs here), at most MAX_VERDICT_WAIT_MS past the time the checks need to pass.
import type { CheckKind } from '@lbha/shared';
import type { Fault } from '../keepalived/priority.js';

/** A failing check with effect `fault`. */
export interface FailingFault extends Fault {
  readonly kind: CheckKind;
  /** When it started failing. */
  readonly sinceMs: number;
  /** Its interval and timeout: how far apart two nodes' verdicts on one shared cause may be. */
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

export interface FaultInputs {
  readonly faults: readonly FailingFault[];
  /** The coordinator says every other active node of the cluster fails (DesiredState.lastResort). */
  readonly othersFailing: boolean;
  readonly coordinatorLinked: boolean;
  /** The node holds a VIP (MASTER or the address present). */
  readonly holdsVip: boolean;
  readonly advertIntMs: number;
  /** The coordinator decides held faults (DesiredState.faultVerdicts). */
  readonly verdicts: boolean;
  /**
   * Its latest decision that the failure is this node's own: the failing checks' start it covers
   * (DesiredState.ownFailureSinceMs) and when this agent applied it; undefined when none.
   */
  readonly own: { readonly sinceMs: number; readonly atMs: number } | undefined;
  /** The node was a candidate of last resort on the coordinator's word at its last evaluation, or recovering after that. */
  readonly wasSharedFailure: boolean;
  /**
   * When its fault checks last turned healthy, and the longest rise x interval + timeout among
   * them: how long another node's checks may take to pass after the same cause; undefined when none is.
   */
  readonly passing: { readonly sinceMs: number; readonly riseMs: number } | undefined;
}

export type FaultMode =
  | { readonly kind: 'none' }
  | { readonly kind: 'recovering'; readonly untilMs: number }
  | { readonly kind: 'held'; readonly faults: readonly Fault[]; readonly untilMs: number }
  | { readonly kind: 'hard'; readonly faults: readonly Fault[]; readonly lastResortAtMs: number }
  | { readonly kind: 'last-resort'; readonly faults: readonly Fault[]; readonly why: string };

/** Checks whose failure one shared cause (the backends) can bring to every node at once. */
const SHAREABLE: ReadonlySet<CheckKind> = new Set(['http', 'tcp']);
/** Margin on top of a check's interval and timeout for the coordinator's round trip. */
const HOLD_MARGIN_MS = 300;
/** Never held longer than this, whatever the check's timing, by a coordinator that does not decide. */
const MAX_HOLD_MS = 2_000;
/** The longest wait for a coordinator that decides but has not: it is late, not thinking. */
export const MAX_VERDICT_WAIT_MS = 5_000;

function holdOf(f: FailingFault): number {
  return Math.min(MAX_HOLD_MS, f.intervalMs + f.timeoutMs + HOLD_MARGIN_MS);
}

/** How long a hard fault lasts before the node becomes a candidate of last resort. */
export function handoffMs(advertIntMs: number): number {
  return 3 * advertIntMs + 200;
}

export function faultMode(i: FaultInputs, now: number): FaultMode {
  const faults = i.faults.map((f) => ({ source: f.source, reason: f.reason }));
  if (i.faults.length === 0) {
    const p = i.passing;
    const untilMs = p === undefined ? 0 : p.sinceMs + p.riseMs + MAX_VERDICT_WAIT_MS;
    if (i.wasSharedFailure && i.othersFailing && i.coordinatorLinked && i.verdicts && now < untilMs) return { kind: 'recovering', untilMs };
    return { kind: 'none' };
  }
  if (i.othersFailing) return { kind: 'last-resort', faults, why: 'every other active node of the cluster fails too (the coordinator says so)' };
  const holdable = i.coordinatorLinked && i.holdsVip && i.faults.every((f) => SHAREABLE.has(f.kind));
  // When the fault took (or takes) effect: at once, when the coordinator said it is this node's
  // own, or at the end of its hold.
  const effectiveOf = (f: FailingFault): number => {
    if (!holdable) return f.sinceMs;
    if (!i.verdicts) return f.sinceMs + holdOf(f);
    if (i.own !== undefined && f.sinceMs <= i.own.sinceMs) return Math.max(f.sinceMs, i.own.atMs);
    return f.sinceMs + MAX_VERDICT_WAIT_MS;
  };
  const effective = Math.min(...i.faults.map(effectiveOf));
  if (holdable && now < effective) return { kind: 'held', faults, untilMs: effective };
  const lastResortAtMs = effective + handoffMs(i.advertIntMs);
  if (now >= lastResortAtMs) {
    return { kind: 'last-resort', faults, why: `failing for over ${handoffMs(i.advertIntMs)} ms: a healthy node would have taken the VIPs by now` };
  }
  return { kind: 'hard', faults, lastResortAtMs };
}
