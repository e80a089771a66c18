// Three real lbha-coordinator processes on a real etcd, two LB nodes (the real agent stream
// client in front of a fake core), each connected to a follower: when the leader stops, the
// followers keep the nodes' streams open and move them to the next leader (or serve them, the
// follower that is elected), so no node reconnects; the next leader knows both nodes and pushes
// what a health flip after the change calls for. Once after a SIGTERM (the leader resigns), once
// after a SIGKILL (its lease runs out first), and a drain whose command was in flight on the
// leader that died finishes, its command run once.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { pbControl } from '@lbha/shared/control';
import { eventually, WAIT_BOUND_MS } from '@lbha/test-support';
import { EtcdCluster, etcdUnavailableReason } from '../support/etcd-cluster.js';
import { BIN } from '../support/paths.js';
import { startNode, type Proc } from '../support/process.js';
import { FakeFleet, type FakeNode } from './etcd-fake-fleet.js';
import { call, coordinatorsStarted, metric, stopCoordinatorSet, writeCoordinatorConfigs, type Coordinator } from './etcd-coordinator-set.js';

const skip = etcdUnavailableReason();
const LEASE_TTL_MS = 3000;
/** How long a follower keeps a relayed stream open for the next leader (twice the lease TTL). */
const KEEP_MS = 2 * LEASE_TTL_MS;


describe('relayed agent streams outlive a change of leader', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-etcd-kept-'));
  let cluster: EtcdCluster;
  const coordinators: Coordinator[] = [];
  const fleet = new FakeFleet('web', ['lb1', 'lb2']);
  /** Streams of each node that ended (its client went to backoff). */
  const ended = new Map<string, number>();

  const start = (c: Omit<Coordinator, 'proc'>): Proc => startNode(BIN.coordinator, ['--config', c.config]);
  const live = () => coordinators.filter((c) => c.proc.child.exitCode === null && c.proc.child.signalCode === null);

  async function leader(among: Coordinator[] = live()): Promise<Coordinator> {
    return eventually(async () => {
      const flags = await Promise.all(among.map((c) => metric(c, 'lbha_coordinator_leader')));
      const leaders = among.filter((_, i) => flags[i] === 1);
      return leaders.length === 1 ? leaders[0] : undefined;
    }, 'exactly one leader');
  }

  async function nodesVia(c: Coordinator): Promise<pbControl.NodeInfo[]> {
    return (await call<pbControl.ListNodesRequest, pbControl.ListNodesResponse>(c.grpc, 'listNodes', { cluster: '' })).nodes;
  }

  async function bothConnectedVia(c: Coordinator): Promise<boolean> {
    const nodes = await nodesVia(c);
    return ['lb1', 'lb2'].every((n) => nodes.some((x) => x.name === n && x.connected && !x.stale && x.appliedVersion > 0));
  }

  /** Each node connected to a follower of its own (both relayed), welcomed by the leader. */
  async function relayedThroughFollowers(l: Coordinator): Promise<[Coordinator, Coordinator]> {
    const followers = live().filter((c) => c !== l) as [Coordinator, Coordinator];
    assert.equal(followers.length, 2);
    for (const [i, n] of fleet.nodes.entries()) {
      await n.disconnect();
      const via = followers[i] as Coordinator;
      n.connect([via.grpc, ...coordinators.filter((c) => c !== via).map((c) => c.grpc)]);
      n.client?.onStateChange((s) => {
        if (s === 'backoff') ended.set(n.name, (ended.get(n.name) ?? 0) + 1);
      });
    }
    await eventually(() => fleet.nodes.every((n) => n.coordinator === l.id), 'both nodes welcomed by the leader');
    await eventually(() => bothConnectedVia(l), 'the leader sees both nodes');
    for (const f of followers) await eventually(async () => (await metric(f, 'lbha_relayed_agent_streams')) === 1, `${f.id} relays one stream`);
    return followers;
  }

  const endedNow = () => Object.fromEntries(fleet.nodes.map((n) => [n.name, ended.get(n.name) ?? 0]));
  const inPlace = () => fleet.masterOf('vip-a') === 'lb1' && fleet.masterOf('vip-b') === 'lb2';

  /** After the change: no stream ended, both welcomed again by `next`, which pushes what a health flip calls for. */
  async function keptBy(next: Coordinator, endedBefore: Record<string, number>, flip: FakeNode): Promise<void> {
    await eventually(() => fleet.nodes.every((n) => n.coordinator === next.id), `both nodes welcomed by ${next.id} on their streams`, KEEP_MS + WAIT_BOUND_MS);
    await eventually(() => bothConnectedVia(next), `${next.id} sees both nodes`);
    assert.deepEqual(endedNow(), endedBefore, 'no stream ended: neither node reconnected');
    // A health flip after the change: the next leader moves the VIP away from the failed node.
    const pushedBefore = flip.received.length;
    const vip = flip.name === 'lb1' ? 'vip-a' : 'vip-b';
    const other = flip.name === 'lb1' ? 'lb2' : 'lb1';
    flip.setHealthy(false);
    await eventually(() => fleet.masterOf(vip) === other, `${vip} on ${other} after ${flip.name} failed`);
    await eventually(() => fleet.nodes.some((n) => n.received.slice(n === flip ? pushedBefore : 0).some((r) => r.kind === 'desiredState' && r.coordinator === next.id)), `a push of ${next.id}`);
    flip.setHealthy(true);
    await eventually(() => inPlace(), 'VIPs back home');
    assert.deepEqual(endedNow(), endedBefore, 'still no stream ended');
  }

  before(async () => {
    cluster = await EtcdCluster.start({ heartbeatMs: 50, electionMs: 500 });
    const configs = await writeCoordinatorConfigs(dir, {
      endpoints: cluster.endpoints,
      prefix: '/lbha-kept/',
      leaseTtl: `${LEASE_TTL_MS}ms`,
      auth: '{ anonymous: operator }',
      http: true,
      heartbeat: '{ interval: 200ms, staleAfter: 1s }',
    });
    for (const c of configs) coordinators.push({ ...c, proc: start(c) });
    await coordinatorsStarted(coordinators);
  });

  after(() => stopCoordinatorSet(fleet, coordinators, cluster, dir));

  async function restart(c: Coordinator): Promise<void> {
    c.proc = start(c);
    await c.proc.waitForLog((l) => l.event === 'coordinator.started');
  }

  it('keeps both streams when the leader stops (SIGTERM): one moved to the next leader, one served by it', async () => {
    const l = await leader();
    const followers = await relayedThroughFollowers(l);
    await eventually(() => inPlace(), 'VIPs in place');
    const endedBefore = endedNow();
    await l.proc.stop();
    const next = await leader(followers);
    // The next leader is one of the two followers: its node is served by it now, the other's still relayed.
    assert.ok(followers.includes(next));
    await keptBy(next, endedBefore, fleet.node('lb1'));
    await restart(l);
  });

  it('keeps both streams when the leader dies (SIGKILL), and finishes a drain whose command was in flight', async () => {
    fleet.drainMs = 4000;
    const l = await leader();
    const followers = await relayedThroughFollowers(l);
    await eventually(() => inPlace(), 'VIPs in place');
    const endedBefore = endedNow();
    const res = await call<pbControl.DrainRequest, pbControl.DrainResponse>(followers[0].grpc, 'drain', { node: 'lb2', timeoutMs: 60_000, force: false, maintenance: false, reason: 'test' });
    const id = res.operation!.id;
    const lb2 = fleet.node('lb2');
    await eventually(() => lb2.received.some((r) => r.kind === 'command' && r.ref.startsWith(id)), 'the drain command on lb2');
    // The leader dies while lb2 drains: the command's result comes after, on the kept stream.
    l.proc.kill('SIGKILL');
    await l.proc.exited;
    const next = await leader(followers);
    await eventually(() => fleet.nodes.every((n) => n.coordinator === next.id), `both nodes welcomed by ${next.id} on their streams`, KEEP_MS + WAIT_BOUND_MS);
    const op = await eventually(async () => {
      const o = (await call<pbControl.GetOperationRequest, pbControl.GetOperationResponse>(next.grpc, 'getOperation', { id })).operation;
      return o && ['succeeded', 'failed', 'cancelled'].includes(o.state) ? o : undefined;
    }, 'the drain to finish', 60_000);
    assert.equal(op.state, 'succeeded', op.message);
    assert.deepEqual([...lb2.executions.values()].filter((n) => n !== 1), [], 'no command executed twice');
    assert.deepEqual(endedNow(), endedBefore, 'no stream ended');
    fleet.drainMs = 100;
    const un = await call<pbControl.UndrainRequest, pbControl.UndrainResponse>(next.grpc, 'undrain', { node: 'lb2', reason: 'test' });
    await eventually(async () => (await call<pbControl.GetOperationRequest, pbControl.GetOperationResponse>(next.grpc, 'getOperation', { id: un.operation!.id })).operation?.state === 'succeeded', 'undrain');
    await keptBy(next, endedBefore, fleet.node('lb2'));
    await restart(l);
  });
});
