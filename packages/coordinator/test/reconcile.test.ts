// The reconcile loop over real gRPC: a real coordinator, fake agents speaking the agent protocol
// over a simulated VRRP segment. The rules themselves, and that nothing happens when nothing
// changes, are table tests on the pure pass (cluster-pass.test.ts); these show them end to end.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { pbControl } from '@lbha/shared/control';
import { eventually } from '@lbha/test-support';
import { Harness, LB1, LB2, SEED1 } from './support/coordinator-harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const vips = async (hh: Harness) => (await hh.call<pbControl.ListVipsResponse>('listVips', { cluster: '' })).vips;
const vip = async (hh: Harness, name: string) => (await vips(hh)).find((v) => v.name === name) as pbControl.VipInfo;
const settledAs = (hh: Harness, want: Record<string, string>) =>
  eventually(async () => {
    const list = await vips(hh);
    return Object.entries(want).every(([name, holder]) => {
      const v = list.find((x) => x.name === name);
      return v && v.status === 'ok' && v.desiredHolder === holder && v.actualHolders.join() === holder;
    });
  }, `VIPs held as ${JSON.stringify(want)}`);

describe('reconcile loop over gRPC', () => {
  it('places the seed VIPs one per node, pushes versioned desired state and sees it converge', async () => {
    h = await Harness.start();
    await h.applySpec(SEED1);
    const a1 = await h.agent(LB1);
    const a2 = await h.agent(LB2);
    await settledAs(h, { 'vip-28': LB1, 'vip-29': LB2 });
    const d1 = a1.desired;
    assert.ok(d1);
    assert.equal(d1.cluster, 'web');
    assert.equal(d1.proxyService, 'nginx');
    assert.deepEqual(
      d1.instances.map((i) => [i.name, i.vip, i.vrid, i.rank, i.placementWeight, i.trackInterfaces]),
      [
        ['vip-28', '192.168.20.28/24', 51, 0, 50, ['eth2']],
        ['vip-29', '192.168.20.29/24', 52, 1, 24, ['eth2']],
      ],
    );
    assert.deepEqual(d1.keepalived, { advertIntMs: 3000, unicast: false, unicastSrc: '', unicastPeers: [], authPass: '1111', vrrpVersion: 2, mcastGroup: '224.0.0.19', clusterAddresses: ['192.168.20.19', '192.168.20.20', '192.168.50.19', '192.168.50.20'] });
    // vip-29 (the seed's VI_2) has its own password; vip-28 uses the cluster's.
    assert.deepEqual(d1.instances.map((i) => i.authPass), [undefined, '2222']);
    assert.deepEqual(d1.checks.map((c) => c.name), ['nginx', 'down-file', 'inner-link']);
    assert.ok(a2.desired && a2.desired.version > 0);

    const nodes = (await h.call<pbControl.ListNodesResponse>('listNodes', { cluster: '' })).nodes;
    for (const n of nodes) assert.equal(n.appliedVersion, n.desiredVersion, `${n.name} acknowledged its desired state`);

    const v28 = await vip(h, 'vip-28');
    assert.deepEqual(v28.ranking, [LB1, LB2]);
    assert.equal(v28.reason, 'home node');
    const lb1 = v28.perNode.find((p) => p.node === LB1);
    assert.equal(lb1?.effectivePriority, 150);
    assert.deepEqual(lb1?.priorityTerms.map((t) => [t.source, t.delta]), [['base', 100], ['placement', 50]]);
  });

  it('with no agent connected nothing is pushed; agents connecting in any order converge to the same placement', async () => {
    h = await Harness.start();
    await h.applySpec(SEED1);
    const before = await vips(h);
    assert.deepEqual(before.map((v) => [v.name, v.status, v.desiredHolder]), [['vip-28', 'unknown', LB1], ['vip-29', 'unknown', LB2]]);
    await h.agent(LB2);
    await h.agent(LB1);
    await settledAs(h, { 'vip-28': LB1, 'vip-29': LB2 });
  });

  it('moves nothing when an agent goes away while its keepalived keeps serving', async () => {
    h = await Harness.start();
    await h.applySpec(SEED1);
    const a1 = await h.agent(LB1);
    const a2 = await h.agent(LB2);
    await settledAs(h, { 'vip-28': LB1, 'vip-29': LB2 });
    const pushes = a2.desiredSeen.length;
    a1.disconnect();
    await eventually(async () => (await vip(h as Harness, 'vip-28')).status === 'unknown', 'vip-28 status unknown');
    const v = await vip(h, 'vip-28');
    assert.equal(v.desiredHolder, LB1);
    assert.match(v.reason, /agent is not connected/);
    assert.equal(a2.desiredSeen.length, pushes, 'lb02 was not told anything new');
    assert.equal(h.events().filter((e) => e.type === 'placement.changed').length, 0);
    await a1.connect();
    await settledAs(h, { 'vip-28': LB1, 'vip-29': LB2 });
  });

  it('fails a VIP over when its node turns unhealthy and back home when it recovers', async () => {
    h = await Harness.start();
    await h.applySpec(SEED1);
    const a1 = await h.agent(LB1);
    await h.agent(LB2);
    await settledAs(h, { 'vip-28': LB1, 'vip-29': LB2 });
    a1.setHealth(false);
    await settledAs(h, { 'vip-28': LB2, 'vip-29': LB2 });
    const v = await vip(h, 'vip-28');
    assert.match(v.reason, /home node nginx-lb01 is unhealthy/, 'the reason names the home node and why it is not used');
    assert.ok(h.events().some((e) => e.type === 'node.unhealthy' && e.node === LB1));
    assert.ok(h.events().some((e) => e.type === 'vip.moved' && e.vip === 'vip-28' && e.node === LB2));
    a1.setHealth(true);
    await settledAs(h, { 'vip-28': LB1, 'vip-29': LB2 });
  });

  it('sends a VIP home only after the hold-down when failback is hold_down', async () => {
    h = await Harness.start();
    await h.applySpec(SEED1.replace('failback: immediate', 'failback: hold_down\n      hold_down: 1s'));
    const a1 = await h.agent(LB1);
    await h.agent(LB2);
    await settledAs(h, { 'vip-28': LB1 });
    a1.setHealth(false);
    await settledAs(h, { 'vip-28': LB2 });
    a1.setHealth(true);
    await eventually(async () => /home node nginx-lb01 in hold-down for another/.test((await vip(h as Harness, 'vip-28')).reason), 'vip-28 held back by the hold-down');
    assert.equal((await vip(h, 'vip-28')).desiredHolder, LB2);
    // The loop wakes itself when the hold-down ends (to the millisecond: cluster-pass.test.ts).
    await settledAs(h, { 'vip-28': LB1 });
  });

  it('moves a VIP away from a node with a failing penalty check (the down file)', async () => {
    h = await Harness.start();
    await h.applySpec(SEED1);
    const a1 = await h.agent(LB1);
    await h.agent(LB2);
    await settledAs(h, { 'vip-28': LB1 });
    a1.setPenalty(50);
    await settledAs(h, { 'vip-28': LB2 });
    a1.setPenalty(0);
    await settledAs(h, { 'vip-28': LB1 });
  });

  it('makes a planned move in two pushes: the handover with the old placement, then the move', async () => {
    h = await Harness.start();
    await h.applySpec(SEED1);
    const a1 = await h.agent(LB1);
    const a2 = await h.agent(LB2);
    await settledAs(h, { 'vip-28': LB1 });
    const seen1 = a1.desiredSeen.length;
    const seen2 = a2.desiredSeen.length;
    await h.call<pbControl.DrainResponse>('drain', { node: LB1, timeoutMs: 5000, force: false, reason: 'test' });
    await settledAs(h, { 'vip-28': LB2 });
    const to = a2.desiredSeen.slice(seen2).map((d) => d.instances.find((i) => i.name === 'vip-28'));
    const from = a1.desiredSeen.slice(seen1).map((d) => d.instances.find((i) => i.name === 'vip-28'));
    const firstTo = to.findIndex((i) => i?.handover !== undefined);
    const movedTo = to.findIndex((i) => i?.rank === 0);
    assert.ok(firstTo >= 0, `${LB2} was given a handover`);
    assert.ok(firstTo < movedTo, `${LB2} got the handover (push ${firstTo}) before the VIP (push ${movedTo})`);
    assert.equal(to[firstTo]?.rank, 1, 'the handover push keeps the old placement');
    assert.deepEqual([to[firstTo]?.handover?.role, to[firstTo]?.handover?.peer], ['incoming', '192.168.20.19']);
    const firstFrom = from.findIndex((i) => i?.handover !== undefined);
    assert.ok(firstFrom >= 0 && from[firstFrom]?.rank === 0, `${LB1} was told to hand over while still ranked first`);
    assert.deepEqual([from[firstFrom]?.handover?.role, from[firstFrom]?.handover?.peer], ['outgoing', '192.168.20.20']);
    const v = await vip(h, 'vip-28');
    assert.deepEqual([v.handover?.fromNode, v.handover?.toNode], [LB1, LB2]);
    assert.ok(h.events().some((e) => e.type === 'handover.started' && e.vip === 'vip-28'));
  });

  it('makes a NACK visible on the node and in the event log', async () => {
    h = await Harness.start();
    await h.applySpec(SEED1);
    await h.agent(LB1, { nack: 'keepalived -t: interface eth1 does not exist' });
    const node = await eventually(async () => {
      const n = (await h!.call<pbControl.GetNodeResponse>('getNode', { name: LB1 })).node;
      return n?.nackError ? n : undefined;
    }, 'a NACK on lb01');
    assert.match(node.nackError, /interface eth1 does not exist/);
    assert.ok(h.events().some((e) => e.type === 'desired_state.nacked' && e.node === LB1 && e.severity === 'critical'));
  });

  it('reports a split brain and tells the wrong holder to step down', async () => {
    h = await Harness.start();
    await h.applySpec(SEED1);
    const a1 = await h.agent(LB1);
    const a2 = await h.agent(LB2);
    await settledAs(h, { 'vip-28': LB1, 'vip-29': LB2 });
    // lb02 stops hearing lb01's adverts and claims every VIP as well.
    h.segment.partitioned.add(LB2);
    h.segment.recompute();
    await eventually(() => h!.events().some((e) => e.type === 'vip.split_brain' && e.vip === 'vip-28'), 'a split-brain event');
    await eventually(() => a2.desired?.instances.find((i) => i.name === 'vip-28')?.stepDown === true, 'lb02 told to step down from vip-28');
    assert.equal(a1.desired?.instances.find((i) => i.name === 'vip-28')?.stepDown, false);
    assert.ok(h.events().some((e) => e.type === 'vip.step_down' && e.node === LB2 && e.vip === 'vip-28'));
    // Stepping down resolves it; the step-down is lifted once the split is over.
    await settledAs(h, { 'vip-28': LB1 });
    h.segment.partitioned.delete(LB2);
    h.segment.recompute();
    await eventually(() => a2.desired?.instances.every((i) => !i.stepDown), 'step-down lifted');
    await eventually(() => h!.events().some((e) => e.type === 'vip.converged' && e.vip === 'vip-28'), 'vip-28 converged event');
  });

  it('reports an orphan VIP when every node reports and none holds it', async () => {
    h = await Harness.start();
    await h.applySpec(SEED1);
    const a1 = await h.agent(LB1);
    const a2 = await h.agent(LB2);
    await settledAs(h, { 'vip-28': LB1 });
    a1.setHealth(false);
    a2.setHealth(false);
    await eventually(() => h!.events().some((e) => e.type === 'vip.orphan' && e.vip === 'vip-28' && e.severity === 'critical'), 'an orphan event');
    const v = await vip(h, 'vip-28');
    assert.equal(v.status, 'orphan');
    assert.match(v.reason, /no eligible node/);
  });

  it('keeps placement across a coordinator restart (state from the store)', async () => {
    h = await Harness.start();
    await h.applySpec(SEED1);
    const a1 = await h.agent(LB1);
    const a2 = await h.agent(LB2);
    await settledAs(h, { 'vip-28': LB1, 'vip-29': LB2 });
    // vip-29 moves to lb01 while lb02 is unhealthy, then lb02 recovers under failback never.
    await h.applySpec(SEED1.replace('failback: immediate', 'failback: never'));
    a2.setHealth(false);
    await settledAs(h, { 'vip-29': LB1 });
    a2.setHealth(true);
    await eventually(async () => /current holder kept \(failback: never\)/.test((await vip(h as Harness, 'vip-29')).reason), 'lb02 healthy again, vip-29 kept on lb01');
    await settledAs(h, { 'vip-28': LB1, 'vip-29': LB1 });
    await h.restartCoordinator(() => {
      a1.disconnect();
      a2.disconnect();
    });
    // Agents reconnect in reverse order; nobody is told to move vip-29 home.
    await a2.connect();
    await a1.connect();
    await settledAs(h, { 'vip-28': LB1, 'vip-29': LB1 });
    assert.equal((await h.call<pbControl.GetSpecResponse>('getSpec', {})).version, 2);
  });
});
