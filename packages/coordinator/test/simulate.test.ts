// lbha simulate: the pure what-if as a table over seed 1, and the Simulate call over real gRPC
// with fake agents: it answers what placement would do, and changes nothing.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import type { pbControl } from '@lbha/shared/control';
import type { NodeCondition, VipPin } from '../src/placement.js';
import { simulate, type SimulatedChange, type SimulationInput } from '../src/simulation.js';
import { Harness, LB1, LB2, SEED1 } from './support/coordinator-harness.js';
import { seed1, T0 } from './support/pass-world.js';

const healthy: NodeCondition = { health: 'healthy', penalty: 0, mode: 'active', healthySinceMs: T0 - 3_600_000 };

function input(pins: Array<[string, VipPin]> = []): SimulationInput {
  return {
    spec: { clusters: [seed1()] },
    nodes: new Map([
      [LB1, healthy],
      [LB2, healthy],
    ]),
    holders: new Map([
      ['web/vip-28', LB1],
      ['web/vip-29', LB2],
    ]),
    nowMs: T0,
    pins: new Map(pins),
  };
}

const NONE: SimulatedChange = { fail: [], drain: [], linksDown: [] };

describe('simulate (pure)', () => {
  const rows: ReadonlyArray<{ name: string; change: SimulatedChange; after: [string, string]; why28: RegExp; note?: RegExp }> = [
    { name: 'nothing changes', change: NONE, after: [LB1, LB2], why28: /^home node$/ },
    { name: 'lb01 fails: both VIPs on lb02', change: { ...NONE, fail: [LB1] }, after: [LB2, LB2], why28: /home node nginx-lb01 is unhealthy/, note: /nginx-lb01 fails/ },
    { name: 'lb02 is drained: both VIPs on lb01', change: { ...NONE, drain: [LB2] }, after: [LB1, LB1], why28: /^home node$/ },
    {
      name: 'lb01\'s tracked inner link goes down: keepalived faults its instances',
      change: { ...NONE, linksDown: [{ node: LB1, iface: 'eth2' }] },
      after: [LB2, LB2],
      why28: /FAULT \(link down\)|unhealthy/,
      note: /keepalived puts nginx-lb01's instances of vip-28, vip-29 in FAULT/,
    },
    {
      name: 'a spec without vip-28\'s home: it goes to the least-loaded node',
      change: { ...NONE, spec: { clusters: [seed1((y) => y.replace(/\n {8}home: nginx-lb01/, ''))] } },
      after: [LB1, LB2],
      why28: /current holder kept/,
    },
  ];
  for (const row of rows) {
    it(row.name, () => {
      const r = simulate(input(), row.change);
      assert.deepEqual(r.vips.map((v) => [v.vip, v.before, v.after]), [
        ['vip-28', LB1, row.after[0]],
        ['vip-29', LB2, row.after[1]],
      ]);
      assert.match(r.vips[0]?.afterReason ?? '', row.why28);
      if (row.note) assert.ok(r.notes.some((n) => row.note?.test(n)), `notes: ${r.notes.join(' | ')}`);
    });
  }

  it('keeps pins in the picture: a pinned VIP follows its node back', () => {
    const r = simulate(input([['web/vip-28', { node: LB2, sticky: true }]]), { ...NONE, fail: [LB1] });
    assert.deepEqual(r.vips.map((v) => [v.vip, v.before, v.after]), [
      ['vip-28', LB2, LB2],
      ['vip-29', LB2, LB2],
    ]);
    assert.match(r.vips[0]?.beforeReason ?? '', /pinned to nginx-lb02/);
  });

  it('with three nodes, says when keepalived\'s next backup is not where placement puts a failed holder\'s VIP', () => {
    const LB3 = 'nginx-lb03';
    // nginx-lb03 is home of two more VIPs: the least-loaded node is nginx-lb02, while nginx-lb03
    // comes right after nginx-lb01 in vip-28's priority order (the hash ring's order, not load).
    const spec = seed1((y) =>
      y
        .replace('    vips:\n', `      - name: ${LB3}\n        interfaces:\n          - name: eth1\n            address: 192.168.20.21/24\n          - name: eth2\n            address: 192.168.50.21/24\n    vips:\n`)
        .replace('    checks:\n', [30, 31].map((n, i) => `      - name: vip-${n}\n        address: 192.168.20.${n}/24\n        interface: eth1\n        vrid: ${53 + i}\n        home: ${LB3}\n`).join('') + '    checks:\n'),
    );
    const three: SimulationInput = {
      ...input(),
      spec: { clusters: [spec] },
      nodes: new Map([[LB1, healthy], [LB2, healthy], [LB3, healthy]]),
      holders: new Map([['web/vip-28', LB1], ['web/vip-29', LB2], ['web/vip-30', LB3], ['web/vip-31', LB3]]),
    };
    const r = simulate(three, { ...NONE, fail: [LB1] });
    const v = r.vips.find((x) => x.vip === 'vip-28');
    assert.deepEqual([v?.before, v?.after], [LB1, LB2], 'placement puts it on the least-loaded node');
    assert.match(v?.afterReason ?? '', /^least-loaded eligible node; home node nginx-lb01 is unhealthy; keepalived's next backup nginx-lb03 takes it first, by the priorities the nodes run now, and the coordinator then moves it to nginx-lb02 \(it keeps it on nginx-lb03 if nginx-lb03's report of holding it comes first\)$/);
    // Both ends of that sentence are what placement does: with nginx-lb03 seen holding it, it stays.
    const seen = simulate({ ...three, holders: new Map([...three.holders, ['web/vip-28', LB3]]) }, { ...NONE, fail: [LB1] });
    assert.equal(seen.vips.find((x) => x.vip === 'vip-28')?.after, LB3);
    // The VIPs whose holder keeps its instance say nothing of keepalived.
    assert.ok(r.vips.filter((x) => x.vip !== 'vip-28').every((x) => !x.afterReason.includes('keepalived')));
  });

  it('does not change its input', () => {
    const i = input();
    const copy = JSON.stringify([...i.nodes]);
    simulate(i, { ...NONE, fail: [LB1], drain: [LB2] });
    assert.equal(JSON.stringify([...i.nodes]), copy);
  });
});

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

describe('Simulate over gRPC', () => {
  it('answers what placement would do and changes nothing', async () => {
    h = await Harness.seeded();
    const before = await h.call<pbControl.ListVipsResponse>('listVips', { cluster: '' });
    const seq = h.server.events.lastSeq();
    const r = await h.call<pbControl.SimulateResponse>('simulate', { fail: [LB1], drain: [], linkDown: [], specYaml: '' });
    assert.deepEqual(r.vips.map((v) => [v.vip, v.before, v.after]), [
      ['vip-28', LB1, LB2],
      ['vip-29', LB2, LB2],
    ]);
    const link = await h.call<pbControl.SimulateResponse>('simulate', { fail: [], drain: [], linkDown: [`${LB2}:eth2`], specYaml: '' });
    assert.deepEqual(link.vips.map((v) => v.after), [LB1, LB1]);
    const spec = await h.call<pbControl.SimulateResponse>('simulate', { fail: [], drain: [], linkDown: [], specYaml: SEED1.replace('home: nginx-lb02', 'home: nginx-lb01') });
    assert.deepEqual(spec.vips.map((v) => v.after), [LB1, LB1]);
    const after = await h.call<pbControl.ListVipsResponse>('listVips', { cluster: '' });
    assert.deepEqual(after.vips.map((v) => [v.name, v.desiredHolder, v.actualHolders]), before.vips.map((v) => [v.name, v.desiredHolder, v.actualHolders]));
    assert.equal(h.server.events.lastSeq(), seq, 'no event recorded');
    assert.equal((await h.call<pbControl.GetSpecResponse>('getSpec', {})).version, 1, 'the spec is unchanged');
  });

  it('refuses a question about what does not exist, naming it', async () => {
    h = await Harness.seeded();
    const cases: Array<[pbControl.SimulateRequest, RegExp]> = [
      [{ fail: ['nginx-lb09'], drain: [], linkDown: [], specYaml: '' }, /fail: node nginx-lb09 is not in the running spec/],
      [{ fail: [], drain: [], linkDown: [`${LB1}:eth7`], specYaml: '' }, /node nginx-lb01 has no interface eth7 \(it has eth1, eth2\)/],
      [{ fail: [], drain: [], linkDown: ['eth2'], specYaml: '' }, /"eth2" is not NODE:INTERFACE/],
      [{ fail: [], drain: [], linkDown: [], specYaml: 'clusters: [' }, /spec: /],
      [{ fail: [], drain: [], linkDown: [], specYaml: '' }, /say what to simulate/],
    ];
    for (const [req, pattern] of cases) {
      await assert.rejects(h.call('simulate', req), (e: ServiceError) => {
        assert.equal(e.code, status.INVALID_ARGUMENT, e.details);
        assert.match(e.details, pattern);
        return true;
      });
    }
  });
});
