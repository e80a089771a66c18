// How the gRPC port's TLS handshakes ended and how long the completed ones took, fed by the
// listener (a HandshakeObserver) and written from pre-rendered text: a handshake costs two
// counter or bucket updates, a scrape the few lines of a counter pair and a histogram.
import { HANDSHAKE_FAILURES, type HandshakeOutcome } from '../auth/server-tls.js';
import type { HandshakeObserver } from '../limits/grpc-listener.js';
import { CounterSeries, HistogramSeries } from './exposition-writer.js';
import { METRICS } from './metric-definitions.js';

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
