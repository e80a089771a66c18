// lbha move / unpin: the pin rule of placement as a table, when a move lapses (the pure pass),
// and the operation over real gRPC with fake agents: refusals that change nothing, a move that
// waits until the VIP is on its node, a pin that holds through the node's failure and recovery,
// a pin kept across a coordinator restart, and unpin.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import type { pbControl } from '@lbha/shared/control';
import { eventually } from '@lbha/test-support';
import { checkMove } from '../src/operations/move-check.js';
import type { OperationEnv } from '../src/operations/operation-env.js';
import { place, type NodeCondition, type VipPin } from '../src/placement.js';
import { Harness, LB1, LB2 } from './support/coordinator-harness.js';
import { PassWorld, seed1, T0 } from './support/pass-world.js';

const healthy: NodeCondition = { health: 'healthy', penalty: 0, mode: 'active', healthySinceMs: T0 - 3_600_000 };

describe('placement: an operator\'s pin', () => {
  const spec = { clusters: [seed1()] };
  const rows: ReadonlyArray<{ name: string; lb2: NodeCondition; pin: VipPin; holder: string; reason: RegExp }> = [
    { name: 'a move beats failback home', lb2: healthy, pin: { node: LB2, sticky: false }, holder: LB2, reason: /^moved to nginx-lb02 by an operator$/ },
    { name: 'a pin beats failback home', lb2: healthy, pin: { node: LB2, sticky: true }, holder: LB2, reason: /^pinned to nginx-lb02 by an operator$/ },
    { name: 'a pin to an unhealthy node waits', lb2: { ...healthy, health: 'unhealthy', healthySinceMs: null }, pin: { node: LB2, sticky: true }, holder: LB1, reason: /home node; pinned to nginx-lb02, which is unhealthy/ },
    { name: 'a pin to a drained node waits', lb2: { ...healthy, mode: 'drained' }, pin: { node: LB2, sticky: true }, holder: LB1, reason: /pinned to nginx-lb02, which is standby/ },
    { name: 'a move to a node with a failing penalty check waits', lb2: { ...healthy, penalty: 50 }, pin: { node: LB2, sticky: false }, holder: LB1, reason: /moved to nginx-lb02, which is degraded/ },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const p = place({
        spec,
        nodes: new Map([
          [LB1, healthy],
          [LB2, row.lb2],
        ]),
        holders: new Map([['web/vip-28', LB1]]),
        nowMs: T0,
        pins: new Map([['web/vip-28', row.pin]]),
      });
      const vp = p.clusters.get('web')?.vips.find((v) => v.vip === 'vip-28');
      assert.equal(vp?.holder, row.holder);
      assert.match(vp?.reason ?? '', row.reason);
      // The other VIP is not affected.
      assert.equal(p.clusters.get('web')?.vips.find((v) => v.vip === 'vip-29')?.holder, row.lb2.health === 'healthy' && row.lb2.mode === 'active' && row.lb2.penalty === 0 ? LB2 : LB1);
    });
  }
});

describe('move checks', () => {
  it('refuses a node that is not on the VIP\'s segment (the spec rules keep a valid spec from having one)', () => {
    const c = seed1();
    const off = { ...c, nodes: c.nodes.map((n) => (n.name === LB2 ? { ...n, interfaces: n.interfaces.map((i) => (i.name === 'eth1' ? { ...i, address: '192.168.30.20/24' } : i)) } : n)) };
    const view = {
      currentSpec: () => ({ clusters: [off] }),
      interlockInput: () => ({ spec: { clusters: [off] }, nodes: new Map([[LB2, healthy]]), holders: new Map(), nowMs: T0 }),
      placement: () => ({ clusters: new Map(), nextChangeMs: null }),
    } as unknown as OperationEnv['view'];
    assert.throws(() => checkMove(view, 'vip-28', '', LB2), /refused: nginx-lb02's eth1 \(192\.168\.30\.20\/24\) is not on the segment of vip-28 \(192\.168\.20\.28\)/);
    // lb01 is on the segment; what stops it is that nothing is known of its health.
    assert.throws(() => checkMove(view, 'vip-28', 'web', LB1), /refused: nginx-lb01's agent is not connected/);
  });
});

describe('cluster pass: moves that lapse', () => {
  it('drops a move once its node fails, keeps a pin', () => {
    const w = new PassWorld();
    w.settle();
    w.pins.set('vip-28', { node: LB2, sticky: false });
    let r = w.pass(10);
    assert.equal(w.holders()['vip-28'], LB2);
    assert.equal(r.lapsedPins.size, 0, 'a move in force does not lapse');
    w.follow();
    w.node(LB2).healthy = false;
    r = w.pass(10);
    assert.deepEqual([...r.lapsedPins], [['vip-28', `${LB2} is unhealthy`]]);
    w.pins.set('vip-28', { node: LB2, sticky: true });
    r = w.pass(10);
    assert.equal(r.lapsedPins.size, 0, 'a pin does not lapse');
    assert.equal(w.holders()['vip-28'], LB1);
  });

  it('keeps a move while its node\'s agent is away, drops one whose node left the spec', () => {
    const w = new PassWorld();
    w.settle();
    w.pins.set('vip-28', { node: LB2, sticky: false });
    w.node(LB2).link = 'disconnected';
    assert.equal(w.pass(10).lapsedPins.size, 0);
    w.pins.set('vip-29', { node: 'nginx-lb09', sticky: true });
    assert.match(w.pass(10).lapsedPins.get('vip-29') ?? '', /no longer in the spec/);
  });
});

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

type Op = pbControl.Operation;

async function finished(hh: Harness, id: string, timeoutMs = 15_000): Promise<Op> {
  return eventually(async () => {
    const op = (await hh.call<pbControl.GetOperationResponse>('getOperation', { id })).operation;
    return op && ['succeeded', 'failed', 'cancelled'].includes(op.state) ? op : undefined;
  }, `operation ${id} to finish`, timeoutMs);
}

const vip = async (hh: Harness, name: string) => (await hh.call<pbControl.ListVipsResponse>('listVips', { cluster: '' })).vips.find((v) => v.name === name) as pbControl.VipInfo;

const heldBy = (hh: Harness, name: string, node: string) =>
  eventually(async () => {
    const v = await vip(hh, name);
    return v.status === 'ok' && v.actualHolders.join() === node ? v : undefined;
  }, `${name} held by ${node}`);

async function moveVip(hh: Harness, req: Partial<pbControl.MoveVipRequest>): Promise<Op> {
  const res = await hh.call<pbControl.MoveVipResponse>('moveVip', { vip: 'vip-28', cluster: '', node: LB2, pin: false, timeoutMs: 10_000, reason: 'test', ...req });
  return res.operation as Op;
}

async function refused(hh: Harness, req: Partial<pbControl.MoveVipRequest>, code: status, pattern: RegExp): Promise<void> {
  const before = (await hh.call<pbControl.ListOperationsResponse>('listOperations', { limit: 0 })).operations.length;
  await assert.rejects(moveVip(hh, req), (e: ServiceError) => {
    assert.equal(e.code, code, e.details);
    assert.match(e.details, pattern);
    return true;
  });
  assert.equal((await hh.call<pbControl.ListOperationsResponse>('listOperations', { limit: 0 })).operations.length, before, 'no operation was started');
  assert.equal((await vip(hh, 'vip-28')).pin, undefined, 'nothing was pinned');
}

describe('lbha move over gRPC', () => {
  it('moves a VIP with a handover and waits until it is held there; failback does not take it back', async () => {
    h = await Harness.seeded();
    const op = await finished(h, (await moveVip(h, {})).id);
    assert.equal(op.state, 'succeeded', op.message);
    assert.equal(op.kind, 'move');
    assert.deepEqual(op.steps.map((s) => [s.name, s.state]), [
      ['pin', 'succeeded'],
      ['move-vip', 'succeeded'],
    ]);
    assert.match(op.steps[1]?.message ?? '', /vip-28 moved from nginx-lb01 to nginx-lb02/);
    const v = await heldBy(h, 'vip-28', LB2);
    assert.match(v.reason, /moved to nginx-lb02 by an operator/);
    assert.equal(v.pin?.node, LB2);
    assert.equal(v.pin?.sticky, false);
    const ev = h.events();
    assert.ok(ev.some((e) => e.type === 'handover.started' && e.vip === 'vip-28' && e.node === LB2), 'the move went with a connection handover');
    assert.ok(ev.some((e) => e.type === 'move.succeeded' && e.vip === 'vip-28'));
    // The home node stays healthy and active, and failback: immediate does not send it home.
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual((await vip(h, 'vip-28')).actualHolders, [LB2]);
  });

  it('refuses, changing nothing: an unhealthy, drained, unknown or off-segment target, an unknown VIP or node', async () => {
    h = await Harness.seeded();
    await refused(h, { vip: 'vip-99' }, status.NOT_FOUND, /VIP vip-99 is not in the cluster spec/);
    await refused(h, { node: 'nginx-lb09' }, status.NOT_FOUND, /node nginx-lb09 is not in cluster web/);
    await refused(h, { node: 'bad name!' }, status.INVALID_ARGUMENT, /node/);
    h.agents.get(LB2)?.setHealth(false);
    await eventually(async () => (await vip(h as Harness, 'vip-29')).actualHolders.join() === LB1, 'vip-29 fails over to lb01');
    await refused(h, {}, status.FAILED_PRECONDITION, /refused: nginx-lb02 is unhealthy/);
    h.agents.get(LB2)?.setHealth(true);
    await heldBy(h, 'vip-29', LB2);
    const drain = (await h.call<pbControl.DrainResponse>('drain', { node: LB2, timeoutMs: 5000, force: false, maintenance: false, reason: '' })).operation as Op;
    assert.equal((await finished(h, drain.id)).state, 'succeeded');
    await refused(h, {}, status.FAILED_PRECONDITION, /refused: nginx-lb02 is drain(ing|ed)/);
    await finished(h, ((await h.call<pbControl.UndrainResponse>('undrain', { node: LB2, reason: '' })).operation as Op).id);
    h.agents.get(LB2)?.disconnect();
    await eventually(async () => /its agent is not connected/.test((await vip(h as Harness, 'vip-29')).reason), 'placement sees lb02 disconnected');
    await refused(h, {}, status.FAILED_PRECONDITION, /agent is not connected/);
  });

  it('a pin holds through the node\'s failure: the VIP fails over, then comes back when the node recovers; unpin sends it home', async () => {
    h = await Harness.seeded();
    const op = await finished(h, (await moveVip(h, { pin: true })).id);
    assert.equal(op.state, 'succeeded', op.message);
    await heldBy(h, 'vip-28', LB2);
    h.agents.get(LB2)?.setHealth(false);
    await heldBy(h, 'vip-28', LB1);
    assert.equal((await vip(h, 'vip-28')).pin?.node, LB2, 'the pin is still there');
    h.agents.get(LB2)?.setHealth(true);
    const back = await heldBy(h, 'vip-28', LB2);
    assert.match(back.reason, /pinned to nginx-lb02/);

    // Kept across a coordinator restart (it is in the store).
    const [a1, a2] = [h.agents.get(LB1), h.agents.get(LB2)];
    await h.restartCoordinator(() => {
      a1?.disconnect();
      a2?.disconnect();
    });
    await a1?.connect();
    await a2?.connect();
    await heldBy(h, 'vip-28', LB2);
    await eventually(async () => (await vip(h as Harness, 'vip-28')).pin?.node === LB2, 'the pin after a restart');

    const un = await h.call<pbControl.UnpinVipResponse>('unpinVip', { vip: 'vip-28', cluster: '', reason: 'done' });
    assert.deepEqual(un, { cluster: 'web', vip: 'vip-28', node: LB2 });
    await heldBy(h, 'vip-28', LB1);
    assert.ok(h.events().some((e) => e.type === 'vip.unpinned' && e.vip === 'vip-28' && e.reason === 'done'));
    await assert.rejects(h.call('unpinVip', { vip: 'vip-28', cluster: '', reason: '' }), (e: ServiceError) => e.code === status.NOT_FOUND && /not pinned/.test(e.details));
  });

  it('a move (not pinned) lapses when its node fails: failback takes over again', async () => {
    h = await Harness.seeded();
    assert.equal((await finished(h, (await moveVip(h, {})).id)).state, 'succeeded');
    h.agents.get(LB2)?.setHealth(false);
    await heldBy(h, 'vip-28', LB1);
    await eventually(async () => (await vip(h as Harness, 'vip-28')).pin === undefined, 'the move lapsed');
    assert.ok(h.events().some((e) => e.type === 'vip.unpinned' && /lapsed: nginx-lb02 is unhealthy/.test(e.message)));
    h.agents.get(LB2)?.setHealth(true);
    await heldBy(h, 'vip-29', LB2);
    assert.deepEqual((await vip(h, 'vip-28')).actualHolders, [LB1], 'vip-28 stays home');
  });

  it('withdraws a move that does not complete in time', async () => {
    h = await Harness.seeded();
    // lb02's keepalived does not take VIPs: the move cannot happen.
    const a2 = h.agents.get(LB2);
    assert.ok(a2);
    a2.keepalivedRunning = false;
    const op = await finished(h, (await moveVip(h, { timeoutMs: 1000 })).id);
    assert.equal(op.state, 'failed');
    assert.match(op.message, /did not reach nginx-lb02 within [\d.]+s; the move is withdrawn/);
    assert.equal((await vip(h, 'vip-28')).pin, undefined);
  });
});
