// The reconcile pass allocates less than it did (fewer Maps, Sets and copies per pass, the
// keepalived settings built once per spec): it must decide exactly what the previous pass
// (test/fixtures/pass-reference) decided. Randomized worlds (health flips, agents away and back,
// VIPs held, split brains, modes, pins, foreign routers, unplanned transitions, restarts,
// readiness, slow agents, clusters claimed by another agent) are passed by both, each with its
// own memory, and every result must be equal: placement, conditions, observations, desired
// states (their fields in the same order too), events, wake-ups, and whether each node's desired
// entry is new (which gives it a new version).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { NODE_MODES, type CheckKind, type NodeLink, type VrrpState } from '@lbha/shared';
import { seededRandom } from '@lbha/test-support';
import { EMPTY_MEMORY, type ClusterMemory } from '../src/cluster-memory.js';
import type { ClusterPassResult } from '../src/cluster-pass.js';
import type { ClusterSpec } from '../src/spec/cluster-spec.js';
import { buildDesiredState } from '../src/desired-state-builder.js';
import { observeCluster } from '../src/vip-observation.js';
import { passCluster as referencePass } from './fixtures/pass-reference/cluster-pass.js';
import { buildDesiredState as referenceBuild } from './fixtures/pass-reference/desired-state-builder.js';
import { observeCluster as referenceObserve } from './fixtures/pass-reference/vip-observation.js';
import { instance, snapshot } from './support/fake-fleet.js';
import { PassWorld, seed1 } from './support/pass-world.js';

const THIRD_NODE = `
      - name: nginx-lb03
        interfaces:
          - name: eth1
            address: 192.168.20.21/24
          - name: eth2
            address: 192.168.50.21/24
    vips:`;

const CLUSTERS: ReadonlyArray<{ readonly name: string; readonly spec: () => ClusterSpec }> = [
  { name: 'two nodes, failback immediate', spec: () => seed1() },
  { name: 'three nodes, hold-down failback', spec: () => seed1((y) => y.replace('\n    vips:', THIRD_NODE).replace('failback: immediate', 'failback: hold_down\n      hold_down: 2s')) },
  { name: 'three nodes, no handovers, unicast', spec: () => seed1((y) => y.replace('\n    vips:', THIRD_NODE).replace('base_priority: 100', 'base_priority: 100\n      handover: 0s').replace('transport: multicast', 'transport: unicast').replace(/\n {6}mcast_group: [^\n]*/, '')) },
];

/** What one pass decided, as plain data (the desired entries by content). */
function decided(r: ClusterPassResult): unknown {
  return {
    placement: r.placement,
    conditions: r.conditions,
    observations: r.observations,
    presumedHolders: r.presumedHolders,
    desired: new Map([...r.desired].map(([n, e]) => [n, e.content])),
    withheld: r.withheld,
    events: r.events,
    wakeAt: r.wakeAt,
    holdersChanged: r.holdersChanged,
    notReady: r.notReady,
    lapsedPins: r.lapsedPins,
    memory: { ...r.memory, desired: new Map([...r.memory.desired].map(([n, e]) => [n, e.content])), built: r.memory.built === undefined ? undefined : { ...r.memory.built, spec: r.memory.built.spec.name } },
  };
}

/** A random change to the world, as agents, operators and time bring them. */
function change(w: PassWorld, rnd: () => number, step: number): void {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const names = [...w.nodes.keys()];
  const vips = w.cluster.vips.map((v) => v.name);
  const n = w.node(pick(names));
  const roll = rnd();
  if (roll < 0.2) {
    n.healthy = !n.healthy;
    n.failingSince = w.now - Math.floor(rnd() * 3000);
    n.failingKind = pick<CheckKind>(['process', 'http', 'tcp']);
  } else if (roll < 0.3) n.link = pick<NodeLink>(['connected', 'connected', 'stale', 'disconnected']);
  else if (roll < 0.42) w.follow();
  else if (roll < 0.5) n.holds = new Set(vips.filter(() => rnd() < 0.5));
  else if (roll < 0.6) w.applyAll();
  else if (roll < 0.64) w.announceAll();
  else if (roll < 0.68) {
    const mode = pick(NODE_MODES);
    if (mode === 'active') w.modes.delete(names[0] as string);
    else w.modes.set(pick(names), mode);
  } else if (roll < 0.71) {
    if (rnd() < 0.5) w.pins.clear();
    else w.pins.set(pick(vips), { node: rnd() < 0.9 ? pick(names) : 'gone-node', sticky: rnd() < 0.5 });
  } else if (roll < 0.74) n.foreign.set(pick(vips), rnd() < 0.5 ? [] : [{ source: pick(['10.9.9.1', '10.9.9.2']), priority: Math.floor(rnd() * 255), lastSeenMs: w.now }]);
  else if (roll < 0.78) {
    const vip = pick(vips);
    const before = n.unplanned.get(vip) ?? [];
    const to = pick<VrrpState>(['master', 'backup', 'fault']);
    n.unplanned.set(vip, [...before, { seq: step + 1, from: 'backup' as const, to, kind: pick(['flap', 'master_down', 'recovered'] as const), cause: 'random', atMs: w.now }].slice(-3));
  } else if (roll < 0.81) n.keepalived = { restarts: n.keepalived.restarts + (rnd() < 0.7 ? 1 : 0), lastError: pick(['', 'frozen']) };
  else if (roll < 0.85) {
    const vip = pick(vips);
    if (n.notReady.has(vip)) n.notReady.delete(vip);
    else n.notReady.set(vip, 'upstream down');
  } else if (roll < 0.88) n.ackLatencyMs = rnd() < 0.3 ? undefined : Math.floor(rnd() * 4000);
  else if (roll < 0.9) n.cluster = rnd() < 0.7 ? w.cluster.name : 'other';
  else if (roll < 0.92) n.capable = !n.capable;
  else if (roll < 0.94) n.penalty = rnd() < 0.5 ? 0 : 50;
  else if (roll < 0.95) {
    n.reported = rnd() < 0.8;
    n.session++;
  }
  // Time: mostly a turn of the loop, sometimes past settle times, holds and handover windows.
  const t = rnd();
  w.now += t < 0.5 ? 0 : t < 0.8 ? Math.floor(rnd() * 1500) : t < 0.95 ? Math.floor(rnd() * 8000) : 60_000;
}

describe('the reconcile pass decides as the previous one did', () => {
  for (const cluster of CLUSTERS) {
    it(`${cluster.name}: 40 randomized worlds of 150 passes each`, () => {
      let newEntries = 0;
      for (let seed = 1; seed <= 40; seed++) {
        const rnd = seededRandom(seed * 7919);
        const w = new PassWorld(cluster.spec());
        for (const v of w.cluster.vips) if (v.home) w.node(v.home).holds.add(v.name);
        let referenceMemory: ClusterMemory = EMPTY_MEMORY;
        for (let step = 0; step < 150; step++) {
          if (step > 0) change(w, rnd, step);
          const input = w.passInput();
          const beforeDesired = w.memory.desired;
          const referenceBefore = referenceMemory.desired;
          const expected = referencePass(input, referenceMemory, w.now);
          referenceMemory = expected.memory;
          const got = w.pass();
          const at = `seed ${seed}, pass ${step}`;
          assert.ok(isDeepStrictEqual(decided(got), decided(expected)), `${at}: the pass decided otherwise`);
          // The same fields in the same order: what the wire and the API show.
          for (const [node, e] of got.desired) {
            assert.equal(JSON.stringify(e.content), JSON.stringify(expected.desired.get(node)?.content), `${at}: ${node}'s desired state`);
            const renewed = beforeDesired.get(node) !== e;
            assert.equal(renewed, referenceBefore.get(node) !== expected.desired.get(node), `${at}: whether ${node}'s desired entry is new`);
            if (renewed) newEntries++;
          }
          assert.equal(JSON.stringify([...got.observations]), JSON.stringify([...expected.observations]), `${at}: the observations`);
        }
      }
      // The worlds moved VIPs and changed desired states, not only kept them.
      assert.ok(newEntries > 100, `only ${newEntries} new desired entries`);
    });
  }
});

describe('the parts a pass calls, over what the worlds above do not report', () => {
  it("a VIP's observation: handover fields, readiness and foreign routers in the same fields and order", () => {
    const c = CLUSTERS[1]?.spec() as ClusterSpec;
    for (let seed = 1; seed <= 300; seed++) {
      const rnd = seededRandom(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
      const reports = new Map(
        c.nodes.map((n) => {
          const instances = c.vips.flatMap((v) =>
            rnd() < 0.1
              ? []
              : [
                  instance(rnd() < 0.8 ? v.name : 'renamed', pick<VrrpState>(['master', 'backup', 'fault']), 1, {
                    vrid: v.vrid,
                    interface: v.interface,
                    vipPresent: rnd() < 0.4,
                    ...(rnd() < 0.3 ? { handover: { role: pick(['incoming', 'outgoing'] as const), peer: '192.168.20.20', untilMs: 5000 } } : {}),
                    ...(rnd() < 0.2 ? { handoverError: 'nft failed' } : {}),
                    ...(rnd() < 0.3 ? { handoverConnections: Math.floor(rnd() * 3) } : {}),
                    ...(rnd() < 0.3 ? { announced: Math.floor(rnd() * 4) } : {}),
                    ...(rnd() < 0.2 ? { foreignRouters: rnd() < 0.3 ? [] : [{ source: pick(['10.0.0.9', '10.0.0.8']), priority: Math.floor(rnd() * 200), lastSeenMs: Math.floor(rnd() * 100) }] } : {}),
                  }),
                ],
          );
          const readiness = rnd() < 0.5 ? { readiness: { vips: c.vips.filter(() => rnd() < 0.7).map((v) => ({ vip: v.name, result: rnd() < 0.5 ? { kind: 'healthy' as const } : { kind: 'unhealthy' as const, reason: 'no upstream' }, sinceMs: 1, durationMs: 1 })) } } : {};
          return [n.name, { live: rnd() < 0.85, snapshot: rnd() < 0.9 ? snapshot(instances, readiness) : undefined }] as const;
        }),
      );
      const report = (n: string) => reports.get(n) ?? { live: false, snapshot: undefined };
      const got = observeCluster(c, report);
      const expected = referenceObserve(c, report);
      assert.ok(isDeepStrictEqual(got, expected), `seed ${seed}`);
      assert.equal(JSON.stringify([...got]), JSON.stringify([...expected]), `seed ${seed}: the fields' order`);
    }
  });

  it('a desired state: rankings that leave nodes out or name unknown ones, VIPs out of the spec\'s order, IPv4 and IPv6', () => {
    const base = CLUSTERS[2]?.spec() as ClusterSpec;
    const v6 = { ...base, vips: base.vips.map((v, i) => (i === 1 ? { ...v, address: 'fd00::29', cidr: 'fd00::29/64' } : v)), nodes: base.nodes.map((n, i) => (i === 2 ? { ...n, interfaces: n.interfaces.map((x) => (x.name === 'eth1' ? { ...x, address: 'fd00::21/64' } : x)) } : n)) };
    for (const c of [base, v6] as ClusterSpec[]) {
      const w = new PassWorld(c);
      for (const v of c.vips) if (v.home) w.node(v.home).holds.add(v.name);
      const placement = w.settle().placement;
      const names = c.nodes.map((n) => n.name);
      for (let seed = 1; seed <= 300; seed++) {
        const rnd = seededRandom(seed);
        const shuffled = <T>(xs: readonly T[]): T[] => xs.map((x) => [rnd(), x] as const).sort((a, b) => a[0] - b[0]).map(([, x]) => x);
        const vips = placement.vips.map((vp) => ({ ...vp, ranking: shuffled([...names, 'not-a-node']).filter(() => rnd() < 0.7) }));
        const p = { ...placement, vips: rnd() < 0.5 ? shuffled(vips) : vips.filter(() => rnd() < 0.8) };
        for (const n of c.nodes) {
          const stepDown = new Set(c.vips.filter(() => rnd() < 0.2).map((v) => v.name));
          const extras = { lastResort: rnd() < 0.2, ownFailureSinceMs: rnd() < 0.2 ? 1234 : 0 };
          const got = buildDesiredState(c, p, n, 'active', stepDown, extras);
          const expected = referenceBuild(c, p, n, 'active', stepDown, extras);
          assert.equal(JSON.stringify(got), JSON.stringify(expected), `seed ${seed}, ${n.name}`);
        }
      }
    }
  });

  it("a node's keepalived settings are built once per spec, shared and frozen", () => {
    const w = new PassWorld(CLUSTERS[2]?.spec() as ClusterSpec);
    const p = w.settle().placement;
    const n = w.cluster.nodes[0] as ClusterSpec['nodes'][number];
    const a = buildDesiredState(w.cluster, p, n, 'active', new Set());
    const b = buildDesiredState(w.cluster, p, n, 'draining', new Set(['vip-28']));
    assert.equal(a.keepalived, b.keepalived);
    assert.ok(Object.isFrozen(a.keepalived) && Object.isFrozen(a.keepalived.clusterAddresses) && Object.isFrozen(a.keepalived.unicastPeers));
    assert.deepEqual(a.keepalived.unicastPeers, ['192.168.20.20', '192.168.20.21']);
    // Another spec object (an applied spec) gets its own, even for equal content.
    const again = { ...w.cluster };
    assert.notEqual(buildDesiredState(again, p, n, 'active', new Set()).keepalived, a.keepalived);
    assert.deepEqual(buildDesiredState(again, p, n, 'active', new Set()).keepalived, a.keepalived);
  });
});
