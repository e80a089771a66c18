// The audit trail: one record per mutating API call (who, what, on what, why, and how it
// ended), in its own log in the store, apart from the events, so that no amount of agent
// activity can evict it. A mutation's answer waits until its record is durable.
import type { Logger } from '@lbha/shared';
import { DurableLog } from './store/durable-log.js';
import type { Store } from './store/store.js';

export interface AuditRecord {
  readonly seq: number;
  readonly timeMs: number;
  /** `cert:<name>`, `token:<name>` or `anonymous`. */
  readonly actor: string;
  readonly role: string;
  /** The ControlService method, e.g. "Drain". */
  readonly method: string;
  readonly cluster: string;
  readonly node: string;
  readonly service: string;
  readonly reason: string;
  /** "ok", or the status the call ended with and its message. */
  readonly outcome: string;
  readonly operationId: string;
  /** Where the call came from (address, or the coordinator that forwarded it). */
  readonly peer: string;
}

export type AuditInput = Omit<AuditRecord, 'seq' | 'timeMs'>;

export interface AuditLogOptions {
  /** Records kept in the store (default 100,000) and in memory (default 1,000). */
  readonly retain?: number;
  readonly capacity?: number;
  readonly clock?: () => number;
  readonly logger?: Logger;
  /** How long an answer waits for its record to be durable (default 5 s). */
  readonly durableWaitMs?: number;
}

export class AuditLog {
  private readonly log: DurableLog<AuditRecord>;
  private readonly clock: () => number;
  private readonly durableWaitMs: number;
  private attached = false;

  constructor(private readonly opts: AuditLogOptions = {}) {
    this.clock = opts.clock ?? Date.now;
    this.durableWaitMs = opts.durableWaitMs ?? 5000;
    const capacity = opts.capacity ?? 1000;
    this.log = new DurableLog<AuditRecord>({
      name: 'audit',
      windowSize: capacity,
      retain: Math.max(capacity, opts.retain ?? 100_000),
      flushDelayMs: 0,
      maxPending: 10_000,
      withSeq: (r, seq) => ({ ...r, seq }),
      logger: opts.logger,
    });
  }

  /**
   * Whether this coordinator keeps the audit trail now (it is the leader, or the only
   * coordinator). A follower does not: it forwards mutations, and the leader audits them.
   */
  get keeping(): boolean {
    return this.attached;
  }

  /** Records a call; resolves once the record is durable (false if that took too long). */
  async record(input: AuditInput): Promise<boolean> {
    const r = this.log.add((seq) => ({ ...input, seq, timeMs: this.clock() }));
    const ok = await this.log.durable(r.seq, this.durableWaitMs);
    if (!ok) this.opts.logger?.error({ event: 'audit.not_durable', seq: r.seq, method: input.method, actor: input.actor }, 'audit record not yet written to the store');
    return ok;
  }

  /** Durable records after `afterSeq`, optionally of one actor, at most `limit`. */
  page(afterSeq: number, limit: number, actor = '', scan = 10_000): Promise<{ readonly records: readonly AuditRecord[]; readonly next: number }> {
    return this.log.page(afterSeq, limit, (r) => !actor || r.actor === actor, scan);
  }

  bounds(): Promise<{ readonly first: number; readonly last: number }> {
    return this.log.bounds();
  }

  async attach(store: Store): Promise<void> {
    await this.log.attach(store);
    this.attached = true;
  }

  async detach(): Promise<void> {
    this.attached = false;
    await this.log.detach();
  }

  stats(): ReturnType<DurableLog<AuditRecord>['stats']> {
    return this.log.stats();
  }
}
