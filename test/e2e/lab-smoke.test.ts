// The lab itself, without lbha: keepalived and nginx started by the lab (VRRPv3, advert_int 0.1).
// If this fails, the lab is broken, not lbha.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runLeftovers, startLab, summarizeProbe, type Lab } from '../lab/index.js';
import { assertServedBy, skipReason, waitForSuccesses } from './e2e-support.js';

describe('lab smoke (keepalived and nginx run by the lab)', { skip: skipReason, timeout: 120_000 }, () => {
  let lab: Lab | undefined;

  before(async () => {
    lab = await startLab({ topology: 'a', control: 'keepalived' });
  });

  after(async () => {
    if (lab === undefined) return;
    await lab.down();
    assert.deepEqual(await runLeftovers(lab.runId, lab.runDir), [], 'down leaves no namespace, process or file behind');
  });

  it('serves each VIP from its home node, alternating between the web nodes', async () => {
    const l = lab as Lab;
    assert.deepEqual(await l.holders(), { vip1: ['lb1'], vip2: ['lb2'] });
    assertServedBy(l, await l.request('vip1', 8), 'lb1');
    assertServedBy(l, await l.request('vip2', 8), 'lb2');
  });

  it('moves a VIP to the peer when keepalived stops on its holder, and the client sees it', async (t) => {
    const l = lab as Lab;
    const probe = await l.startProbe('vip1');
    await l.killKeepalived('lb1', 'SIGTERM');
    await l.waitForHolder('vip1', 'lb2');
    // Let the client get answers from the new holder before stopping the probe.
    await waitForSuccesses(probe, Date.now(), 10);
    const records = await probe.stop();
    const summary = summarizeProbe(records);
    assert.ok((summary.byLb.lb1 ?? 0) > 0, 'the client was served by lb1 first');
    assert.ok((summary.byLb.lb2 ?? 0) > 0, 'then by lb2');
    const last = records.filter((r) => r.ok).slice(-5);
    assert.deepEqual([...new Set(last.map((r) => r.lb))], ['lb2']);
    // Not a timing assertion: the outage is bounded by the wait above, and reported for the reader.
    t.diagnostic(`keepalived stopped on lb1: ${summary.failed} failed requests, longest gap ${summary.longestGapMs} ms`);
  });
});
