import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Handover, NodeMode } from '@lbha/shared';
import { HANDOVER_MAX_MS, handoverOf, NO_HANDOVERS, planHandovers, PREPARE_TIMEOUT_MS, retimeHandoversFrom, type HandoverMemory, type PlanContext } from '../src/handover-plan.js';
import { place, type NodeCondition } from '../src/placement.js';
import type { ClusterSpec } from '../src/spec/cluster-spec.js';
import { parseSpec } from '../src/spec/parse-spec.js';

const SEED1 = (() => {
  const r = parseSpec(readFileSync(new URL('../../test/fixtures/seed-nginx-active-active.yaml', import.meta.url), 'utf8'));
  if (!r.ok) throw new Error('seed 1 fixture does not parse');
  return r.value.clusters[0] as ClusterSpec;
})();
const L1 = 'nginx-lb01';
const L2 = 'nginx-lb02';
const T0 = 1_700_000_000_000;

/** A little world: node modes and health, what the agents applied and which node holds which VIP. */
class World {
  modes = new Map<string, NodeMode>([
    [L1, 'active'],
    [L2, 'active'],
  ]);
  unhealthy = new Set<string>();
  gone = new Set<string>();
  /** Agents too old to run a handover. */
  old = new Set<string>();
  applied = new Map<string, number>();
  /** The versions the loop gave the desired states of the previous pass. */
  versions = new Map<string, number>();
  holders = new Map<string, string>();
  /** vip -> what nodes report running for it. */
  reports = new Map<string, Array<{ node: string; handover: Handover }>>();
  /** `node/vip` -> the connections the node reports it still serves for the VIP's outgoing handover. */
  connections = new Map<string, number>();
  now = T0;

  constructor(readonly cluster: ClusterSpec = SEED1) {}

  placement() {
    const nodes = new Map<string, NodeCondition>(
      this.cluster.nodes.map((n) => [
        n.name,
        { health: this.gone.has(n.name) ? 'unknown' : this.unhealthy.has(n.name) ? 'unhealthy' : 'healthy', penalty: 0, mode: this.modes.get(n.name) ?? 'active', healthySinceMs: T0 - 3_600_000 },
      ]),
    );
    const holders = new Map([...this.holders].map(([vip, node]) => [`${this.cluster.name}/${vip}`, node]));
    const cp = place({ spec: { clusters: [this.cluster] }, nodes, holders, nowMs: this.now }).clusters.get(this.cluster.name);
    assert.ok(cp);
    return cp;
  }

  ctx(): PlanContext {
    return {
      now: this.now,
      live: (n) => !this.gone.has(n),
      capable: (n) => !this.old.has(n),
      healthy: (n) => !this.unhealthy.has(n),
      applied: (n) => this.applied.get(n) ?? 0,
      versionOf: (n) => this.versions.get(n),
      actualHolders: (vip) => {
        const h = this.holders.get(vip);
        return h === undefined ? [] : [h];
      },
      mode: (n) => this.modes.get(n) ?? 'active',
      reported: (vip) => this.reports.get(vip) ?? [],
      connections: (n, vip) => this.connections.get(`${n}/${vip}`),
    };
  }
}

/** planHandovers with its memory carried from call to call, as the reconcile loop does. */
class Planner {
  memory: HandoverMemory = NO_HANDOVERS;

  plan(c: ClusterSpec, next: ReturnType<World['placement']>, ctx: PlanContext) {
    const r = planHandovers(c, next, ctx, this.memory);
    this.memory = r.memory;
    return r;
  }

  handoverOf(vip: string, node: string) {
    return handoverOf(this.memory, vip, node);
  }

  extendFrom(node: string, untilMs: number): void {
    this.memory = retimeHandoversFrom(this.memory, node, untilMs, true);
  }

  endFrom(node: string, now: number): void {
    this.memory = retimeHandoversFrom(this.memory, node, now, false);
  }
}

function holderOf(p: ReturnType<World['placement']>, vip: string): string | undefined {
  return p.vips.find((v) => v.vip === vip)?.holder;
}

/** Seed 1 at rest: each LB holds one VIP, the planner has seen that placement pushed. */
function settled(cluster: ClusterSpec = SEED1): { w: World; planner: Planner; vip1: string; vip2: string } {
  const w = new World(cluster);
  const planner = new Planner();
  const first = w.placement();
  const vip1 = first.vips.find((v) => v.holder === L1)?.vip;
  const vip2 = first.vips.find((v) => v.holder === L2)?.vip;
  assert.ok(vip1 && vip2, 'seed 1 spreads its VIPs one per node');
  w.holders.set(vip1, L1);
  w.holders.set(vip2, L2);
  planner.plan(cluster, first, w.ctx());
  return { w, planner, vip1, vip2 };
}

/** lb01 drained and both agents confirmed: vip1 is on its way to lb02 with a handover. */
function drainedLb1() {
  const s = settled();
  s.w.modes.set(L1, 'draining');
  const next = s.w.placement();
  s.planner.plan(SEED1, next, s.w.ctx());
  s.w.versions.set(L1, 1).set(L2, 1);
  s.w.applied.set(L1, 1).set(L2, 1);
  s.planner.plan(SEED1, next, s.w.ctx());
  return { ...s, next };
}

describe('handover plan: planned moves', () => {
  it('holds a drain back until both agents run the handover, then moves the VIP', () => {
    const { w, planner, vip1 } = settled();
    w.modes.set(L1, 'draining');
    const next = w.placement();
    assert.equal(holderOf(next, vip1), L2, 'placement moves vip1 to lb02');

    const held = planner.plan(SEED1, next, w.ctx());
    assert.equal(holderOf(held.placement, vip1), L1, 'the first push keeps the old placement');
    assert.equal(held.modeOf(L1), 'active', 'and the old mode: a draining mode would move the VIP too');
    assert.deepEqual(held.started.map((e) => [e.vip, e.from, e.to]), [[vip1, L1, L2]]);
    assert.deepEqual(planner.handoverOf(vip1, L2), { role: 'incoming', peer: '192.168.20.19', untilMs: T0 + SEED1.policy.handoverMs });
    assert.deepEqual(planner.handoverOf(vip1, L1), { role: 'outgoing', peer: '192.168.20.20', untilMs: T0 + SEED1.policy.handoverMs });
    assert.equal(held.wakeAt, T0 + PREPARE_TIMEOUT_MS);

    w.versions.set(L1, 7).set(L2, 8);
    w.applied.set(L1, 7);
    w.now += 30;
    assert.equal(holderOf(planner.plan(SEED1, next, w.ctx()).placement, vip1), L1, 'one agent confirmed: still held');

    w.applied.set(L2, 8);
    w.now += 30;
    const released = planner.plan(SEED1, next, w.ctx());
    assert.equal(holderOf(released.placement, vip1), L2, 'both confirmed: the VIP moves');
    assert.equal(released.modeOf(L1), 'draining');
    assert.ok(planner.handoverOf(vip1, L2), 'the handover stays for its window');
  });

  it('moves anyway when an agent does not confirm in time, and says which', () => {
    const { w, planner, vip1 } = settled();
    w.modes.set(L1, 'draining');
    const next = w.placement();
    planner.plan(SEED1, next, w.ctx());
    w.versions.set(L1, 5).set(L2, 5);
    w.applied.set(L1, 5);
    w.now += PREPARE_TIMEOUT_MS;
    const r = planner.plan(SEED1, next, w.ctx());
    assert.equal(holderOf(r.placement, vip1), L2);
    assert.deepEqual(r.unconfirmed, [L2]);
  });

  it('does not hold back a move away from an unhealthy or vanished node', () => {
    for (const fault of ['unhealthy', 'gone'] as const) {
      const { w, planner, vip1 } = settled();
      if (fault === 'unhealthy') {
        w.unhealthy.add(L1);
      } else {
        // A node without its agent keeps its VIPs unless it is taken out of service.
        w.gone.add(L1);
        w.modes.set(L1, 'draining');
      }
      const next = w.placement();
      assert.equal(holderOf(next, vip1), L2, `${fault}: placement moves vip1`);
      const r = planner.plan(SEED1, next, w.ctx());
      assert.equal(holderOf(r.placement, vip1), L2, `${fault}: pushed at once`);
      assert.deepEqual(r.started, [], `${fault}: nothing to hand over`);
      assert.equal(planner.handoverOf(vip1, L2), undefined);
    }
  });

  it('asks no handover of an agent too old to run one (during an upgrade)', () => {
    for (const old of [L1, L2]) {
      const { w, planner, vip1 } = settled();
      w.old.add(old);
      w.modes.set(L1, 'draining');
      const r = planner.plan(SEED1, w.placement(), w.ctx());
      assert.equal(holderOf(r.placement, vip1), L2, `${old} old: the VIP moves at once`);
      assert.deepEqual(r.started, [], `${old} old: no handover`);
    }
  });

  it('does nothing when the cluster turns handover off', () => {
    const off: ClusterSpec = { ...SEED1, policy: { ...SEED1.policy, handoverMs: 0 } };
    const { w, planner, vip1 } = settled(off);
    w.modes.set(L1, 'draining');
    const r = planner.plan(off, w.placement(), w.ctx());
    assert.equal(holderOf(r.placement, vip1), L2);
    assert.deepEqual(r.started, []);
  });

  it('ends a handover at its deadline, when the old holder fails, or on request', () => {
    {
      const { w, planner, next } = drainedLb1();
      w.now = T0 + SEED1.policy.handoverMs;
      assert.deepEqual(planner.plan(SEED1, next, w.ctx()).ended.map((e) => e.reason), ['window over']);
    }
    {
      const { w, planner, next } = drainedLb1();
      w.unhealthy.add(L1);
      w.now += 100;
      assert.deepEqual(planner.plan(SEED1, w.placement(), w.ctx()).ended.map((e) => e.reason), [`${L1} can no longer serve its connections`]);
      void next;
    }
    {
      const { w, planner, next, vip1 } = drainedLb1();
      planner.extendFrom(L1, T0 + 600_000);
      assert.equal(planner.handoverOf(vip1, L2)?.untilMs, T0 + 600_000);
      planner.endFrom(L1, w.now + 5);
      w.now += 5;
      assert.deepEqual(planner.plan(SEED1, next, w.ctx()).ended.map((e) => e.reason), ['window over']);
      assert.equal(planner.handoverOf(vip1, L2), undefined);
    }
  });

  it('ends a handover once the old holder serves none of its connections, not before the VIP has moved', () => {
    const { w, planner, next, vip1 } = drainedLb1();
    w.connections.set(`${L1}/${vip1}`, 0);
    w.now += 100;
    assert.deepEqual(planner.plan(SEED1, next, w.ctx()).ended, [], 'lb01 still holds vip1: its connections are its own');
    w.holders.set(vip1, L2);
    w.connections.set(`${L1}/${vip1}`, 12);
    w.now += 100;
    assert.deepEqual(planner.plan(SEED1, next, w.ctx()).ended, [], '12 connections still forwarded');
    w.connections.set(`${L1}/${vip1}`, 0);
    w.now += 100;
    assert.deepEqual(planner.plan(SEED1, next, w.ctx()).ended.map((e) => e.reason), [`${L1} serves no connection of it any more`]);
    assert.equal(planner.handoverOf(vip1, L2), undefined);
  });

  it('keeps a window open while forwarded connections remain, at most an hour; without a count it ends on time', () => {
    const { w, planner, next, vip1 } = drainedLb1();
    const H = SEED1.policy.handoverMs;
    w.holders.set(vip1, L2);
    const until = planner.handoverOf(vip1, L2)?.untilMs ?? 0;
    assert.equal(until, T0 + H);
    w.connections.set(`${L1}/${vip1}`, 50);
    w.now = T0 + H / 2 - 1;
    let r = planner.plan(SEED1, next, w.ctx());
    assert.equal(planner.handoverOf(vip1, L2)?.untilMs, until, 'more than half the window left: unchanged');
    assert.equal(r.wakeAt, T0 + H / 2, 'looked at again when it could be extended');
    w.now = T0 + H / 2;
    r = planner.plan(SEED1, next, w.ctx());
    assert.equal(planner.handoverOf(vip1, L2)?.untilMs, w.now + H, 'one window from now');
    assert.equal(planner.handoverOf(vip1, L1)?.untilMs, w.now + H, 'on both sides');
    // Connections that never end: the window stops growing an hour after the handover began.
    for (let t = w.now; t < T0 + HANDOVER_MAX_MS; t += H / 2) {
      w.now = t;
      assert.deepEqual(planner.plan(SEED1, next, w.ctx()).ended, []);
    }
    assert.equal(planner.handoverOf(vip1, L2)?.untilMs, T0 + HANDOVER_MAX_MS);
    w.now = T0 + HANDOVER_MAX_MS;
    assert.deepEqual(planner.plan(SEED1, next, w.ctx()).ended.map((e) => e.reason), ['window over']);

    // An agent that does not count (an older one, or away): the window ends when it was to.
    const old = drainedLb1();
    old.w.holders.set(old.vip1, L2);
    old.w.now = T0 + H / 2 + 1;
    old.planner.plan(SEED1, old.next, old.w.ctx());
    assert.equal(old.planner.handoverOf(old.vip1, L2)?.untilMs, T0 + H);
  });

  it('keeps a handover while an agent is away (an agent restart), on either side', () => {
    for (const away of [L1, L2]) {
      const { w, planner, vip1 } = drainedLb1();
      w.holders.set(vip1, L2);
      const until = planner.handoverOf(vip1, L2)?.untilMs;
      w.gone.add(away);
      w.now += 100;
      assert.deepEqual(planner.plan(SEED1, w.placement(), w.ctx()).ended, [], `${away} away: the handover goes on`);
      // Back: its first desired state still carries the handover, so its tables stay.
      w.gone.delete(away);
      w.now += 3_000;
      assert.deepEqual(planner.plan(SEED1, w.placement(), w.ctx()).ended, [], `${away} back`);
      assert.deepEqual(planner.handoverOf(vip1, L2), { role: 'incoming', peer: '192.168.20.19', untilMs: until });
      assert.deepEqual(planner.handoverOf(vip1, L1), { role: 'outgoing', peer: '192.168.20.20', untilMs: until });
    }
  });

  it('adopts a reported handover after a coordinator restart before the old holder is back', () => {
    const { w, vip1 } = drainedLb1();
    w.holders.set(vip1, L2);
    const until = T0 + 20_000;
    w.reports.set(vip1, [{ node: L2, handover: { role: 'incoming', peer: '192.168.20.19', untilMs: until } }]);
    w.gone.add(L1);
    const fresh = new Planner();
    fresh.plan(SEED1, w.placement(), w.ctx());
    assert.deepEqual(fresh.handoverOf(vip1, L2), { role: 'incoming', peer: '192.168.20.19', untilMs: until });
  });

  it('hands over again in the other direction on undrain', () => {
    const { w, planner, vip1 } = drainedLb1();
    w.holders.set(vip1, L2);
    planner.endFrom(L1, w.now);

    w.modes.set(L1, 'active');
    w.now += 1000;
    const back = w.placement();
    assert.equal(holderOf(back, vip1), L1, 'failback: immediate');
    const r = planner.plan(SEED1, back, w.ctx());
    assert.deepEqual(r.ended.map((e) => [e.entry.from, e.entry.to]), [[L1, L2]]);
    assert.deepEqual(r.started.map((e) => [e.from, e.to]), [[L2, L1]]);
    assert.equal(holderOf(r.placement, vip1), L2, 'held until both run the reverse handover');
    assert.equal(planner.handoverOf(vip1, L1)?.role, 'incoming');
    assert.equal(planner.handoverOf(vip1, L2)?.role, 'outgoing');
  });

  it('adopts a handover the agents report after a coordinator restart, and only one that fits', () => {
    // vip1 moved to lb02 during a drain, then the coordinator restarted: a fresh planner.
    const { w, vip1 } = drainedLb1();
    w.holders.set(vip1, L2);
    const until = T0 + 20_000;
    w.reports.set(vip1, [
      { node: L2, handover: { role: 'incoming', peer: '192.168.20.19', untilMs: until } },
      { node: L1, handover: { role: 'outgoing', peer: '192.168.20.20', untilMs: until } },
    ]);
    const fresh = new Planner();
    const r = fresh.plan(SEED1, w.placement(), w.ctx());
    assert.deepEqual(r.started, [], 'adopted, not started');
    assert.equal(holderOf(r.placement, vip1), L2, 'nothing held: the move is done');
    assert.deepEqual(fresh.handoverOf(vip1, L2), { role: 'incoming', peer: '192.168.20.19', untilMs: until });
    assert.deepEqual(fresh.handoverOf(vip1, L1), { role: 'outgoing', peer: '192.168.20.20', untilMs: until });

    // Ended by this planner: the stale report of the agent that has not applied the end yet is not adopted back.
    fresh.endFrom(L1, w.now);
    w.now += 10;
    assert.deepEqual(fresh.plan(SEED1, w.placement(), w.ctx()).ended.map((e) => e.reason), ['window over']);
    w.now += 10;
    fresh.plan(SEED1, w.placement(), w.ctx());
    assert.equal(fresh.handoverOf(vip1, L2), undefined, 'not adopted back from the stale report');

    // Not adopted: over, from an unknown peer, or on a node that should not hold the VIP.
    for (const h of [
      { node: L2, handover: { role: 'incoming' as const, peer: '192.168.20.19', untilMs: w.now } },
      { node: L2, handover: { role: 'incoming' as const, peer: '192.168.20.99', untilMs: until } },
      { node: L1, handover: { role: 'incoming' as const, peer: '192.168.20.20', untilMs: until } },
    ]) {
      w.reports.set(vip1, [h]);
      const p = new Planner();
      p.plan(SEED1, w.placement(), w.ctx());
      assert.equal(p.handoverOf(vip1, L2), undefined, JSON.stringify(h));
    }
  });

  it('hands over an IPv6 VIP when the nodes have IPv6 addresses on its interface, and not across families', () => {
    const v6 = (nodeAddress: (i: number) => string): ClusterSpec => ({
      ...SEED1,
      policy: { ...SEED1.policy, vrrpVersion: 3, advertIntervalMs: 100, authPass: '' },
      nodes: SEED1.nodes.map((n, i) => ({ ...n, interfaces: n.interfaces.map((f) => (f.name === 'eth1' ? { ...f, address: nodeAddress(i) } : f)) })),
      vips: SEED1.vips.map((v, i) => ({ ...v, address: `fd00:20::${28 + i}`, prefix: 64, cidr: `fd00:20::${28 + i}/64`, authPass: null })),
    });
    for (const [label, cluster, expected] of [
      ['IPv6 addresses', v6((i) => `fd00:20::${19 + i}/64`), { role: 'incoming', peer: 'fd00:20::19' }],
      ['IPv4 addresses only', v6((i) => `192.168.20.${19 + i}/24`), undefined],
    ] as const) {
      const { w, planner, vip1 } = settled(cluster);
      w.modes.set(L1, 'draining');
      planner.plan(cluster, w.placement(), w.ctx());
      const h = planner.handoverOf(vip1, L2);
      assert.deepEqual(h ? { role: h.role, peer: h.peer } : undefined, expected, label);
    }
  });
});
