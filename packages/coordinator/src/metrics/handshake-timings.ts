// How the gRPC port's TLS handshakes ended and how long the completed ones took, fed by the
// listener (a HandshakeObserver) and written from pre-rendered text: a handshake costs two
// counter or bucket updates, a scrape the few lines of a counter pair and a histogram.
import { HANDSHAKE_FAILURES, type HandshakeOutcome } from '../auth/server-tls.js';
import type { HandshakeObserver } from '../limits/grpc-listener.js';
import { CounterSeries, HistogramSeries } from './exposition-writer.js';
import { METRICS } from './metric-definitions.js';

/** How the handshakes so far ended, and how long the completed ones took: what a front reports (fronts/front-wire.ts). */
export interface HandshakeTotals {
  readonly completed: number;
  /** Per failure reason (HANDSHAKE_FAILURES). */
  readonly failed: Readonly<Record<string, number>>;
  /** The duration histogram's buckets (cumulative per bound) and sum, in seconds. */
  readonly buckets: readonly number[];
  readonly sum: number;
}

/** `reason="…"` per failure, built once. */
const FAILURE_LABELS: Readonly<Record<string, string>> = Object.fromEntries(HANDSHAKE_FAILURES.map((r) => [r, `reason="${r}"`]));

export class HandshakeTimings {
  private readonly completed = new CounterSeries(METRICS.grpcHandshakesCompleted);
  private readonly failed = new CounterSeries(METRICS.grpcHandshakesFailed);
  private readonly duration = new HistogramSeries(METRICS.grpcHandshakeDuration);

  constructor() {
    // Every series from the start, so that increase() sees the first handshake of each kind.
    this.completed.ensure('');
    for (const labels of Object.values(FAILURE_LABELS)) this.failed.ensure(labels);
    this.duration.ensure('');
  }

  /** What the gRPC listener reports each handshake's end to. */
  observer(): HandshakeObserver {
    return { ended: (outcome, seconds) => this.ended(outcome, seconds) };
  }

  /** Handshakes so far that ended so (for tests and the benchmark). */
  count(outcome: HandshakeOutcome): number {
    return outcome === 'completed' ? this.completed.get('') : this.failed.get(FAILURE_LABELS[outcome] as string);
  }

  /** Everything counted so far. */
  totals(): HandshakeTotals {
    return {
      completed: this.completed.get(''),
      failed: Object.fromEntries(HANDSHAKE_FAILURES.map((r) => [r, this.failed.get(FAILURE_LABELS[r] as string)])),
      buckets: this.duration.buckets(''),
      sum: this.duration.snapshot('').sum,
    };
  }

  /** Adds handshakes another process counted (a front's, since its previous report). */
  add(more: HandshakeTotals): void {
    if (more.completed > 0) this.completed.inc('', more.completed);
    for (const [reason, n] of Object.entries(more.failed)) {
      const labels = FAILURE_LABELS[reason];
      if (labels !== undefined && n > 0) this.failed.inc(labels, n);
    }
    this.duration.add('', more.buckets, more.sum, more.completed);
  }

  text(): string {
    return this.completed.text() + this.failed.text() + this.duration.text();
  }

  private ended(outcome: HandshakeOutcome, seconds: number): void {
    if (outcome === 'completed') {
      this.completed.inc('');
      this.duration.observe('', seconds);
    } else {
      this.failed.inc(FAILURE_LABELS[outcome] as string);
    }
  }
}
