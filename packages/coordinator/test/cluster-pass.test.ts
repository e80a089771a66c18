// The reconcile rules as tables over the pure pass: a cluster driven by hand with a fake clock,
// no server, no timers, no sleeps. What "nothing happens" means is asserted directly: no event,
// the same desired state (so the loop pushes nothing), no wake-up.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeMode, UnplannedTransition } from '@lbha/shared';
import type { ClusterPassResult } from '../src/cluster-pass.js';
import { MAX_PREPARE_MS, PREPARE_TIMEOUT_MS, prepareBudgetMs } from '../src/handover-plan.js';
import { MAX_READMIT_MS, MAX_REPORT_MARGIN_MS, REPORT_MARGIN_MS } from '../src/shared-failure.js';
import { vipKey, type ClusterSpec } from '../src/spec/cluster-spec.js';
import type { BackendIntents } from '../src/store/coordinator-state.js';
import { LB1, LB2, PassWorld, seed1, SETTLE_MS, T0 } from './support/pass-world.js';

describe('cluster pass: placement', () => {
  const rows: ReadonlyArray<{ name: string; change: (w: PassWorld) => void; holders: Record<string, string>; reason28: RegExp }> = [
    { name: 'each VIP on its home node', change: () => {}, holders: { 'vip-28': LB1, 'vip-29': LB2 }, reason28: /^home node$/ },
    { name: 'away from an unhealthy node', change: (w) => (w.node(LB1).healthy = false), holders: { 'vip-28': LB2, 'vip-29': LB2 }, reason28: /home node nginx-lb01 is unhealthy/ },
    { name: 'away from a node with a failing penalty check', change: (w) => (w.node(LB1).penalty = 50), holders: { 'vip-28': LB2, 'vip-29': LB2 }, reason28: /home node nginx-lb01 is degraded/ },
    { name: 'away from a draining node', change: (w) => w.modes.set(LB1, 'draining'), holders: { 'vip-28': LB2, 'vip-29': LB2 }, reason28: /home node nginx-lb01 is standby/ },
    { name: 'away from a node in maintenance', change: (w) => w.modes.set(LB1, 'maintenance'), holders: { 'vip-28': LB2, 'vip-29': LB2 }, reason28: /home node nginx-lb01 is standby/ },
    {
      name: 'kept on a node whose agent is gone (its keepalived may well serve)',
      change: (w) => (w.node(LB1).link = 'disconnected'),
      holders: { 'vip-28': LB1, 'vip-29': LB2 },
      reason28: /current holder kept \(its agent is not connected\)/,
    },
    { name: 'kept on a node whose agent went silent', change: (w) => (w.node(LB1).link = 'stale'), holders: { 'vip-28': LB1, 'vip-29': LB2 }, reason28: /its agent is not connected/ },
    {
      name: 'the best available node when no node is eligible',
      change: (w) => {
        w.node(LB1).healthy = false;
        w.node(LB2).healthy = false;
      },
      holders: { 'vip-28': LB1, 'vip-29': LB2 },
      reason28: /no eligible node/,
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const w = new PassWorld();
      w.settle();
      row.change(w);
      const r = w.pass(10);
      assert.deepEqual(w.holders(), row.holders);
      assert.match(r.placement.vips.find((v) => v.vip === 'vip-28')?.reason ?? '', row.reason28);
      const moved = Object.entries(row.holders).filter(([vip, node]) => node !== (vip === 'vip-28' ? LB1 : LB2));
      assert.deepEqual(
        r.events.filter((e) => e.type === 'placement.changed').map((e) => [e.vip, e.node]),
        moved,
        'a placement.changed event for each VIP that moves, and none for the others',
      );
      assert.equal(r.holdersChanged, moved.length > 0, 'the desired holders are stored when they change');
    });
  }

  it('starts from the stored holders after a restart: nothing moves before the agents report', () => {
    const before = new PassWorld();
    before.settle();
    const stored = Object.fromEntries(before.memory.holders);
    // A new coordinator: no agent has connected yet; it knows only the stored holders.
    const w = new PassWorld();
    w.memory = { ...w.memory, holders: new Map(Object.entries(stored)) };
    for (const n of w.nodes.values()) {
      n.link = 'disconnected';
      n.reported = false;
    }
    const r = w.pass();
    assert.deepEqual(w.holders(), { 'vip-28': LB1, 'vip-29': LB2 });
    assert.deepEqual(r.events, []);
    assert.equal(r.holdersChanged, false);
  });
});

describe('cluster pass: nothing happens when nothing changes', () => {
  it('a second pass over the same reports drafts no event, keeps every desired state and asks for no wake-up', () => {
    const w = new PassWorld();
    const first = w.settle();
    const again = w.pass(1000);
    assert.deepEqual(again.events, []);
    for (const n of [LB1, LB2]) assert.equal(again.desired.get(n), first.desired.get(n), `${n}: the same desired state, so the loop pushes nothing`);
    assert.equal(again.wakeAt, null);
    assert.equal(again.holdersChanged, false);
  });

  it('an agent going away moves nothing and tells the other node nothing new', () => {
    const w = new PassWorld();
    const first = w.settle();
    w.node(LB1).link = 'disconnected';
    const r = w.pass(10);
    assert.deepEqual(w.holders(), { 'vip-28': LB1, 'vip-29': LB2 });
    assert.equal(r.conditions.get(LB1)?.health, 'unknown');
    assert.equal(r.desired.get(LB2), first.desired.get(LB2), `${LB2} is told nothing new`);
    assert.deepEqual(r.events, [], 'no placement change, no VIP problem');
    // Its keepalived keeps serving: an hour later, still nothing.
    const later = w.pass(3_600_000);
    assert.deepEqual(later.events, []);
    assert.equal(later.desired.get(LB2), first.desired.get(LB2));
    assert.equal(later.observations.get('vip-28') && r.placement.vips.find((v) => v.vip === 'vip-28')?.holder, LB1);
  });
});

describe('cluster pass: a desired state changes with every input it is built from', () => {
  // Each input a node's desired state is built from, changed alone after a settled pass: the
  // nodes whose desired state it changes get a new entry (so the loop gives them a new version
  // and pushes), and the others keep theirs. A pass that misses any input fails its row.
  const drain = (pool: string, server: string): BackendIntents => ({
    [`${pool}/${server}`]: { pool, server, admin: 'drain', weight: null, actor: 'alice', reason: 'test', sinceMs: T0, operationId: 'op-1' },
  });
  const rows: ReadonlyArray<{ name: string; change: (w: PassWorld) => void; changed: readonly string[]; check?: (w: PassWorld) => void }> = [
    { name: 'nothing', change: () => {}, changed: [] },
    {
      name: 'a backend server drained (the pool is told every node)',
      change: (w) => (w.backendIntents = drain('app', 'web-1')),
      changed: [LB1, LB2],
      check: (w) => assert.deepEqual(w.desired(LB1).backends?.intents.map((i) => [i.server, i.admin]), [['web-1', 'drain']]),
    },
    {
      name: 'another server drained instead (same count, other content)',
      change: (w) => (w.backendIntents = drain('app', 'web-2')),
      changed: [LB1, LB2],
      check: (w) => assert.deepEqual(w.desired(LB2).backends?.intents.map((i) => i.server), ['web-2']),
    },
    { name: 'a node unhealthy (placement, weights, last resort)', change: (w) => (w.node(LB1).healthy = false), changed: [LB1, LB2] },
    { name: 'a node degraded by a penalty check (its class and weight)', change: (w) => (w.node(LB2).penalty = 50), changed: [LB1, LB2] },
    // A mode moves VIPs: the first push is the handover (the mode follows once both run it).
    { name: 'a node put in maintenance (its VIP handed over)', change: (w) => w.modes.set(LB2, 'maintenance'), changed: [LB1, LB2], check: (w) => assert.ok(w.desired(LB2).instances.some((i) => i.handover?.role === 'outgoing')) },
    { name: 'a node drained (its VIP handed over)', change: (w) => w.modes.set(LB1, 'draining'), changed: [LB1, LB2], check: (w) => assert.ok(w.desired(LB1).instances.some((i) => i.handover?.role === 'outgoing')) },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const w = new PassWorld();
      if (row.name.startsWith('another')) w.backendIntents = drain('app', 'web-1');
      const first = w.settle();
      const versions = new Map([...w.versions].map(([n, v]) => [n, v.version]));
      row.change(w);
      const r = w.pass(10);
      for (const n of [LB1, LB2]) {
        const isNew = r.desired.get(n) !== first.desired.get(n);
        assert.equal(isNew, row.changed.includes(n), `${n}: ${row.changed.includes(n) ? 'a new' : 'the same'} desired state`);
        assert.equal(w.versions.get(n)?.version !== versions.get(n), row.changed.includes(n), `${n}: ${row.changed.includes(n) ? 'a new' : 'the same'} version`);
        if (!isNew) continue;
        assert.notDeepEqual(r.desired.get(n)?.content, first.desired.get(n)?.content, `${n}: a new entry only for new content`);
      }
      row.check?.(w);
    });
  }

  it('a drain undone builds the states anew, equal to those before it: the nodes keep the entries (and versions) they had', () => {
    const w = new PassWorld();
    const first = w.settle();
    w.backendIntents = drain('app', 'web-1');
    const drained = w.pass(10);
    assert.notEqual(drained.desired.get(LB1), first.desired.get(LB1));
    w.backendIntents = undefined;
    const back = w.pass(10);
    assert.notEqual(back.memory.built, drained.memory.built, 'rebuilt');
    for (const n of [LB1, LB2]) assert.deepEqual(back.desired.get(n)?.content, first.desired.get(n)?.content);
  });

  it('a new spec object with the same content keeps every entry; one with another base priority changes them all', () => {
    const w = new PassWorld();
    const first = w.settle();
    const same = w.pass(10);
    for (const n of [LB1, LB2]) assert.equal(same.desired.get(n), first.desired.get(n));
    const respec = new PassWorld(seed1());
    respec.memory = w.memory;
    for (const [name, node] of w.nodes) Object.assign(respec.node(name), node);
    const r = respec.pass(10);
    assert.notEqual(r.memory.built?.spec, first.memory.built?.spec, 'built from the new spec object');
    for (const n of [LB1, LB2]) assert.equal(r.desired.get(n), first.desired.get(n), `${n}: equal content, the same entry`);
    const higher = new PassWorld(seed1((y) => y.replace(/base_priority: \d+/, 'base_priority: 77')));
    higher.memory = w.memory;
    for (const [name, node] of w.nodes) Object.assign(higher.node(name), node);
    const h = higher.pass(10);
    for (const n of [LB1, LB2]) {
      assert.notEqual(h.desired.get(n), first.desired.get(n));
      assert.ok(h.desired.get(n)?.content.instances.every((i) => i.basePriority === 77));
    }
  });
});

describe('cluster pass: settle time of VIP problems', () => {
  const rows: ReadonlyArray<{ problem: string; make: (w: PassWorld) => void; status: string; event: string | null }> = [
    { problem: 'held by another node', make: (w) => w.holds(LB1).holds(LB2, 'vip-28', 'vip-29'), status: 'divergent', event: 'vip.divergent' },
    { problem: 'held by both nodes', make: (w) => w.holds(LB2, 'vip-28', 'vip-29'), status: 'split_brain', event: 'vip.split_brain' },
    { problem: 'held by no node, every agent reporting', make: (w) => w.holds(LB1), status: 'orphan', event: 'vip.orphan' },
    {
      problem: 'held by no node, one agent gone',
      make: (w) => {
        w.holds(LB1);
        w.node(LB1).link = 'disconnected';
      },
      status: 'unknown',
      event: null,
    },
  ];
  for (const row of rows) {
    it(`${row.problem}: ${row.event ?? 'no event'}${row.event ? ' once it has lasted the settle time, then converged' : ''}`, () => {
      const w = new PassWorld();
      w.settle();
      row.make(w);
      const t = w.now + 10;
      const first = w.pass(10);
      const track = first.memory.tracks.get('vip-28');
      assert.equal(track?.status, row.status);
      assert.deepEqual(first.events.filter((e) => e.vip === 'vip-28' && e.type !== 'vip.moved'), [], 'nothing reported at once');
      assert.equal(first.wakeAt, row.event ? t + SETTLE_MS : null, 'a wake-up when the problem will have lasted the settle time');
      assert.deepEqual(w.pass(SETTLE_MS - 1).events.filter((e) => e.type === row.event), [], 'not before the settle time');
      const settled = w.pass(1);
      assert.deepEqual(settled.events.filter((e) => e.vip === 'vip-28' && e.type.startsWith('vip.') && e.type !== 'vip.step_down').map((e) => e.type), row.event ? [row.event] : []);
      assert.deepEqual(w.pass(5000).events.filter((e) => e.type === row.event), [], 'reported once');
      // Repaired: the VIP is back on its home node alone.
      for (const n of w.nodes.values()) n.link = 'connected';
      w.holds(LB1, 'vip-28').holds(LB2, 'vip-29');
      const repaired = w.pass(10);
      if (row.status === 'split_brain') {
        // Not converged until the holder announced the VIP after the other let go.
        assert.equal(repaired.memory.tracks.get('vip-28')?.status, 'healing');
        assert.deepEqual(repaired.events.filter((e) => e.type === 'vip.converged'), []);
        assert.equal(w.instance(LB1, 'vip-28').announce, w.now, `${LB1} is asked to announce vip-28`);
        assert.equal(w.instance(LB2, 'vip-28').announce, undefined, `${LB2} is asked nothing`);
        w.announceAll();
      }
      const converged = row.status === 'split_brain' ? w.pass(10) : repaired;
      assert.equal(converged.memory.tracks.get('vip-28')?.status, 'ok');
      assert.deepEqual(converged.events.filter((e) => e.type === 'vip.converged').map((e) => e.vip), row.event ? ['vip-28'] : []);
    });
  }

  it('a problem shorter than the settle time is never reported', () => {
    const w = new PassWorld();
    w.settle();
    w.holds(LB2, 'vip-28', 'vip-29');
    w.pass(10);
    w.holds(LB2, 'vip-29');
    const r = w.pass(SETTLE_MS - 100);
    assert.equal(r.memory.tracks.get('vip-28')?.status, 'ok');
    assert.deepEqual(w.events.filter((e) => e.type.startsWith('vip.') && e.type !== 'vip.moved'), []);
    assert.equal(r.wakeAt, null);
  });

  it('a holder change is a vip.moved event at once', () => {
    const w = new PassWorld();
    w.settle();
    w.node(LB1).healthy = false;
    w.pass(10);
    w.holds(LB1).holds(LB2, 'vip-28', 'vip-29');
    assert.deepEqual(
      w.pass(10).events.filter((e) => e.type === 'vip.moved').map((e) => [e.vip, e.node, e.message]),
      [['vip-28', LB2, 'vip-28 moved from nginx-lb01 to nginx-lb02']],
    );
  });
});

describe('cluster pass: split-brain step-down', () => {
  it('tells the holder that should not hold the VIP to step down once the split has lasted the settle time, and lifts it after', () => {
    const w = new PassWorld();
    w.settle();
    w.holds(LB2, 'vip-28', 'vip-29');
    w.pass(10);
    assert.equal(w.instance(LB2, 'vip-28').stepDown, false, 'not before the settle time');
    const r = w.pass(SETTLE_MS);
    assert.equal(w.instance(LB2, 'vip-28').stepDown, true, `${LB2} steps down from vip-28`);
    assert.equal(w.instance(LB1, 'vip-28').stepDown, false, `${LB1}, the desired holder, keeps it`);
    assert.equal(w.instance(LB2, 'vip-29').stepDown, false, 'only from the split VIP');
    assert.deepEqual(
      r.events.filter((e) => e.type === 'vip.step_down').map((e) => [e.vip, e.node]),
      [['vip-28', LB2]],
    );
    assert.deepEqual(w.pass(1000).events.filter((e) => e.type === 'vip.step_down'), [], 'told once');
    // It stepped down: the split is over. Until the holder has announced the VIP again, the
    // step-down stays; then the VIP has converged and the step-down is lifted.
    w.holds(LB2, 'vip-29');
    const over = w.pass(10);
    assert.equal(over.memory.tracks.get('vip-28')?.status, 'healing');
    assert.equal(w.instance(LB2, 'vip-28').stepDown, true, 'still stepped down while the holder has not announced');
    assert.deepEqual(over.events.map((e) => e.type), []);
    w.announceAll();
    const healed = w.pass(10);
    assert.equal(w.instance(LB2, 'vip-28').stepDown, false);
    assert.deepEqual(healed.events.map((e) => e.type), ['vip.converged']);
    assert.match(healed.events[0]?.message ?? '', /\(was split brain\); it announced the VIP after nginx-lb02 let go$/);
  });
});

describe('cluster pass: healing after a split brain', () => {
  /** A reported split of vip-28 (lb02 claims it too), then lb02 lets go. */
  function healing(): PassWorld {
    const w = new PassWorld();
    w.settle();
    w.holds(LB2, 'vip-28', 'vip-29');
    w.pass(10);
    w.pass(SETTLE_MS);
    w.holds(LB2, 'vip-29');
    w.pass(10);
    return w;
  }

  it('asks the one holder left to announce the VIP, and nobody else', () => {
    const w = healing();
    assert.equal(w.last?.memory.tracks.get('vip-28')?.status, 'healing');
    assert.deepEqual(w.last?.memory.tracks.get('vip-28')?.announce, { node: LB1, request: w.now, after: [LB2], confirmed: false });
    assert.equal(w.instance(LB1, 'vip-28').announce, w.now);
    assert.equal(w.instance(LB1, 'vip-29').announce, undefined, 'only for the VIP that was split');
    assert.equal(w.instance(LB2, 'vip-28').announce, undefined);
  });

  it('an announcement made for an earlier request does not count', () => {
    const w = healing();
    w.node(LB1).announced.set('vip-28', w.now - 1);
    assert.equal(w.pass(10).memory.tracks.get('vip-28')?.status, 'healing');
  });

  it('a holder that does not confirm within the settle time is reported: clients may still send to the other', () => {
    const w = healing();
    const first = w.last as ClusterPassResult;
    assert.equal(first.wakeAt, w.now + SETTLE_MS);
    assert.deepEqual(w.pass(SETTLE_MS - 1).events, []);
    const r = w.pass(1);
    assert.deepEqual(r.events.map((e) => [e.type, e.severity, e.node, e.message]), [
      ['vip.unannounced', 'critical', LB1, `${LB1} holds vip-28 but has not announced it since the split brain ended: clients may still send to ${LB2}`],
    ]);
    w.announceAll();
    assert.deepEqual(w.pass(10).events.map((e) => [e.type, e.message]), [['vip.converged', 'vip-28 is held by nginx-lb01 as desired again (was split brain); it announced the VIP after nginx-lb02 let go']]);
  });

  it('asks the new holder if the VIP moves while healing', () => {
    const w = healing();
    const asked = w.now;
    w.holds(LB1).holds(LB2, 'vip-28', 'vip-29');
    w.pass(10);
    assert.deepEqual(w.last?.memory.tracks.get('vip-28')?.announce, { node: LB2, request: w.now, after: [LB1], confirmed: false });
    assert.ok(w.now > asked);
    assert.equal(w.instance(LB2, 'vip-28').announce, w.now);
    assert.equal(w.instance(LB1, 'vip-28').announce, undefined);
  });

  it('keeps the request in the desired state once confirmed: no push for nothing', () => {
    const w = healing();
    w.announceAll();
    const healed = w.pass(10);
    const again = w.pass(1000);
    assert.equal(again.desired.get(LB1), healed.desired.get(LB1));
    assert.deepEqual(again.events, []);
  });

  it('a split shorter than the settle time asks nothing (keepalived heals it: the last advert of the one that lets go makes the holder announce)', () => {
    const w = new PassWorld();
    w.settle();
    w.holds(LB2, 'vip-28', 'vip-29');
    w.pass(10);
    w.holds(LB2, 'vip-29');
    const r = w.pass(SETTLE_MS - 100);
    assert.equal(r.memory.tracks.get('vip-28')?.status, 'ok');
    assert.equal(w.instance(LB1, 'vip-28').announce, undefined);
  });
});

describe('cluster pass: routers that are not nodes', () => {
  const R = { source: '192.168.20.50', priority: 200, lastSeenMs: T0 };

  it('tells every node the cluster\'s addresses, and whether to block foreign routers', () => {
    const w = new PassWorld();
    w.settle();
    assert.deepEqual(w.desired(LB1).keepalived.clusterAddresses, ['192.168.20.19', '192.168.20.20', '192.168.50.19', '192.168.50.20']);
    assert.equal(w.desired(LB1).keepalived.blockForeignRouters, undefined, 'reported only, by default');
    const b = new PassWorld(seed1((y) => y.replace('failback: immediate ', 'foreign_routers: block\n      failback: immediate ')));
    b.settle();
    assert.equal(b.desired(LB2).keepalived.blockForeignRouters, true);
  });

  it('names a foreign router once, when a node first sees it, with the nodes that see it', () => {
    const w = new PassWorld();
    w.settle();
    w.node(LB1).foreign.set('vip-28', [R]);
    w.node(LB2).foreign.set('vip-28', [{ ...R, priority: 190 }]);
    const r = w.pass(10);
    assert.deepEqual(r.events.map((e) => [e.type, e.vip, e.severity, e.message]), [
      ['vrrp.foreign_router', 'vip-28', 'warning', "192.168.20.50 advertises vip-28's VRID with priority 200; it is not a node of the cluster (seen by nginx-lb01, nginx-lb02)"],
    ]);
    assert.equal(r.memory.tracks.get('vip-28')?.status, 'ok', 'the VIP is still held by its node');
    assert.deepEqual(w.pass(1000).events, [], 'named once');
  });

  it('a VIP that a foreign router took is "foreign", not an orphan, and converges when a node has it back', () => {
    const w = new PassWorld();
    w.settle();
    w.holds(LB1);
    w.node(LB1).foreign.set('vip-28', [R]);
    const first = w.pass(10);
    assert.equal(first.memory.tracks.get('vip-28')?.status, 'foreign');
    w.pass(SETTLE_MS - 1);
    const settled = w.pass(1);
    assert.deepEqual(settled.events.map((e) => [e.type, e.severity, e.message]), [
      ['vip.foreign', 'critical', 'vip-28 is held by no node of the cluster: 192.168.20.50 (priority 200), not a node, advertises its VRID'],
    ]);
    w.holds(LB1, 'vip-28');
    assert.deepEqual(w.pass(10).events.map((e) => [e.type, e.message]), [['vip.converged', 'vip-28 is held by nginx-lb01 as desired again (was held by a router that is not a node)']]);
  });
});

describe('cluster pass: a failure every node shares', () => {
  it('one node failing: the other is told it would be the last resort; nothing is reported', () => {
    const w = new PassWorld();
    w.settle();
    w.node(LB1).healthy = false;
    const r = w.pass(10);
    assert.equal(w.desired(LB2).lastResort, true, `${LB2}: every other active node fails`);
    assert.equal(w.desired(LB1).lastResort, undefined, `${LB1}: ${LB2} is healthy`);
    assert.deepEqual(r.events.filter((e) => e.type.startsWith('check.')), []);
    assert.deepEqual(r.memory.failingEverywhere, []);
  });

  it('every node failing one check: both are candidates of last resort, the VIPs stay where they are, the check is reported once', () => {
    const w = new PassWorld();
    w.settle();
    w.node(LB1).healthy = false;
    w.node(LB2).healthy = false;
    const r = w.pass(10);
    assert.deepEqual([w.desired(LB1).lastResort, w.desired(LB2).lastResort], [true, true]);
    assert.deepEqual(w.holders(), { 'vip-28': LB1, 'vip-29': LB2 }, 'placement keeps each VIP on its node');
    assert.deepEqual(r.memory.failingEverywhere, ['nginx']);
    assert.deepEqual(r.events.filter((e) => e.type.startsWith('check.')).map((e) => [e.type, e.severity, e.message, e.reason]), [
      ['check.failing_everywhere', 'critical', 'check nginx fails on every active node (nginx-lb01, nginx-lb02): a shared cause; the VIPs stay on their nodes, which answer what they can', 'nginx-lb01: nginx; nginx-lb02: nginx'],
    ]);
    assert.deepEqual(w.pass(1000).events.filter((e) => e.type.startsWith('check.')), [], 'reported once');
    w.node(LB2).healthy = true;
    const back = w.pass(10);
    assert.deepEqual(back.events.filter((e) => e.type.startsWith('check.')).map((e) => e.type), ['check.failing_everywhere_cleared', 'check.recovery_wait']);
    assert.equal(w.desired(LB1).lastResort, true, `${LB2} passes again: ${LB1} may too, a moment later`);
    w.pass(1000 + 1000 + REPORT_MARGIN_MS);
    assert.equal(w.desired(LB1).lastResort, undefined, `${LB1} has not passed again in the time its check needs: it faults as usual`);
    assert.equal(w.desired(LB2).lastResort, true);
  });

  // The nginx check of seed 1: interval 1 s, timeout 1 s, fall 1. The other node fails it too, if
  // the cause is shared, within fall x interval + timeout of the first one; its report may then
  // take a while. Until it is in, the failing node holds its fault back (core/fault-mode.ts).
  const DECIDE_MS = 1 * 1000 + 1000 + REPORT_MARGIN_MS;

  it('one node failing: its failure is its own once the other node, reporting, has had the time to fail too', () => {
    const w = new PassWorld();
    w.settle();
    w.node(LB1).healthy = false;
    const seen = w.pass(10);
    assert.equal(w.desired(LB1).faultVerdicts, true, 'the agent waits for the word of this coordinator');
    assert.equal(w.desired(LB1).ownFailureSinceMs, undefined, 'not decided while the other node may still fail');
    assert.ok(seen.wakeAt !== null && seen.wakeAt <= w.now + DECIDE_MS, 'a pass is due by the time it is decided');
    w.pass(DECIDE_MS - 1);
    assert.equal(w.desired(LB1).ownFailureSinceMs, undefined, '... however long the reports take');
    w.pass(1);
    assert.equal(w.desired(LB1).ownFailureSinceMs, 1, 'the failing check\'s start, in the agent\'s clock');
    assert.equal(w.desired(LB2).ownFailureSinceMs, undefined);
  });

  it('the other node\'s report decides at once, however late after the first one\'s (a shared failure)', () => {
    const w = new PassWorld();
    w.settle();
    w.node(LB1).healthy = false;
    w.pass(10);
    w.node(LB2).healthy = false;
    w.pass(DECIDE_MS - 1);
    assert.deepEqual([w.desired(LB1).lastResort, w.desired(LB2).lastResort], [true, true]);
    assert.deepEqual([w.desired(LB1).ownFailureSinceMs, w.desired(LB2).ownFailureSinceMs], [undefined, undefined]);
  });

  it('the other node not reporting: the failure is the node\'s own at once (the other may serve)', () => {
    const w = new PassWorld();
    w.settle();
    w.node(LB2).link = 'stale';
    w.node(LB1).healthy = false;
    w.pass(10);
    assert.equal(w.desired(LB1).ownFailureSinceMs, 1);
  });

  it('a new failure is decided anew', () => {
    const w = new PassWorld();
    w.settle();
    w.node(LB1).healthy = false;
    w.pass(10);
    w.pass(DECIDE_MS);
    assert.equal(w.desired(LB1).ownFailureSinceMs, 1);
    w.node(LB1).healthy = true;
    w.pass(1000);
    assert.equal(w.desired(LB1).ownFailureSinceMs, undefined);
    w.node(LB1).healthy = false;
    w.node(LB1).failingSince = 5_000;
    w.pass(10);
    assert.equal(w.desired(LB1).ownFailureSinceMs, undefined, 'the earlier word does not cover it');
    w.pass(DECIDE_MS);
    assert.equal(w.desired(LB1).ownFailureSinceMs, 5_000);
  });

  it('a failure the agent holds back (http) moves no VIP until it is decided, then its own failure does', () => {
    const w = new PassWorld();
    w.settle();
    w.node(LB1).healthy = false;
    w.node(LB1).failingKind = 'http';
    const seen = w.pass(10);
    assert.deepEqual(seen.events.filter((e) => e.type === 'node.unhealthy').map((e) => e.node), [LB1], 'reported unhealthy at once');
    assert.deepEqual(w.holders(), { 'vip-28': LB1, 'vip-29': LB2 }, 'placement keeps vip-28 on its node while the failure is undecided');
    assert.equal(w.instance(LB1, 'vip-28').rank, 0);
    w.pass(DECIDE_MS - 1);
    assert.equal(w.holders()['vip-28'], LB1, '... for as long as the other node may still fail');
    w.pass(1);
    assert.equal(w.desired(LB1).ownFailureSinceMs, 1);
    assert.equal(w.holders()['vip-28'], LB2, 'its own failure: vip-28 moves');
    assert.equal(w.instance(LB1, 'vip-28').rank, 1);
  });

  it('a failure the agent holds back, shared by the other node later: no VIP is ever placed elsewhere', () => {
    const w = new PassWorld();
    w.settle();
    w.node(LB1).healthy = false;
    w.node(LB1).failingKind = 'http';
    const placed = [w.pass(10), w.pass(700)].map(() => w.holders());
    w.node(LB2).healthy = false;
    w.node(LB2).failingKind = 'http';
    placed.push(w.pass(300) && w.holders(), w.pass(DECIDE_MS) && w.holders());
    assert.deepEqual(placed, Array(4).fill({ 'vip-28': LB1, 'vip-29': LB2 }));
    assert.deepEqual([w.desired(LB1).lastResort, w.desired(LB2).lastResort], [true, true]);
    assert.deepEqual(w.events.filter((e) => e.type === 'placement.changed'), []);
  });

  it('a failure the agent does not hold back (a process check) moves the VIP at once', () => {
    const w = new PassWorld();
    w.settle();
    w.node(LB1).healthy = false;
    w.pass(10);
    assert.equal(w.holders()['vip-28'], LB2);
  });

  it('the other node\'s report is waited for as long as its agent has lately taken to answer, within bounds', () => {
    const rows: ReadonlyArray<{ other: number | undefined; own?: number; marginMs: number }> = [
      { other: undefined, marginMs: REPORT_MARGIN_MS },
      { other: 120, marginMs: REPORT_MARGIN_MS },
      { other: 1_200, marginMs: 1_200 },
      { other: 60_000, marginMs: MAX_REPORT_MARGIN_MS },
      { other: undefined, own: 60_000, marginMs: REPORT_MARGIN_MS },
    ];
    for (const row of rows) {
      const w = new PassWorld();
      w.settle();
      w.node(LB2).ackLatencyMs = row.other;
      w.node(LB1).ackLatencyMs = row.own;
      w.node(LB1).healthy = false;
      const seen = w.pass(10);
      assert.ok(seen.wakeAt !== null && seen.wakeAt <= w.now + DECIDE_MS - REPORT_MARGIN_MS + row.marginMs, `${JSON.stringify(row)}: a pass is due by the time it is decided`);
      w.pass(DECIDE_MS - REPORT_MARGIN_MS + row.marginMs - 1);
      assert.equal(w.desired(LB1).ownFailureSinceMs, undefined, `${JSON.stringify(row)}: not before`);
      w.pass(1);
      assert.equal(w.desired(LB1).ownFailureSinceMs, 1, `${JSON.stringify(row)}: then`);
    }
  });

  it('a node whose agent is not reporting may be serving: nobody is the last resort', () => {
    const w = new PassWorld();
    w.settle();
    w.node(LB1).healthy = false;
    w.node(LB2).link = 'disconnected';
    w.pass(10);
    assert.equal(w.desired(LB1).lastResort, undefined);
  });

  it('a drained node does not count: the only active node is its own last resort', () => {
    const w = new PassWorld();
    w.settle();
    w.modes.set(LB2, 'drained');
    w.pass(10);
    assert.equal(w.desired(LB1).lastResort, true);
    assert.equal(w.desired(LB2).lastResort, undefined);
  });
});

// Leaving a failure every node shares: the backends come back, and one node's check passes
// first. In the lab, lb1 reported passing 66 ms before lb2; on that report alone vip2 went to
// lb1, and back to lb2 on the next one. The nodes still failing are given the time their checks
// need to pass after the same cause (rise x interval + timeout + the report margin).
describe('cluster pass: leaving a failure every node shares', () => {
  /** Seed 1 with an http check that passes after two good probes (rise 2): 2 x 1 s + 1 s. */
  const risen = (yaml: string): string => yaml.replace('        service: nginx\n        interval: 1s\n', '        service: nginx\n        interval: 1s\n        rise: 2\n');
  const RECOVER_MS = 2 * 1000 + 1000 + REPORT_MARGIN_MS;

  /** Every node of the world failing the http check for long, as in a shared failure: both candidates of last resort. */
  function sharedFailure(w: PassWorld, nodes: readonly string[]): void {
    w.settle();
    for (const n of nodes) {
      w.node(n).healthy = false;
      w.node(n).failingKind = 'http';
    }
    w.pass(10);
    w.pass(10_000);
    for (const n of nodes) assert.equal(w.desired(n).lastResort, true, `${n}: every other active node fails`);
  }

  /** Per pass: the desired holders and each VIP's ranking, as the agents are told them. */
  const told = (w: PassWorld): string => JSON.stringify(w.last?.placement.vips.map((v) => [v.vip, v.ranking]));

  it('the other node passing 66 ms later: no VIP is placed elsewhere, no node is told its failure is its own', () => {
    const w = new PassWorld(seed1(risen));
    sharedFailure(w, [LB1, LB2]);
    const before = told(w);
    w.node(LB1).healthy = true;
    const first = w.pass(10);
    assert.deepEqual(w.holders(), { 'vip-28': LB1, 'vip-29': LB2 }, `vip-29 stays on ${LB2}, which may pass again`);
    assert.equal(told(w), before, 'nor does any ranking change');
    assert.equal(w.desired(LB2).lastResort, true, `${LB2} stays a candidate of last resort meanwhile`);
    assert.equal(w.desired(LB2).ownFailureSinceMs, undefined);
    assert.equal(w.desired(LB1).lastResort, true, `${LB1} is told every other node still fails (its agent keeps off their VIPs)`);
    assert.match(first.placement.vips.find((v) => v.vip === 'vip-29')?.reason ?? '', /current holder kept \(it fails a check that failed on every node/);
    assert.deepEqual(first.events.filter((e) => e.type.startsWith('check.')).map((e) => [e.type, e.node, e.message]), [
      ['check.failing_everywhere_cleared', undefined, 'check nginx no longer fails on every active node'],
      ['check.recovery_wait', LB2, `${LB1} passes again; ${LB2} still fails nginx: it keeps its VIPs for up to ${RECOVER_MS} ms, the time its checks need to pass after the same cause`],
    ]);
    assert.ok(first.wakeAt !== null && first.wakeAt <= w.now + RECOVER_MS, 'a pass is due when the time is up');
    w.node(LB2).healthy = true;
    const second = w.pass(66);
    assert.deepEqual(w.holders(), { 'vip-28': LB1, 'vip-29': LB2 });
    assert.equal(told(w), before);
    assert.deepEqual([w.desired(LB1).lastResort, w.desired(LB2).lastResort], [undefined, undefined], 'both pass: nobody is a last resort any more');
    assert.deepEqual(w.events.filter((e) => ['placement.changed', 'check.recovery_over'].includes(e.type)), []);
    assert.equal(second.memory.sharedRecovery, undefined, 'nothing is left to wait for');
  });

  it('the other node never passing again: its VIPs move when its checks have had the time, not before', () => {
    const w = new PassWorld(seed1(risen));
    sharedFailure(w, [LB1, LB2]);
    w.node(LB1).healthy = true;
    w.pass(10);
    w.pass(RECOVER_MS - 1);
    assert.equal(w.holders()['vip-29'], LB2, 'not before');
    assert.equal(w.desired(LB2).ownFailureSinceMs, undefined);
    const over = w.pass(1);
    assert.equal(w.holders()['vip-29'], LB1, `${LB2} still fails: its own failure, and vip-29 moves at once`);
    assert.equal(w.desired(LB2).ownFailureSinceMs, 1, 'its agent is told so: it faults');
    assert.equal(w.desired(LB2).lastResort, undefined);
    assert.deepEqual(over.events.filter((e) => e.type === 'check.recovery_over').map((e) => [e.node, e.severity, e.message]), [
      [LB2, 'warning', `${LB2} still fails nginx ${RECOVER_MS} ms after ${LB1} passed again: its own failure; its VIPs move`],
    ]);
    assert.deepEqual(w.pass(1000).events.filter((e) => e.type.startsWith('check.')), [], 'said once');
  });

  it('a slowly answering agent is waited for as long as it lately took to answer, within bounds', () => {
    for (const [latency, marginMs] of [[1_200, 1_200], [60_000, MAX_REPORT_MARGIN_MS]] as const) {
      const w = new PassWorld(seed1(risen));
      sharedFailure(w, [LB1, LB2]);
      w.node(LB2).ackLatencyMs = latency;
      w.node(LB1).healthy = true;
      w.pass(10);
      w.pass(RECOVER_MS - REPORT_MARGIN_MS + marginMs - 1);
      assert.equal(w.holders()['vip-29'], LB2, `${latency} ms: not before`);
      w.pass(1);
      assert.equal(w.holders()['vip-29'], LB1, `${latency} ms: then`);
    }
  });

  it("the servers of a pool lbha renders for nginx: the wait covers a proxy that sends to them again up to fail_timeout + 1 s later, 2 s at most, none with max_fails 0", () => {
    const pool = (...servers: string[]) => (yaml: string): string => `${risen(yaml)}    backends:\n      pools:\n        - name: webserver\n          servers:\n${servers.map((x) => `            - ${x}\n`).join('')}`;
    const cases = [
      ['fail_timeout 1s', pool('{ name: web1, address: "192.168.50.22:80", max_fails: 3, fail_timeout: 1s }'), 2_000],
      ['fail_timeout 0s', pool('{ name: web1, address: "192.168.50.22:80", fail_timeout: 0s }'), 1_000],
      ["nginx's default fail_timeout (10s): the cap", pool('{ name: web1, address: "192.168.50.22:80" }'), MAX_READMIT_MS],
      ['max_fails 0: never marked failed, nothing to wait for', pool('{ name: web1, address: "192.168.50.22:80", max_fails: 0 }'), 0],
      ['max_fails 0 on one server, fail_timeout 0s on the other', pool('{ name: web1, address: "192.168.50.22:80", max_fails: 0 }', '{ name: web2, address: "192.168.50.23:80", fail_timeout: 0s }'), 1_000],
      ["no pool: the upstream's server lines are the operator's", risen, 0],
    ] as const;
    assert.equal(MAX_READMIT_MS, 2_000);
    for (const [name, edit, readmitMs] of cases) {
      const w = new PassWorld(seed1(edit));
      sharedFailure(w, [LB1, LB2]);
      w.node(LB1).healthy = true;
      const first = w.pass(10);
      const wait = first.events.find((e) => e.type === 'check.recovery_wait');
      assert.match(wait?.message ?? '', new RegExp(`for up to ${RECOVER_MS + readmitMs} ms, the time its checks need to pass after the same cause${readmitMs > 0 ? ` \\(${readmitMs} ms of it for nginx's fail_timeout\\)` : '$'}`), name);
      w.pass(RECOVER_MS + readmitMs - 1);
      assert.equal(w.holders()['vip-29'], LB2, `${name}: not before`);
      w.pass(1);
      assert.equal(w.holders()['vip-29'], LB1, `${name}: then`);
    }
  });

  it("haproxy: the wait covers the node's own haproxy sending to the servers again, as its agent reads its checks, 2 s at most, nothing from an agent that reports none", () => {
    const haproxy = (yaml: string): string =>
      risen(yaml).replace('    service: nginx\n    policy:', '    service: haproxy\n    policy:').replace('        service: nginx\n        interval: 1s\n        rise: 2\n', '        service: haproxy\n        interval: 1s\n        rise: 2\n');
    const cases = [
      ['inter 1s (rise 2)', 2_000, 2_000, ''],
      ['downinter 500ms fastinter 500ms', 1_000, 1_000, ''],
      ["haproxy's defaults (inter 2s): the cap", 4_000, MAX_READMIT_MS, ', which may take 4000 ms: the wait allows 2000 ms at most'],
      ['no server checked', 0, 0, undefined],
      ['an older agent: no readmission in its report', undefined, 0, undefined],
    ] as const;
    for (const [name, reported, readmitMs, cut] of cases) {
      const w = new PassWorld(seed1(haproxy));
      assert.equal(w.cluster.service, 'haproxy');
      // What the node that passed first reports does not count: the wait is for the other's proxy.
      w.node(LB1).readmitMs = 1_500;
      w.node(LB2).readmitMs = reported;
      sharedFailure(w, [LB1, LB2]);
      w.node(LB1).healthy = true;
      const first = w.pass(10);
      const wait = first.events.find((e) => e.type === 'check.recovery_wait');
      const note = cut === undefined ? '' : ` (${readmitMs} ms of it for haproxy's checks${cut})`;
      assert.equal(wait?.message, `${LB1} passes again; ${LB2} still fails nginx: it keeps its VIPs for up to ${RECOVER_MS + readmitMs} ms, the time its checks need to pass after the same cause${note}`, name);
      w.pass(RECOVER_MS + readmitMs - 1);
      assert.equal(w.holders()['vip-29'], LB2, `${name}: not before`);
      w.pass(1);
      assert.equal(w.holders()['vip-29'], LB1, `${name}: then`);
    }
  });

  it('nginx: what an agent reports of its proxy\'s readmission does not count, the spec\'s server lines do', () => {
    const w = new PassWorld(seed1(risen));
    w.node(LB2).readmitMs = 1_500;
    sharedFailure(w, [LB1, LB2]);
    w.node(LB1).healthy = true;
    w.pass(10);
    w.pass(RECOVER_MS);
    assert.equal(w.holders()['vip-29'], LB1);
  });

  it('the other node stopping to report: it is not waited for', () => {
    const w = new PassWorld(seed1(risen));
    sharedFailure(w, [LB1, LB2]);
    w.node(LB1).healthy = true;
    w.node(LB2).link = 'stale';
    const r = w.pass(10);
    assert.deepEqual(r.events.filter((e) => e.type === 'check.recovery_wait'), []);
    assert.equal(w.desired(LB1).lastResort, undefined, `${LB1}'s agent is not told that every other node fails`);
    assert.equal(r.memory.sharedRecovery, undefined);

    // ... and when it stops during the wait, the wait ends with it.
    const v = new PassWorld(seed1(risen));
    sharedFailure(v, [LB1, LB2]);
    v.node(LB1).healthy = true;
    v.pass(10);
    v.node(LB2).link = 'stale';
    const gone = v.pass(100);
    assert.equal(v.desired(LB1).lastResort, undefined);
    assert.equal(gone.memory.sharedRecovery, undefined);
  });

  it('a node that passed and failed again has a new failure: the way in decides it', () => {
    const w = new PassWorld(seed1(risen));
    sharedFailure(w, [LB1, LB2]);
    w.node(LB1).healthy = true;
    w.pass(10);
    w.node(LB2).failingSince = 20_000;
    w.pass(500);
    assert.equal(w.holders()['vip-29'], LB2, 'held, as any first failing report of an http check');
    assert.deepEqual(w.last?.events.filter((e) => e.type === 'check.recovery_over'), []);
  });

  it('three nodes: the two that pass within the time keep their VIPs, the third loses its own', () => {
    const LB3 = 'nginx-lb03';
    const three = (yaml: string): string =>
      risen(yaml)
        .replace('    vips:\n', `      - name: ${LB3}\n        interfaces:\n          - name: eth1\n            address: 192.168.20.21/24\n          - name: eth2\n            address: 192.168.50.21/24\n    vips:\n`)
        .replace('    checks:\n', `      - name: vip-30\n        address: 192.168.20.30/24\n        interface: eth1\n        vrid: 53\n        home: ${LB3}\n    checks:\n`);
    const w = new PassWorld(seed1(three));
    sharedFailure(w, [LB1, LB2, LB3]);
    assert.deepEqual(w.holders(), { 'vip-28': LB1, 'vip-29': LB2, 'vip-30': LB3 });
    w.node(LB1).healthy = true;
    const first = w.pass(10);
    assert.deepEqual(first.events.filter((e) => e.type === 'check.recovery_wait').map((e) => e.node), [LB2, LB3]);
    w.node(LB2).healthy = true;
    w.pass(66);
    assert.deepEqual(w.holders(), { 'vip-28': LB1, 'vip-29': LB2, 'vip-30': LB3 }, `nothing moves while ${LB3} may still pass`);
    assert.equal(w.desired(LB3).lastResort, true);
    w.pass(RECOVER_MS - 67);
    assert.equal(w.holders()['vip-30'], LB3);
    w.pass(1);
    assert.equal(w.holders()['vip-29'], LB2, `${LB2}'s VIP never moved`);
    assert.notEqual(w.holders()['vip-30'], LB3, `${LB3} did not pass: its VIP moves`);
    assert.equal(w.desired(LB3).ownFailureSinceMs, 1);
    assert.deepEqual(w.events.filter((e) => e.type === 'placement.changed').map((e) => e.vip), ['vip-30']);
  });

  it('a VIP pinned to the node still failing stays on it meanwhile', () => {
    const w = new PassWorld(seed1(risen));
    w.pins.set('vip-29', { node: LB2, sticky: true });
    sharedFailure(w, [LB1, LB2]);
    w.node(LB1).healthy = true;
    w.pass(10);
    assert.equal(w.holders()['vip-29'], LB2);
    w.node(LB2).healthy = true;
    w.pass(66);
    assert.equal(w.holders()['vip-29'], LB2);
    assert.deepEqual(w.events.filter((e) => e.type === 'placement.changed'), []);
  });
});

describe('cluster pass: standby readiness', () => {
  it('a home node that would not serve its VIP does not get it back; once it would, it does; each change is an event once', () => {
    const w = new PassWorld();
    w.settle();
    w.node(LB2).penalty = 50;
    w.pass(10);
    w.follow().applyAll();
    w.pass(10);
    assert.deepEqual(w.holders(), { 'vip-28': LB1, 'vip-29': LB1 }, `${LB2}'s penalty moves vip-29 to ${LB1}`);
    w.node(LB2).notReady.set('vip-28', 'nginx config on disk does not validate').set('vip-29', 'nginx config on disk does not validate');
    const r = w.pass(10);
    assert.deepEqual(r.events.filter((e) => e.type.startsWith('standby.')).map((e) => [e.type, e.vip, e.node]), [
      ['standby.not_ready', 'vip-28', LB2],
      ['standby.not_ready', 'vip-29', LB2],
    ]);
    w.node(LB2).penalty = 0;
    const kept = w.pass(10);
    assert.deepEqual(w.holders(), { 'vip-28': LB1, 'vip-29': LB1 }, `failback waits: ${LB2} would not serve vip-29`);
    assert.match(kept.placement.vips.find((v) => v.vip === 'vip-29')?.reason ?? '', new RegExp(`home node ${LB2} is preferred, not ready`));
    assert.deepEqual(kept.events.filter((e) => e.type.startsWith('standby.')), [], 'reported once');
    w.node(LB2).notReady.clear();
    const back = w.pass(10);
    assert.equal(w.holders()['vip-29'], LB2, `${LB2} is ready: vip-29 goes home`);
    assert.deepEqual(back.events.filter((e) => e.type.startsWith('standby.')).map((e) => [e.type, e.vip]), [['standby.ready', 'vip-28'], ['standby.ready', 'vip-29']]);
  });

  it('the holder failing with the only standby not ready: the standby takes the VIP all the same', () => {
    const w = new PassWorld();
    w.settle();
    w.node(LB2).notReady.set('vip-28', 'GET http://127.0.0.1:80/ (Host 192.168.20.28) answered 502');
    w.pass(10);
    w.node(LB1).healthy = false;
    const r = w.pass(10);
    assert.deepEqual(w.holders(), { 'vip-28': LB2, 'vip-29': LB2 }, 'nothing is removed');
    assert.match(r.placement.vips.find((v) => v.vip === 'vip-28')?.reason ?? '', /no eligible node is ready to serve it/);
    assert.deepEqual(r.notReady.get(vipKey(w.cluster.name, 'vip-28')), new Set([LB2]));
  });
});

describe('cluster pass: transitions nobody asked for', () => {
  const up = (seq: number): UnplannedTransition => ({ seq, from: 'backup', to: 'master', kind: 'master_down', cause: 'the master stopped advertising', atMs: T0 + seq });
  const flap = (seq: number): UnplannedTransition => ({ seq, from: 'master', to: 'backup', kind: 'flap', cause: "MASTER for 3 ms after the master's adverts stopped; a higher priority is back", atMs: T0 + seq, masterMs: 3 });

  it('reports each one once, in order, a flap as vip.flap, however short it was', () => {
    const w = new PassWorld();
    w.settle();
    w.node(LB2).unplanned.set('vip-28', [up(101), flap(102)]);
    const r = w.pass(10);
    assert.deepEqual(r.events.map((e) => [e.type, e.vip, e.node, e.severity, e.reason, e.message]), [
      ['vrrp.unplanned', 'vip-28', LB2, 'warning', 'master_down', 'nginx-lb02: vip-28 BACKUP -> MASTER: the master stopped advertising'],
      ['vip.flap', 'vip-28', LB2, 'warning', 'flap', "nginx-lb02 was MASTER of vip-28 for 3 ms: MASTER for 3 ms after the master's adverts stopped; a higher priority is back"],
    ]);
    assert.deepEqual(w.pass(100).events, [], 'reported once');
    w.node(LB2).unplanned.set('vip-28', [up(101), flap(102), up(103)]);
    assert.deepEqual(w.pass(10).events.map((e) => e.type), ['vrrp.unplanned']);
  });

  it('a service its agent restarted is reported with the reason, once', () => {
    const w = new PassWorld();
    w.settle();
    w.node(LB1).keepalived = { restarts: 1, lastError: 'keepalived is stopped (process 4242 in state T) for 200 ms; killed and restarted' };
    assert.deepEqual(w.pass(10).events.map((e) => [e.type, e.node, e.severity, e.message]), [
      ['service.restarted', LB1, 'warning', 'nginx-lb01: keepalived restarted by its agent: keepalived is stopped (process 4242 in state T) for 200 ms; killed and restarted'],
    ]);
    assert.deepEqual(w.pass(100).events, []);
  });

  it('what a node lists when the coordinator first hears from it is history', () => {
    const w = new PassWorld();
    w.node(LB2).unplanned.set('vip-28', [up(7), flap(8)]);
    w.settle();
    assert.deepEqual(w.events.filter((e) => e.type === 'vip.flap' || e.type === 'vrrp.unplanned'), []);
  });
});

/** vip-28 moved away from its home node (unhealthy), which is healthy again: the pass that decides the failback (immediate) has run. */
function failbackDecided(cluster?: ClusterSpec): PassWorld {
  const w = new PassWorld(cluster);
  w.settle();
  w.node(LB1).healthy = false;
  w.pass(10);
  w.applyAll().follow().pass(10);
  assert.equal(w.holders()['vip-28'], LB2);
  w.node(LB1).healthy = true;
  w.pass(10);
  return w;
}

/** vip-28 away from its home node, then back (failback: immediate) with a handover from LB2, up to where keepalived moves it. */
function failbackUnderway(): PassWorld {
  const w = failbackDecided();
  w.applyAll().pass(10);
  assert.equal(w.instance(LB1, 'vip-28').rank, 0, 'the move went ahead');
  assert.deepEqual([...w.memory.handovers.entries.values()].map((e) => [e.vip, e.from, e.to]), [['vip-28', LB2, LB1]]);
  return w;
}

describe('cluster pass: planned moves hold for the handover', () => {
  it('pushes the handover with the old placement first, the move once both agents run it', () => {
    const w = new PassWorld();
    w.settle();
    w.modes.set(LB1, 'draining');
    const t = w.now + 10;
    const first = w.pass(10);
    assert.equal(first.placement.vips.find((v) => v.vip === 'vip-28')?.holder, LB2, 'placement moves vip-28 at once (what the API shows)');
    assert.deepEqual([w.instance(LB2, 'vip-28').rank, w.instance(LB2, 'vip-28').handover?.role], [1, 'incoming'], `${LB2} gets the handover, still as backup`);
    assert.deepEqual([w.instance(LB1, 'vip-28').rank, w.instance(LB1, 'vip-28').handover?.role], [0, 'outgoing'], `${LB1} hands over, still the holder`);
    assert.equal(w.desired(LB1).mode, 'active', 'the old mode is held back too: draining would move the VIP');
    assert.deepEqual(first.events.filter((e) => e.type.startsWith('handover.')).map((e) => [e.type, e.vip]), [['handover.started', 'vip-28']]);
    assert.equal(first.wakeAt, t + PREPARE_TIMEOUT_MS);

    const held = w.pass(10);
    assert.equal(w.instance(LB2, 'vip-28').rank, 1, 'still held: the agents have not applied the handover');
    assert.equal(held.desired.get(LB2), first.desired.get(LB2), 'and nothing new to push');

    w.applyAll();
    w.pass(10);
    assert.equal(w.instance(LB2, 'vip-28').rank, 0, 'both agents run the handover: the VIP moves');
    assert.equal(w.instance(LB2, 'vip-28').handover?.role, 'incoming', 'the handover stays for its window');
    assert.equal(w.desired(LB1).mode, 'draining');
  });

  it('moves anyway when an agent does not confirm in time, and names it', () => {
    const w = new PassWorld();
    w.settle();
    w.modes.set(LB1, 'draining');
    w.pass(10);
    w.pass(PREPARE_TIMEOUT_MS - 1);
    assert.equal(w.instance(LB2, 'vip-28').rank, 1, 'held until the prepare timeout');
    const r = w.pass(1);
    assert.equal(w.instance(LB2, 'vip-28').rank, 0);
    assert.deepEqual(r.events.filter((e) => e.type === 'handover.unconfirmed').map((e) => e.message), [`agents of ${LB1}, ${LB2} did not confirm the handover in time; VIPs move without waiting`]);
  });

  it('waits for agents that answer slowly as long as they have lately taken to answer, within bounds', () => {
    assert.deepEqual([[], [undefined], [300], [1_000, 200], [60_000]].map((l) => prepareBudgetMs(l)), [PREPARE_TIMEOUT_MS, PREPARE_TIMEOUT_MS, PREPARE_TIMEOUT_MS, 4_000, MAX_PREPARE_MS]);
    const w = new PassWorld();
    w.settle();
    w.node(LB2).ackLatencyMs = 1_000;
    w.modes.set(LB1, 'draining');
    w.pass(10);
    w.pass(4_000 - 1);
    assert.equal(w.instance(LB2, 'vip-28').rank, 1, 'held for four of its round trips');
    const r = w.pass(1);
    assert.equal(w.instance(LB2, 'vip-28').rank, 0);
    assert.deepEqual(r.events.filter((e) => e.type === 'handover.unconfirmed').map((e) => e.type), ['handover.unconfirmed']);
  });

  it('keeps a move and its handover when the new holder\'s agent restarts while the old holder still reports the VIP', () => {
    const w = failbackUnderway();
    // keepalived moves it: LB1 reports it, LB2's report of letting go is still on its way.
    w.node(LB1).holds.add('vip-28');
    w.pass(10);
    const lb2Before = w.last?.desired.get(LB2);
    const handover = [...w.memory.handovers.entries.values()].map((e) => [e.vip, e.from, e.to]);
    assert.deepEqual(handover, [['vip-28', LB2, LB1]]);

    w.node(LB1).link = 'disconnected';
    const away = w.pass(10);
    assert.deepEqual(w.holders(), { 'vip-28': LB1, 'vip-29': LB2 }, 'the old holder letting go is no takeover');
    assert.deepEqual(away.events.filter((e) => e.type === 'placement.changed' || e.type.startsWith('handover.')), []);
    assert.equal(away.desired.get(LB2), lb2Before, `${LB2} is told nothing new: it keeps answering its connections`);
    w.node(LB2).holds.delete('vip-28');
    w.pass(10);
    w.node(LB1).link = 'connected';
    const back = w.pass(10);
    assert.deepEqual(w.holders(), { 'vip-28': LB1, 'vip-29': LB2 });
    assert.deepEqual(back.events.filter((e) => e.type === 'placement.changed' || e.type.startsWith('handover.')), []);
    assert.deepEqual([...w.memory.handovers.entries.values()].map((e) => [e.vip, e.from, e.to]), handover, 'the handover goes on');

    // Once the handover is over, the other node reporting the VIP while LB1's agent is away is a takeover.
    w.pass(60_000);
    w.node(LB1).link = 'disconnected';
    w.holds(LB2, 'vip-28', 'vip-29');
    w.pass(10);
    assert.deepEqual(w.holders(), { 'vip-28': LB2, 'vip-29': LB2 });
  });

  const unplanned: ReadonlyArray<{ name: string; change: (w: PassWorld) => void }> = [
    { name: 'the old holder turned unhealthy', change: (w) => (w.node(LB1).healthy = false) },
    {
      name: 'an agent cannot run handovers',
      change: (w) => {
        w.node(LB2).capable = false;
        w.modes.set(LB1, 'draining');
      },
    },
    {
      name: 'the cluster turns handover off',
      change: (w) => {
        const off = seed1((y) => y.replace('base_priority: 100', 'base_priority: 100\n      handover: 0s'));
        Object.assign(w, { cluster: off });
        w.modes.set(LB1, 'draining');
      },
    },
  ];
  for (const row of unplanned) {
    it(`moves at once, with no handover, when ${row.name}`, () => {
      const w = new PassWorld();
      w.settle();
      row.change(w);
      const r = w.pass(10);
      assert.equal(w.instance(LB2, 'vip-28').rank, 0);
      assert.equal(w.instance(LB2, 'vip-28').handover, undefined);
      assert.deepEqual(r.events.filter((e) => e.type.startsWith('handover.')), []);
    });
  }
});

describe('cluster pass: both ends of a planned move hold the VIP for a moment', () => {
  it('is the move, not a split brain: no split_brain status, event or step-down', () => {
    const w = failbackUnderway();
    // keepalived moves it: LB1 reports it, LB2's report of letting go is still on its way.
    w.node(LB1).holds.add('vip-28');
    const overlap = w.pass(10);
    const t = overlap.memory.tracks.get('vip-28');
    assert.deepEqual(t?.holders, [LB1, LB2]);
    assert.equal(t?.status, 'ok', 'the desired holder has it; the old one lets go as planned');
    assert.equal(overlap.wakeAt !== null && overlap.wakeAt <= w.now + SETTLE_MS, true, 'looked at again when an overlap would count as a split brain');
    w.pass(SETTLE_MS - 20);
    assert.equal(w.instance(LB2, 'vip-28').stepDown, false);
    w.node(LB2).holds.delete('vip-28');
    const after = w.pass(10);
    assert.equal(after.memory.tracks.get('vip-28')?.status, 'ok');
    assert.deepEqual(w.events.filter((e) => e.type === 'vip.split_brain' || e.type === 'vip.step_down' || e.type === 'vip.unannounced').map((e) => e.type), []);
  });

  it('that lasts the settle time is a split brain, counted from when the overlap began', () => {
    const w = failbackUnderway();
    w.node(LB1).holds.add('vip-28');
    const began = w.now + 10;
    w.pass(10);
    w.pass(SETTLE_MS - 20);
    assert.equal(w.memory.tracks.get('vip-28')?.status, 'ok');
    w.now = began + SETTLE_MS;
    const r = w.pass();
    assert.equal(r.memory.tracks.get('vip-28')?.status, 'split_brain');
    assert.deepEqual(r.events.filter((e) => e.type === 'vip.split_brain' || e.type === 'vip.step_down').map((e) => [e.type, e.node]), [['vip.split_brain', LB1], ['vip.step_down', LB2]]);
    assert.equal(w.instance(LB2, 'vip-28').stepDown, true, 'the old holder steps down at once, not a settle time later');
  });

  it('between the same two nodes long after the move is a split brain at once', () => {
    const w = failbackUnderway();
    w.node(LB1).holds.add('vip-28');
    w.pass(10);
    w.node(LB2).holds.delete('vip-28');
    w.pass(10);
    w.pass(PREPARE_TIMEOUT_MS + SETTLE_MS);
    w.node(LB2).holds.add('vip-28');
    assert.equal(w.pass(10).memory.tracks.get('vip-28')?.status, 'split_brain');
  });

  it('with no move is a split brain at once, as before', () => {
    const w = new PassWorld();
    w.settle();
    w.holds(LB2, 'vip-28', 'vip-29');
    assert.equal(w.pass(10).memory.tracks.get('vip-28')?.status, 'split_brain');
  });
});

describe('cluster pass: the ends of a move without a handover, of a failback, of a late move', () => {
  // With no handover, nothing is prepared: the move is pushed in the pass that decides it, and
  // keepalived has the settle time from then to carry it out.
  const handoverOff = () => seed1((y) => y.replace('base_priority: 100', 'base_priority: 100\n      handover: 0s'));
  const splitEvents = (w: PassWorld) => w.events.filter((e) => e.type === 'vip.split_brain' || e.type === 'vip.step_down' || e.type === 'vip.unannounced').map((e) => e.type);

  /** vip-28 drained off LB1 with handover off: the move is pushed at once. */
  function drainedWithoutHandover(): PassWorld {
    const w = new PassWorld(handoverOff());
    w.settle();
    w.modes.set(LB1, 'draining');
    w.pass(10);
    assert.deepEqual([w.instance(LB2, 'vip-28').rank, w.instance(LB2, 'vip-28').handover], [0, undefined], 'pushed at once, no handover');
    w.applyAll();
    return w;
  }

  it('without a handover: both ends overlapping within the settle time of the move is the move', () => {
    const w = drainedWithoutHandover();
    w.node(LB2).holds.add('vip-28');
    assert.equal(w.pass(10).memory.tracks.get('vip-28')?.status, 'ok');
    w.pass(SETTLE_MS - 40);
    assert.equal(w.memory.tracks.get('vip-28')?.status, 'ok');
    assert.equal(w.instance(LB1, 'vip-28').stepDown, false);
    w.node(LB1).holds.delete('vip-28');
    assert.equal(w.pass(10).memory.tracks.get('vip-28')?.status, 'ok');
    assert.deepEqual(splitEvents(w), []);
  });

  it('without a handover: an overlap that begins more than the settle time after the move is a split brain at once', () => {
    const w = drainedWithoutHandover();
    // Nothing prepares the move, so the prepare timeout of a handover is no excuse here.
    w.pass(SETTLE_MS + 500);
    w.node(LB2).holds.add('vip-28');
    assert.ok(SETTLE_MS + 520 < PREPARE_TIMEOUT_MS + SETTLE_MS);
    assert.equal(w.pass(10).memory.tracks.get('vip-28')?.status, 'split_brain');
  });

  it('a failback without a handover: the home node taking the VIP back is the move, not a split brain', () => {
    const w = failbackDecided(handoverOff());
    assert.deepEqual([w.holders()['vip-28'], w.instance(LB1, 'vip-28').rank, w.instance(LB1, 'vip-28').handover], [LB1, 0, undefined], 'failback pushed at once');
    w.applyAll();
    w.node(LB1).holds.add('vip-28');
    const overlap = w.pass(10);
    assert.deepEqual(overlap.memory.tracks.get('vip-28')?.holders, [LB1, LB2]);
    assert.equal(overlap.memory.tracks.get('vip-28')?.status, 'ok');
    w.pass(SETTLE_MS - 30);
    w.node(LB2).holds.delete('vip-28');
    assert.equal(w.pass(10).memory.tracks.get('vip-28')?.status, 'ok');
    assert.deepEqual(splitEvents(w), []);
    // LB2 holding it again a settle time later is not the move any more.
    w.pass(SETTLE_MS);
    w.node(LB2).holds.add('vip-28');
    assert.equal(w.pass(10).memory.tracks.get('vip-28')?.status, 'split_brain');
  });

  it('a failback whose handover is never confirmed: the move counts from its late push, and nothing before it is the move', () => {
    const w = failbackDecided();
    // The agents do not apply the handover: the move waits the prepare timeout. LB1 taking the
    // VIP meanwhile is not the move (nobody told keepalived to move it).
    assert.deepEqual([w.instance(LB1, 'vip-28').rank, w.instance(LB1, 'vip-28').handover?.role], [1, 'incoming'], 'held: the handover first');
    w.node(LB1).holds.add('vip-28');
    assert.equal(w.pass(10).memory.tracks.get('vip-28')?.status, 'split_brain', 'an overlap before the move was pushed');
    w.node(LB1).holds.delete('vip-28');
    w.pass(10);
    w.pass(PREPARE_TIMEOUT_MS);
    assert.equal(w.instance(LB1, 'vip-28').rank, 0, 'pushed once the prepare timed out');
    w.applyAll();
    w.pass(SETTLE_MS - 100);
    // keepalived moves it near the end of the settle time after the push: still the move.
    w.node(LB1).holds.add('vip-28');
    assert.equal(w.pass(10).memory.tracks.get('vip-28')?.status, 'ok');
    w.node(LB2).holds.delete('vip-28');
    assert.equal(w.pass(10).memory.tracks.get('vip-28')?.status, 'ok');
  });
});

describe('cluster pass: failback', () => {
  const rows: ReadonlyArray<{ failback: string; back: number | null }> = [
    { failback: 'immediate', back: 0 },
    { failback: 'hold_down\n      hold_down: 1s', back: 1000 },
    { failback: 'never', back: null },
  ];
  for (const row of rows) {
    const policy = row.failback.split('\n')[0] as string;
    it(`${policy}: vip-28 goes home ${row.back === null ? 'never' : row.back === 0 ? 'as soon as its node is healthy' : `after ${row.back} ms healthy`}`, () => {
      const w = new PassWorld(seed1((y) => y.replace('failback: immediate', `failback: ${row.failback}`)));
      w.settle();
      w.node(LB1).healthy = false;
      w.pass(10);
      w.holds(LB1).holds(LB2, 'vip-28', 'vip-29');
      w.applyAll();
      w.pass(10);
      assert.equal(w.holders()['vip-28'], LB2);

      w.node(LB1).healthy = true;
      const recovered = w.now + 10;
      const r = w.pass(10);
      if (row.back === 0) {
        assert.equal(w.holders()['vip-28'], LB1, 'home at once');
        return;
      }
      assert.equal(w.holders()['vip-28'], LB2, 'not at once');
      if (row.back === null) {
        assert.match(r.placement.vips.find((v) => v.vip === 'vip-28')?.reason ?? '', /failback: never/);
        assert.equal(r.wakeAt, null, 'nothing to wait for');
        w.pass(3_600_000);
        assert.equal(w.holders()['vip-28'], LB2, 'an hour later, still away');
        return;
      }
      assert.match(r.placement.vips.find((v) => v.vip === 'vip-28')?.reason ?? '', /home node nginx-lb01 in hold-down for another 1s/);
      assert.equal(r.wakeAt, recovered + row.back, 'the loop is woken when the hold-down ends');
      w.now = recovered + row.back - 1;
      w.pass();
      assert.equal(w.holders()['vip-28'], LB2, 'not a millisecond early');
      w.now = recovered + row.back;
      w.pass();
      assert.equal(w.holders()['vip-28'], LB1, 'home once the hold-down is over');
    });
  }

  it('a node that flaps starts its hold-down again', () => {
    const w = new PassWorld(seed1((y) => y.replace('failback: immediate', 'failback: hold_down\n      hold_down: 1s')));
    w.settle();
    for (const healthy of [false, true, false, true]) {
      w.node(LB1).healthy = healthy;
      w.pass(600);
      w.follow();
    }
    const r = w.pass(600);
    assert.equal(w.holders()['vip-28'], LB2, '600 ms healthy since the last flap');
    assert.equal(r.wakeAt, w.now - 600 + 1000);
  });
});

describe('cluster pass: node health and agents in the wrong cluster', () => {
  it('raises node.unhealthy and node.healthy once per change, naming the failing check', () => {
    const w = new PassWorld();
    w.settle();
    w.node(LB1).healthy = false;
    const down = w.pass(10).events.filter((e) => e.type.startsWith('node.'));
    assert.deepEqual(down.map((e) => [e.type, e.node, e.reason]), [['node.unhealthy', LB1, 'nginx: nginx is not running']]);
    assert.deepEqual(w.pass(10).events.filter((e) => e.type.startsWith('node.')), []);
    w.node(LB1).healthy = true;
    assert.deepEqual(w.pass(10).events.filter((e) => e.type.startsWith('node.')).map((e) => e.type), ['node.healthy']);
  });

  it('withholds the desired state of an agent that claims another cluster, and says so once per stream', () => {
    const w = new PassWorld();
    w.settle();
    w.node(LB2).cluster = 'db';
    const r = w.pass(10);
    assert.deepEqual([...r.withheld], [LB2]);
    assert.deepEqual(r.events.filter((e) => e.type === 'node.cluster_mismatch').map((e) => [e.node, e.cluster]), [[LB2, 'db']]);
    assert.deepEqual(w.pass(10).events.filter((e) => e.type === 'node.cluster_mismatch'), [], 'once per stream');
    w.node(LB2).session++;
    assert.equal(w.pass(10).events.filter((e) => e.type === 'node.cluster_mismatch').length, 1, 'again on a new stream');
  });
});

describe('cluster pass: modes reach the desired state', () => {
  for (const mode of ['draining', 'drained', 'maintenance'] as NodeMode[]) {
    it(`${mode}: the node is told its mode once its VIPs have moved`, () => {
      const w = new PassWorld();
      w.settle();
      w.modes.set(LB1, mode);
      w.pass(10);
      w.applyAll();
      w.pass(10);
      assert.equal(w.desired(LB1).mode, mode);
      assert.ok(w.instance(LB1, 'vip-28').placementWeight < 0, `${LB1} is pushed below every eligible node`);
    });
  }
});
