// An event watcher honours back-pressure (nothing more is sent until the connection drains),
// is disconnected with a reason when it stops reading or falls behind what the log keeps, and
// watchers are capped per caller and in total.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LbhaEvent } from '@lbha/shared';
import { eventually } from '@lbha/test-support';
import { EventLog } from '../src/event-log.js';
import { watchEvents, WatchLimits, type WatchSink } from '../src/event-watch.js';
import { MemoryStore } from '../src/store/memory-store.js';

class FakeConnection implements WatchSink {
  readonly got: LbhaEvent[] = [];
  /** Events the connection takes before its buffer is full. */
  room = Infinity;
  failed: { code: string; message: string } | undefined;
  private drained: (() => void) | undefined;
  write(e: LbhaEvent): boolean {
    this.got.push(e);
    return --this.room > 0;
  }
  onceDrained(listener: () => void): void {
    this.drained = listener;
  }
  fail(code: 'too_slow' | 'behind', message: string): void {
    this.failed = { code, message };
  }
  drain(room: number): void {
    this.room = room;
    const d = this.drained;
    this.drained = undefined;
    d?.();
  }
}

async function log(n: number, retain = 50_000): Promise<EventLog> {
  const events = new EventLog({ flushDelayMs: 0, capacity: Math.min(1000, retain), retain });
  await events.attach(new MemoryStore());
  for (let i = 0; i < n; i++) events.record({ type: 'x', message: `${i}` });
  await events.flush();
  return events;
}

describe('event watchers', () => {
  it('send nothing more while the connection is full, and go on when it drains', async () => {
    const events = await log(5000);
    const conn = new FakeConnection();
    conn.room = 10;
    const stop = watchEvents(events, conn, { afterSeq: 0, filter: {} });
    await eventually(() => conn.got.length === 10, 'the first ten');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(conn.got.length, 10, 'nothing beyond what the connection took');
    conn.drain(Infinity);
    await eventually(() => conn.got.length === 5000, 'the rest after the drain');
    events.record({ type: 'live', message: '' });
    await eventually(() => conn.got.at(-1)?.type === 'live', 'a live event');
    assert.deepEqual(conn.got.map((e) => e.seq), Array.from({ length: 5001 }, (_, i) => i + 1));
    stop();
  });

  it('disconnect a watcher that reads nothing for the stall time, saying where to resume', async () => {
    const events = await log(100);
    const conn = new FakeConnection();
    conn.room = 3;
    const stop = watchEvents(events, conn, { afterSeq: 0, filter: {}, stallMs: 200 });
    await eventually(() => conn.failed !== undefined, 'the watcher disconnected');
    assert.deepEqual(conn.failed, { code: 'too_slow', message: 'this watcher read nothing for 0.2s; watch again with after_seq 3 to continue' });
    stop();
  });

  it('refuse a cursor older than the log keeps, naming the oldest seq', async () => {
    const events = await log(3000, 1000);
    const first = (await events.bounds()).first;
    assert.ok(first > 1000, `trimmed to ${first}`);
    const conn = new FakeConnection();
    watchEvents(events, conn, { afterSeq: 5, filter: {} })();
    await eventually(() => conn.failed !== undefined, 'refused');
    assert.equal(conn.failed?.code, 'behind');
    assert.match(conn.failed?.message ?? '', new RegExp(`the oldest is ${first}\\); watch again with after_seq ${first - 1}`));
  });

  it('are capped per caller and in total', () => {
    const limits = new WatchLimits(2, 3);
    const a1 = limits.acquire('a');
    const a2 = limits.acquire('a');
    assert.match(String(limits.acquire('a')), /a already has 2 event watchers \(at most 2\)/);
    const b1 = limits.acquire('b');
    assert.match(String(limits.acquire('c')), /already serves 3 event watchers \(at most 3\)/);
    assert.equal(typeof a1, 'function');
    (a1 as () => void)();
    (a1 as () => void)();
    assert.equal(limits.watchers, 2, 'a release counts once');
    assert.equal(typeof limits.acquire('c'), 'function');
    for (const r of [a2, b1]) (r as () => void)();
  });
});
