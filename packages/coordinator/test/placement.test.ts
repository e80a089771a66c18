import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { NodeMode } from '@lbha/shared';
import { classify, place, weightOf, type NodeCondition, type Placement, type PlacementInput, type VipPlacement } from '../src/placement.js';
import { DEFAULT_BACKENDS, type ClusterSpec, type Failback, type Spec, type VipSpec } from '../src/spec/cluster-spec.js';
import { parseSpec } from '../src/spec/parse-spec.js';

const SEED1 = (() => {
  const r = parseSpec(readFileSync(new URL('../../test/fixtures/seed-nginx-active-active.yaml', import.meta.url), 'utf8'));
  if (!r.ok) throw new Error('seed 1 fixture does not parse');
  return r.value;
})();

const L1 = 'nginx-lb01';
const L2 = 'nginx-lb02';
const T0 = 1_700_000_000_000;

const healthy = (over: Partial<NodeCondition> = {}): NodeCondition => ({ health: 'healthy', penalty: 0, mode: 'active', healthySinceMs: T0 - 3_600_000, ...over });
const sick: NodeCondition = { health: 'unhealthy', penalty: 0, mode: 'active', healthySinceMs: null };

function withFailback(spec: Spec, failback: Failback): Spec {
  return { clusters: spec.clusters.map((c) => ({ ...c, policy: { ...c.policy, failback } })) };
}

function shuffle<T>(xs: readonly T[], seed: number): T[] {
  const a = [...xs];
  let s = seed || 1;
  for (let i = a.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j] as T, a[i] as T];
  }
  return a;
}

/** The same input with every list and map in another order. */
function permute(input: PlacementInput, seed: number): PlacementInput {
  return {
    ...input,
    spec: {
      clusters: shuffle(input.spec.clusters, seed).map((c) => ({ ...c, nodes: shuffle(c.nodes, seed + 1), vips: shuffle(c.vips, seed + 2) })),
    },
    nodes: new Map(shuffle([...input.nodes], seed + 3)),
    holders: new Map(shuffle([...input.holders], seed + 4)),
  };
}

/** Comparable view of a placement: per VIP ranking and reason, per node weight. */
function view(p: Placement): unknown {
  const out: Record<string, unknown> = {};
  for (const [name, cp] of [...p.clusters].sort(([a], [b]) => a.localeCompare(b))) {
    for (const vp of cp.vips) {
      out[`${name}/${vp.vip}`] = {
        ranking: vp.ranking,
        reason: vp.reason,
        weights: Object.fromEntries(vp.ranking.map((n) => [n, weightOf(cp, vp, n).weight])),
      };
    }
  }
  return { vips: out, next: p.nextChangeMs };
}

interface Case {
  readonly name: string;
  readonly spec?: Spec;
  readonly nodes: Record<string, NodeCondition>;
  readonly holders?: Record<string, string>;
  readonly now?: number;
  /** vip -> expected ranking */
  readonly expect: Record<string, readonly string[]>;
  readonly reason?: Record<string, RegExp>;
}

const cases: Case[] = [
  {
    name: 'all healthy, nothing held yet: each VIP goes home (one per node)',
    nodes: { [L1]: healthy(), [L2]: healthy() },
    expect: { 'web/vip-28': [L1, L2], 'web/vip-29': [L2, L1] },
    reason: { 'web/vip-28': /^home node$/ },
  },
  {
    name: 'steady state: holders kept',
    nodes: { [L1]: healthy(), [L2]: healthy() },
    holders: { 'web/vip-28': L1, 'web/vip-29': L2 },
    expect: { 'web/vip-28': [L1, L2], 'web/vip-29': [L2, L1] },
  },
  {
    name: 'lb01 unhealthy (proxy cannot start, inner link down): both VIPs on lb02',
    nodes: { [L1]: sick, [L2]: healthy() },
    holders: { 'web/vip-28': L1, 'web/vip-29': L2 },
    expect: { 'web/vip-28': [L2, L1], 'web/vip-29': [L2, L1] },
    reason: { 'web/vip-28': /^least-loaded eligible node; home node nginx-lb01 is unhealthy$/ },
  },
  {
    // keepalived moves vip-28 at once when lb01's tracked link goes down; lb02 may report it
    // before lb01 reports the failure. The holder and the cause are the same, only the choice reads
    // "kept" instead of "least-loaded".
    name: 'lb01 unhealthy, lb02 already reported holding vip-28: the same holder for the same cause',
    nodes: { [L1]: sick, [L2]: healthy() },
    holders: { 'web/vip-28': L2, 'web/vip-29': L2 },
    expect: { 'web/vip-28': [L2, L1], 'web/vip-29': [L2, L1] },
    reason: { 'web/vip-28': /^current holder kept; home node nginx-lb01 is unhealthy$/ },
  },
  {
    name: 'lb01 back, failback immediate: vip-28 goes home',
    nodes: { [L1]: healthy({ healthySinceMs: T0 - 1000 }), [L2]: healthy() },
    holders: { 'web/vip-28': L2, 'web/vip-29': L2 },
    expect: { 'web/vip-28': [L1, L2], 'web/vip-29': [L2, L1] },
    reason: { 'web/vip-28': /failback: immediate/ },
  },
  {
    name: 'lb01 back, failback never: vip-28 stays on lb02',
    spec: withFailback(SEED1, { kind: 'never' }),
    nodes: { [L1]: healthy({ healthySinceMs: T0 - 1000 }), [L2]: healthy() },
    holders: { 'web/vip-28': L2, 'web/vip-29': L2 },
    expect: { 'web/vip-28': [L2, L1], 'web/vip-29': [L2, L1] },
    reason: { 'web/vip-28': /failback: never/ },
  },
  {
    name: 'failback never still prefers home when nothing holds the VIP',
    spec: withFailback(SEED1, { kind: 'never' }),
    nodes: { [L1]: healthy(), [L2]: healthy() },
    expect: { 'web/vip-28': [L1, L2], 'web/vip-29': [L2, L1] },
  },
  {
    name: 'hold-down not yet over: vip-28 stays on lb02',
    spec: withFailback(SEED1, { kind: 'hold_down', holdDownMs: 30_000 }),
    nodes: { [L1]: healthy({ healthySinceMs: T0 - 10_000 }), [L2]: healthy() },
    holders: { 'web/vip-28': L2, 'web/vip-29': L2 },
    expect: { 'web/vip-28': [L2, L1], 'web/vip-29': [L2, L1] },
    reason: { 'web/vip-28': /home node nginx-lb01 in hold-down for another 20s/ },
  },
  {
    name: 'hold-down over: vip-28 goes home',
    spec: withFailback(SEED1, { kind: 'hold_down', holdDownMs: 30_000 }),
    nodes: { [L1]: healthy({ healthySinceMs: T0 - 30_000 }), [L2]: healthy() },
    holders: { 'web/vip-28': L2, 'web/vip-29': L2 },
    expect: { 'web/vip-28': [L1, L2], 'web/vip-29': [L2, L1] },
  },
  {
    name: 'down file on lb01 (penalty): vip-28 moves to lb02',
    nodes: { [L1]: healthy({ penalty: 50 }), [L2]: healthy() },
    holders: { 'web/vip-28': L1, 'web/vip-29': L2 },
    expect: { 'web/vip-28': [L2, L1], 'web/vip-29': [L2, L1] },
  },
  {
    name: 'down file on both: nothing moves (both degraded alike)',
    nodes: { [L1]: healthy({ penalty: 50 }), [L2]: healthy({ penalty: 50 }) },
    holders: { 'web/vip-28': L1, 'web/vip-29': L2 },
    expect: { 'web/vip-28': [L1, L2], 'web/vip-29': [L2, L1] },
  },
  ...(['draining', 'drained', 'maintenance'] as NodeMode[]).map((mode) => ({
    name: `lb01 ${mode}: both VIPs on lb02`,
    nodes: { [L1]: healthy({ mode }), [L2]: healthy() },
    holders: { 'web/vip-28': L1, 'web/vip-29': L2 },
    expect: { 'web/vip-28': [L2, L1], 'web/vip-29': [L2, L1] },
  })),
  {
    name: 'both unhealthy: keepalived still gets a ranking, current holder first',
    nodes: { [L1]: sick, [L2]: sick },
    holders: { 'web/vip-28': L1, 'web/vip-29': L1 },
    expect: { 'web/vip-28': [L1, L2], 'web/vip-29': [L1, L2] },
    reason: { 'web/vip-29': /no eligible node; best available is unhealthy/ },
  },
  {
    name: 'lb02 agent not connected but presumed holding vip-29: kept, no move',
    nodes: { [L1]: healthy() },
    holders: { 'web/vip-28': L1, 'web/vip-29': L2 },
    expect: { 'web/vip-28': [L1, L2], 'web/vip-29': [L2, L1] },
    reason: { 'web/vip-29': /agent is not connected/ },
  },
  {
    name: 'no agent connected at all: homes first, nothing else decided',
    nodes: {},
    expect: { 'web/vip-28': [L1, L2], 'web/vip-29': [L2, L1] },
  },
];

function inputOf(c: Case): PlacementInput {
  return {
    spec: c.spec ?? SEED1,
    nodes: new Map(Object.entries(c.nodes)),
    holders: new Map(Object.entries(c.holders ?? {})),
    nowMs: c.now ?? T0,
  };
}

describe('placement: seed 1 table', () => {
  for (const c of cases) {
    it(c.name, () => {
      const input = inputOf(c);
      const base = place(input);
      for (let seed = 1; seed <= 8; seed++) assert.deepEqual(view(place(permute(input, seed))), view(base), `differs under permutation ${seed}`);
      const web = base.clusters.get('web');
      assert.ok(web);
      for (const [key, ranking] of Object.entries(c.expect)) {
        const vp: VipPlacement | undefined = web.vips.find((v) => `web/${v.vip}` === key);
        assert.ok(vp, key);
        assert.deepEqual(vp.ranking, ranking, key);
        const pattern = c.reason?.[key];
        if (pattern) assert.match(vp.reason, pattern, key);
      }
    });
  }

  it('maps ranks to weights: holder +50, backup +24, ineligible down to priority 1', () => {
    const p = place(inputOf(cases[2] as Case));
    const web = p.clusters.get('web');
    assert.ok(web);
    const vp = web.vips[0];
    assert.ok(vp);
    assert.deepEqual(weightOf(web, vp, L2), { rank: 0, weight: 50 });
    assert.deepEqual(weightOf(web, vp, L1), { rank: 1, weight: -99 });
    const healthyBoth = place(inputOf(cases[0] as Case)).clusters.get('web');
    assert.ok(healthyBoth);
    const first = healthyBoth.vips[0];
    assert.ok(first);
    assert.deepEqual(weightOf(healthyBoth, first, L2), { rank: 1, weight: 24 });
  });

  it('reports when a hold-down ends so the caller can run placement again', () => {
    const p = place(inputOf(cases.find((c) => c.name.startsWith('hold-down not yet')) as Case));
    assert.equal(p.nextChangeMs, T0 + 20_000);
  });
});

function cluster(name: string, nodeCount: number, vipCount: number, opts: { homes?: (string | null)[]; groups?: string[] } = {}): ClusterSpec {
  const nodes = Array.from({ length: nodeCount }, (_, i) => ({
    name: `${name}-n${i}`,
    addresses: [`10.${i >> 8}.${i & 255}.1`],
    interfaces: [{ name: 'eth0', address: `10.0.0.${i + 1}/16` }],
  }));
  const vips: VipSpec[] = Array.from({ length: vipCount }, (_, i) => ({
    name: `v${i}`,
    address: `10.0.${100 + (i >> 8)}.${i & 255}`,
    prefix: 16,
    cidr: `10.0.${100 + (i >> 8)}.${i & 255}/16`,
    interface: 'eth0',
    vrid: (i % 255) + 1,
    home: opts.homes?.[i] ?? null,
    group: opts.groups?.[i] ?? '',
    trackInterfaces: [],
    authPass: null,
    readiness: null,
  }));
  return {
    name,
    service: 'nginx',
    policy: { failback: { kind: 'immediate' }, advertIntervalMs: 100, timing: 'default', vrrpVersion: 3, transport: 'multicast', mcastGroup: '224.0.0.18', authPass: '', basePriority: 100, handoverMs: 0, foreignRouters: 'report' },
    nodes,
    vips,
    checks: [],
    trackInterfaces: [],
    backends: DEFAULT_BACKENDS,
  };
}

describe('placement: spreading and groups', () => {
  it('spreads VIPs without a home evenly', () => {
    const c = cluster('c', 3, 7);
    const p = place({ spec: { clusters: [c] }, nodes: new Map(c.nodes.map((n) => [n.name, healthy()])), holders: new Map(), nowMs: T0 });
    const loads = [...(p.clusters.get('c')?.load.values() ?? [])].sort();
    assert.deepEqual(loads, [2, 2, 3]);
  });

  it('keeps a group together', () => {
    const c = cluster('c', 3, 4, { groups: ['g', 'g', '', ''] });
    const p = place({ spec: { clusters: [c] }, nodes: new Map(c.nodes.map((n) => [n.name, healthy()])), holders: new Map(), nowMs: T0 });
    const vips = p.clusters.get('c')?.vips ?? [];
    assert.equal(vips.find((v) => v.vip === 'v0')?.holder, vips.find((v) => v.vip === 'v1')?.holder);
  });

  it('places 5,000 VIPs over 2,000 nodes (1,000 clusters) and over one 2,000-node cluster', () => {
    const clusters = Array.from({ length: 1000 }, (_, i) => cluster(`k${i}`, 2, 5));
    const nodes = new Map(clusters.flatMap((c) => c.nodes.map((n) => [n.name, healthy()] as const)));
    const p = place({ spec: { clusters }, nodes, holders: new Map(), nowMs: T0 });
    assert.equal([...p.clusters.values()].reduce((s, c) => s + c.vips.length, 0), 5000);
    const big = cluster('big', 2000, 5000);
    const pb = place({ spec: { clusters: [big] }, nodes: new Map(big.nodes.map((n) => [n.name, healthy()])), holders: new Map(), nowMs: T0 });
    const loads = [...(pb.clusters.get('big')?.load.values() ?? [])];
    assert.ok(Math.max(...loads) - Math.min(...loads) <= 1);
    assert.ok(pb.clusters.get('big')?.vips.every((v) => v.ranking.length === 16));
  });
});

// ---- properties ----

const conditionArb: fc.Arbitrary<NodeCondition | undefined> = fc.option(
  fc.record({
    health: fc.constantFrom('healthy' as const, 'unhealthy' as const, 'unknown' as const),
    penalty: fc.constantFrom(0, 0, 0, 10, 50),
    mode: fc.constantFrom<NodeMode>('active', 'active', 'active', 'draining', 'drained', 'maintenance'),
    healthySinceMs: fc.option(fc.integer({ min: T0 - 120_000, max: T0 }), { nil: null }),
  }),
  { nil: undefined },
);

const failbackArb: fc.Arbitrary<Failback> = fc.oneof(
  fc.constant({ kind: 'immediate' as const }),
  fc.constant({ kind: 'never' as const }),
  fc.integer({ min: 0, max: 60_000 }).map((holdDownMs) => ({ kind: 'hold_down' as const, holdDownMs })),
);

const scenarioArb = fc
  .record({ nodeCount: fc.integer({ min: 1, max: 6 }), vipCount: fc.integer({ min: 0, max: 9 }), failback: failbackArb, seed: fc.integer({ min: 1, max: 1e9 }) })
  .chain(({ nodeCount, vipCount, failback, seed }) =>
    fc.record({
      failback: fc.constant(failback),
      seed: fc.constant(seed),
      nodeCount: fc.constant(nodeCount),
      homes: fc.array(fc.option(fc.integer({ min: 0, max: nodeCount - 1 }), { nil: null }), { minLength: vipCount, maxLength: vipCount }),
      conditions: fc.array(conditionArb, { minLength: nodeCount, maxLength: nodeCount }),
      holders: fc.array(fc.option(fc.integer({ min: 0, max: nodeCount - 1 }), { nil: null }), { minLength: vipCount, maxLength: vipCount }),
    }),
  )
  .map(({ failback, seed, nodeCount, homes, conditions, holders }) => {
    const base = cluster('p', nodeCount, homes.length, { homes: homes.map((h) => (h === null ? null : `p-n${h}`)) });
    const c: ClusterSpec = { ...base, policy: { ...base.policy, failback } };
    const nodes = new Map<string, NodeCondition>();
    conditions.forEach((cond, i) => {
      if (cond) nodes.set(`p-n${i}`, cond);
    });
    const held = new Map<string, string>();
    holders.forEach((h, i) => {
      if (h !== null) held.set(`p/v${i}`, `p-n${h}`);
    });
    const input: PlacementInput = { spec: { clusters: [c] }, nodes, holders: held, nowMs: T0 };
    return { input, seed };
  });

const classOf = (input: PlacementInput, node: string) => classify(input.nodes.get(node) ?? { health: 'unknown', penalty: 0, mode: 'active', healthySinceMs: null });

describe('placement: properties', () => {
  it('never an unhealthy or non-active holder while another node is eligible', () => {
    fc.assert(
      fc.property(scenarioArb, ({ input }) => {
        const cp = place(input).clusters.get('p');
        assert.ok(cp);
        const classes = [...cp.classes.values()];
        const best = classes.includes('preferred') ? 'preferred' : classes.includes('degraded') ? 'degraded' : null;
        for (const vp of cp.vips) {
          const cls = classOf(input, vp.holder);
          if (best) {
            // An unknown node is kept only as the current holder (its agent may be down while it serves).
            if (cls === 'unknown') assert.equal(input.holders.get(`p/${vp.vip}`), vp.holder);
            else assert.equal(cls, best);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('moves are minimal: an eligible holder keeps its VIP unless failback sends it home', () => {
    fc.assert(
      fc.property(scenarioArb, ({ input }) => {
        const cp = place(input).clusters.get('p');
        assert.ok(cp);
        const c = input.spec.clusters[0] as ClusterSpec;
        const classes = [...cp.classes.values()];
        const best = classes.includes('preferred') ? 'preferred' : classes.includes('degraded') ? 'degraded' : null;
        for (const vp of cp.vips) {
          const current = input.holders.get(`p/${vp.vip}`);
          if (current === undefined || best === null || classOf(input, current) !== best) continue;
          const home = c.vips.find((v) => v.name === vp.vip)?.home ?? null;
          const fb = c.policy.failback;
          const homeReady = home !== null && home !== current && classOf(input, home) === best;
          const since = home === null ? null : (input.nodes.get(home)?.healthySinceMs ?? null);
          const goesHome =
            homeReady && (fb.kind === 'immediate' || (fb.kind === 'hold_down' && since !== null && since + fb.holdDownMs <= input.nowMs));
          assert.equal(vp.holder, goesHome ? home : current);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('is deterministic under permutation of every input list', () => {
    fc.assert(
      fc.property(scenarioArb, ({ input, seed }) => {
        assert.deepEqual(view(place(permute(input, seed))), view(place(input)));
      }),
      { numRuns: 300 },
    );
  });

  it('ranks every node once, holder first, and the holder has the highest weight', () => {
    fc.assert(
      fc.property(scenarioArb, ({ input }) => {
        const cp = place(input).clusters.get('p');
        assert.ok(cp);
        const c = input.spec.clusters[0] as ClusterSpec;
        for (const vp of cp.vips) {
          assert.equal(vp.ranking[0], vp.holder);
          assert.deepEqual([...vp.ranking].sort(), c.nodes.map((n) => n.name).sort());
          const hw = weightOf(cp, vp, vp.holder).weight;
          for (const n of vp.ranking.slice(1)) assert.ok(weightOf(cp, vp, n).weight < hw, `${n} outranks holder ${vp.holder}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('spreads evenly when nothing is held and no VIP has a home', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 0, max: 40 }), (n, v) => {
        const c = cluster('s', n, v);
        const cp = place({ spec: { clusters: [c] }, nodes: new Map(c.nodes.map((x) => [x.name, healthy()])), holders: new Map(), nowMs: T0 }).clusters.get('s');
        const loads = [...(cp?.load.values() ?? [])];
        assert.ok(Math.max(...loads) - Math.min(...loads) <= 1, `loads ${loads.join(',')}`);
      }),
      { numRuns: 100 },
    );
  });
});
