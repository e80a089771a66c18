// The VRRP transitions nobody asked for, with their cause as far as the node can tell, kept for
// the coordinator to report (docs/design/vrrp-edges.md, "Flaps"). A transition that follows a
// placement change this node wrote (a planned move, a drain, a step-down), or keepalived starting
// or reloading, was asked for; every other one is recorded: a FAULT from a failing check or a
// link, a takeover because the master's adverts stopped, a yield to a higher priority, and a
// flap: an unplanned MASTER episode that ended, a moment later, with the master back.
import type { UnplannedKind, UnplannedTransition, VrrpState } from '@lbha/shared';

/** What the node knew when keepalived reported the transition. */
export interface TransitionContext {
  readonly nowMs: number;
  readonly advertIntMs: number;
  /** When this node last changed the instance's placement track file value. */
  readonly placementChangedMs: number | undefined;
  /** When this node last changed the health track file, and to what. */
  readonly healthChanged: { readonly atMs: number; readonly value: number } | undefined;
  /** When keepalived last started or reloaded. */
  readonly keepalivedStartedMs: number | undefined;
  /** The faults behind the health file now. */
  readonly faults: readonly string[];
  /** Tracked interfaces of the instance that are down. */
  readonly downInterfaces: readonly string[];
  /** Routers that are not nodes advertising the VRID, with their priority. */
  readonly foreign: readonly { readonly source: string; readonly priority: number }[];
  /** The last unplanned transition of this instance, if any. */
  readonly previous: UnplannedTransition | undefined;
}

export type Classification = { readonly planned: true; readonly why: string } | { readonly planned: false; readonly kind: UnplannedKind; readonly cause: string; readonly masterMs?: number };

/** A MASTER episode that ends this soon after it began unplanned is a flap. */
export const FLAP_MS = 10_000;
/** Kept per instance for the coordinator. */
const KEEP = 8;

/** How long after a write keepalived's transition still follows from it: a master-down interval and then some. */
export function followsWithinMs(advertIntMs: number): number {
  return 4 * advertIntMs + 500;
}

export function classifyTransition(from: VrrpState, to: VrrpState, c: TransitionContext): Classification {
  const within = (t: number | undefined): boolean => t !== undefined && c.nowMs - t <= followsWithinMs(c.advertIntMs);
  if (within(c.keepalivedStartedMs)) return { planned: true, why: 'keepalived started or reloaded' };
  if (to === 'fault') {
    if (c.faults.length > 0) return { planned: false, kind: 'check', cause: c.faults.join('; ') };
    if (c.downInterfaces.length > 0) return { planned: false, kind: 'link', cause: `tracked interface ${c.downInterfaces.join(', ')} down` };
    return { planned: false, kind: 'fault', cause: 'keepalived reported FAULT (its own interface or tracking)' };
  }
  if (from === 'fault' && within(c.healthChanged?.atMs) && c.healthChanged?.value === 0) return { planned: false, kind: 'recovered', cause: 'the failing checks pass again (or the node became a candidate of last resort)' };
  if (from === 'fault') return { planned: false, kind: 'recovered', cause: 'keepalived left FAULT' };
  if (within(c.placementChangedMs)) return { planned: true, why: 'placement changed' };
  if (to === 'master') return { planned: false, kind: 'master_down', cause: 'the master stopped advertising (it failed or left, or its adverts were lost)' };
  if (from === 'master' && to === 'backup') {
    const higher = c.foreign.filter((f) => f.priority > 0);
    const who = higher.length > 0 ? `; routers that are not nodes advertise it: ${higher.map((f) => `${f.source} at ${f.priority}`).join(', ')}` : '';
    const p = c.previous;
    if (p?.kind === 'master_down' && c.nowMs - p.atMs <= FLAP_MS) {
      const masterMs = c.nowMs - p.atMs;
      return { planned: false, kind: 'flap', cause: `MASTER for ${masterMs} ms after the master's adverts stopped; a higher priority is back${who}`, masterMs };
    }
    return { planned: false, kind: 'preempted', cause: `a higher-priority advert arrived${who}` };
  }
  return { planned: false, kind: 'other', cause: `keepalived went from ${from.toUpperCase()} to ${to.toUpperCase()}` };
}

export class TransitionLog {
  private seq = 0;
  private readonly recent = new Map<string, UnplannedTransition[]>();

  /** Starts the sequence at `base` (the agent's start time): a restarted agent never reuses one. */
  constructor(base: number) {
    this.seq = base;
  }

  /** Records a transition keepalived reported; returns it when it was not asked for. */
  record(instance: string, from: VrrpState, to: VrrpState, c: Omit<TransitionContext, 'previous'>): UnplannedTransition | undefined {
    const list = this.recent.get(instance) ?? [];
    const r = classifyTransition(from, to, { ...c, previous: list.at(-1) });
    if (r.planned) return undefined;
    const t: UnplannedTransition = { seq: ++this.seq, from, to, kind: r.kind, cause: r.cause, atMs: c.nowMs, ...(r.masterMs !== undefined ? { masterMs: r.masterMs } : {}) };
    this.recent.set(instance, [...list, t].slice(-KEEP));
    return t;
  }

  /** The last few unplanned transitions of an instance, oldest first. */
  of(instance: string): readonly UnplannedTransition[] {
    return this.recent.get(instance) ?? [];
  }

  forget(instance: string): void {
    this.recent.delete(instance);
  }
}
