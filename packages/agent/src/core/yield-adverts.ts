// After a split brain, the node that gives a VIP up keeps saying so for a while
// (docs/design/vrrp-edges.md, "After a split brain, the holder announces the VIP again").
// keepalived sends one advert when it yields (vrrp_higher_prio_send_advert), and the holder
// answers a lower-priority advert with a gratuitous ARP. But a path rarely heals both ways at
// once: when this node hears the holder before the holder hears this node, that one advert is
// lost, the holder never learns that clients followed the other node, and nobody announces. So
// the agent repeats a lowest-priority advert twice per advert interval for ten intervals after
// the yield: whichever moment the holder's side of the path comes back, it hears one within half
// an interval and announces the VIP (the bound is one interval + 100 ms, and timers on a busy
// node run late by tens of milliseconds). Pure: the caller sends what `due` returns and wakes at
// `wakeAtMs`.

/** Adverts sent after a yield, two per advert interval: ten intervals. */
export const YIELD_REPEATS = 20;

/** The priority of the repeated adverts: the lowest a VRRP master has, below any holder's. */
export const YIELD_PRIORITY = 1;

interface Window {
  readonly everyMs: number;
  /** When the next one is due. */
  readonly nextAtMs: number;
  /** How many are left to send. */
  readonly left: number;
}

export interface YieldDue {
  /** Instances whose advert is due now. */
  readonly instances: readonly string[];
  /** When the next one is due, if any is left. */
  readonly wakeAtMs: number | undefined;
}

export class YieldAdverts {
  private readonly windows = new Map<string, Window>();

  /** This node yielded `instance` at `nowMs`: the first repeat is due half an advert interval later. Returns the spacing. */
  yielded(instance: string, nowMs: number, advertIntMs: number): number {
    const everyMs = Math.max(10, Math.round(advertIntMs / 2));
    this.windows.set(instance, { everyMs, nextAtMs: nowMs + everyMs, left: YIELD_REPEATS });
    return everyMs;
  }

  /** The node holds the VIP again, or the instance is gone: nothing more to say. */
  stop(instance: string): void {
    this.windows.delete(instance);
  }

  /** Instances repeating now. */
  get active(): readonly string[] {
    return [...this.windows.keys()];
  }

  /**
   * What is due at `nowMs` (counted as sent), and when to look again. A late look sends one
   * advert, not the ones it missed: the next is due an interval after the late one.
   */
  due(nowMs: number): YieldDue {
    const instances: string[] = [];
    let wakeAtMs: number | undefined;
    for (const [instance, w] of this.windows) {
      let next = w;
      if (w.nextAtMs <= nowMs) {
        instances.push(instance);
        if (w.left <= 1) {
          this.windows.delete(instance);
          continue;
        }
        const onTime = w.nextAtMs + w.everyMs;
        next = { everyMs: w.everyMs, nextAtMs: onTime > nowMs ? onTime : nowMs + w.everyMs, left: w.left - 1 };
        this.windows.set(instance, next);
      }
      wakeAtMs = wakeAtMs === undefined ? next.nextAtMs : Math.min(wakeAtMs, next.nextAtMs);
    }
    return { instances, wakeAtMs };
  }
}
