// lbha move on seed 1 under lbha, with real keepalived and nginx: vip1 moved to lb2 and pinned
// there while a client keeps a connection alive (a request every 20 ms, no retries) and a probe
// opens a fresh connection every 10 ms; then lb2 fails and recovers, and the pin brings vip1
// back to lb2 although failback (immediate) would keep it home; unpin sends it home. No request
// of either client may fail during the planned moves: each goes with a connection handover.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from '@lbha/test-support';
import type { Lab, ProbeRecord } from '../lab/index.js';
import { agentsOf, runOperation, skipReason, useAgentLab, waitForBaseline, waitForNodeHealth, waitForSuccesses } from './e2e-support.js';

const TEST_TIMEOUT = 240_000;

const failures = (records: readonly ProbeRecord[]) => records.filter((r) => !r.ok).map((r) => `${new Date(r.t).toISOString()} ${r.error}`);

describe('lbha move: a VIP moved and pinned by hand', { skip: skipReason, timeout: 10 * 60_000 }, () => {
  let lab: Lab;
  useAgentLab('a', (l) => (lab = l), {
    // A test that failed half way may leave vip1 pinned.
    afterRepair: async (l) => void (await l.agents?.cli(['unpin', 'vip1'])),
  });

  /** Moves vip1 between the nodes with both clients running; none of their requests may fail. */
  async function plannedMove(t: { diagnostic(m: string): void }, args: readonly string[], from: 'lb1' | 'lb2', to: 'lb1' | 'lb2', start: () => Promise<unknown>): Promise<void> {
    const probe = await lab.startProbe('vip1', { intervalMs: 10, timeoutMs: 3000 });
    const kept = await lab.startProbe('vip1', { intervalMs: 20, timeoutMs: 3000, keepAlive: true });
    // Each request waits for the previous one, 300 ms timeout: a stalled SYN shows here.
    const sequential = await lab.startProbe('vip1', { sequential: true, intervalMs: 10, timeoutMs: 300 });
    await waitForSuccesses(kept, 0, 10, from);
    const op = start();
    await lab.waitForHolder('vip1', to, { timeoutMs: 30_000 });
    const movedAt = Date.now();
    await op;
    // Fresh connections reach the new holder; the kept-alive one stays with the old holder,
    // which answers it through the handover.
    await waitForSuccesses(probe, movedAt + 500, 30, to);
    await new Promise((r) => setTimeout(r, 2000));
    const fresh = await probe.stop();
    const alive = await kept.stop();
    const seq = await sequential.stop();
    t.diagnostic(
      `${args.join(' ')}: fresh-connection probe ${fresh.length} requests, ${failures(fresh).length} failed; sequential ${seq.length}, ${failures(seq).length} failed; kept-alive ${alive.length}, ${failures(alive).length} failed`,
    );
    assert.deepEqual(failures(fresh), [], 'no request of the fresh-connection probe failed');
    assert.deepEqual(failures(seq), [], 'no request of the sequential client failed');
    assert.deepEqual([...new Set(seq.filter((r) => r.t > movedAt + 500).map((r) => r.lb))], [to], 'the sequential client reached the new holder after the move');
    const mac = await lab.macOf(to);
    assert.equal((await lab.clientNeighbour('vip1'))?.mac, mac, `the client's neighbour entry for vip1 names ${to}`);
    assert.deepEqual(failures(alive), [], 'no request on the kept-alive connection failed');
    const after = alive.filter((r) => r.t > movedAt + 500);
    assert.ok(after.length >= 20, `requests on the kept-alive connection after the move (${after.length})`);
    assert.deepEqual([...new Set(after.map((r) => r.lb))], [from], 'the old holder kept answering the kept-alive connection after the move');
  }

  it('moves vip1 to lb2 and pins it: no request fails, and the pin brings it back after lb2 fails and recovers', { timeout: TEST_TIMEOUT }, async (t) => {
    const agents = agentsOf(lab);
    await plannedMove(t, ['move', 'vip1', 'lb2', '--pin'], 'lb1', 'lb2', async () => {
      const op = await runOperation(lab, ['move', 'vip1', 'lb2', '--pin', '--detach', '--reason', 'e2e move']);
      assert.equal(op.state, 'succeeded', `move: ${op.message}`);
    });
    const moved = await agents.waitForReportedHolder('vip1', 'lb2');
    assert.match(moved.reason, /pinned to lb2 by an operator/);
    const events = await agents.api.listEvents();
    assert.ok(events.some((e) => e.type === 'handover.started' && e.vip === 'vip1' && e.node === 'lb2'), 'the move went with a connection handover');

    // A move elsewhere is refused, with the reason, while lb1 is out of service.
    await lab.setLink('lb1', 'eth2', 'down');
    await waitForNodeHealth(lab, 'lb1', false);
    const refused = await agents.cli(['move', 'vip2', 'lb1']);
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, /refused: lb1 is unhealthy/);
    await lab.setLink('lb1', 'eth2', 'up');
    await waitForNodeHealth(lab, 'lb1', true);
    // lb1, vip1's home, is healthy again: failback (immediate) would take vip1 home, the pin keeps it.
    const kept = await agents.waitForReportedHolder('vip1', 'lb2');
    assert.match(kept.reason, /pinned to lb2/);
    assert.deepEqual(await lab.holdersOf('vip1'), ['lb2']);

    // lb2 fails (its tracked inner link goes down): both VIPs go to lb1. When it recovers, vip2
    // goes home and vip1 follows its pin.
    await lab.setLink('lb2', 'eth2', 'down');
    await lab.waitForHolder('vip1', 'lb1', { timeoutMs: 30_000 });
    await lab.waitForHolder('vip2', 'lb1', { timeoutMs: 30_000 });
    await lab.setLink('lb2', 'eth2', 'up');
    await waitForNodeHealth(lab, 'lb2', true);
    await lab.waitForHolder('vip2', 'lb2', { timeoutMs: 30_000 });
    await lab.waitForHolder('vip1', 'lb2', { timeoutMs: 30_000 });
    assert.match((await agents.waitForReportedHolder('vip1', 'lb2')).reason, /pinned to lb2/);

    // Unpin: vip1 goes home to lb1, again without a failed request.
    await plannedMove(t, ['unpin', 'vip1'], 'lb2', 'lb1', async () => {
      const r = await agents.cli(['unpin', 'vip1', '--reason', 'e2e done']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /vip1: no longer held on lb2 by an operator/);
    });
    await waitForBaseline(lab, 45_000);
    const vips = await agents.api.listVips();
    assert.deepEqual(vips.map((v) => v.pin), [undefined, undefined], 'no pin is left');
    await waitFor('the unpin event', async () => {
      const e = (await agents.api.listEvents()).find((x) => x.type === 'vip.unpinned' && x.vip === 'vip1');
      return e ? { done: true, value: e } : { done: false, observed: 'none yet' };
    }, { timeoutMs: 5000 });
  });
});
