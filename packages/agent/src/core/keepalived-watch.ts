// Notices a keepalived that runs but does not work (docs/design/vrrp-edges.md, "A frozen
// keepalived"): a process of it stopped (SIGSTOP, a debugger: state T or t in /proc) for longer
// than two advert intervals, or an instance it reports MASTER of whose adverts no longer leave
// the node (the VRRP watch's `sent` set, read every 2 s). The peer takes the VIPs over after its
// master-down time anyway; until then the frozen keepalived's VIPs stay on the interfaces,
// undefended, and when it wakes up it preempts them back with stale timers. So the agent ends it:
// the core kills it, and the death of keepalived does the rest (the node can no longer serve its
// VIPs: new connections to the peer, priority-0 adverts, VIPs released, keepalived restarted).
import type { VrrpState } from '@lbha/shared';
import { ticks } from '../util/tick-scheduler.js';

/** One look at keepalived. */
export interface KeepalivedLook {
  readonly nowMs: number;
  /** keepalived's main pid (a new one is judged afresh). */
  readonly pid: number;
  /** Its processes (parent and VRRP child) that are stopped or traced. */
  readonly stoppedPids: readonly number[];
  /** Instances keepalived reports MASTER of, since when, and whether their adverts were seen leaving. */
  readonly masters: ReadonlyArray<{ readonly instance: string; readonly sinceMs: number; readonly sent: { readonly sent: boolean; readonly readAtMs: number } | undefined }>;
  readonly advertIntMs: number;
}

/** A MASTER whose adverts were not seen leaving in a reading taken this long after it became MASTER is silent. */
const SILENT_AFTER_MS = 1_500;

export function stoppedLongEnoughMs(advertIntMs: number): number {
  return Math.max(200, 2 * advertIntMs);
}

/** Why keepalived counts as frozen now, or undefined. `stoppedSinceMs`: when its processes were first seen stopped. */
export function frozenReason(look: KeepalivedLook, stoppedSinceMs: number | undefined): string | undefined {
  if (stoppedSinceMs !== undefined && look.stoppedPids.length > 0 && look.nowMs - stoppedSinceMs >= stoppedLongEnoughMs(look.advertIntMs)) {
    return `keepalived is stopped (process ${look.stoppedPids.join(', ')} in state T) for ${look.nowMs - stoppedSinceMs} ms`;
  }
  const silent = look.masters.filter((m) => m.sent !== undefined && !m.sent.sent && m.sent.readAtMs - m.sinceMs >= SILENT_AFTER_MS);
  if (silent.length > 0) return `keepalived reports MASTER of ${silent.map((m) => m.instance).join(', ')} but sends no adverts for it`;
  return undefined;
}

export interface KeepalivedWatchOptions {
  readonly intervalMs: number;
  readonly now: () => number;
  /** Looks at keepalived (process states from /proc, VRRP states, the adverts seen leaving). */
  readonly look: () => KeepalivedLook | undefined;
  readonly onFrozen: (reason: string) => void;
}

export class KeepalivedWatch {
  private cancelTimer: (() => void) | undefined;
  private stoppedSince: number | undefined;
  private acted = false;
  private pid = 0;

  constructor(private readonly opts: KeepalivedWatchOptions) {}

  /** Looks every `intervalMs` until stop(); a second start() changes nothing. */
  start(): void {
    this.cancelTimer ??= ticks.every(this.opts.intervalMs, () => this.sample());
  }

  stop(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  /** One look (the timer calls it; tests may too). */
  sample(): void {
    const look = this.opts.look();
    if (!look || look.pid !== this.pid) {
      // Not running, or a new keepalived: judged afresh.
      this.pid = look?.pid ?? 0;
      this.stoppedSince = undefined;
      this.acted = false;
      if (!look) return;
    }
    if (look.stoppedPids.length === 0) this.stoppedSince = undefined;
    else this.stoppedSince ??= look.nowMs;
    const reason = frozenReason(look, this.stoppedSince);
    if (reason === undefined || this.acted) return;
    this.acted = true;
    this.opts.onFrozen(reason);
  }
}

/** VRRP states as the core keeps them: the instances keepalived reports MASTER of. */
export function mastersOf(states: ReadonlyMap<string, { readonly state: VrrpState; readonly sinceMs: number }>): Array<{ instance: string; sinceMs: number }> {
  return [...states].filter(([, e]) => e.state === 'master').map(([instance, e]) => ({ instance, sinceMs: e.sinceMs }));
}
