import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LbhaEvent, VipReadiness } from '@lbha/shared';
import { place, type NodeCondition, type PlacementInput } from '../src/placement.js';
import { DEFAULT_BACKENDS, vipKey, type ClusterSpec, type VipSpec } from '../src/spec/cluster-spec.js';
import { parseSpec } from '../src/spec/parse-spec.js';
import { readinessFromEvents, standbyReadiness } from '../src/standby-readiness.js';
import type { NodeVipState, VipObservation } from '../src/vip-observation.js';

const T0 = 1_700_000_000_000;
const healthy: NodeCondition = { health: 'healthy', penalty: 0, mode: 'active', healthySinceMs: T0 - 3_600_000 };
const sick: NodeCondition = { health: 'unhealthy', penalty: 0, mode: 'active', healthySinceMs: null };

function cluster(nodes: readonly string[], homes: readonly (string | null)[]): ClusterSpec {
  const vips: VipSpec[] = homes.map((home, i) => ({
    name: `v${i}`,
    address: `10.0.1.${i + 1}`,
    prefix: 24,
    cidr: `10.0.1.${i + 1}/24`,
    interface: 'eth0',
    vrid: i + 1,
    home,
    group: '',
    trackInterfaces: [],
    authPass: null,
    readiness: null,
  }));
  return {
    name: 'web',
    service: 'nginx',
    policy: { failback: { kind: 'immediate' }, advertIntervalMs: 100, timing: 'default', vrrpVersion: 3, transport: 'multicast', mcastGroup: '224.0.0.18', authPass: '', basePriority: 100, handoverMs: 0, foreignRouters: 'report' },
    nodes: nodes.map((n, i) => ({ name: n, addresses: [`10.0.1.${100 + i}`], interfaces: [{ name: 'eth0', address: `10.0.1.${100 + i}/24` }] })),
    vips,
    checks: [],
    trackInterfaces: [],
    backends: DEFAULT_BACKENDS,
  };
}

function input(c: ClusterSpec, conds: Record<string, NodeCondition>, holders: Record<string, string>, notReady: Record<string, readonly string[]>): PlacementInput {
  return {
    spec: { clusters: [c] },
    nodes: new Map(Object.entries(conds)),
    holders: new Map(Object.entries(holders).map(([v, n]) => [vipKey(c.name, v), n])),
    nowMs: T0,
    notReady: new Map(Object.entries(notReady).map(([v, ns]) => [vipKey(c.name, v), new Set(ns)])),
  };
}

function vipOf(c: ClusterSpec, i: PlacementInput, vip: string) {
  const vp = place(i).clusters.get(c.name)?.vips.find((v) => v.vip === vip);
  assert.ok(vp, `no placement for ${vip}`);
  return vp;
}

describe('placement with standby readiness', () => {
  const c3 = cluster(['a', 'b', 'c'], ['a']);

  it('does not choose a standby that would not serve the VIP when its holder fails', () => {
    // Without readiness, find which standby placement would pick; then make that one not ready.
    const plain = vipOf(c3, input(c3, { a: sick, b: healthy, c: healthy }, { v0: 'a' }, {}), 'v0');
    const first = plain.holder;
    const other = first === 'b' ? 'c' : 'b';
    const vp = vipOf(c3, input(c3, { a: sick, b: healthy, c: healthy }, { v0: 'a' }, { v0: [first] }), 'v0');
    assert.equal(vp.holder, other);
    assert.ok(vp.eligible);
    assert.match(vp.reason, new RegExp(`not ready: ${first}`));
  });

  it('backs the VIP up with the ready standby first, the one that is not ready after it', () => {
    for (const unready of ['b', 'c']) {
      const vp = vipOf(c3, input(c3, { a: healthy, b: healthy, c: healthy }, { v0: 'a' }, { v0: [unready] }), 'v0');
      assert.equal(vp.holder, 'a');
      assert.deepEqual(vp.ranking, ['a', unready === 'b' ? 'c' : 'b', unready]);
    }
  });

  it('keeps the VIP on its best node when no candidate is ready: never removes it', () => {
    const vp = vipOf(c3, input(c3, { a: sick, b: healthy, c: healthy }, { v0: 'a' }, { v0: ['a', 'b', 'c'] }), 'v0');
    assert.ok(vp.holder === 'b' || vp.holder === 'c', `holder ${vp.holder}`);
    assert.ok(vp.eligible, 'a healthy node still holds it');
    assert.match(vp.reason, /no eligible node is ready to serve it/);
    // Two nodes, the standby not ready, the holder failed: the standby takes it all the same.
    const c2 = cluster(['a', 'b'], ['a']);
    const vp2 = vipOf(c2, input(c2, { a: sick, b: healthy }, { v0: 'a' }, { v0: ['b'] }), 'v0');
    assert.equal(vp2.holder, 'b');
    assert.deepEqual(vp2.ranking, ['b', 'a']);
  });

  it('keeps a holder that is not ready: readiness chooses standbys, health moves VIPs', () => {
    const vp = vipOf(c3, input(c3, { a: healthy, b: healthy, c: healthy }, { v0: 'a' }, { v0: ['a'] }), 'v0');
    assert.equal(vp.holder, 'a');
  });

  it('does not fail back to a home node that would not serve the VIP, and does once it would', () => {
    const c2 = cluster(['a', 'b'], ['a']);
    const held = vipOf(c2, input(c2, { a: healthy, b: healthy }, { v0: 'b' }, { v0: ['a'] }), 'v0');
    assert.equal(held.holder, 'b');
    assert.match(held.reason, /home node a is preferred, not ready/);
    const back = vipOf(c2, input(c2, { a: healthy, b: healthy }, { v0: 'b' }, {}), 'v0');
    assert.equal(back.holder, 'a');
  });

  it('with every node not ready, fails back home as without readiness', () => {
    const c2 = cluster(['a', 'b'], ['a']);
    const vp = vipOf(c2, input(c2, { a: healthy, b: healthy }, { v0: 'b' }, { v0: ['a', 'b'] }), 'v0');
    assert.equal(vp.holder, 'a');
  });

  it('spreads VIPs over the ready nodes only', () => {
    const c = cluster(['a', 'b', 'c'], [null, null, null, null]);
    const notReady = { v0: ['c'], v1: ['c'], v2: ['c'], v3: ['c'] };
    const p = place(input(c, { a: healthy, b: healthy, c: healthy }, {}, notReady)).clusters.get('web');
    assert.ok(p);
    for (const vp of p.vips) assert.notEqual(vp.holder, 'c', `${vp.vip} went to c`);
    assert.equal(p.load.get('a'), 2);
    assert.equal(p.load.get('b'), 2);
  });
});

function obs(perNode: ReadonlyArray<Partial<NodeVipState> & { node: string }>): VipObservation {
  return {
    holders: [],
    complete: true,
    foreign: [],
    perNode: perNode.map((p) => ({ live: true, state: 'backup', vipPresent: false, effectivePriority: 0, priorityTerms: [], announced: 0, ...p })),
  };
}

const ready = (vip: string): VipReadiness => ({ vip, result: { kind: 'healthy' }, sinceMs: T0, durationMs: 3 });
const notReady = (vip: string, reason: string): VipReadiness => ({ vip, result: { kind: 'unhealthy', reason }, sinceMs: T0, durationMs: 3 });

describe('standby readiness events', () => {
  const c = cluster(['a', 'b'], ['a']);

  it('says when a node stops and starts being ready, once each', () => {
    const first = standbyReadiness(c, new Map([['v0', obs([{ node: 'a', readiness: ready('v0') }, { node: 'b', readiness: notReady('v0', 'answered 502') }])]]), new Map());
    assert.deepEqual([...(first.notReady.get(vipKey('web', 'v0')) ?? [])], ['b']);
    assert.deepEqual(first.events.map((e) => [e.type, e.node]), [['standby.not_ready', 'b']]);
    assert.match(first.events[0]?.message ?? '', /b would not serve v0 if it received it: answered 502/);
    const again = standbyReadiness(c, new Map([['v0', obs([{ node: 'a', readiness: ready('v0') }, { node: 'b', readiness: notReady('v0', 'answered 502') }])]]), first.seen);
    assert.deepEqual(again.events, []);
    const back = standbyReadiness(c, new Map([['v0', obs([{ node: 'a', readiness: ready('v0') }, { node: 'b', readiness: ready('v0') }])]]), again.seen);
    assert.deepEqual(back.events.map((e) => [e.type, e.node]), [['standby.ready', 'b']]);
    assert.equal(back.notReady.size, 0);
  });

  it('counts unknown as not ready; a node that stops reporting counts as neither, and its return with the same state raises nothing', () => {
    const first = standbyReadiness(c, new Map([['v0', obs([{ node: 'b', readiness: { vip: 'v0', result: { kind: 'unknown', reason: 'timed out' }, sinceMs: T0, durationMs: 0 } }])]]), new Map());
    assert.deepEqual([...(first.notReady.get(vipKey('web', 'v0')) ?? [])], ['b']);
    assert.deepEqual(first.events.map((e) => [e.type, e.node]), [['standby.not_ready', 'b']]);
    const gone = standbyReadiness(c, new Map([['v0', obs([{ node: 'b', live: false, readiness: ready('v0') }])]]), first.seen);
    assert.deepEqual(gone.events, []);
    assert.equal(gone.notReady.size, 0, 'a node that does not report is not held back by what it said');
    // Its agent back (restarted), still not ready: nothing new to say.
    const back = standbyReadiness(c, new Map([['v0', obs([{ node: 'b', readiness: notReady('v0', 'answered 502') }])]]), gone.seen);
    assert.deepEqual(back.events, []);
    assert.deepEqual([...(back.notReady.get(vipKey('web', 'v0')) ?? [])], ['b']);
    const ok = standbyReadiness(c, new Map([['v0', obs([{ node: 'b', readiness: ready('v0') }])]]), back.seen);
    assert.deepEqual(ok.events.map((e) => [e.type, e.node]), [['standby.ready', 'b']]);
    // A node the spec no longer names is forgotten.
    const removed = standbyReadiness(cluster(['a'], ['a']), new Map(), back.seen);
    assert.equal(removed.seen.size, 0);
  });

  it('after a coordinator restart, starts from what its events last said: no event again for the same state', () => {
    const events: LbhaEvent[] = [
      { seq: 1, timeMs: T0, cluster: 'web', node: 'b', vip: 'v0', type: 'standby.not_ready', message: 'b would not serve v0', reason: 'answered 502', actor: 'system', severity: 'warning', operationId: '' },
      { seq: 2, timeMs: T0, cluster: 'web', node: 'a', vip: 'v0', type: 'standby.not_ready', message: 'a would not serve v0', reason: 'answered 503', actor: 'system', severity: 'warning', operationId: '' },
      { seq: 3, timeMs: T0, cluster: 'web', node: 'a', vip: 'v0', type: 'standby.ready', message: 'a would serve v0 again', reason: '', actor: 'system', severity: 'info', operationId: '' },
      { seq: 4, timeMs: T0, cluster: 'web', node: 'a', vip: '', type: 'node.connected', message: 'a connected', reason: '', actor: 'system', severity: 'info', operationId: '' },
    ];
    const memory = readinessFromEvents(events);
    assert.deepEqual([...(memory.get('web')?.get('v0') ?? [])], [['b', 'answered 502'], ['a', null]]);
    const first = standbyReadiness(c, new Map([['v0', obs([{ node: 'a', readiness: ready('v0') }, { node: 'b', readiness: notReady('v0', 'answered 502') }])]]), memory.get('web') ?? new Map());
    assert.deepEqual(first.events, [], 'the same states as before the restart');
    assert.deepEqual([...(first.notReady.get(vipKey('web', 'v0')) ?? [])], ['b']);
    // Without what the events said, the restart raised b's event again.
    assert.deepEqual(standbyReadiness(c, new Map([['v0', obs([{ node: 'b', readiness: notReady('v0', 'answered 502') }])]]), new Map()).events.map((e) => e.type), ['standby.not_ready']);
  });
});

describe('readiness in the cluster spec', () => {
  const base = `clusters:
  - name: web
    service: nginx
    nodes:
      - { name: a, interfaces: [{ name: eth0, address: 10.0.1.100/24 }, { name: eth1, address: "fd00::a/64" }] }
      - { name: b, interfaces: [{ name: eth0, address: 10.0.1.101/24 }, { name: eth1, address: "fd00::b/64" }] }
    vips:
      - { name: v0, address: 10.0.1.1/24, interface: eth0, vrid: 1 }
      - { name: v6, address: "fd00::1/64", interface: eth1, vrid: 2, readiness: { port: 8080, host: www.example.com, path: /healthz } }
      - { name: vt, address: 10.0.1.3/24, interface: eth0, vrid: 3, readiness: { probe: tcp, port: 443 } }
      - { name: voff, address: 10.0.1.4/24, interface: eth0, vrid: 4, readiness: { probe: off } }
`;

  it('fills every default: HTTP on port 80 through loopback, Host the VIP address', () => {
    const r = parseSpec(base);
    assert.ok(r.ok, r.ok ? '' : JSON.stringify(r.issues));
    const vips = r.value.clusters[0]?.vips ?? [];
    assert.deepEqual(vips.find((v) => v.name === 'v0')?.readiness, { kind: 'http', port: 80, connect: '127.0.0.1', host: '10.0.1.1', path: '/', intervalMs: 2000, timeoutMs: 1000, fall: 1, rise: 2 });
    assert.deepEqual(vips.find((v) => v.name === 'v6')?.readiness, { kind: 'http', port: 8080, connect: '::1', host: 'www.example.com', path: '/healthz', intervalMs: 2000, timeoutMs: 1000, fall: 1, rise: 2 });
    assert.equal(vips.find((v) => v.name === 'vt')?.readiness?.kind, 'tcp');
    assert.equal(vips.find((v) => v.name === 'voff')?.readiness, null);
  });

  it('refuses a bad readiness section, naming the field', () => {
    const r = parseSpec(base.replace('path: /healthz', 'path: healthz'));
    assert.ok(!r.ok);
    assert.match(JSON.stringify(r.issues), /readiness.*path|must start with \//);
    const r2 = parseSpec(base.replace('    vips:\n', '    readiness: { interval: 2s, probe: udp }\n    vips:\n'));
    assert.ok(!r2.ok);
    assert.match(JSON.stringify(r2.issues), /probe/);
  });
});
