// Three real lbha-coordinator processes on a real 3-member etcd cluster, with two LB nodes
// (the real agent stream client in front of a fake core and a fake VRRP election): leader
// failover, a drain across a leader crash, a paused leader, and etcd losing a minority and a
// majority of its members.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ServiceError } from '@grpc/grpc-js';
import type { pbControl } from '@lbha/shared/control';
import { eventually, sleep, WAIT_BOUND_MS } from '@lbha/test-support';
import { EtcdCluster, etcdUnavailableReason } from '../support/etcd-cluster.js';
import { BIN } from '../support/paths.js';
import { startNode, type Proc } from '../support/process.js';
import { FakeFleet, type FakeNode } from './etcd-fake-fleet.js';
import { call, coordinatorsStarted, metric, stopCoordinatorSet, writeCoordinatorConfigs, type Coordinator } from './etcd-coordinator-set.js';

const skip = etcdUnavailableReason();
const LEASE_TTL = '3s';
/** An operator token the coordinators know (by its hash, as in a real configuration). */
const OPS_TOKEN = 'it-ops-token';
const hashToken = (t: string): string => createHash('sha256').update(t, 'utf8').digest('hex');
const LEASE_TTL_MS = 3000;


async function metricsText(c: Coordinator): Promise<string> {
  const res = await fetch(`http://${c.http}/metrics`, { signal: AbortSignal.timeout(2000) });
  return res.text();
}

describe('several coordinators on etcd', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-etcd-coord-'));
  let cluster: EtcdCluster;
  const coordinators: Coordinator[] = [];
  const fleet = new FakeFleet('web', ['lb1', 'lb2']);

  function start(c: Omit<Coordinator, 'proc'>): Proc {
    return startNode(BIN.coordinator, ['--config', c.config]);
  }

  async function restart(c: Coordinator): Promise<void> {
    c.proc = start(c);
    await c.proc.waitForLog((l) => l.event === 'coordinator.started');
  }

  const live = () => coordinators.filter((c) => c.proc.child.exitCode === null && c.proc.child.signalCode === null);

  /** The one coordinator that says it leads (by its metrics); waits for it. */
  async function leader(among: Coordinator[] = live(), timeoutMs = WAIT_BOUND_MS): Promise<Coordinator> {
    return eventually(async () => {
      const flags = await Promise.all(among.map((c) => metric(c, 'lbha_coordinator_leader')));
      const leaders = among.filter((_, i) => flags[i] === 1);
      return leaders.length === 1 ? leaders[0] : undefined;
    }, 'exactly one leader', timeoutMs);
  }

  async function nodesVia(c: Coordinator): Promise<pbControl.NodeInfo[]> {
    return (await call<pbControl.ListNodesRequest, pbControl.ListNodesResponse>(c.grpc, 'listNodes', { cluster: '' })).nodes;
  }

  /** The node runs the last desired state the coordinator `id` pushed to it. */
  function runsWhatWasPushedBy(n: FakeNode, id: string): boolean {
    const last = n.received.filter((r) => r.kind === 'desiredState' && r.coordinator === id).at(-1);
    return last !== undefined && n.appliedVersion() === Number(last.ref);
  }

  async function bothConnectedVia(c: Coordinator): Promise<boolean> {
    const nodes = await nodesVia(c);
    return ['lb1', 'lb2'].every((n) => nodes.some((x) => x.name === n && x.connected && !x.stale && x.appliedVersion > 0));
  }

  async function operation(c: Coordinator, id: string): Promise<pbControl.Operation | undefined> {
    return (await call<pbControl.GetOperationRequest, pbControl.GetOperationResponse>(c.grpc, 'getOperation', { id })).operation;
  }

  const inPlace = () => fleet.masterOf('vip-a') === 'lb1' && fleet.masterOf('vip-b') === 'lb2';

  before(async () => {
    cluster = await EtcdCluster.start({ heartbeatMs: 50, electionMs: 500 });
    const configs = await writeCoordinatorConfigs(dir, {
      endpoints: cluster.endpoints,
      prefix: '/lbha-it/',
      leaseTtl: LEASE_TTL,
      auth: `{ anonymous: operator, tokens: [{ name: ops, role: operator, sha256: "${hashToken(OPS_TOKEN)}" }] }`,
      http: true,
      heartbeat: '{ interval: 200ms, staleAfter: 1s }',
    });
    for (const c of configs) coordinators.push({ ...c, proc: start(c) });
    await coordinatorsStarted(coordinators);
    for (const n of fleet.nodes) n.connect(coordinators.map((c) => c.grpc));
  });

  after(() => stopCoordinatorSet(fleet, coordinators, cluster, dir));

  it('elects one leader; every coordinator serves agents and answers the API', async () => {
    const l = await leader();
    for (const c of coordinators) {
      await eventually(() => bothConnectedVia(c), `both nodes seen through ${c.id}`);
    }
    await eventually(() => inPlace(), 'each VIP on its home node');
    const followers = coordinators.filter((c) => c !== l);
    for (const c of followers) assert.equal(await metric(c, 'lbha_coordinator_leader'), 0);
    for (const c of coordinators) assert.equal(await metric(c, 'lbha_store_up'), 1);
    // Only the leader pushed: every desired state came on a stream the leader welcomed.
    for (const n of fleet.nodes) {
      assert.ok(n.received.length > 0);
      assert.deepEqual([...new Set(n.received.map((r) => r.coordinator))], [l.id], `${n.name} got desired state only from the leader`);
    }
  });

  it('forwards an HTTP mutation sent to a follower with a bearer token over plaintext; the leader checks the token', async () => {
    const l = await leader();
    const via = coordinators.find((c) => c !== l)!;
    const post = (token: string) =>
      fetch(`http://${via.http}/v1/nodes/lb2/undrain`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'http via a follower' }),
        signal: AbortSignal.timeout(5000),
      });
    const bad = await post('not-the-token');
    assert.equal(bad.status, 401, 'the follower itself refuses a wrong token');
    const res = await post(OPS_TOKEN);
    assert.equal(res.status, 202, await res.clone().text());
    const op = ((await res.json()) as { operation: pbControl.Operation }).operation;
    // The leader, not the follower, ran it, and under the token's name (not as anonymous).
    assert.equal(op.actor, 'token:ops');
    const done = await eventually(async () => {
      const o = await operation(l, op.id);
      return o && ['succeeded', 'failed', 'cancelled'].includes(o.state) ? o : undefined;
    }, 'the undrain to finish');
    assert.equal(done.state, 'succeeded', done.message);
  });

  it('replaces a SIGKILLed leader within seconds; agents reconnect; no VIP moves', async () => {
    const old = await leader();
    await eventually(() => inPlace(), 'VIPs in place');
    const moves = fleet.moves.length;
    const t0 = Date.now();
    old.proc.kill('SIGKILL');
    await old.proc.exited;
    const next = await leader(live());
    const took = Date.now() - t0;
    console.log(`leader failover after SIGKILL: ${took} ms (lease TTL ${LEASE_TTL_MS} ms)`);
    assert.notEqual(next.id, old.id);
    await eventually(() => bothConnectedVia(next), 'both nodes connected to the new leader');
    // The new leader has reconciled once both nodes run a desired state it pushed (it numbers
    // its own versions, so it pushes to each node once); that must keep every VIP where it is.
    await eventually(() => fleet.nodes.every((n) => runsWhatWasPushedBy(n, next.id)), 'both nodes to run what the new leader pushed');
    assert.deepEqual(fleet.moves.slice(moves), [], 'no VIP moved');
    assert.ok(inPlace());
    await restart(old);
  });

  it('finishes a drain that was in progress when the leader died, running its command once', async () => {
    fleet.drainMs = 5000;
    const l = await leader();
    const via = coordinators.find((c) => c !== l)!;
    const res = await call<pbControl.DrainRequest, pbControl.DrainResponse>(via.grpc, 'drain', { node: 'lb1', timeoutMs: 60_000, force: false, maintenance: false, reason: 'test' });
    const id = res.operation!.id;
    const lb1 = fleet.node('lb1');
    await eventually(() => lb1.received.some((r) => r.kind === 'command' && r.ref.startsWith(id)), 'the drain command on lb1');
    assert.equal(fleet.masterOf('vip-a'), 'lb2', 'the VIP left lb1 first');
    l.proc.kill('SIGKILL');
    await l.proc.exited;
    const next = await leader(live());
    const op = await eventually(async () => {
      const o = await operation(next, id);
      return o && ['succeeded', 'failed', 'cancelled'].includes(o.state) ? o : undefined;
    }, 'the drain to finish', 60_000);
    assert.equal(op.state, 'succeeded', op.message);
    const commandIds = new Set(lb1.received.filter((r) => r.kind === 'command' && r.ref.startsWith(id)).map((r) => r.ref));
    assert.equal(commandIds.size, 1, `one drain command id, resent at most: ${[...commandIds].join(', ')}`);
    assert.deepEqual([...lb1.executions.values()].filter((n) => n !== 1), [], 'no command executed twice');
    assert.equal(fleet.masterOf('vip-a'), 'lb2');
    const nodes = await nodesVia(next);
    assert.equal(nodes.find((n) => n.name === 'lb1')?.mode, 3 /* NODE_MODE_DRAINED */);

    fleet.drainMs = 100;
    const un = await call<pbControl.UndrainRequest, pbControl.UndrainResponse>(next.grpc, 'undrain', { node: 'lb1', reason: 'test' });
    await eventually(async () => (await operation(next, un.operation!.id))?.state === 'succeeded', 'undrain');
    await eventually(() => inPlace(), 'vip-a back home');
    await restart(l);
  });

  it('a leader paused past its lease pushes nothing after it resumes', async () => {
    const l = await leader();
    // Put both nodes' streams directly on the leader, so it has someone to push to on resume.
    for (const n of fleet.nodes) {
      await n.disconnect();
      n.connect([l.grpc, ...coordinators.filter((c) => c !== l).map((c) => c.grpc)]);
    }
    await eventually(() => fleet.nodes.every((n) => n.coordinator === l.id), 'nodes connected to the leader');
    await eventually(() => bothConnectedVia(l), 'the leader sees both nodes');
    await eventually(() => inPlace(), 'VIPs in place');

    const tStop = Date.now();
    l.proc.kill('SIGSTOP');
    const others = live().filter((c) => c !== l);
    const next = await leader(others);
    // Something the old leader would act on when it wakes: lb2 fails, so placement changes.
    fleet.node('lb2').setHealthy(false);
    // The pause itself: the lease and 1.5 s more (the scenario, not a wait for an outcome).
    const pausedFor = Date.now() - tStop;
    await sleep(Math.max(0, LEASE_TTL_MS + 1500 - pausedFor));
    const tCont = Date.now();
    l.proc.kill('SIGCONT');
    console.log(`leader paused for ${tCont - tStop} ms (lease TTL ${LEASE_TTL_MS} ms); ${next.id} took over`);

    const deposed = await l.proc.waitForLog((x) => x.event === 'election.deposed');
    assert.match(String(deposed['reason']), /not renewed in time|leader key|another coordinator|expired/);
    await eventually(async () => (await metric(l, 'lbha_coordinator_leader')) === 0, 'the old leader reports it is not the leader');
    await eventually(() => bothConnectedVia(next), 'nodes reach the new leader');
    // A node takes messages from one stream at a time: once both are on streams the new leader
    // welcomed, nothing the old one sends can reach them any more.
    await eventually(() => fleet.nodes.every((n) => n.coordinator === next.id), 'both nodes on streams of the new leader');
    const late = fleet.nodes.flatMap((n) => n.received.filter((r) => r.coordinator === l.id && r.atMs >= tCont).map((r) => `${n.name} ${r.kind} ${r.ref}`));
    assert.deepEqual(late, [], 'nothing from the old leader after it resumed');
    // It follows the new leader: the series of the nodes it held as the leader leave its /metrics.
    await eventually(async () => !(await metricsText(l)).includes('lbha_node_connected{'), 'the old leader to drop the nodes it no longer serves');
    console.log(`old leader held back ${await metric(l, 'lbha_fenced_pushes_total{kind="desired_state"}')} desired-state pushes`);
    assert.equal(fleet.masterOf('vip-b'), 'lb1', 'lb2 failed: vip-b is on lb1');
    fleet.node('lb2').setHealthy(true);
    await eventually(() => inPlace(), 'vip-b back on lb2');
  });

  it('keeps working when etcd loses a minority', async () => {
    const l = await leader();
    const etcdLeader = await cluster.leaderName();
    assert.ok(etcdLeader);
    await cluster.kill(etcdLeader);
    fleet.drainMs = 100;
    const via = coordinators.find((c) => c !== l)!;
    const d = await call<pbControl.DrainRequest, pbControl.DrainResponse>(via.grpc, 'drain', { node: 'lb2', timeoutMs: 30_000, force: false, maintenance: false, reason: 'minority test' });
    await eventually(async () => (await operation(via, d.operation!.id))?.state === 'succeeded', 'drain with an etcd member down');
    const u = await call<pbControl.UndrainRequest, pbControl.UndrainResponse>(via.grpc, 'undrain', { node: 'lb2', reason: 'minority test' });
    await eventually(async () => (await operation(via, u.operation!.id))?.state === 'succeeded', 'undrain with an etcd member down');
    assert.equal((await leader()).id, l.id, 'the leader did not change');
    for (const c of live()) assert.equal(await metric(c, 'lbha_store_up'), 1);
    cluster.restart(etcdLeader);
    await cluster.waitHealthy();
    await eventually(() => inPlace(), 'VIPs in place');
  });

  it('stops changing anything when etcd loses its majority, says so, and recovers', async () => {
    await leader();
    const [x, y] = cluster.members.map((m) => m.name) as [string, string];
    cluster.pause(x);
    cluster.pause(y);
    const tOutage = Date.now();
    for (const c of live()) {
      await eventually(async () => (await metric(c, 'lbha_store_up')) === 0 && (await metric(c, 'lbha_coordinator_leader')) === 0, `${c.id} reports the outage`);
    }
    const tDown = Date.now();
    await Promise.all(
      live().map(async (c) => {
        const events = (await call<pbControl.ListEventsRequest, pbControl.ListEventsResponse>(c.grpc, 'listEvents', { afterSeq: 0, limit: 0, cluster: '', node: '' })).events;
        assert.ok(events.some((e) => e.type === 'store.unavailable'), `${c.id} has a store.unavailable event`);
        // A mutation waits a moment for a leader, then is refused: nobody leads without etcd.
        await assert.rejects(
          call(c.grpc, 'drain', { node: 'lb1', timeoutMs: 10_000, force: false, reason: 'during outage' }, 10_000),
          (err: ServiceError) => err.code === 14 /* UNAVAILABLE */,
          'a mutation is refused while nobody leads',
        );
      }),
    );
    // The data plane does not wait for the control plane: lb1 fails, its VIP moves at once.
    fleet.node('lb1').setHealthy(false);
    assert.equal(fleet.masterOf('vip-a'), 'lb2');
    // The coordinators see the failure (a leader would now move vip-a in the desired state).
    await eventually(async () => {
      const seen = await Promise.all(live().map((c) => nodesVia(c).catch(() => [])));
      return seen.some((nodes) => nodes.some((n) => n.name === 'lb1' && n.connected && !n.healthy));
    }, 'a coordinator to see lb1 unhealthy');
    console.log(`all coordinators reported the etcd outage after ${tDown - tOutage} ms`);

    fleet.node('lb1').setHealthy(true);
    // Nothing may reach a node from now back to tDown until etcd is back (checked once a leader is).
    const tResume = Date.now();
    cluster.resume(x);
    cluster.resume(y);
    await leader(live());
    const pushed = fleet.nodes.flatMap((n) => n.received.filter((r) => r.atMs > tDown && r.atMs < tResume).map((r) => `${n.name} ${r.kind} ${r.ref} from ${r.coordinator}`));
    assert.deepEqual(pushed, [], 'nothing pushed while etcd had no majority');
    for (const c of live()) {
      await eventually(async () => (await metric(c, 'lbha_store_up')) === 1, `${c.id} store up`);
      // Readers see an event once it is written to the store, a batch after it was added.
      await eventually(async () => {
        const events = (await call<pbControl.ListEventsRequest, pbControl.ListEventsResponse>(c.grpc, 'listEvents', { afterSeq: 0, limit: 0, cluster: '', node: '' })).events;
        return events.some((e) => e.type === 'store.available' || e.type === 'store.unavailable');
      }, `${c.id} lists the outage's store events`);
    }
    await eventually(() => inPlace(), 'VIPs in place after the outage');
  });
});
