import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TRACK_FILE_MIN } from '@lbha/shared';
import { computePriority } from '../src/keepalived/priority.js';
import { instance } from './fixtures/desired-states.js';

const vip = instance({ name: 'vip-28', vrid: 51, vip: '192.168.20.28/24', basePriority: 100, placementWeight: 50, rank: 0 });
const none = { lowest: undefined, penalties: [], faults: [], downInterfaces: [] };

describe('priority', () => {
  it('is base plus placement, explained term by term', () => {
    const p = computePriority({ instance: vip, ...none });
    assert.equal(p.placementValue, 50);
    assert.equal(p.effectivePriority, 150);
    assert.deepEqual(
      p.terms.map((t) => [t.source, t.delta]),
      [
        ['base', 100],
        ['placement', 50],
      ],
    );
  });

  it('subtracts the penalty of each failing penalty check', () => {
    const p = computePriority({ instance: vip, ...none, penalties: [{ source: 'check:down-file', penalty: 60, reason: 'maintenance file present' }] });
    assert.equal(p.placementValue, -10);
    assert.equal(p.effectivePriority, 90);
    assert.deepEqual(p.terms.at(-1), { source: 'check:down-file', delta: -60, reason: 'maintenance file present' });
  });

  it('drops to the lowest value when the node is drained, without going below keepalived fault level', () => {
    const p = computePriority({ instance: vip, ...none, lowest: 'node is draining (drain command)' });
    assert.equal(p.placementValue, TRACK_FILE_MIN);
    assert.equal(p.effectivePriority, 1);
    assert.equal(p.terms.reduce((s, t) => s + t.delta, 0), 1);
  });

  it('steps down on the coordinator request', () => {
    const p = computePriority({ instance: { ...vip, stepDown: true }, ...none });
    assert.equal(p.effectivePriority, 1);
    assert.equal(p.terms.find((t) => t.source === 'step_down')?.reason, 'step down requested by the coordinator (split brain)');
  });

  it('reports FAULT (priority 0) for a failing fault check or a tracked interface that is down', () => {
    const f = computePriority({ instance: vip, ...none, faults: [{ source: 'check:nginx-process', reason: 'nginx is down' }] });
    assert.equal(f.faulted, true);
    assert.equal(f.effectivePriority, 0);
    assert.equal(f.placementValue, 50, 'placement is untouched: health goes through the health file');
    const l = computePriority({ instance: vip, ...none, downInterfaces: ['eth2'] });
    assert.equal(l.effectivePriority, 0);
    assert.equal(l.terms.at(-1)?.reason, 'FAULT: tracked interface eth2 is down');
    assert.equal(l.terms.reduce((s, t) => s + t.delta, 0), 0);
  });

  it('keeps the track file value within what keepalived accepts', () => {
    const p = computePriority({ instance: { ...vip, placementWeight: 400 }, ...none });
    assert.equal(p.placementValue, 253);
    assert.equal(p.effectivePriority, 254);
    assert.equal(p.terms.reduce((s, t) => s + t.delta, 0), 254);
  });
});
