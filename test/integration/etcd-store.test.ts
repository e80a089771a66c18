// The coordinator store on a real 3-member etcd cluster: the same semantics as the file store
// (revisions, compare-and-swap, atomic multi-key writes), and what two coordinators writing at
// once get: exactly one applies a change, the other sees the conflict.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoordinatorState, createEtcdClient, EtcdStore, EventLog, StoreError, type Fence, type JournalEntry, type OperationRecord } from '@lbha/coordinator';
import type { Etcd3 } from 'etcd3';
import { EtcdCluster, etcdUnavailableReason } from '../support/etcd-cluster.js';

const skip = etcdUnavailableReason();
const put = (key: string, value: unknown) => ({ kind: 'put' as const, key, value });
const del = (key: string) => ({ kind: 'delete' as const, key });

describe('etcd store', { skip }, () => {
  let cluster: EtcdCluster;
  let client: Etcd3;
  let other: Etcd3;
  let n = 0;
  const fresh = (c: Etcd3 = client) => new EtcdStore({ client: c, prefix: `/store-test-${n}/` });
  const next = () => {
    n++;
    return fresh();
  };

  before(async () => {
    cluster = await EtcdCluster.start();
    client = createEtcdClient({ endpoints: cluster.endpoints, requestTimeout: 2000 });
    other = createEtcdClient({ endpoints: cluster.endpoints, requestTimeout: 2000 });
  });
  after(async () => {
    client?.close();
    other?.close();
    await cluster?.stop();
  });

  it('puts, gets and lists with revisions', async () => {
    const s = next();
    const r1 = await s.txn([], [put('a/1', { x: 1 }), put('a/2', 'two'), put('b', [1, 2])]);
    assert.ok(r1.ok);
    assert.deepEqual(await s.get('a/1'), { key: 'a/1', value: { x: 1 }, revision: r1.revision });
    assert.deepEqual((await s.list('a/')).map((e) => e.key), ['a/1', 'a/2']);
    const r2 = await s.txn([], [put('a/2', 'deux')]);
    assert.ok(r2.ok && r2.revision > r1.revision);
    assert.equal((await s.get('a/2'))?.revision, r2.revision);
    assert.equal((await s.get('a/1'))?.revision, r1.revision);
    await s.txn([], [del('a/1')]);
    assert.equal(await s.get('a/1'), undefined);
    assert.deepEqual((await s.list('')).map((e) => e.key), ['a/2', 'b'], 'list sees only this prefix');
  });

  it('applies a transaction only when every compare holds, and then all of it', async () => {
    const s = next();
    const w = await s.txn([], [put('k', 1)]);
    assert.ok(w.ok);
    const stale = await s.txn([{ key: 'k', revision: 0 }], [put('k', 2), put('other', 1)]);
    assert.deepEqual(stale, { ok: false, conflicts: ['k'] });
    assert.equal((await s.get('k'))?.value, 1);
    assert.equal(await s.get('other'), undefined);
    const ok = await s.txn([{ key: 'k', revision: w.revision }, { key: 'new', revision: 0 }], [put('k', 2), put('new', true)]);
    assert.equal(ok.ok, true);
    assert.equal((await s.get('k'))?.value, 2);
    // One key twice in a transaction: the last op wins (etcd itself refuses duplicates).
    const twice = await s.txn([], [put('t', 1), put('t', 2), del('new')]);
    assert.ok(twice.ok);
    assert.equal((await s.get('t'))?.value, 2);
    assert.equal(await s.get('new'), undefined);
  });

  it('tells its observer how long each transaction took (the coordinator\'s store="etcd" write latency)', async () => {
    n++;
    const took: number[] = [];
    const s = new EtcdStore({ client, prefix: `/store-test-${n}/`, observer: { transactionDurable: (seconds) => took.push(seconds) } });
    const w = await s.txn([], [put('a', 1)]);
    assert.ok(w.ok);
    await s.txn([{ key: 'a', revision: w.revision }], [put('a', 2)]);
    await s.get('a');
    assert.equal(took.length, 2, 'one per transaction, none for a read');
    assert.ok(took.every((x) => x > 0 && x < 10), `durations in seconds: ${took.join(', ')}`);
  });

  it('turns each value of a transaction into JSON once, for its size and for the write', async () => {
    const s = next();
    let made = 0;
    const value = { toJSON: () => (made++, { x: 1 }) };
    const w = await s.txn([], [put('once', value), put('twice', 1), put('twice', value)]);
    assert.ok(w.ok);
    assert.equal(made, 2, 'one JSON text per put: the size check and the request share it');
    assert.deepEqual((await s.get('once'))?.value, { x: 1 });
    assert.deepEqual((await s.get('twice'))?.value, { x: 1 }, 'the last op on a key wins');
  });

  it('lets exactly one of two coordinators win a compare-and-swap', async () => {
    const a = next();
    const b = fresh(other);
    await a.txn([], [put('c', 0)]);
    const e = await a.get<number>('c');
    const results = await Promise.all([
      ...[1, 2, 3].map((i) => a.txn([{ key: 'c', revision: e!.revision }], [put('c', i)])),
      ...[4, 5, 6].map((i) => b.txn([{ key: 'c', revision: e!.revision }], [put('c', i)])),
    ]);
    assert.equal(results.filter((r) => r.ok).length, 1);
    assert.deepEqual(results.filter((r) => !r.ok).map((r) => !r.ok && r.conflicts), Array(5).fill(['c']));
  });

  it('versions the spec once when two coordinators apply at the same time', async () => {
    const a = new CoordinatorState(next());
    const b = new CoordinatorState(fresh(other));
    await a.putSpec('clusters: []', 0, 'test', 'first', 1);
    const [ra, rb] = await Promise.all([a.putSpec('clusters: [] # a', 1, 'alice', 'a', 2), b.putSpec('clusters: [] # b', 1, 'bob', 'b', 2)]);
    assert.equal([ra, rb].filter((r) => r.ok).length, 1, 'exactly one apply wins');
    assert.deepEqual([ra, rb].find((r) => !r.ok), { ok: false, currentVersion: 2 });
    assert.equal((await a.getSpec())?.version, 2);
  });

  it('hands out desired-state versions that never repeat across coordinators and terms', async () => {
    const s = next();
    const a = new CoordinatorState(s);
    const b = new CoordinatorState(fresh(other));
    const va = await Promise.all(Array.from({ length: 5 }, () => a.nextDesiredVersion()));
    const vb = await Promise.all(Array.from({ length: 5 }, () => b.nextDesiredVersion()));
    // A new leader (a fresh CoordinatorState) starts above everything handed out before.
    const c = new CoordinatorState(fresh());
    const vc = await c.nextDesiredVersion();
    assert.equal(new Set([...va, ...vb, vc]).size, 11);
    assert.ok(vc > Math.max(...va, ...vb));
  });

  it('keeps operations and the command journal for the next leader', async () => {
    const s = next();
    const leader1 = new CoordinatorState(s);
    const op: OperationRecord = {
      id: 'op-1',
      kind: 'drain',
      cluster: 'web',
      node: 'lb1',
      service: '',
      state: 'running',
      message: 'moving VIPs',
      createdMs: 1,
      updatedMs: 1,
      deadlineMs: 0,
      steps: [{ name: 'move-vips', state: 'succeeded', message: '', startedMs: 1, finishedMs: 2 }],
      actor: 'test',
      reason: '',
      force: false,
      timeoutMs: 30_000,
      activeConnections: 0,
      data: {},
    };
    const cmd: JournalEntry = {
      id: 'op-1/drain-connections',
      node: 'lb1',
      action: { kind: 'drain', timeoutMs: 30_000 },
      operationId: 'op-1',
      state: 'pending',
      message: '',
      activeConnections: 0,
      createdMs: 2,
      updatedMs: 2,
      deadlineMs: 30_002,
    };
    await leader1.write({ operations: [op], journal: [cmd], modes: [['lb1', { mode: 'draining', reason: '', actor: 'test', sinceMs: 1, operationId: 'op-1' }]] });
    const leader2 = new CoordinatorState(fresh(other));
    assert.deepEqual(await leader2.operations(), [op]);
    assert.deepEqual(await leader2.journal(), [cmd]);
    assert.equal((await leader2.modes()).get('lb1')?.mode, 'draining');
  });

  it('refuses a fenced write once the fence no longer holds, and changes nothing', async () => {
    const prefix = `/store-test-fence-${++n}/`;
    const leaderKey = Buffer.from(`${prefix}leader`);
    await client.put(leaderKey).value('x').exec();
    const created = (await client.get(leaderKey.toString()).exec()).kvs[0]!;
    const fence: Fence = { key: leaderKey, term: created.create_revision, leaseId: '0' };
    let lost = '';
    const s = new EtcdStore({ client, prefix, fence: () => fence, onFenceLost: (t) => (lost = t) });
    assert.equal((await s.txn([], [put('a', 1)])).ok, true);
    // Another coordinator's term: the key is deleted and created again (new create revision).
    await client.delete().key(leaderKey).exec();
    await client.put(leaderKey).value('y').exec();
    await assert.rejects(s.txn([], [put('a', 2)]), /term .* is over/);
    assert.equal(lost, created.create_revision);
    assert.equal((await s.get('a'))?.value, 1);
  });

  it('does not apply a transaction twice when its answer was lost', async () => {
    n++;
    let lose = 1;
    let sent = 0;
    // etcd applies the transaction, then the answer is lost (as with a deadline during an etcd
    // leader election); the store retries.
    const flaky = {
      kv: {
        range: (req: Parameters<Etcd3['kv']['range']>[0]) => client.kv.range(req),
        txn: async (req: Parameters<Etcd3['kv']['txn']>[0]) => {
          sent++;
          const res = await client.kv.txn(req);
          if (lose-- > 0) throw new Error('4 DEADLINE_EXCEEDED: answer lost');
          return res;
        },
      },
    } as unknown as Etcd3;
    const s = new EtcdStore({ client: flaky, prefix: `/store-test-${n}/` });
    const r = await s.txn([{ key: 'once', revision: 0 }], [put('once', 1)]);
    assert.equal(r.ok, true, 'reported as applied, not as a conflict with itself');
    assert.equal(sent, 1, 'not sent again');
    const e = await s.get('once');
    assert.equal(e?.value, 1);
    assert.equal(r.ok && r.revision, e?.revision);
    // A write that really failed is sent again.
    lose = 0;
    const broken = {
      kv: {
        range: flaky.kv.range,
        txn: async (req: Parameters<Etcd3['kv']['txn']>[0]) => {
          sent++;
          if (sent === 2) throw new Error('14 UNAVAILABLE: never arrived');
          return client.kv.txn(req);
        },
      },
    } as unknown as Etcd3;
    const s2 = new EtcdStore({ client: broken, prefix: `/store-test-${n}/` });
    const r2 = await s2.txn([{ key: 'once', revision: e!.revision }], [put('once', 2)]);
    assert.equal(r2.ok, true);
    assert.equal(sent, 3);
    assert.equal((await s.get('once'))?.value, 2);
  });

  it('keeps the logs: appends follow the last seq, a second writer is refused, trims keep the last record', async () => {
    const s = next();
    const other = fresh();
    const recs = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ seq: from + i, value: { n: from + i } }));
    await s.append('audit', recs(1, 5));
    await assert.rejects(other.append('audit', recs(5, 1)), StoreError, 'a writer that did not see seq 5 cannot append it again');
    await assert.rejects(other.append('audit', recs(7, 1)), StoreError, 'nor leave a hole');
    assert.deepEqual(await s.bounds('audit'), { first: 1, last: 5 });
    assert.deepEqual(await s.bounds('events'), { first: 0, last: 0 }, 'the two logs are apart');
    assert.deepEqual((await other.read('audit', 2, 2)).map((r) => r.seq), [3, 4]);
    await s.trim('audit', 100);
    assert.deepEqual(await s.bounds('audit'), { first: 5, last: 5 });
  });

  it('takes an event burst of 3,000 in transactions etcd accepts, and a new writer continues the sequence', async () => {
    const s = next();
    const log = new EventLog({ retain: 100_000 });
    await log.attach(s);
    for (let i = 0; i < 3000; i++) log.record({ type: 'test.burst', message: `event ${i}` });
    await log.flush();
    assert.deepEqual(await s.bounds('events'), { first: 1, last: 3000 });
    await log.detach();
    const successor = new EventLog();
    await successor.attach(fresh(other));
    assert.equal(successor.record({ type: 'test.next', message: 'after a leader change' }).seq, 3001);
    await successor.flush();
    assert.equal((await s.bounds('events')).last, 3001);
  });

  it('fails a transaction etcd refuses at once, without retrying it', async () => {
    // etcd takes 128 operations per transaction by default (--max-txn-ops).
    let txns = 0;
    const counting = Object.create(client) as Etcd3;
    Object.defineProperty(counting, 'kv', {
      value: new Proxy(client.kv, {
        get: (kv, prop) => {
          const v = Reflect.get(kv, prop) as unknown;
          if (prop === 'txn' && typeof v === 'function') return (...args: unknown[]) => (txns++, (v as (...a: unknown[]) => unknown).apply(kv, args));
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(kv) : v;
        },
      }),
    });
    const s = new EtcdStore({ client: counting, prefix: `/store-test-refused/`, retryForMs: 5000 });
    const ops = Array.from({ length: 200 }, (_, i) => put(`k${i}`, i));
    await assert.rejects(s.txn([], ops), (err: Error) => err.name === 'StoreError' && /too many operations/.test(err.message));
    assert.equal(txns, 1, 'refused once, not retried');
    assert.equal(await s.get('k0'), undefined, 'nothing written');
  });

  it('reports an unreachable etcd as a StoreError', async () => {
    const dead = createEtcdClient({ endpoints: ['http://127.0.0.1:1'], requestTimeout: 300 });
    const s = new EtcdStore({ client: dead, prefix: '/x/', retryForMs: 500 });
    await assert.rejects(s.get('a'), (err: Error) => err.name === 'StoreError');
    await assert.rejects(s.txn([], [put('a', 1)]), (err: Error) => err.name === 'StoreError');
    dead.close();
  });
});
