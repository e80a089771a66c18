// The lease keeper (a worker thread renewing the coordinator's etcd lease on a connection of its
// own) against a real etcd: a leader whose event loop is held for longer than the lease (as
// while thousands of agents register, or while it waits for a shared core) keeps its lease and
// its term; one whose loop stays stuck past the stall limit loses them, etcd expiring its lease
// at most the stall limit plus a TTL after the loop last ran a timer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '@lbha/shared';
import { createEtcdClient, LeaderElection, LeaseKeeper, StoreHealth, type LeadershipEvent } from '@lbha/coordinator';
import type { Etcd3 } from 'etcd3';
import { eventually } from '@lbha/test-support';
import { EtcdCluster, etcdUnavailableReason } from '../support/etcd-cluster.js';

const skip = etcdUnavailableReason();
const logger = createLogger('etcd-lease-keeper-test', { level: process.env['LBHA_TEST_LOG'] ?? 'silent' });
const LEASE_TTL_MS = 2000;
const REQUEST_TIMEOUT_MS = 500;

/** Holds this thread (its event loop) for `ms` without yielding. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin: the loop runs nothing else, as while it works through a registration burst
  }
}

interface Candidate {
  readonly id: string;
  readonly client: Etcd3;
  readonly keeper: LeaseKeeper | undefined;
  readonly election: LeaderElection;
  readonly seen: LeadershipEvent[];
}

describe('etcd lease keeper: renewals off the event loop', { skip }, () => {
  let cluster: EtcdCluster;
  let checker: Etcd3;
  let round = 0;
  const candidates: Candidate[] = [];

  function candidate(id: string, prefix: string, withKeeper: boolean): Candidate {
    const config = { endpoints: cluster.endpoints, requestTimeout: REQUEST_TIMEOUT_MS, leaseTtl: LEASE_TTL_MS };
    const client = createEtcdClient(config);
    const keeper = withKeeper ? new LeaseKeeper({ config, logger }) : undefined;
    keeper?.start();
    const election = new LeaderElection({
      client,
      prefix,
      self: { id, grpc: `127.0.0.1:${3000 + candidates.length}`, http: '' },
      leaseTtlMs: LEASE_TTL_MS,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      logger,
      health: new StoreHealth({ downAfterMs: LEASE_TTL_MS, logger, record: () => undefined }),
      ...(keeper ? { keeper } : {}),
    });
    const c: Candidate = { id, client, keeper, election, seen: [] };
    election.subscribe((e) => c.seen.push(e));
    candidates.push(c);
    return c;
  }

  /** `a` leads (started first), `b` follows. */
  async function pair(withKeeper: boolean): Promise<[Candidate, Candidate, string]> {
    const prefix = `/keeper-${++round}/`;
    const a = candidate('a', prefix, withKeeper);
    a.election.start();
    await eventually(() => a.election.isLeader(), 'a leads', 10_000);
    const b = candidate('b', prefix, withKeeper);
    b.election.start();
    await eventually(() => b.election.leader()?.id === 'a', 'b sees a leading', 10_000);
    // The keeper's thread is up and has renewed the leader's lease (it loads its own etcd client first).
    if (withKeeper) {
      const lease = a.election.fence()?.leaseId ?? '';
      await eventually(() => a.keeper?.renewal(lease) !== undefined, "a renewal from a's keeper", 20_000);
    }
    return [a, b, prefix];
  }

  async function stop(cs: Candidate[]): Promise<void> {
    for (const c of cs) {
      await c.election.stop();
      await c.keeper?.stop();
      c.client.close();
    }
  }

  before(async () => {
    cluster = await EtcdCluster.start({ members: 1 });
    checker = createEtcdClient({ endpoints: cluster.endpoints, requestTimeout: 2000 });
  });
  after(async () => {
    await stop(candidates.splice(0)).catch(() => undefined);
    checker?.close();
    await cluster?.stop();
  });

  for (const withKeeper of [false, true]) {
    it(`${withKeeper ? 'keeps' : 'without the keeper, loses'} its lease and its term through a stall of its loop longer than the lease`, async () => {
      const [a, b] = await pair(withKeeper);
      const term = a.election.currentTerm;
      // Longer than the lease, shorter than the stall limit (the TTL) plus a renewal interval.
      stall(LEASE_TTL_MS + 500);
      if (!withKeeper) {
        assert.equal(a.election.isLeader(), false, 'the lease lapsed during the stall');
        await stop([a, b]);
        return;
      }
      assert.equal(a.election.isLeader(), true, 'still the leader right after the stall');
      const until = performance.now() + 2 * LEASE_TTL_MS;
      while (performance.now() < until) {
        assert.equal(a.election.isLeader(), true, `still the leader (events: ${a.seen.map((e) => e.type).join(', ')})`);
        assert.equal(b.election.isLeader(), false, 'the follower never took over');
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(a.election.currentTerm, term, 'the same term');
      assert.deepEqual(a.seen.filter((e) => e.type === 'deposed'), []);
      await stop([a, b]);
    });
  }

  it('lets the lease lapse when the loop stays stuck past the stall limit: the key is gone a TTL later at most', async () => {
    const [a, b, prefix] = await pair(true);
    const fence = a.election.fence();
    assert.ok(fence !== undefined);
    const term = a.election.currentTerm;
    const stalledAt = performance.now();
    stall(a.keeper!.stallLimitMs + LEASE_TTL_MS + 1000);
    assert.equal(a.election.isLeader(), false, 'the stuck leader knows at once that it lost leadership');
    const ttl = Number((await checker.leaseClient.leaseTimeToLive({ ID: fence.leaseId })).TTL);
    assert.equal(ttl, -1, "etcd expired the stuck leader's lease");
    const held = (await checker.get(`${prefix}leader`).exec()).kvs[0];
    assert.ok(held === undefined || held.lease !== fence.leaseId, 'the leader key is no longer on that lease');
    // Someone leads again, in a new term (either coordinator: both loops were stuck here).
    await eventually(() => [a, b].some((c) => c.election.isLeader() && c.election.currentTerm > term), 'a leader in a new term', 20_000);
    console.log(`stall limit ${a.keeper!.stallLimitMs} ms, lease ${LEASE_TTL_MS} ms: a leader in a new term ${Math.round(performance.now() - stalledAt)} ms after the stall began`);
    await stop([a, b]);
  });
});
