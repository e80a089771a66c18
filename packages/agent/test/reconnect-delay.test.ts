import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRandom } from '@lbha/test-support';
import { backoffCeilingMs, reconnectDelayMs, type BackoffPolicy } from '../src/reconnect-delay.js';

const policy: BackoffPolicy = { initialMs: 200, maxMs: 10_000, maxUnreachableMs: 2_000 };

describe('reconnect delay', () => {
  it('doubles the ceiling per attempt up to the cap of the ending', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].map((a) => backoffCeilingMs(policy, 'refused', a)), [200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((a) => backoffCeilingMs(policy, 'unreachable', a)), [200, 400, 800, 1600, 2000, 2000]);
    assert.equal(backoffCeilingMs(policy, 'refused', 10_000), 10_000);
    assert.equal(backoffCeilingMs({ ...policy, maxUnreachableMs: 60_000 }, 'unreachable', 50), 10_000);
  });

  it('draws the delay uniformly below the ceiling (full jitter)', () => {
    assert.equal(reconnectDelayMs(policy, 'unreachable', 9, () => 0), 0);
    assert.equal(reconnectDelayMs(policy, 'unreachable', 9, () => 0.25), 500);
    assert.equal(reconnectDelayMs(policy, 'refused', 9, () => 0.25), 2500);
  });

  it('spreads a fleet that lost its coordinator evenly over the ceiling, with no agent waiting longer', () => {
    // 10,000 agents, each retrying a down coordinator until it is back after 5 s: when does each
    // agent make its first attempt after that? With the 2 s ceiling, within 2 s, about as many in
    // every tenth of the window (no waves).
    const random = seededRandom(42);
    const backAt = 5_000;
    const firstAfter: number[] = [];
    for (let agent = 0; agent < 10_000; agent++) {
      let t = 0;
      let attempt = 0;
      while (t < backAt) t += reconnectDelayMs(policy, 'unreachable', attempt++, random);
      firstAfter.push(t - backAt);
    }
    assert.ok(Math.max(...firstAfter) <= 2_000, `latest first attempt ${Math.max(...firstAfter)} ms after the coordinator was back`);
    const buckets = Array.from({ length: 10 }, () => 0);
    for (const d of firstAfter) buckets[Math.min(9, Math.floor(d / 200))] = (buckets[Math.min(9, Math.floor(d / 200))] ?? 0) + 1;
    // A renewal process: arrivals thin out towards the ceiling but stay spread; no tenth holds
    // more than a fifth of the fleet, and none is empty.
    for (const b of buckets) assert.ok(b > 0 && b < 2_000, `per 200 ms: ${buckets.join(' ')}`);
  });
});
