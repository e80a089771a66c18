// One event watcher (WatchEvents, or the HTTP event stream): replays the durable events after
// its cursor, then follows new ones, pulling pages from the log only as fast as the watcher's
// connection takes them. A watcher that does not read costs one page of memory, not the whole
// history: it is sent nothing more until its connection drains, and it is disconnected with
// a reason when it stops reading for too long or falls behind what the log keeps.
import type { LbhaEvent } from '@lbha/shared';
import type { EventFilter, EventLog } from './event-log.js';

/** Where a watcher's events go: the gRPC stream or the HTTP response. */
export interface WatchSink {
  /** Sends one event; false when the connection's buffer is full (wait for drain). */
  write(e: LbhaEvent): boolean;
  /** Calls `listener` once, when the connection can take more. */
  onceDrained(listener: () => void): void;
  /** Ends the watch with a reason (the watcher is too slow, or behind the log). */
  fail(code: 'too_slow' | 'behind', message: string): void;
}

export interface WatchOptions {
  readonly afterSeq: number;
  readonly filter: EventFilter;
  /** A watcher that takes nothing for this long is disconnected (default 60 s). */
  readonly stallMs?: number;
  /** Events per page read from the log (default 500). */
  readonly pageSize?: number;
}

/** Starts a watch; returns the function that stops it (the watcher went away). */
export function watchEvents(events: EventLog, sink: WatchSink, opts: WatchOptions): () => void {
  let stopped = false;
  let wake: (() => void) | undefined;
  let onStop: (() => void) | undefined;
  const sleep = () => new Promise<void>((resolve) => (wake = resolve));
  const unsubscribe = events.subscribeDurable(() => {
    const w = wake;
    wake = undefined;
    w?.();
  });
  const stallMs = opts.stallMs ?? 60_000;
  const pageSize = opts.pageSize ?? 500;

  const drained = () =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), stallMs);
      timer.unref();
      sink.onceDrained(() => {
        clearTimeout(timer);
        resolve(true);
      });
      onStop = () => {
        clearTimeout(timer);
        resolve(false);
      };
    });

  const run = async () => {
    let cursor = opts.afterSeq;
    const { first } = await events.bounds();
    if (cursor > 0 && first > cursor + 1) {
      return sink.fail('behind', `events after seq ${cursor} are no longer kept (the oldest is ${first}); watch again with after_seq ${first - 1} to continue from there`);
    }
    while (!stopped) {
      const page = await events.page(cursor, pageSize, opts.filter);
      if (stopped) return;
      for (const e of page.events) {
        if (stopped) return;
        if (!sink.write(e) && !(await drained())) {
          if (!stopped) sink.fail('too_slow', `this watcher read nothing for ${stallMs / 1000}s; watch again with after_seq ${e.seq} to continue`);
          return;
        }
      }
      if (page.next === cursor) await sleep();
      else {
        cursor = page.next;
        // Long replays yield to everything else between pages.
        await new Promise((r) => setImmediate(r));
      }
    }
  };
  void run().catch((err: unknown) => {
    if (!stopped) sink.fail('behind', `the event log cannot be read: ${(err as Error).message}`);
  });
  return () => {
    stopped = true;
    unsubscribe();
    const w = wake;
    wake = undefined;
    w?.();
    onStop?.();
  };
}

/** Caps on event watchers: per caller and in total. */
export class WatchLimits {
  private readonly perCaller = new Map<string, number>();
  private total = 0;

  constructor(
    readonly maxPerCaller = 8,
    readonly maxTotal = 256,
  ) {}

  /** A release function, or the reason the watcher is refused. */
  acquire(caller: string): (() => void) | string {
    const mine = this.perCaller.get(caller) ?? 0;
    if (mine >= this.maxPerCaller) return `${caller} already has ${mine} event watchers (at most ${this.maxPerCaller})`;
    if (this.total >= this.maxTotal) return `the coordinator already serves ${this.total} event watchers (at most ${this.maxTotal})`;
    this.perCaller.set(caller, mine + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const n = (this.perCaller.get(caller) ?? 1) - 1;
      if (n <= 0) this.perCaller.delete(caller);
      else this.perCaller.set(caller, n);
    };
  }

  get watchers(): number {
    return this.total;
  }

  /** Watchers disconnected so far, by why. */
  readonly disconnected = { too_slow: 0, behind: 0 };
}
