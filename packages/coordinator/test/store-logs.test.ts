// The store's append-only logs (events, audit) and the DurableLog that writes them: seqs that
// continue across a reopen, appends that must follow the last seq, trims that keep the last
// record, a torn line dropped at open, and a writer that tells readers only about durable
// records and still answers them while the store is unreachable.
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StoreError } from '../src/errors.js';
import { DurableLog } from '../src/store/durable-log.js';
import { FileStore } from '../src/store/file-store.js';
import { MemoryStore } from '../src/store/memory-store.js';
import type { LogName, LogRecord, Store } from '../src/store/store.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lbha-logs-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
const fresh = () => join(dir, `s${++n}`, 'state.json');
const recs = (from: number, count: number): LogRecord[] => Array.from({ length: count }, (_, i) => ({ seq: from + i, value: { n: from + i } }));

const implementations: Array<[string, () => Promise<Store>]> = [
  ['MemoryStore', async () => new MemoryStore()],
  ['FileStore', async () => FileStore.open(fresh(), { fsync: false })],
];

for (const [name, make] of implementations) {
  describe(`${name}: logs`, () => {
    it('appends, reads after a seq, and knows its bounds; the two logs are apart', async () => {
      const s = await make();
      assert.deepEqual(await s.bounds('events'), { first: 0, last: 0 });
      await s.append('events', recs(1, 5));
      await s.append('events', recs(6, 2));
      await s.append('audit', recs(1, 1));
      assert.deepEqual(await s.bounds('events'), { first: 1, last: 7 });
      assert.deepEqual(await s.bounds('audit'), { first: 1, last: 1 });
      assert.deepEqual((await s.read('events', 3, 2)).map((r) => r.seq), [4, 5]);
      assert.deepEqual((await s.read('events', 7, 10)).map((r) => r.seq), []);
      assert.deepEqual((await s.read<{ n: number }>('events', 0, 100)).map((r) => r.value.n), [1, 2, 3, 4, 5, 6, 7]);
    });

    it('refuses an append that does not follow the last seq, and appends nothing of it', async () => {
      const s = await make();
      await s.append('audit', recs(1, 3));
      await assert.rejects(s.append('audit', recs(3, 2)), StoreError);
      await assert.rejects(s.append('audit', recs(5, 2)), StoreError);
      await assert.rejects(s.append('audit', [{ seq: 4, value: 1 }, { seq: 6, value: 2 }]), StoreError);
      assert.deepEqual(await s.bounds('audit'), { first: 1, last: 3 });
    });

    it('trims through a seq but always keeps the last record (it carries the sequence)', async () => {
      const s = await make();
      await s.append('events', recs(1, 10));
      await s.trim('events', 4);
      assert.deepEqual(await s.bounds('events'), { first: 5, last: 10 });
      await s.trim('events', 100);
      assert.deepEqual(await s.bounds('events'), { first: 10, last: 10 });
      await s.append('events', recs(11, 1));
      assert.deepEqual((await s.read('events', 0, 10)).map((r) => r.seq), [10, 11]);
    });
  });
}

describe('FileStore: log files', () => {
  it('keep their records and bounds across a reopen, trims included, mode 0600', async () => {
    const path = fresh();
    const s = await FileStore.open(path, { fsync: false });
    await s.append('events', recs(1, 20));
    await s.trim('events', 10);
    await s.append('audit', recs(1, 2));
    await s.close();
    const again = await FileStore.open(path, { fsync: false });
    assert.deepEqual(await again.bounds('events'), { first: 11, last: 20 });
    assert.deepEqual(await again.bounds('audit'), { first: 1, last: 2 });
    for (const log of ['events', 'audit'] as LogName[]) assert.equal((await stat(`${path}.${log}.jsonl`)).mode & 0o777, 0o600, `${log} log file mode`);
    await again.close();
  });

  it('drop a torn last line at open and go on after the last whole record', async () => {
    const path = fresh();
    const s = await FileStore.open(path, { fsync: false });
    await s.append('audit', recs(1, 3));
    await s.close();
    await appendFile(`${path}.audit.jsonl`, '{"seq":4,"value":{"n"');
    const again = await FileStore.open(path, { fsync: false });
    assert.deepEqual(await again.bounds('audit'), { first: 1, last: 3 });
    await again.append('audit', recs(4, 1));
    await again.close();
    const third = await FileStore.open(path, { fsync: false });
    assert.deepEqual((await third.read('audit', 0, 10)).map((r) => r.seq), [1, 2, 3, 4]);
    assert.equal((await readFile(`${path}.audit.jsonl`, 'utf8')).split('\n').filter(Boolean).length, 4);
    await third.close();
  });
});

/** A store whose log requests can be made to fail (an unreachable etcd); it lists the reads asked of it. */
class FlakyStore extends MemoryStore {
  down = false;
  /** `afterSeq` of every log read asked of the store, in order. */
  readonly reads: number[] = [];
  override append(log: LogName, records: readonly LogRecord[]): Promise<void> {
    return this.down ? Promise.reject(new StoreError('store unreachable')) : super.append(log, records);
  }
  override read<T = unknown>(log: LogName, afterSeq: number, limit: number): Promise<Array<LogRecord<T>>> {
    this.reads.push(afterSeq);
    return this.down ? Promise.reject(new StoreError('store unreachable')) : super.read<T>(log, afterSeq, limit);
  }
  override bounds(log: LogName): ReturnType<MemoryStore['bounds']> {
    return this.down ? Promise.reject(new StoreError('store unreachable')) : super.bounds(log);
  }
}

interface Rec {
  readonly seq: number;
  readonly text: string;
}

function durableLog(opts: { windowSize?: number; retain?: number; maxPending?: number } = {}): DurableLog<Rec> {
  return new DurableLog<Rec>({
    name: 'events',
    windowSize: opts.windowSize ?? 10,
    retain: opts.retain ?? 1000,
    flushDelayMs: 0,
    maxPending: opts.maxPending ?? 1000,
    withSeq: (r, seq) => ({ ...r, seq }),
  });
}

const add = (log: DurableLog<Rec>, text: string) => log.add((seq) => ({ seq, text }));

describe('DurableLog', () => {
  // Its timers do not hold the process open (unref); the test's own wait must.
  let keepAlive: NodeJS.Timeout;
  before(() => {
    keepAlive = setInterval(() => undefined, 1000);
  });
  after(() => clearInterval(keepAlive));

  it('continues after the last seq the store holds; records made before attaching are renumbered after it', async () => {
    const store = new MemoryStore();
    await store.append('events', recs(1, 7));
    const log = durableLog();
    add(log, 'early');
    await log.attach(store);
    const r = add(log, 'late');
    assert.equal(r.seq, 9);
    assert.equal(await log.settled(2000), true);
    assert.deepEqual((await store.read<Rec>('events', 7, 10)).map((x) => [x.seq, x.value.text]), [
      [8, 'early'],
      [9, 'late'],
    ]);
  });

  it('tells readers only about durable records; older ones than its window come from the store', async () => {
    const store = new FlakyStore();
    const log = durableLog({ windowSize: 10 });
    await log.attach(store);
    // Written in batches, so that the window lets go of the oldest: those are read from the store.
    for (let batch = 0; batch < 4; batch++) {
      for (let i = 0; i < 50; i++) add(log, `e${batch * 50 + i}`);
      await log.flush();
    }
    assert.equal(await log.settled(2000), true);
    store.reads.length = 0;
    // A page ends where the store's part does; a reader goes on after its last seq.
    const all: Rec[] = [];
    for (let pages = 0; pages < 10; pages++) {
      const page = await log.read(all.at(-1)?.seq ?? 0, 1000);
      if (page.length === 0) break;
      all.push(...page);
    }
    assert.equal(store.reads[0], 0, 'the first page reaches back into the store');
    assert.equal(all.length, 200);
    assert.deepEqual(all.map((r) => r.seq), Array.from({ length: 200 }, (_, i) => i + 1));
    store.down = true;
    add(log, 'not yet durable');
    assert.deepEqual((await log.read(195, 100)).map((r) => r.seq), [196, 197, 198, 199, 200], 'a pending record is not shown');
    assert.equal(log.stats().pending, 1);
  });

  it('answers readers from memory while the store is unreachable', async () => {
    const store = new FlakyStore();
    const log = durableLog({ windowSize: 10 });
    await log.attach(store);
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 25; i++) add(log, `e${i}`);
      await log.flush();
    }
    store.down = true;
    const bounds = await log.bounds();
    assert.deepEqual(bounds, { first: 1, last: 100 });
    const page = await log.read(0, 1000);
    assert.ok(page.length > 0, 'some records');
    assert.equal(page.at(-1)?.seq, 100, 'the newest ones, from memory');
    assert.ok((page[0]?.seq ?? 0) > 1, 'the gap shows in the seqs');
    assert.deepEqual(page.map((r) => r.seq - (page[0]?.seq ?? 0)), page.map((_, i) => i), 'in order, without holes');
    store.down = false;
  });

  it('answers readers with its own records as soon as it is being detached, while its last write hangs', async () => {
    // A leader that lost an unreachable etcd: its final append waits for the store's timeout.
    let release: () => void = () => undefined;
    const store = new (class extends MemoryStore {
      hang = false;
      override append(log: LogName, records: readonly LogRecord[]): Promise<void> {
        return this.hang ? new Promise((_, reject) => (release = () => reject(new StoreError('timed out')))) : super.append(log, records);
      }
    })();
    const log = durableLog();
    await log.attach(store);
    add(log, 'written');
    assert.equal(await log.settled(2000), true);
    store.hang = true;
    add(log, 'store.unavailable');
    const detached = log.detach();
    assert.deepEqual((await log.read(0, 10)).map((r) => r.text), ['written', 'store.unavailable'], 'the record the store never took is shown');
    assert.deepEqual(await log.bounds(), { first: 1, last: 2 });
    // The store answers again: the timed-out append is retried and the detach completes.
    store.hang = false;
    release();
    await detached;
  });

  it('writes what waited for an unreachable store once it is back, in order; beyond maxPending the oldest are dropped and counted', async () => {
    const store = new FlakyStore();
    const log = durableLog({ maxPending: 50 });
    await log.attach(store);
    store.down = true;
    for (let i = 0; i < 80; i++) add(log, `e${i}`);
    assert.equal(await log.settled(300), false);
    assert.deepEqual({ pending: log.stats().pending, dropped: log.stats().dropped }, { pending: 50, dropped: 30 });
    store.down = false;
    await log.flush();
    // The dropped ones are a gap at the start: the records kept follow each other.
    assert.deepEqual(await store.bounds('events'), { first: 31, last: 80 });
  });

  it('keeps at most `retain` records in the store (trimmed in steps of a tenth)', async () => {
    const store = new MemoryStore();
    const log = durableLog({ retain: 100 });
    await log.attach(store);
    for (let i = 0; i < 1000; i++) add(log, `e${i}`);
    await log.flush();
    const { first, last } = await store.bounds('events');
    assert.equal(last, 1000);
    assert.ok(last - first + 1 <= 110, `kept ${last - first + 1} records`);
  });

  it('pages by a filter, from the store and memory alike, and looks at no more than `scan` records a call', async () => {
    const store = new FlakyStore();
    const storeReads = store.reads;
    const log = durableLog({ windowSize: 10 });
    await log.attach(store);
    // Written in batches, so that the window lets go of the oldest: those are read from the store.
    for (let batch = 0; batch < 4; batch++) {
      for (let i = 1; i <= 25; i++) add(log, (batch * 25 + i) % 10 === 0 ? 'match' : 'other');
      await log.flush();
    }
    assert.equal(await log.settled(2000), true);
    const tenth = (r: Rec) => r.text === 'match';
    const all = await log.page(0, 100, tenth, 1000);
    assert.deepEqual(all.records.map((r) => r.seq), [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    assert.equal(all.next, 100);
    assert.ok(storeReads.length > 0, 'the older records came from the store');
    storeReads.length = 0;
    const recent = await log.page(90, 100, tenth, 1000);
    assert.deepEqual([recent.records.map((r) => r.seq), recent.next], [[100], 100]);
    assert.deepEqual(storeReads, [], 'the newest records came from memory');
    const limited = await log.page(0, 3, tenth, 1000);
    assert.deepEqual([limited.records.map((r) => r.seq), limited.next], [[10, 20, 30], 30]);
    const scanned = await log.page(0, 100, tenth, 25);
    assert.deepEqual([scanned.records.map((r) => r.seq), scanned.next], [[10, 20], 25], 'the cursor stops where the scan did');
  });

  it('appends in batches small enough for etcd (at most 128 operations a transaction)', async () => {
    const sizes: number[] = [];
    const store = new (class extends MemoryStore {
      override append(log: LogName, records: readonly LogRecord[]): Promise<void> {
        sizes.push(records.length);
        return super.append(log, records);
      }
    })();
    const log = durableLog({ windowSize: 5000, maxPending: 5000 });
    for (let i = 0; i < 3000; i++) add(log, `e${i}`);
    await log.attach(store);
    await log.flush();
    assert.equal((await store.bounds('events')).last, 3000);
    assert.ok(Math.max(...sizes) < 128, `largest append: ${Math.max(...sizes)} records`);
  });
});
