// The agents' push-to-acknowledgement round trips the coordinator's budgets follow.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AckLatency, followLatency } from '../src/ack-latency.js';

describe('ack latency', () => {
  it('is the longest of a node\'s recent round trips, each push matched to the acknowledgement of its version', () => {
    const a = new AckLatency();
    assert.equal(a.recentMs('lb1'), undefined, 'none before the first');
    a.pushed('lb1', 5, 1_000);
    a.pushed('lb1', 7, 1_100);
    a.acked('lb1', 5, 1_650);
    assert.equal(a.recentMs('lb1'), 650);
    a.acked('lb1', 7, 1_200);
    assert.equal(a.recentMs('lb1'), 650, 'the longest of the recent ones');
    assert.equal(a.recentMs('lb2'), undefined, 'per node');
    for (let v = 10; v < 18; v++) {
      a.pushed('lb1', v, v * 1_000);
      a.acked('lb1', v, v * 1_000 + 40);
    }
    assert.equal(a.recentMs('lb1'), 40, 'eight newer round trips replace it');
  });

  it('counts no round trip for a push that was skipped, refused before, or sent to a session that ended', () => {
    const a = new AckLatency();
    a.pushed('lb1', 1, 0);
    a.pushed('lb1', 2, 10);
    a.acked('lb1', 2, 30);
    a.acked('lb1', 1, 5_000);
    assert.equal(a.recentMs('lb1'), 20, 'version 1 was passed over: its late word is no round trip');
    a.pushed('lb1', 3, 100);
    a.dropPending('lb1');
    a.acked('lb1', 3, 9_000);
    assert.equal(a.recentMs('lb1'), 20);
    a.forget('lb1');
    assert.equal(a.recentMs('lb1'), undefined);
  });

  it('a budget follows the slowest, within its floor and cap', () => {
    assert.equal(followLatency([], 300, 1, 2_000), 300);
    assert.equal(followLatency([undefined, 120], 300, 1, 2_000), 300);
    assert.equal(followLatency([800, undefined, 1_200.5], 300, 1, 2_000), 1_201);
    assert.equal(followLatency([900], 2_000, 4, 10_000), 3_600);
    assert.equal(followLatency([90_000], 300, 1, 2_000), 2_000);
  });
});
