// The coordinator's event log: every transition and operation, in order, with a sequence
// number that continues across restarts and leader changes (it lives in the store, see
// store/durable-log.ts). Metrics see each event as it is recorded; watchers and webhooks read
// durable events by cursor, so a seq means the same event on every coordinator.
import type { LbhaEvent, Logger } from '@lbha/shared';
import { DurableLog, type DurableLogStats } from './store/durable-log.js';
import type { Store } from './store/store.js';

export type EventInput = Partial<Omit<LbhaEvent, 'seq' | 'timeMs' | 'type' | 'message'>> & {
  readonly type: string;
  readonly message: string;
};

export interface EventFilter {
  readonly cluster?: string;
  readonly node?: string;
}

export function matchesEvent(e: LbhaEvent, f: EventFilter): boolean {
  return (!f.cluster || e.cluster === f.cluster) && (!f.node || e.node === f.node);
}

export interface EventLogOptions {
  /** Events kept in memory for reads (default 10,000). */
  readonly capacity?: number;
  /** Events kept in the store (default 50,000). */
  readonly retain?: number;
  readonly clock?: () => number;
  readonly logger?: Logger;
  /** Longest wait of an event for its batch write (default 20 ms). */
  readonly flushDelayMs?: number;
}

/** A page of durable events read by cursor. */
export interface EventPage {
  readonly events: readonly LbhaEvent[];
  /** The cursor after this page: the seq of the last event looked at (matching or not). */
  readonly next: number;
}

export class EventLog {
  private readonly log: DurableLog<LbhaEvent>;
  private readonly listeners = new Set<(e: LbhaEvent) => void>();
  private readonly clock: () => number;

  constructor(options: EventLogOptions | number = {}, clock?: () => number) {
    const o: EventLogOptions = typeof options === 'number' ? { capacity: options, ...(clock ? { clock } : {}) } : options;
    this.clock = o.clock ?? Date.now;
    const capacity = o.capacity ?? 10_000;
    this.log = new DurableLog<LbhaEvent>({
      name: 'events',
      windowSize: capacity,
      retain: Math.max(capacity, o.retain ?? 50_000),
      flushDelayMs: o.flushDelayMs ?? 20,
      // A burst (a reconnect storm) or a store outage of this many events costs ~15 MB at most.
      maxPending: 50_000,
      withSeq: (e, seq) => ({ ...e, seq }),
      logger: o.logger,
    });
  }

  record(input: EventInput): LbhaEvent {
    const e = this.log.add((seq) => ({
      cluster: '',
      node: '',
      vip: '',
      reason: '',
      actor: 'system',
      severity: 'info',
      operationId: '',
      ...input,
      seq,
      timeMs: this.clock(),
    }));
    for (const l of this.listeners) l(e);
    return e;
  }

  /** Events in memory with seq greater than `afterSeq`, oldest first, written yet or not. */
  list(afterSeq = 0, limit = 1000, filter: EventFilter = {}): LbhaEvent[] {
    const out: LbhaEvent[] = [];
    for (const e of this.log.recent(afterSeq)) {
      if (!matchesEvent(e, filter)) continue;
      out.push(e);
      if (out.length >= limit) break;
    }
    return out;
  }

  /**
   * Durable events after `afterSeq` that match `filter`, at most `limit`, looking at no more
   * than `scan` events (so a filter that rarely matches costs a bounded amount per call).
   */
  async page(afterSeq: number, limit: number, filter: EventFilter = {}, scan = 5000): Promise<EventPage> {
    const { records, next } = await this.log.page(afterSeq, limit, (e) => matchesEvent(e, filter), scan);
    return { events: records, next };
  }

  /** The seq of the last event recorded (durable or not). */
  lastSeq(): number {
    return this.log.lastSeq;
  }

  /** The oldest and newest durable seq. */
  bounds(): Promise<{ readonly first: number; readonly last: number }> {
    return this.log.bounds();
  }

  /** Called with every event as it is recorded (metrics); must not block. */
  subscribe(listener: (e: LbhaEvent) => void, filter: EventFilter = {}): () => void {
    const l = (e: LbhaEvent) => {
      if (matchesEvent(e, filter)) listener(e);
    };
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Called with each batch of events once it is durable (watchers, webhooks); must not block. */
  subscribeDurable(listener: (events: readonly LbhaEvent[]) => void): () => void {
    return this.log.subscribe(listener);
  }

  /** Keeps events in `store` from now on, continuing its sequence (the leader, or the only coordinator). */
  attach(store: Store): Promise<void> {
    return this.log.attach(store);
  }

  detach(): Promise<void> {
    return this.log.detach();
  }

  /** Resolves true once every event recorded so far is durable (false after `timeoutMs`). */
  settled(timeoutMs = 5000): Promise<boolean> {
    return this.log.settled(timeoutMs);
  }

  /** Writes the recorded events now. */
  flush(): Promise<void> {
    return this.log.flush();
  }

  stats(): DurableLogStats {
    return this.log.stats();
  }
}
