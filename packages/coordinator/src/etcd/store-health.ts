import type { Logger } from '@lbha/shared';
import type { EventInput } from '../event-log.js';

/**
 * Reachability of the etcd cluster as this coordinator sees it.
 * unknown -> up | down at the first answer or after `downAfterMs` of silence; then up <-> down.
 */
export type StoreStatus = 'unknown' | 'up' | 'down';

export interface StoreHealthOptions {
  /** How long requests may keep failing before the store counts as down. */
  readonly downAfterMs: number;
  readonly logger: Logger;
  /** Where `store.unavailable` / `store.available` events go (the coordinator's event log). */
  readonly record?: (e: EventInput) => void;
  /** Monotonic milliseconds. */
  readonly clock?: () => number;
}

/**
 * Folds the outcome of every etcd request into one up/down status. One failed request is not
 * an outage (a member may be restarting); requests failing for `downAfterMs` with no success in
 * between is. A single success brings it back. Time without any answer is not counted as
 * failing: a coordinator that waited seconds for a CPU (its timers firing late) has no
 * evidence against etcd until a request actually fails, and every request has a deadline.
 */
export class StoreHealth {
  private current: StoreStatus = 'unknown';
  /** When requests started failing with no success since; undefined while the last one succeeded. */
  private failingSince: number | undefined;
  private lastError = '';
  private readonly clock: () => number;
  private readonly listeners = new Set<(s: StoreStatus) => void>();

  constructor(private readonly opts: StoreHealthOptions) {
    this.clock = opts.clock ?? (() => performance.now());
  }

  get status(): StoreStatus {
    return this.current;
  }

  /** Whether the last etcd request failed (no success since). */
  get failing(): boolean {
    return this.failingSince !== undefined;
  }

  get up(): boolean {
    return this.current === 'up';
  }

  subscribe(listener: (s: StoreStatus) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  succeeded(): void {
    this.failingSince = undefined;
    if (this.current === 'up') return;
    const was = this.current;
    this.set('up');
    if (was === 'down') {
      this.opts.logger.info({ event: 'store.available' }, 'etcd is reachable again');
      this.opts.record?.({ type: 'store.available', message: 'etcd is reachable again; the coordinators can change state' });
    } else {
      this.opts.logger.info({ event: 'store.connected' }, 'connected to etcd');
    }
  }

  failed(err: unknown): void {
    this.lastError = err instanceof Error ? err.message : String(err);
    this.failingSince ??= this.clock();
    this.check();
  }

  /** Marks the store down when requests have been failing for `downAfterMs`; call on a timer too. */
  check(): void {
    if (this.current === 'down' || this.failingSince === undefined) return;
    const silentMs = Math.round(this.clock() - this.failingSince);
    if (silentMs < this.opts.downAfterMs) return;
    this.set('down');
    this.opts.logger.error({ event: 'store.unavailable', silentMs, err: this.lastError }, 'etcd is unreachable: no leader, no state changes until it is back');
    this.opts.record?.({
      type: 'store.unavailable',
      severity: 'critical',
      message: `etcd unreachable for ${silentMs}ms: coordinators stop changing state; keepalived keeps failing over on its own`,
      reason: this.lastError,
    });
  }

  private set(s: StoreStatus): void {
    this.current = s;
    for (const l of this.listeners) l(s);
  }
}
