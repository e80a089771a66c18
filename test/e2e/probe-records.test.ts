// Outage arithmetic of the probe records (no lab needed).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseProbeOutput, percentile, summarizeProbe, type ProbeRecord } from '../lab/probe-records.js';

const ok = (seq: number, t: number, ms = 1, lb = 'lb1'): ProbeRecord => ({ seq, t, ms, ok: true, status: 200, page: 'p', lb });
const fail = (seq: number, t: number, ms = 500): ProbeRecord => ({ seq, t, ms, ok: false, error: 'timeout' });

describe('probe records', () => {
  it('parses JSON lines, skipping markers and a torn last line', () => {
    const text = [
      '{"type":"start","t":1}',
      JSON.stringify(ok(2, 20)),
      JSON.stringify(ok(1, 10)),
      '{"type":"end","t":30,"sent":2}',
      '{"seq":3,"t":',
    ].join('\n');
    assert.deepEqual(parseProbeOutput(text).map((r) => r.seq), [1, 2]);
  });

  it('measures the longest gap between successful responses by completion time', () => {
    const records = [ok(1, 0), ok(2, 10), fail(3, 20), fail(4, 30), ok(5, 40, 200), ok(6, 250)];
    const summary = summarizeProbe(records);
    assert.equal(summary.requests, 6);
    assert.equal(summary.failed, 2);
    // success 2 completes at 11, success 5 at 240.
    assert.equal(summary.longestGapMs, 229);
    assert.equal(summary.windows.length, 1);
    assert.equal(summary.windows[0]?.fromMs, 11);
    assert.equal(summary.windows[0]?.toMs, 240);
    assert.deepEqual(summary.errors, { timeout: 2 });
    assert.deepEqual(summary.byLb, { lb1: 4 });
  });

  it('counts an outage at the start and one that has not ended', () => {
    const leading = summarizeProbe([fail(1, 0, 100), ok(2, 100)]);
    assert.equal(leading.windows.length, 1);
    assert.equal(leading.longestGapMs, 101);
    const trailing = summarizeProbe([ok(1, 0), fail(2, 10, 500)]);
    assert.equal(trailing.windows.length, 1);
    assert.equal(trailing.longestGapMs, 509);
    const none = summarizeProbe([fail(1, 0, 500), fail(2, 10, 500)]);
    assert.equal(none.succeeded, 0);
    assert.equal(none.longestGapMs, 510);
  });

  it('filters by send time and computes nearest-rank percentiles', () => {
    const records = Array.from({ length: 100 }, (_, i) => ok(i + 1, i * 10, i + 1));
    const summary = summarizeProbe(records, { fromMs: 0, toMs: 500 });
    assert.equal(summary.requests, 50);
    assert.equal(summary.latency.p50, 25);
    assert.equal(summary.latency.max, 50);
    assert.equal(percentile([], 99), 0);
    assert.equal(percentile([1, 2, 3, 4], 100), 4);
  });
});
