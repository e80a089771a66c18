// The store's write latency and the file store's compactions, fed by the store itself (a
// StoreObserver) and written from pre-rendered text: a scrape costs the few lines of two
// histograms and a counter, whatever the number of agents.
import type { FileStoreObserver } from '../store/file-store.js';
import { CounterSeries, HistogramSeries } from './exposition-writer.js';
import { METRICS } from './metric-definitions.js';

/** The store a coordinator runs on (the `store` label: one of two values). */
export type StoreKind = 'file' | 'etcd';

export class StoreTimings {
  private readonly writes = new HistogramSeries(METRICS.storeWriteDuration);
  private readonly compactions = new HistogramSeries(METRICS.storeCompactionDuration);
  private readonly compactionFailures = new CounterSeries(METRICS.storeCompactionFailures);

  /** What a store of `kind` reports to; its series start at 0, so increase() sees the first write. */
  observer(kind: StoreKind): FileStoreObserver {
    const labels = `store="${kind}"`;
    this.writes.ensure(labels);
    if (kind === 'file') {
      this.compactions.ensure('');
      this.compactionFailures.ensure('');
    }
    return {
      transactionDurable: (seconds) => this.writes.observe(labels, seconds),
      compacted: (seconds) => this.compactions.observe('', seconds),
      compactionFailed: () => this.compactionFailures.inc(''),
    };
  }

  text(): string {
    return this.writes.text() + this.compactions.text() + this.compactionFailures.text();
  }
}
