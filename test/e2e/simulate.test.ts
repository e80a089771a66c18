// lbha simulate on seed 1 under lbha, with real keepalived and nginx: what the coordinator
// predicts for a failure is what then happens, as the coordinator and the lab's interfaces see it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Lab, LbNode } from '../lab/index.js';
import { agentsOf, skipReason, useAgentLab, waitForNodeHealth } from './e2e-support.js';

const TEST_TIMEOUT = 120_000;

interface Predicted {
  readonly vips: ReadonlyArray<{ vip: string; before: string; after: string; afterReason: string }>;
  readonly notes: readonly string[];
}

describe('lbha simulate: the prediction is what happens', { skip: skipReason, timeout: 10 * 60_000 }, () => {
  let lab: Lab;
  useAgentLab('a', (l) => (lab = l));

  async function predict(...args: string[]): Promise<Predicted> {
    const r = await agentsOf(lab).cli(['simulate', ...args, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Predicted;
  }

  /**
   * Each VIP ends where the prediction put it: on the interfaces, and as the coordinator's desired
   * and reported holder; a VIP that moves, for the predicted reason (the coordinator's
   * placement.changed event since `afterSeq`), one that stays, with none.
   */
  async function assertHappened(p: Predicted, afterSeq: number): Promise<void> {
    const agents = agentsOf(lab);
    for (const v of p.vips) {
      await lab.waitForHolder(v.vip, v.after as LbNode, { timeoutMs: 30_000 });
      const info = await agents.waitForReportedHolder(v.vip, v.after as LbNode);
      assert.equal(info.desiredHolder, v.after, `${v.vip}: the coordinator's desired holder`);
      const changes = (await agents.api.listEvents(afterSeq)).filter((e) => e.type === 'placement.changed' && e.vip === v.vip);
      if (v.before === v.after) {
        assert.deepEqual(changes.map((e) => e.node), [], `${v.vip} was not moved`);
        assert.equal(info.reason, v.afterReason, `${v.vip}: the coordinator's reason`);
      } else {
        // The cause (what became of the old holder) is the prediction's. How the new holder was
        // chosen depends on whether keepalived's own move was reported before the failure: then the
        // coordinator keeps the node that already holds it, else it picks the least-loaded node.
        assert.deepEqual(changes.map((e) => [e.node, cause(e.reason)]), [[v.after, cause(v.afterReason)]], `${v.vip}: moved once, for the predicted cause: ${changes.map((e) => e.reason).join(' | ')}`);
        assert.ok(cause(v.afterReason) !== '', `${v.vip}: the prediction names a cause: ${v.afterReason}`);
        for (const e of changes) assert.match(e.reason, /^(least-loaded eligible node|current holder kept);/, `${v.vip}: how the new holder was chosen`);
      }
    }
  }

  /** A placement reason without how the holder was chosen: `; home node lb1 is unhealthy`. */
  const cause = (reason: string): string => (reason.includes('; ') ? reason.slice(reason.indexOf('; ')) : '');

  const lastSeq = async () => (await agentsOf(lab).api.listEvents()).reduce((m, e) => Math.max(m, e.seq), 0);

  it('--fail lb1: both VIPs on lb2, as predicted, when lb1\'s nginx dies and cannot restart', { timeout: TEST_TIMEOUT }, async (t) => {
    const p = await predict('--fail', 'lb1');
    t.diagnostic(JSON.stringify(p));
    assert.deepEqual(p.vips.map((v) => [v.vip, v.before, v.after]), [
      ['vip1', 'lb1', 'lb2'],
      ['vip2', 'lb2', 'lb2'],
    ]);
    assert.deepEqual(await lab.holders(), { vip1: ['lb1'], vip2: ['lb2'] }, 'simulate moved nothing');
    const seq = await lastSeq();
    await lab.killProxy('lb1', { breakConfig: true });
    await waitForNodeHealth(lab, 'lb1', false);
    await assertHappened(p, seq);
  });

  it('--link lb1:eth2 down: as predicted when lb1\'s inner link goes down', { timeout: TEST_TIMEOUT }, async (t) => {
    const p = await predict('--link', 'lb1:eth2', 'down');
    t.diagnostic(JSON.stringify(p));
    assert.deepEqual(p.vips.map((v) => v.after), ['lb2', 'lb2']);
    assert.ok(p.notes.some((n) => /lb1:eth2 down: check inner-link fails: lb1 is unhealthy/.test(n)), p.notes.join(' | '));
    const seq = await lastSeq();
    await lab.setLink('lb1', 'eth2', 'down');
    await waitForNodeHealth(lab, 'lb1', false);
    await assertHappened(p, seq);
  });
});
