// The store's write latency and compactions in /metrics, fed by a real file store.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CoordinatorMetrics } from '../src/metrics/coordinator-metrics.js';
import { METRICS } from '../src/metrics/metric-definitions.js';
import { Registry } from '../src/registry.js';
import { FileStore } from '../src/store/file-store.js';
import { put } from '../src/store/store.js';
import { find, parseExposition, value, type Sample } from './support/exposition.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lbha-store-timings-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function scrape(metrics: CoordinatorMetrics): Promise<Sample[]> {
  return parseExposition((await metrics.render()).body);
}

/** The histogram's buckets are cumulative, end in +Inf at the count, and every sample has only the catalog's labels. */
function checkHistogram(samples: readonly Sample[], name: string, labels: Record<string, string>, labelNames: readonly string[]): void {
  const buckets = find(samples, `${name}_bucket`, labels);
  assert.ok(buckets.length > 2, `${name} has buckets`);
  for (const b of buckets) assert.deepEqual(Object.keys(b.labels).sort(), [...labelNames, 'le'].sort());
  for (let i = 1; i < buckets.length; i++) assert.ok((buckets[i] as Sample).value >= (buckets[i - 1] as Sample).value, `${name} buckets are cumulative`);
  assert.equal(buckets.at(-1)?.labels['le'], '+Inf');
  assert.equal(buckets.at(-1)?.value, value(samples, `${name}_count`, labels));
}

describe('store timings in /metrics', () => {
  it("counts every file store transaction's durable write, and each compaction, with sane values", async () => {
    const metrics = new CoordinatorMetrics({ registry: new Registry(3500), processMetrics: false });
    const store = await FileStore.open(join(dir, 'a', 'state.json'), { compactBytes: 4000, observer: metrics.store.observer('file') });
    let s = await scrape(metrics);
    // Present from the start at 0, so that increase() sees the first write.
    assert.equal(value(s, 'lbha_store_write_duration_seconds_count', { store: 'file' }), 0);
    assert.equal(value(s, 'lbha_store_compaction_duration_seconds_count'), 0);
    assert.equal(value(s, 'lbha_store_compaction_failures_total'), 0);
    assert.equal(find(s, 'lbha_store_write_duration_seconds_count', { store: 'etcd' }).length, 0, 'no series for a store not in use');

    for (let i = 0; i < 40; i++) await store.txn([], [put(`k/${i % 4}`, { i, pad: 'p'.repeat(200) })]);
    await store.close();
    s = await scrape(metrics);
    assert.equal(value(s, 'lbha_store_write_duration_seconds_count', { store: 'file' }), 40);
    const sum = value(s, 'lbha_store_write_duration_seconds_sum', { store: 'file' });
    // fsync on: each write took some time, and far less than a minute.
    assert.ok(sum > 0 && sum < 60, `sum ${sum} s`);
    checkHistogram(s, 'lbha_store_write_duration_seconds', { store: 'file' }, METRICS.storeWriteDuration.labels);
    // 40 lines of about 240 bytes pass 4,000 bytes twice, and the close compacts what is left.
    const compactions = value(s, 'lbha_store_compaction_duration_seconds_count');
    assert.ok(compactions >= 2, `${compactions} compactions`);
    const compactionSum = value(s, 'lbha_store_compaction_duration_seconds_sum');
    assert.ok(compactionSum > 0 && compactionSum < 60, `compaction sum ${compactionSum} s`);
    checkHistogram(s, 'lbha_store_compaction_duration_seconds', {}, METRICS.storeCompactionDuration.labels);
    assert.equal(value(s, 'lbha_store_compaction_failures_total'), 0);
    metrics.close();
  });

  it('labels an etcd store\'s transactions store="etcd", without the file store\'s compaction series', async () => {
    const metrics = new CoordinatorMetrics({ registry: new Registry(3500), processMetrics: false });
    const observer = metrics.store.observer('etcd');
    observer.transactionDurable(0.004);
    observer.transactionDurable(0.03);
    const s = await scrape(metrics);
    assert.equal(value(s, 'lbha_store_write_duration_seconds_count', { store: 'etcd' }), 2);
    assert.equal(value(s, 'lbha_store_write_duration_seconds_bucket', { store: 'etcd', le: '0.005' }), 1);
    assert.equal(value(s, 'lbha_store_write_duration_seconds_bucket', { store: 'etcd', le: '0.05' }), 2);
    assert.equal(value(s, 'lbha_store_write_duration_seconds_sum', { store: 'etcd' }), 0.034);
    assert.equal(find(s, 'lbha_store_compaction_duration_seconds_count').length, 0);
    assert.equal(find(s, 'lbha_store_compaction_failures_total').length, 0);
    metrics.close();
  });
});
