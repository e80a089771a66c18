// The placement was restructured for speed (the layout's precomputed ring gaps and output
// order, class-grouped scratch arrays instead of per-cluster rings and sorts). Its decisions
// must not change: on randomized inputs (several clusters of 1 to 30 nodes, groups, homes,
// holders, every class of node, the three failback policies, pins, readiness, short rankings)
// it must give exactly what the previous implementation (test/fixtures/placement-reference.ts)
// gave, field by field and in the same order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { NodeMode } from '@lbha/shared';
import { seededRandom } from '@lbha/test-support';
import { place, type NodeCondition, type Placement, type PlacementInput, type VipPin } from '../src/placement.js';
import { DEFAULT_BACKENDS, type ClusterSpec, type Failback, type NodeSpec, type VipSpec } from '../src/spec/cluster-spec.js';
import { referencePlace } from './fixtures/placement-reference.js';

const T0 = 1_700_000_000_000;

/** Draws from a seeded generator, so a failing case is reproduced from its seed. */
function rng(seed: number): { int: (n: number) => number; chance: (p: number) => boolean; pick: <T>(xs: readonly T[]) => T } {
  const next = seededRandom(seed);
  const int = (n: number): number => Math.floor(next() * n);
  return { int, chance: (p) => next() < p, pick: (xs) => xs[int(xs.length)] as (typeof xs)[number] };
}

const MODES: readonly NodeMode[] = ['active', 'active', 'active', 'active', 'draining', 'drained', 'maintenance'];

function vipSpec(name: string, home: string | null, group: string): VipSpec {
  return { name, address: '10.0.0.1', prefix: 24, cidr: '10.0.0.1/24', interface: 'eth0', vrid: 1, home, group, trackInterfaces: [], authPass: null, readiness: null };
}

function clusterSpec(name: string, failback: Failback, nodes: readonly NodeSpec[], vips: readonly VipSpec[]): ClusterSpec {
  return {
    name,
    service: 'nginx',
    policy: { failback, advertIntervalMs: 100, timing: 'default', vrrpVersion: 3, transport: 'multicast', mcastGroup: '224.0.0.18', authPass: '', basePriority: 100, handoverMs: 0, foreignRouters: 'report' },
    nodes,
    vips,
    checks: [],
    trackInterfaces: [],
    backends: DEFAULT_BACKENDS,
  };
}

function randomInput(seed: number): PlacementInput {
  const r = rng(seed);
  const clusters: ClusterSpec[] = [];
  const nodes = new Map<string, NodeCondition>();
  const holders = new Map<string, string>();
  const pins = new Map<string, VipPin>();
  const notReady = new Map<string, Set<string>>();
  const withPins = r.chance(0.3);
  const withReadiness = r.chance(0.3);
  const clusterCount = 1 + r.int(4);
  for (let ci = 0; ci < clusterCount; ci++) {
    const name = `c${ci}`;
    const n = 1 + r.int(r.chance(0.2) ? 30 : 6);
    const vipCount = r.int(r.chance(0.2) ? 60 : 12);
    const nodeNames = Array.from({ length: n }, (_, i) => `${name}-n${i}`);
    const groups = Array.from({ length: 1 + r.int(3) }, (_, g) => `g${g}`);
    const failback: Failback = r.pick<Failback>([{ kind: 'immediate' }, { kind: 'never' }, { kind: 'hold_down', holdDownMs: r.int(4) * 10_000 }]);
    const nodeSpecs: NodeSpec[] = nodeNames.map((nm) => ({ name: nm, addresses: [], interfaces: [] }));
    const vips: VipSpec[] = Array.from({ length: vipCount }, (_, i) =>
      vipSpec(
        // Names are not unique now and then, as the function itself does not require it.
        r.chance(0.03) && i > 0 ? `v${i - 1}` : `v${i}`,
        r.chance(0.5) ? (r.chance(0.05) ? 'nowhere' : r.pick(nodeNames)) : null,
        r.chance(0.25) ? r.pick(groups) : '',
      ),
    );
    clusters.push(clusterSpec(name, failback, nodeSpecs, vips));
    for (const nm of nodeNames) {
      if (r.chance(0.15)) continue; // no condition: unknown
      nodes.set(nm, {
        health: r.pick(['healthy', 'healthy', 'healthy', 'unhealthy', 'unknown'] as const),
        penalty: r.chance(0.2) ? 10 + r.int(50) : 0,
        mode: r.pick(MODES),
        healthySinceMs: r.chance(0.2) ? null : T0 - r.int(60_000),
      });
    }
    for (const v of vips) {
      const key = `${name}/${v.name}`;
      if (r.chance(0.6)) holders.set(key, r.chance(0.05) ? 'gone-node' : r.pick(nodeNames));
      if (withPins && r.chance(0.15)) pins.set(key, { node: r.chance(0.1) ? 'gone-node' : r.pick(nodeNames), sticky: r.chance(0.5) });
      if (withReadiness && r.chance(0.3)) {
        const set = new Set<string>();
        for (let k = r.int(Math.min(n, 4)) + 1; k > 0; k--) set.add(r.chance(0.05) ? 'gone-node' : r.pick(nodeNames));
        notReady.set(key, set);
      }
    }
  }
  const maxRanked = r.pick([undefined, 1, 2, 3, 5, 16]);
  return {
    spec: { clusters },
    nodes,
    holders,
    nowMs: T0 + r.int(3) * 5_000,
    ...(maxRanked === undefined ? {} : { maxRanked }),
    ...(withPins ? { pins } : {}),
    ...(withReadiness ? { notReady } : {}),
  };
}

/** Everything a placement says, Maps as entry lists so that their order is compared too. */
function plain(p: Placement): unknown {
  return {
    nextChangeMs: p.nextChangeMs,
    clusters: [...p.clusters].map(([name, cp]) => ({
      name,
      cluster: cp.cluster,
      basePriority: cp.basePriority,
      anyEligible: cp.anyEligible,
      vips: cp.vips.map((v) => ({ ...v, ranking: [...v.ranking] })),
      classes: [...cp.classes],
      load: [...cp.load],
    })),
  };
}

describe('placement: same decisions as the previous implementation', () => {
  it('on randomized clusters, conditions, holders, pins and readiness', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const input = randomInput(seed);
        assert.deepStrictEqual(plain(place(input)), plain(referencePlace(input)));
        // Again with each cluster's layout already derived (the memoized path).
        assert.deepStrictEqual(plain(place(input)), plain(referencePlace(input)));
      }),
      { numRuns: 1500 },
    );
  });

  it('over a sequence of changes to one spec (the last placement of a cluster reused when nothing changed)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const r = rng(seed ^ 0x5bd1e995);
        let input = randomInput(seed);
        const nodeNames = input.spec.clusters.flatMap((c) => c.nodes.map((n) => n.name));
        const vipKeys = input.spec.clusters.flatMap((c) => c.vips.map((v) => `${c.name}/${v.name}`));
        for (let step = 0; step < 8; step++) {
          assert.deepStrictEqual(plain(place(input)), plain(referencePlace(input)), `step ${step}`);
          // Change one thing (or nothing) and place again over the same spec objects.
          const nodes = new Map(input.nodes);
          const holders = new Map(input.holders);
          const what = r.int(8);
          const node = nodeNames[r.int(nodeNames.length)] as string;
          const key = vipKeys.length > 0 ? (vipKeys[r.int(vipKeys.length)] as string) : 'c0/v0';
          if (what === 0) nodes.set(node, { health: r.pick(['healthy', 'unhealthy', 'unknown'] as const), penalty: r.chance(0.3) ? 20 : 0, mode: r.pick(MODES), healthySinceMs: T0 - r.int(60_000) });
          else if (what === 1) nodes.delete(node);
          else if (what === 2) holders.set(key, node);
          else if (what === 3) holders.delete(key);
          const next: PlacementInput = { ...input, nodes, holders };
          if (what === 4) input = { ...next, nowMs: input.nowMs + r.int(3) * 10_000 };
          else if (what === 5) input = { ...next, maxRanked: r.pick([1, 2, 16]) };
          else if (what === 6) input = { ...next, pins: new Map([[key, { node, sticky: r.chance(0.5) }]]) };
          else if (what === 7) input = { ...next, notReady: r.chance(0.5) ? new Map() : new Map([[key, new Set([node])]]) };
          else input = next;
        }
      }),
      { numRuns: 400 },
    );
  });

  it('at scale: 200 clusters of 2 to 60 nodes, from scratch and in steady state', () => {
    for (const seed of [11, 12, 13]) {
      const r = rng(seed);
      const clusters: ClusterSpec[] = [];
      for (let ci = 0; ci < 200; ci++) {
        const n = 2 + r.int(59);
        const nodeSpecs = Array.from({ length: n }, (_, i) => ({ name: `k${ci}-n${i}`, addresses: [], interfaces: [] }));
        const vips = Array.from({ length: r.int(120) }, (_, i) => vipSpec(`v${i}`, r.chance(0.3) ? `k${ci}-n${r.int(n)}` : null, r.chance(0.1) ? `g${r.int(5)}` : ''));
        clusters.push(clusterSpec(`k${ci}`, r.pick<Failback>([{ kind: 'immediate' }, { kind: 'never' }]), nodeSpecs, vips));
      }
      const nodes = new Map<string, NodeCondition>();
      for (const c of clusters) for (const nd of c.nodes) nodes.set(nd.name, { health: r.chance(0.9) ? 'healthy' : 'unhealthy', penalty: 0, mode: 'active', healthySinceMs: T0 - 1000 });
      const cold: PlacementInput = { spec: { clusters }, nodes, holders: new Map(), nowMs: T0 };
      const first = place(cold);
      assert.deepStrictEqual(plain(first), plain(referencePlace(cold)));
      const holders = new Map<string, string>();
      for (const cp of first.clusters.values()) for (const v of cp.vips) holders.set(`${v.cluster}/${v.vip}`, v.holder);
      for (const nd of [...nodes.keys()].filter((_, i) => i % 7 === 0)) nodes.set(nd, { ...(nodes.get(nd) as NodeCondition), health: 'unhealthy' });
      const warm: PlacementInput = { spec: { clusters }, nodes, holders, nowMs: T0 + 1000 };
      assert.deepStrictEqual(plain(place(warm)), plain(referencePlace(warm)));
    }
  });
});
