// The liveness sweep over fake connections (a byte count the test moves, a destroy it records),
// with the clock passed in: which sessions it touches, and which connections it closes as dead.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionLiveness, DEAD_CONNECTION_MS, deadConnectionMs, type WatchedConnection } from '../src/connection-liveness.js';

class FakeConnection implements WatchedConnection {
  bytesRead = 0;
  destroyed = 0;
  destroy(): void {
    this.destroyed++;
  }
}

/** Runs a sweep at `now`; the sessions touched and closed, in order. */
function sweep(l: ConnectionLiveness, now: number): { touched: string[]; closed: string[] } {
  const touched: string[] = [];
  const closed: string[] = [];
  l.sweep(
    now,
    (node, session) => touched.push(`${node}/${session}`),
    (node, session) => closed.push(`${node}/${session}`),
  );
  return { touched, closed };
}

describe('ConnectionLiveness', () => {
  it('touches the sessions whose connection read bytes since the last sweep, and only those', () => {
    const l = new ConnectionLiveness(10_000);
    const busy = new FakeConnection();
    const quiet = new FakeConnection();
    l.watch('lb1', 's1', busy);
    l.watch('lb2', 's2', quiet);
    busy.bytesRead += 40;
    assert.deepEqual(sweep(l, 0), { touched: ['lb1/s1'], closed: [] });
    assert.deepEqual(sweep(l, 500), { touched: [], closed: [] }, 'nothing read since');
    busy.bytesRead += 40;
    quiet.bytesRead += 1;
    assert.deepEqual(sweep(l, 1000), { touched: ['lb1/s1', 'lb2/s2'], closed: [] });
  });

  it('closes a connection that read nothing for deadAfterMs, once, and watches it no more', () => {
    const l = new ConnectionLiveness(3000);
    const dead = new FakeConnection();
    const live = new FakeConnection();
    l.watch('lb1', 'dead', dead);
    l.watch('lb2', 'live', live);
    // Counted from the first sweep that saw the connection, not from a time before it.
    for (let now = 0; now < 3000; now += 500) {
      live.bytesRead += 40;
      assert.deepEqual(sweep(l, 1_000_000 + now), { touched: ['lb2/live'], closed: [] }, `at ${now} ms`);
    }
    assert.equal(dead.destroyed, 0, 'not before deadAfterMs');
    live.bytesRead += 40;
    assert.deepEqual(sweep(l, 1_003_000), { touched: ['lb2/live'], closed: ['lb1/dead'] });
    assert.equal(dead.destroyed, 1);
    assert.equal(l.size, 1);
    assert.deepEqual(sweep(l, 1_010_000), { touched: [], closed: ['lb2/live'] }, 'the other one, silent from 1,003,000 on');
    assert.deepEqual(sweep(l, 1_020_000), { touched: [], closed: [] });
    assert.equal(dead.destroyed, 1, 'closed once');
    assert.equal(live.destroyed, 1);
    assert.equal(l.size, 0);
  });

  it('counts silence from the last bytes read: a connection that reads now and then stays open', () => {
    const l = new ConnectionLiveness(3000);
    const c = new FakeConnection();
    l.watch('lb1', 's1', c);
    sweep(l, 0);
    for (let now = 1000; now <= 20_000; now += 1000) {
      if (now % 2000 === 0) c.bytesRead += 40; // a byte every 2 s, under the 3 s
      assert.deepEqual(sweep(l, now).closed, [], `at ${now} ms`);
    }
    assert.equal(c.destroyed, 0);
    assert.deepEqual(sweep(l, 23_000).closed, ['lb1/s1'], 'read last at 20,000');
  });

  it('an unwatched session is neither touched nor closed', () => {
    const l = new ConnectionLiveness(1000);
    const c = new FakeConnection();
    l.watch('lb1', 's1', c);
    sweep(l, 0);
    l.unwatch('s1');
    c.bytesRead += 1;
    assert.deepEqual(sweep(l, 5000), { touched: [], closed: [] });
    assert.equal(c.destroyed, 0);
  });

  it("the coordinator's bound: never under what the server's keepalive took, twice staleAfter above it", () => {
    assert.equal(deadConnectionMs(3500), DEAD_CONNECTION_MS);
    assert.equal(DEAD_CONNECTION_MS, 15_000);
    assert.equal(deadConnectionMs(20_000), 40_000);
  });
});
