import type { LbhaEvent } from '@lbha/shared';

export type EventInput = Partial<Omit<LbhaEvent, 'seq' | 'timeMs' | 'type' | 'message'>> & {
  readonly type: string;
  readonly message: string;
};

export interface EventFilter {
  readonly cluster?: string;
  readonly node?: string;
}

function matches(e: LbhaEvent, f: EventFilter): boolean {
  return (!f.cluster || e.cluster === f.cluster) && (!f.node || e.node === f.node);
}

/**
 * The coordinator's event log: every transition and operation, in order, with a sequence
 * number. Keeps a bounded history; subscribers (WatchEvents, webhooks, metrics) get each
 * event synchronously after it is recorded and must not block.
 */
export class EventLog {
  private readonly events: LbhaEvent[] = [];
  private readonly listeners = new Set<(e: LbhaEvent) => void>();
  private seq = 0;

  constructor(
    private readonly capacity = 10_000,
    private readonly clock: () => number = Date.now,
  ) {}

  record(input: EventInput): LbhaEvent {
    const e: LbhaEvent = {
      cluster: '',
      node: '',
      vip: '',
      reason: '',
      actor: 'system',
      severity: 'info',
      operationId: '',
      ...input,
      seq: ++this.seq,
      timeMs: this.clock(),
    };
    this.events.push(e);
    if (this.events.length > this.capacity) this.events.splice(0, this.events.length - this.capacity);
    for (const l of this.listeners) l(e);
    return e;
  }

  /** Events with seq greater than `afterSeq`, oldest first. */
  list(afterSeq = 0, limit = 1000, filter: EventFilter = {}): LbhaEvent[] {
    const out: LbhaEvent[] = [];
    for (const e of this.events) {
      if (e.seq > afterSeq && matches(e, filter)) {
        out.push(e);
        if (out.length >= limit) break;
      }
    }
    return out;
  }

  lastSeq(): number {
    return this.seq;
  }

  subscribe(listener: (e: LbhaEvent) => void, filter: EventFilter = {}): () => void {
    const l = (e: LbhaEvent) => {
      if (matches(e, filter)) listener(e);
    };
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}
