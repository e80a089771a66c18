import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '@lbha/shared';
import type { EventInput } from '../../src/event-log.js';
import { StoreHealth } from '../../src/etcd/store-health.js';

function health(): { h: StoreHealth; events: EventInput[]; advance: (ms: number) => void } {
  let now = 1_000;
  const events: EventInput[] = [];
  const h = new StoreHealth({ downAfterMs: 10_000, logger: silentLogger(), record: (e) => events.push(e), clock: () => now });
  return { h, events, advance: (ms) => (now += ms) };
}

describe('store health', () => {
  it('is not down after a stall of this process with no failed request', () => {
    const { h, events, advance } = health();
    h.succeeded();
    // The coordinator waited 15 s for a CPU: its health timer fires late, before any request ran.
    advance(15_000);
    h.check();
    assert.equal(h.status, 'up');
    assert.deepEqual(events, []);
    h.succeeded();
    assert.equal(h.status, 'up');
  });

  it('is down when requests have been failing for downAfterMs, and up at the next success', () => {
    const { h, events, advance } = health();
    h.succeeded();
    advance(20_000);
    h.failed(new Error('deadline exceeded'));
    assert.equal(h.status, 'up', 'one failed request is not an outage');
    advance(9_000);
    h.failed(new Error('deadline exceeded'));
    h.check();
    assert.equal(h.status, 'up');
    advance(1_000);
    h.check();
    assert.equal(h.status, 'down');
    assert.deepEqual(events.map((e) => [e.type, e.severity, e.reason]), [['store.unavailable', 'critical', 'deadline exceeded']]);
    h.succeeded();
    assert.equal(h.status, 'up');
    assert.deepEqual(events.map((e) => e.type), ['store.unavailable', 'store.available']);
  });

  it('counts failures again from the first one after a success', () => {
    const { h, advance } = health();
    h.failed(new Error('refused'));
    advance(9_000);
    h.succeeded();
    h.failed(new Error('refused'));
    advance(9_000);
    h.check();
    assert.equal(h.status, 'up', '9 s of failures since the last success');
  });
});
