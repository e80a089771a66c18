// The reconcile loop's wake-ups in time order: the earliest, the due ones, and a cluster whose
// wake-up moved or was dropped never woken for the old one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WakeQueue } from '../src/wake-queue.js';

describe('wake queue', () => {
  it('gives the earliest time and takes the due clusters in time order, once', () => {
    const q = new WakeQueue();
    q.set('c', 300);
    q.set('a', 100);
    q.set('b', 200);
    q.set('d', null);
    assert.equal(q.next(), 100);
    assert.deepEqual(q.takeDue(250), ['a', 'b']);
    assert.deepEqual(q.takeDue(250), [], 'taken once');
    assert.equal(q.next(), 300);
    assert.equal(q.size, 1);
  });

  it('a cluster that asks again moves its wake-up, earlier or later; null or delete drops it', () => {
    const q = new WakeQueue();
    q.set('a', 100);
    q.set('b', 150);
    q.set('a', 400);
    assert.equal(q.next(), 150, 'the old time of a is not the earliest any more');
    q.set('b', 50);
    assert.deepEqual(q.takeDue(399), ['b'], 'a is not due at its old time, b at its new one');
    q.set('a', null);
    assert.equal(q.next(), null);
    assert.deepEqual(q.takeDue(1000), []);
    q.set('c', 10);
    q.delete('c');
    assert.deepEqual(q.takeDue(1000), []);
  });

  it('a cluster given back the time it had before is woken at it (taken, or dropped meanwhile)', () => {
    const q = new WakeQueue();
    q.set('a', 100);
    assert.deepEqual(q.takeDue(100), ['a']);
    q.set('a', 100);
    assert.deepEqual(q.takeDue(100), ['a'], 'asked again after it was taken');
    q.set('b', 200);
    q.set('b', null);
    q.set('b', 200);
    assert.deepEqual(q.takeDue(200), ['b'], 'asked again after it was dropped');
  });

  it('keeps order over many clusters whose times change', () => {
    const q = new WakeQueue();
    const want = new Map<string, number>();
    let seed = 7;
    const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) % 10_000;
    for (let i = 0; i < 5000; i++) {
      const c = `c${rnd() % 700}`;
      const at = rnd();
      q.set(c, at);
      want.set(c, at);
    }
    const expected = [...want].sort((x, y) => x[1] - y[1] || 0);
    const got: Array<[string, number]> = [];
    for (let t = 0; t <= 10_000; t += 250) for (const c of q.takeDue(t)) got.push([c, want.get(c) as number]);
    assert.deepEqual(got.map(([, at]) => at), expected.map(([, at]) => at), 'every cluster once, at its last time, in time order');
    assert.deepEqual(new Set(got.map(([c]) => c)), new Set(want.keys()));
  });
});
