// sameDesiredInputs says what isDeepStrictEqual says of two passes' inputs: every field changed
// alone (as a copy, so nothing compares by identity) is told apart, and equal copies are equal.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { sameDesiredInputs, type DesiredInputs } from '../src/desired-inputs.js';
import type { HandoverEntry } from '../src/handover-plan.js';
import { seed1 } from './support/pass-world.js';

const spec = seed1();
const handover: HandoverEntry = { cluster: spec.name, vip: 'vip-28', from: 'nginx-lb01', to: 'nginx-lb02', fromAddress: '10.0.0.11', toAddress: '10.0.0.12', startedMs: 1000, untilMs: 31_000 };

function base(): DesiredInputs {
  return {
    spec,
    anyEligible: true,
    rankings: [
      ['nginx-lb01', 'nginx-lb02'],
      ['nginx-lb02', 'nginx-lb01'],
    ],
    nodes: [
      ['preferred', 'active', new Set<string>(), false, 0],
      ['preferred', 'active', new Set(['vip-29']), false, 0],
    ],
    hold: false,
    handovers: new Map([['vip-28', { ...handover }]]),
    announce: new Map([['vip-29', { node: 'nginx-lb02', request: 3 }]]),
    backends: { pools: [], intents: [], reportIntervalMs: 5000, driftIgnore: [], driftFiles: [] },
  };
}

describe('sameDesiredInputs', () => {
  const rows: ReadonlyArray<{ name: string; change: (d: DesiredInputs) => DesiredInputs }> = [
    { name: 'nothing (a copy)', change: (d) => d },
    { name: 'no node eligible', change: (d) => ({ ...d, anyEligible: false }) },
    { name: 'a handover hold', change: (d) => ({ ...d, hold: true }) },
    { name: 'a ranking reordered', change: (d) => ({ ...d, rankings: [['nginx-lb02', 'nginx-lb01'], ['nginx-lb02', 'nginx-lb01']] }) },
    { name: 'a ranking shorter', change: (d) => ({ ...d, rankings: [['nginx-lb01'], ['nginx-lb02', 'nginx-lb01']] }) },
    { name: 'a VIP fewer', change: (d) => ({ ...d, rankings: [['nginx-lb01', 'nginx-lb02']] }) },
    { name: "a node's class", change: (d) => ({ ...d, nodes: [['degraded', 'active', new Set<string>(), false, 0], d.nodes[1] as DesiredInputs['nodes'][number]] }) },
    { name: "a node's class unknown", change: (d) => ({ ...d, nodes: [[undefined, 'active', new Set<string>(), false, 0], d.nodes[1] as DesiredInputs['nodes'][number]] }) },
    { name: "a node's mode", change: (d) => ({ ...d, nodes: [['preferred', 'draining', new Set<string>(), false, 0], d.nodes[1] as DesiredInputs['nodes'][number]] }) },
    { name: 'a step-down added', change: (d) => ({ ...d, nodes: [['preferred', 'active', new Set(['vip-28']), false, 0], d.nodes[1] as DesiredInputs['nodes'][number]] }) },
    { name: 'a step-down for another VIP', change: (d) => ({ ...d, nodes: [d.nodes[0] as DesiredInputs['nodes'][number], ['preferred', 'active', new Set(['vip-28']), false, 0]] }) },
    { name: 'last resort', change: (d) => ({ ...d, nodes: [['preferred', 'active', new Set<string>(), true, 0], d.nodes[1] as DesiredInputs['nodes'][number]] }) },
    { name: 'own failure since', change: (d) => ({ ...d, nodes: [['preferred', 'active', new Set<string>(), false, 1234], d.nodes[1] as DesiredInputs['nodes'][number]] }) },
    { name: 'a node fewer', change: (d) => ({ ...d, nodes: [d.nodes[0] as DesiredInputs['nodes'][number]] }) },
    { name: 'a handover ends', change: (d) => ({ ...d, handovers: new Map() }) },
    { name: "a handover's window", change: (d) => ({ ...d, handovers: new Map([['vip-28', { ...handover, untilMs: 41_000 }]]) }) },
    { name: 'an announcement asked again', change: (d) => ({ ...d, announce: new Map([['vip-29', { node: 'nginx-lb02', request: 4 }]]) }) },
    { name: 'an announcement of another node', change: (d) => ({ ...d, announce: new Map([['vip-29', { node: 'nginx-lb01', request: 3 }]]) }) },
    { name: 'an announcement of another VIP', change: (d) => ({ ...d, announce: new Map([['vip-28', { node: 'nginx-lb02', request: 3 }]]) }) },
    { name: 'no announcement', change: (d) => ({ ...d, announce: new Map() }) },
    { name: 'the backend pool', change: (d) => ({ ...d, backends: { ...d.backends, reportIntervalMs: 1000 } }) },
    { name: 'a backend drained', change: (d) => ({ ...d, backends: { ...d.backends, intents: [{ pool: 'app', server: 'web-1', admin: 'drain' }] } }) },
    { name: 'another spec', change: (d) => ({ ...d, spec: { ...spec, policy: { ...spec.policy, basePriority: spec.policy.basePriority + 1 } } }) },
    { name: 'an equal spec object', change: (d) => ({ ...d, spec: { ...spec } }) },
  ];
  for (const row of rows) {
    it(`${row.name}: ${isDeepStrictEqual(base(), row.change(base())) ? 'the same' : 'told apart'}, as isDeepStrictEqual says`, () => {
      const a = base();
      const b = row.change(base());
      assert.equal(sameDesiredInputs(a, b), isDeepStrictEqual(a, b));
      assert.equal(sameDesiredInputs(b, a), isDeepStrictEqual(b, a), 'either way round');
    });
  }

  it('told apart from every changed row, equal only to the copy', () => {
    const same = rows.filter((r) => sameDesiredInputs(base(), r.change(base()))).map((r) => r.name);
    assert.deepEqual(same, ['nothing (a copy)', 'an equal spec object']);
  });

  it('the same object is the same without a look inside', () => {
    const d = base();
    assert.equal(sameDesiredInputs(d, d), true);
  });
});
