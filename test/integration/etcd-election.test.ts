// Leader election and fencing against a real 3-member etcd cluster on loopback: one leader at
// a time, fast takeover when the leader resigns or its lease lapses, no write from an old term,
// and what a minority or majority loss of etcd does.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '@lbha/shared';
import { createEtcdClient, EtcdStore, EventLog, LeaderElection, StoreHealth, type LeadershipEvent } from '@lbha/coordinator';
import type { Etcd3 } from 'etcd3';
import { eventually } from '@lbha/test-support';
import { EtcdCluster, etcdUnavailableReason } from '../support/etcd-cluster.js';

const skip = etcdUnavailableReason();
const logger = createLogger('etcd-election-test', { level: process.env['LBHA_TEST_LOG'] ?? 'silent' });
const LEASE_TTL_MS = 3000;
const REQUEST_TIMEOUT_MS = 500;

interface Candidate {
  readonly id: string;
  readonly client: Etcd3;
  readonly election: LeaderElection;
  readonly health: StoreHealth;
  readonly events: EventLog;
  readonly seen: LeadershipEvent[];
  skewMs: number;
}

describe('leader election on etcd', { skip }, () => {
  let cluster: EtcdCluster;
  const candidates: Candidate[] = [];
  let prefix = '';
  let round = 0;

  function candidate(id: string): Candidate {
    const client = createEtcdClient({ endpoints: cluster.endpoints, requestTimeout: REQUEST_TIMEOUT_MS });
    const events = new EventLog();
    const health = new StoreHealth({ downAfterMs: LEASE_TTL_MS, logger, record: (e) => events.record(e) });
    const c: Candidate = {
      id,
      client,
      health,
      events,
      seen: [],
      skewMs: 0,
      election: undefined as unknown as LeaderElection,
    };
    const election = new LeaderElection({
      client,
      prefix,
      self: { id, grpc: `127.0.0.1:${1000 + candidates.length}`, http: '' },
      leaseTtlMs: LEASE_TTL_MS,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      logger,
      health,
      clock: () => performance.now() + c.skewMs,
    });
    (c as { election: LeaderElection }).election = election;
    election.subscribe((e) => c.seen.push(e));
    candidates.push(c);
    return c;
  }

  async function startThree(): Promise<Candidate[]> {
    prefix = `/test-${++round}/`;
    const cs = ['a', 'b', 'c'].map((id) => candidate(id));
    for (const c of cs) c.election.start();
    await eventually(() => cs.filter((c) => c.election.isLeader()).length === 1, 'one leader');
    return cs;
  }

  async function stopAll(cs: Candidate[]): Promise<void> {
    await Promise.all(cs.map((c) => c.election.stop()));
    for (const c of cs) c.client.close();
  }

  before(async () => {
    cluster = await EtcdCluster.start({ heartbeatMs: 50, electionMs: 500 });
  });
  after(async () => {
    await Promise.all(candidates.map((c) => c.election.stop().catch(() => undefined)));
    for (const c of candidates) c.client.close();
    await cluster?.stop();
  });

  it('elects exactly one leader and every candidate sees it', async () => {
    const cs = await startThree();
    const leader = cs.find((c) => c.election.isLeader())!;
    await eventually(() => cs.every((c) => c.election.leader()?.id === leader.id), 'everyone sees the leader');
    assert.ok(leader.election.currentTerm > 0);
    assert.ok(leader.seen.some((e) => e.type === 'elected'));
    assert.equal(cs.filter((c) => c.election.fence() !== undefined).length, 1, 'only the leader has a fence');
    await stopAll(cs);
  });

  it('hands over at once when the leader resigns', async () => {
    const cs = await startThree();
    const old = cs.find((c) => c.election.isLeader())!;
    const oldTerm = old.election.currentTerm;
    const t0 = performance.now();
    await old.election.stop();
    const next = await eventually(() => cs.find((c) => c !== old && c.election.isLeader()), 'a new leader');
    console.log(`handover after resignation: ${Math.round(performance.now() - t0)} ms`);
    assert.ok(next.election.currentTerm > oldTerm, 'terms grow');
    await stopAll(cs);
  });

  it('takes over when the leader stops renewing, and the old leader steps down by its own clock first', async () => {
    const cs = await startThree();
    const old = cs.find((c) => c.election.isLeader())!;
    const oldFence = old.election.fence()!;
    // Freeze the old leader's view of time forward: it must consider itself deposed at once,
    // and the others take over only after etcd expires its lease.
    const t0 = performance.now();
    (old.election as unknown as { opts: { client: Etcd3 } }).opts.client.close();
    old.skewMs = LEASE_TTL_MS;
    assert.equal(old.election.isLeader(), false, 'a leader past its local deadline is not the leader');
    assert.equal(old.election.fence(), undefined);
    await eventually(() => old.seen.some((e) => e.type === 'deposed'), 'deposed event', 2000);
    const next = await eventually(() => cs.find((c) => c !== old && c.election.isLeader()), 'a new leader');
    const took = Math.round(performance.now() - t0);
    console.log(`takeover after the leader went silent (lease ${LEASE_TTL_MS} ms): ${took} ms`);

    // The old leader's fence is from an ended term: etcd itself refuses a write made with it.
    const checker = createEtcdClient({ endpoints: cluster.endpoints, requestTimeout: 1000 });
    const stale = new EtcdStore({ client: checker, prefix, fence: () => oldFence });
    await assert.rejects(stale.txn([], [{ kind: 'put', key: 'x', value: 1 }]), /term .* is over/);
    const current = new EtcdStore({ client: checker, prefix, fence: () => next.election.fence() });
    const ok = await current.txn([], [{ kind: 'put', key: 'x', value: 2 }]);
    assert.equal(ok.ok, true);
    assert.equal((await current.get('x'))?.value, 2);
    checker.close();
    await Promise.all(cs.filter((c) => c !== old).map((c) => c.election.stop()));
    for (const c of cs) c.client.close();
  });

  it('keeps its lease and its leadership while etcd answers the leader-key transaction slowly', async () => {
    prefix = `/test-${++round}/`;
    const c = candidate('slow');
    // Every transaction on the leader key takes most of a TTL (as when etcd or this process waits
    // for a CPU): the renewals must go on beside it. With the renewal sent only after the
    // transaction's answer, the next keepalive came TTL/4 + 2.6 s after the previous one, past
    // the 3 s lease.
    const kv = c.client.kv as { txn: (...args: never[]) => Promise<unknown> };
    const txn = kv.txn.bind(kv);
    kv.txn = async (...args: never[]) => {
      await new Promise((r) => setTimeout(r, LEASE_TTL_MS - 400));
      return txn(...args);
    };
    c.election.start();
    await eventually(() => c.election.isLeader(), 'the slow candidate leads', 10_000);
    const until = performance.now() + 3 * LEASE_TTL_MS;
    while (performance.now() < until) {
      assert.equal(c.election.isLeader(), true, `still the leader (events: ${c.seen.map((e) => e.type).join(', ')})`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(c.seen.filter((e) => e.type !== 'leader-changed').map((e) => e.type), ['elected']);
    await stopAll([c]);
  });

  it('hands over on stop without waiting for a leader-key transaction in flight', async () => {
    const cs = await startThree();
    const old = cs.find((c) => c.election.isLeader())!;
    // The leader's next leader-key transaction goes unanswered until the test says (etcd or this
    // process waiting for a CPU, up to the request deadline).
    const kv = old.client.kv as { txn: (req: { success?: Array<{ request_put?: unknown }> }) => Promise<unknown> };
    const txn = kv.txn.bind(kv);
    let entered = false;
    let answer = (): void => {};
    const gate = new Promise<void>((resolve) => (answer = resolve));
    kv.txn = async (req) => {
      if (req.success?.some((op) => op.request_put !== undefined)) {
        entered = true;
        await gate;
      }
      return txn(req);
    };
    let answered = false;
    let revokedBeforeAnswer: boolean | undefined;
    const leases = old.client.leaseClient as { leaseRevoke: (req: { ID: string }) => Promise<unknown> };
    const revoke = leases.leaseRevoke.bind(leases);
    leases.leaseRevoke = (req) => {
      revokedBeforeAnswer ??= !answered;
      return revoke(req);
    };
    await eventually(() => entered, 'a leader-key transaction in flight');
    const stopped = old.election.stop();
    await eventually(() => revokedBeforeAnswer !== undefined, 'the lease revoked');
    assert.equal(revokedBeforeAnswer, true, 'the handover does not wait for the transaction in flight');
    const next = await eventually(() => cs.find((c) => c !== old && c.election.isLeader()), 'a new leader');
    answered = true;
    answer();
    await stopped;
    assert.equal(old.election.isLeader(), false);
    assert.equal(next.election.isLeader(), true, 'the late answer changes nothing');
    await stopAll(cs);
  });

  it('refuses store writes from a coordinator that is not the leader', async () => {
    const cs = await startThree();
    const follower = cs.find((c) => !c.election.isLeader())!;
    const store = new EtcdStore({ client: follower.client, prefix, fence: () => follower.election.fence() });
    await assert.rejects(store.txn([], [{ kind: 'put', key: 'y', value: 1 }]), /not the leader/);
    assert.equal(await store.get('y'), undefined);
    await stopAll(cs);
  });

  it('keeps its leader through the loss of one etcd member', async () => {
    const cs = await startThree();
    const leader = cs.find((c) => c.election.isLeader())!;
    const term = leader.election.currentTerm;
    const etcdLeader = await cluster.leaderName();
    assert.ok(etcdLeader);
    await cluster.kill(etcdLeader); // the raft leader: the hardest minority loss
    // Three lease TTLs without a member: leadership must not move to another coordinator. (While
    // etcd elects its own new leader the lease cannot be renewed; on a loaded machine the
    // leader may pause for a moment and then go on in the same term.)
    const until = performance.now() + 3 * LEASE_TTL_MS;
    let lapsedMs = 0;
    while (performance.now() < until) {
      if (!leader.election.isLeader()) lapsedMs += 50;
      assert.ok(cs.every((c) => c === leader || !c.election.isLeader()), 'no other coordinator leads');
      await new Promise((r) => setTimeout(r, 50));
    }
    console.log(`leader paused for about ${lapsedMs} ms while etcd replaced its raft leader`);
    await eventually(() => leader.election.isLeader(), 'the leader leads');
    assert.equal(leader.election.currentTerm, term, 'same term: nobody else took over');
    const store = new EtcdStore({ client: leader.client, prefix, fence: () => leader.election.fence() });
    assert.equal((await store.txn([], [{ kind: 'put', key: 'minority', value: true }])).ok, true);
    assert.ok(cs.every((c) => c.health.status === 'up'));
    cluster.restart(etcdLeader);
    await cluster.waitHealthy();
    await stopAll(cs);
  });

  it('has no leader while etcd has no majority, reports the outage, and recovers', async () => {
    const cs = await startThree();
    const leader = cs.find((c) => c.election.isLeader())!;
    const [x, y] = cluster.members.map((m) => m.name);
    cluster.pause(x!);
    cluster.pause(y!);
    await eventually(() => !leader.election.isLeader() && leader.seen.some((e) => e.type === 'deposed'), 'the leader steps down');
    await eventually(() => cs.every((c) => c.health.status === 'down'), 'every coordinator reports the store down');
    for (const c of cs) {
      assert.ok(c.events.list().some((e) => e.type === 'store.unavailable' && e.severity === 'critical'), `${c.id} recorded store.unavailable`);
    }
    // Nobody leads (and so nobody writes) during the outage.
    const until = performance.now() + LEASE_TTL_MS;
    while (performance.now() < until) {
      assert.equal(cs.filter((c) => c.election.isLeader()).length, 0, 'no leader without a majority');
      await new Promise((r) => setTimeout(r, 50));
    }
    cluster.resume(x!);
    cluster.resume(y!);
    await eventually(() => cs.filter((c) => c.election.isLeader()).length === 1, 'a leader again');
    await eventually(() => cs.every((c) => c.health.status === 'up'), 'store up again');
    assert.ok(cs.every((c) => c.events.list().some((e) => e.type === 'store.available')));
    await stopAll(cs);
  });
});
