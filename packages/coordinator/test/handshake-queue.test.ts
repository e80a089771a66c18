// The queue of TLS handshakes: at most `limit` run at once, in arrival order; a slot is given
// back exactly once (done, or the slot timer), connections that went while waiting are skipped,
// and nothing is left waiting.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HandshakeQueue } from '../src/limits/handshake-queue.js';

class FakeConnection {
  destroyed = false;
  constructor(readonly name: string) {}
  destroy(): void {
    this.destroyed = true;
  }
}

/** A queue over fake connections, a fake timer and a fake idle clock: what started, and each one's `done`. */
function harness(limit: number) {
  const clock = { idleMs: 0 };
  const started: string[] = [];
  const done = new Map<string, () => void>();
  const timers: Array<{ fn: () => void; cleared: boolean }> = [];
  /** What waits for the end of the event-loop turn's I/O; `endOfTurn()` runs it. */
  const deferred: Array<() => void> = [];
  const queue = new HandshakeQueue<FakeConnection>({
    limit,
    slotMs: 1000,
    start: (c, d) => {
      started.push(c.name);
      done.set(c.name, d);
    },
    setTimer: (fn) => {
      const t = { fn, cleared: false };
      timers.push(t);
      return t;
    },
    clearTimer: (t) => {
      (t as { cleared: boolean }).cleared = true;
    },
    afterIo: (fn) => void deferred.push(fn),
    idleMs: () => clock.idleMs,
  });
  const endOfTurn = () => {
    for (const fn of deferred.splice(0)) fn();
  };
  const push = (...names: string[]) => names.map((n) => {
    const c = new FakeConnection(n);
    queue.push(c);
    return c;
  });
  return { queue, started, done, timers, push, endOfTurn, clock };
}

describe('handshake queue', () => {
  it('runs at most `limit` handshakes, the others wait in arrival order', () => {
    const h = harness(2);
    h.push('a', 'b', 'c', 'd', 'e');
    assert.deepEqual(h.started, ['a', 'b']);
    assert.deepEqual(h.queue.stats(), { inFlight: 2, queued: 3, started: 2, slotsTimedOut: 0 });
    h.done.get('b')?.();
    assert.deepEqual(h.started, ['a', 'b', 'c']);
    h.done.get('a')?.();
    assert.deepEqual(h.started, ['a', 'b', 'c', 'd']);
    assert.deepEqual(h.queue.stats(), { inFlight: 2, queued: 1, started: 4, slotsTimedOut: 0 });
  });

  it('gives a slot back once, however often its handshake reports', () => {
    const h = harness(1);
    h.push('a', 'b', 'c');
    const doneA = h.done.get('a') as () => void;
    doneA();
    doneA();
    assert.deepEqual(h.started, ['a', 'b'], 'a second report of a does not start c');
    assert.equal(h.queue.stats().inFlight, 1);
    assert.equal(h.timers[0]?.cleared, true, "a's slot timer is cancelled");
  });

  it('skips connections that went while they waited', () => {
    const h = harness(1);
    const [, b, c] = h.push('a', 'b', 'c', 'd');
    b?.destroy();
    c?.destroy();
    h.done.get('a')?.();
    assert.deepEqual(h.started, ['a', 'd']);
    assert.deepEqual(h.queue.stats(), { inFlight: 1, queued: 0, started: 2, slotsTimedOut: 0 });
  });

  it('gives the slot of a handshake that never reports back after slotMs, and only then', () => {
    const h = harness(1);
    h.push('a', 'b');
    assert.deepEqual(h.started, ['a']);
    h.clock.idleMs += 1000;
    h.timers[0]?.fn();
    assert.deepEqual(h.started, ['a'], 'the slot is kept until the I/O of the turn has been read');
    h.endOfTurn();
    assert.deepEqual(h.started, ['a', 'b']);
    assert.equal(h.queue.stats().slotsTimedOut, 1);
    // a reports late: its slot was already given back, b keeps the only one.
    h.push('c');
    h.done.get('a')?.();
    assert.deepEqual(h.started, ['a', 'b']);
    assert.equal(h.queue.stats().inFlight, 1);
  });

  it('a handshake that finishes in the turn its slot time ran out keeps its slot to the end: one more does not start', () => {
    // A turn of a saturated event loop outlasts slotMs: the timers run first, then the I/O that
    // finishes the handshakes whose clients have answered.
    const h = harness(2);
    h.push('a', 'b', 'c', 'd');
    h.clock.idleMs += 1000;
    h.timers[0]?.fn();
    h.timers[1]?.fn();
    h.done.get('a')?.();
    assert.deepEqual(h.started, ['a', 'b', 'c'], "a's finished handshake gave its slot to c");
    h.endOfTurn();
    assert.deepEqual(h.started, ['a', 'b', 'c', 'd'], "b's client did not answer in the turn: its slot goes to d");
    assert.deepEqual(h.queue.stats(), { inFlight: 2, queued: 0, started: 4, slotsTimedOut: 1 });
  });

  it("slotMs counts the loop's idle time: a handshake slow because the loop is busy keeps its slot, one whose client is silent loses it", () => {
    // Three coordinators on one core: the clock's slotMs passes while the loop runs other
    // handshakes or waits for the core, and a slot given back then starts one handshake too many.
    const h = harness(1);
    h.push('a', 'b', 'c');
    h.clock.idleMs += 300;
    h.timers[0]?.fn();
    h.endOfTurn();
    assert.deepEqual(h.started, ['a'], 'idle 300 of 1000 ms: a keeps its slot');
    assert.equal(h.queue.stats().slotsTimedOut, 0);
    assert.equal(h.timers.length, 2, 'the timer is set again');
    h.clock.idleMs += 699;
    h.timers[1]?.fn();
    h.endOfTurn();
    assert.deepEqual(h.started, ['a'], 'idle 999 ms: still kept');
    h.clock.idleMs += 1;
    h.timers[2]?.fn();
    h.endOfTurn();
    assert.deepEqual(h.started, ['a', 'b'], "idle 1000 ms: a's client had the loop's attention for slotMs, its slot goes to b");
    assert.deepEqual(h.queue.stats(), { inFlight: 1, queued: 1, started: 2, slotsTimedOut: 1 });
    // b finishes while its timer is pending: its timer is cancelled, c takes the slot.
    h.done.get('b')?.();
    assert.deepEqual(h.started, ['a', 'b', 'c']);
    assert.equal(h.timers[3]?.cleared, true, "b's timer is cancelled");
  });

  it('lets at most `limit` handshakes go on past their slot: beyond, a slot that runs out is kept until one of them ends', () => {
    // Slow clients (thousands of simulated agents on one core): every slot given back started
    // one more handshake, each client had more in progress and answered later still.
    const h = harness(2);
    h.push('a', 'b', 'c', 'd', 'e', 'f');
    h.clock.idleMs += 1000;
    h.timers[0]?.fn();
    h.timers[1]?.fn();
    h.endOfTurn();
    assert.deepEqual(h.started, ['a', 'b', 'c', 'd'], 'a and b go on past their slots, c and d take them');
    h.clock.idleMs += 1000;
    h.timers[2]?.fn();
    h.timers[3]?.fn();
    h.endOfTurn();
    assert.deepEqual(h.started, ['a', 'b', 'c', 'd'], 'two are past their slots already: c and d keep theirs');
    assert.deepEqual(h.queue.stats(), { inFlight: 2, queued: 2, started: 4, slotsTimedOut: 2 });
    // a ends: c, at its next look, goes on past its slot, and e takes it.
    h.done.get('a')?.();
    assert.deepEqual(h.started, ['a', 'b', 'c', 'd'], "a's end frees no slot");
    h.timers[4]?.fn();
    h.endOfTurn();
    assert.deepEqual(h.started, ['a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(h.queue.stats(), { inFlight: 2, queued: 1, started: 5, slotsTimedOut: 3 });
    // d ends in its slot: f starts at once.
    h.done.get('d')?.();
    assert.deepEqual(h.started, ['a', 'b', 'c', 'd', 'e', 'f']);
  });

  it('a handshake that ends at once (done called inside start) lets the next start', () => {
    const order: string[] = [];
    const queue = new HandshakeQueue<FakeConnection>({ limit: 1, slotMs: 1000, start: (c, d) => (order.push(c.name), d()) });
    for (const n of ['a', 'b', 'c']) queue.push(new FakeConnection(n));
    assert.deepEqual(order, ['a', 'b', 'c']);
    assert.deepEqual(queue.stats(), { inFlight: 0, queued: 0, started: 3, slotsTimedOut: 0 });
  });

  it('keeps arrival order across many connections (the FIFO compacts as it goes)', () => {
    const h = harness(3);
    const names = Array.from({ length: 5000 }, (_, i) => `n${i}`);
    h.push(...names);
    for (let i = 0; i < names.length; i++) h.done.get(names[i] as string)?.();
    assert.deepEqual(h.started, names);
    assert.deepEqual(h.queue.stats(), { inFlight: 0, queued: 0, started: 5000, slotsTimedOut: 0 });
  });

  it('close() drops every waiting connection, and later ones', () => {
    const h = harness(1);
    const [a, b, c] = h.push('a', 'b', 'c');
    h.queue.close();
    assert.equal(a?.destroyed, false, 'the running handshake belongs to its owner');
    assert.equal(b?.destroyed, true);
    assert.equal(c?.destroyed, true);
    const [d] = h.push('d');
    assert.equal(d?.destroyed, true);
    h.done.get('a')?.();
    assert.deepEqual(h.started, ['a']);
  });

  it('refuses a limit that is not a positive integer', () => {
    assert.throws(() => new HandshakeQueue({ limit: 0, slotMs: 1, start: () => undefined }), /positive integer, not 0/);
  });
});
