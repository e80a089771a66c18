// Outage arithmetic of the probe records (no lab needed).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseProbeOutput, percentile, summarizeProbe, type ProbeRecord } from '../lab/probe-records.js';
import { clientFigures } from '../lab/client-figures.js';
import { parseWrk } from '../lab/client-tools.js';

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

describe('client figures', () => {
  const rec = (seq: number, t: number, o: Partial<ProbeRecord> = {}): ProbeRecord => ({ seq, t, ms: 2, ok: true, status: 200, page: 'p', lb: 'lb1', ...o });

  it('counts failures that never reached a server apart from those a server accepted, and slow requests', () => {
    const records = [
      rec(1, 0),
      rec(2, 10, { ok: false, error: 'ECONNRESET', connected: true, ms: 5 }),
      rec(3, 20, { ok: false, error: 'timeout', connected: false, ms: 300 }),
      rec(4, 30, { lb: 'lb2', ms: 150 }),
      rec(5, 40, { lb: 'lb2' }),
    ];
    const f = clientFigures(records, { faultMs: 5, newHolder: 'lb2' });
    assert.equal(f.failed, 1);
    assert.equal(f.lost, 1);
    assert.equal(f.slow, 1);
    assert.equal(f.newHolderMs, 37, 'from the fault to the earliest answer through lb2 (sent at 40, done at 42)');
  });

  it('reads wrk reports', () => {
    const text = `Running 5s test @ http://192.168.20.28/
  1 threads and 20 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.20ms  400.00us  12.50ms   90.00%
    Req/Sec     8.00k   500.00     9.00k    70.00%
  40000 requests in 5.00s, 9.00MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:   8000.00
`;
    assert.deepEqual(parseWrk(text), { requests: 40000, connectErrors: 0, readErrors: 3, writeErrors: 1, timeouts: 2, non2xx: 4, latencyMaxMs: 12.5, errors: 10, longestSilenceMs: 0 });
    // The script's lines, one per thread: the longest of them.
    assert.equal(parseWrk(`${text}lbha-silence 1 52\nlbha-silence 2 3009\nlbha-silence 3 48\n`).longestSilenceMs, 3009);
  });
});
