// The pure pieces of lbha drill: which VIPs it moves where, or every reason it refuses; the
// figures a phase's probes reduce to; the verdict on a VIP; and how a plan is kept.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeVip, judgeVip, phaseFigures, UNMEASURED, type PhaseFigures, type ProbeResult, type VipDrillResult } from '../src/operations/drill-figures.js';
import { decodePlan, encodePlan, planDrill, type DrillVipInput } from '../src/operations/drill-plan.js';

const vip = (name: string, home: string, other: string, extra: Partial<DrillVipInput> = {}): DrillVipInput => ({ name, desiredHolder: home, actualHolders: [home], status: 'ok', ranking: [home, other], ...extra });
const anyNode = () => undefined;

describe('drill plan', () => {
  it('drills each VIP from its holder to the next node of its ranking, in order', () => {
    const p = planDrill([vip('vip1', 'lb1', 'lb2'), vip('vip2', 'lb2', 'lb1')], anyNode);
    assert.deepEqual(p, { kind: 'planned', legs: [{ vip: 'vip1', home: 'lb1', standby: 'lb2' }, { vip: 'vip2', home: 'lb2', standby: 'lb1' }] });
  });

  it('takes the first node of the ranking that could hold the VIP', () => {
    const p = planDrill([vip('vip1', 'lb1', 'lb2', { ranking: ['lb1', 'lb2', 'lb3'] })], (_v, n) => (n === 'lb2' ? 'lb2 is drained' : undefined));
    assert.deepEqual(p, { kind: 'planned', legs: [{ vip: 'vip1', home: 'lb1', standby: 'lb3' }] });
  });

  const refusals: ReadonlyArray<{ name: string; input: DrillVipInput; whyNot?: (v: string, n: string) => string | undefined; reason: RegExp }> = [
    { name: 'a pinned VIP', input: vip('vip1', 'lb1', 'lb2', { pin: { node: 'lb1', sticky: true, actor: 'alice' } }), reason: /^vip1 is pinned to lb1 by alice \(lbha unpin vip1 first\)$/ },
    { name: 'a moved VIP', input: vip('vip1', 'lb1', 'lb2', { pin: { node: 'lb1', sticky: false, actor: '' } }), reason: /^vip1 is moved to lb1 by an operator/ },
    { name: 'a VIP held by two nodes', input: vip('vip1', 'lb1', 'lb2', { actualHolders: ['lb1', 'lb2'], status: 'split_brain' }), reason: /^vip1 is not settled \(status split_brain, held by lb1, lb2, desired holder lb1\)$/ },
    { name: 'a VIP away from its desired holder', input: vip('vip1', 'lb1', 'lb2', { actualHolders: ['lb2'], status: 'divergent' }), reason: /^vip1 is not settled/ },
    { name: 'a VIP nobody holds', input: vip('vip1', 'lb1', 'lb2', { actualHolders: [], status: 'orphan' }), reason: /held by no node/ },
    { name: 'a VIP with one node', input: vip('vip1', 'lb1', 'lb2', { ranking: ['lb1'] }), reason: /^vip1 has no standby: no other node could hold it$/ },
    { name: 'a VIP whose standby is unhealthy', input: vip('vip1', 'lb1', 'lb2'), whyNot: (_v, n) => `${n} is unhealthy`, reason: /^vip1 has no healthy, active standby: lb2 is unhealthy$/ },
  ];
  for (const r of refusals) {
    it(`refuses ${r.name}, with the reason`, () => {
      const p = planDrill([r.input, vip('vip2', 'lb2', 'lb1')], r.whyNot ?? anyNode);
      assert.equal(p.kind, 'refused');
      if (p.kind !== 'refused') return;
      assert.equal(p.reasons.length, r.whyNot ? 2 : 1, p.reasons.join('; '));
      assert.match(p.reasons[0] ?? '', r.reason);
    });
  }

  it('refuses a cluster without VIPs', () => {
    assert.deepEqual(planDrill([], anyNode), { kind: 'refused', reasons: ['the cluster has no VIPs'] });
  });

  it('keeps a plan in the record and reads it back', () => {
    const legs = [{ vip: 'vip1', home: 'lb1', standby: 'lb2' }, { vip: 'vip-2.x', home: 'lb2', standby: 'lb1' }];
    assert.equal(encodePlan(legs), 'vip1:lb1:lb2,vip-2.x:lb2:lb1');
    assert.deepEqual(decodePlan(encodePlan(legs)), legs);
    assert.deepEqual(decodePlan(''), []);
  });
});

const ok = (startMs: number, ms = 2): ProbeResult => ({ startMs, ms, ok: true, error: '' });
const bad = (startMs: number, error = 'timeout', ms = 1000): ProbeResult => ({ startMs, ms, ok: false, error });

describe('drill figures', () => {
  it('counts probes, failures, the longest time without an answer and when the node answered', () => {
    const results = [ok(1000), ok(1025), bad(1050, 'ECONNREFUSED', 1), ok(1075), ok(1300), ok(1325)];
    const f = phaseFigures(results, { startMs: 1000, arrivedMs: 1290, endMs: 1400 });
    assert.deepEqual(f, { sent: 6, failed: 1, longestGapMs: 225, answeredMs: 302, firstError: 'ECONNREFUSED', complete: true });
  });

  it('counts the time from the phase start to the first answer, and from the last answer to the end, as gaps', () => {
    assert.equal(phaseFigures([ok(1500)], { startMs: 1000, arrivedMs: 1100, endMs: 1600 }).longestGapMs, 502);
    assert.equal(phaseFigures([ok(1000)], { startMs: 1000, arrivedMs: 1000, endMs: 3000 }).longestGapMs, 1998);
  });

  it('has no answer time when the VIP never arrived or nothing answered after it did', () => {
    assert.equal(phaseFigures([ok(1000)], { startMs: 1000, arrivedMs: null, endMs: 2000 }).answeredMs, null);
    assert.equal(phaseFigures([ok(1000), bad(1500)], { startMs: 1000, arrivedMs: 1400, endMs: 2600 }).answeredMs, null);
  });

  it('marks a phase cut short by a restart as incomplete', () => {
    assert.equal(phaseFigures([ok(1000)], { startMs: 1000, arrivedMs: 1000, endMs: 1100 }, false).complete, false);
  });
});

const good: PhaseFigures = { sent: 120, failed: 0, longestGapMs: 40, answeredMs: 900, firstError: '', complete: true };
const result = (change: Partial<VipDrillResult> = {}): VipDrillResult => ({ vip: 'vip1', home: 'lb1', standby: 'lb2', to: good, back: good, error: '', endedOn: 'lb1', ...change });

describe('drill verdict', () => {
  it('passes a VIP that answered after both moves without a failed probe and ended home', () => {
    assert.deepEqual(judgeVip(result()), { kind: 'passed' });
    assert.equal(describeVip(result()), 'vip1 passed: to lb2: 120 probes, 0 failed, longest gap 40 ms, answered on lb2 after 900 ms; back to lb1: 120 probes, 0 failed, longest gap 40 ms, answered on lb1 after 900 ms');
  });

  const rows: ReadonlyArray<{ name: string; r: VipDrillResult; why: RegExp }> = [
    { name: 'a failed probe', r: result({ to: { ...good, failed: 2, firstError: 'timeout' } }), why: /^2 of 120 probes failed during the move to the standby \(timeout\)$/ },
    { name: 'a failed probe on the way back', r: result({ back: { ...good, failed: 1, firstError: 'HTTP 502' } }), why: /during the move back home \(HTTP 502\)/ },
    { name: 'no answer after the move', r: result({ to: { ...good, answeredMs: null } }), why: /^the VIP did not answer after the move to the standby$/ },
    { name: 'no probe at all', r: result({ to: { ...good, sent: 0, answeredMs: null } }), why: /^no probe was sent during the move to the standby$/ },
    { name: 'a move not measured whole', r: result({ to: UNMEASURED, error: 'the coordinator restarted during the move to the standby' }), why: /the move to the standby was not measured whole/ },
    { name: 'a move that did not happen', r: result({ error: 'vip1 did not reach lb2 within 45s' }), why: /^vip1 did not reach lb2 within 45s$/ },
    { name: 'a VIP left away from home', r: result({ endedOn: 'lb2' }), why: /^vip1 ended on lb2, not on lb1$/ },
  ];
  for (const row of rows) {
    it(`fails a VIP for ${row.name}`, () => {
      const v = judgeVip(row.r);
      assert.equal(v.kind, 'failed');
      if (v.kind === 'failed') assert.ok(v.why.some((w) => row.why.test(w)), v.why.join(' | '));
      assert.match(describeVip(row.r), /^vip1 failed \(/);
    });
  }
});
