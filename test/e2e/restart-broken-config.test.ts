// `lbha restart NODE nginx` on a VIP holder whose nginx config is broken (seed 1, nginx
// active/active): the restart validates the config on the node before anything moves, so it
// fails at once, the VIP stays where it is, the running nginx keeps serving with the config it
// loaded, and the node stays active. Three clients are measured (fresh connections, a
// sequential client, kept-alive connections from wrk): none sees a failure or another node.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarizeProbe, type Lab, type ProbeRecord } from '../lab/index.js';
import { agentsOf, assertKeptAliveServed, describeWrk, nodeInfo, runOperation, skipReason, useAgentLab, waitForSuccesses } from './e2e-support.js';

describe('a restart with a broken config (nginx active/active)', { skip: skipReason, timeout: 5 * 60_000 }, () => {
  let lab: Lab;
  useAgentLab('a', (l) => (lab = l));

  it('is refused before anything moves; vip1 stays on lb1 and lb1 stays active', async (t) => {
    const agents = agentsOf(lab);
    const afterSeq = Math.max(0, ...(await agents.api.listEvents()).map((e) => e.seq));
    const fresh = await lab.startProbe('vip1', { intervalMs: 10, timeoutMs: 3000 });
    const sequential = await lab.startProbe('vip1', { sequential: true, intervalMs: 10, timeoutMs: 300 });
    const wrkOptions = { connections: 10, durationS: 8, timeoutS: 2, perConnection: true };
    const kept = lab.wrk('vip1', wrkOptions);
    kept.catch(() => undefined); // awaited below; a failure before then must not go unhandled
    const startedAt = Date.now();
    await waitForSuccesses(fresh, startedAt, 20, 'lb1');
    const masterBefore = await lab.proxyMasterPid('lb1');
    assert.ok(masterBefore !== undefined, 'nginx runs on lb1');

    lab.breakProxyConfig('lb1');
    let records: { fresh: ProbeRecord[]; sequential: ProbeRecord[] };
    try {
      const op = await runOperation(lab, ['restart', 'lb1', 'nginx', '--timeout', '30s', '--detach', '--reason', 'e2e broken config']);
      assert.equal(op.state, 'failed', op.message);
      assert.match(op.message, /nginx on lb1 was not restarted, nothing moved: .*does not validate/);
      // Let the clients run on for a moment after the refusal.
      await new Promise((r) => setTimeout(r, 1500));
      assert.deepEqual(await lab.holdersOf('vip1'), ['lb1'], 'vip1 never left lb1');
      await agents.waitForReportedHolder('vip1', 'lb1', { timeoutMs: 5000 });
      assert.equal((await nodeInfo(lab, 'lb1'))?.mode, 1 /* NODE_MODE_ACTIVE */, 'lb1 is still active');
      assert.equal(await lab.proxyMasterPid('lb1'), masterBefore, 'the running nginx was left alone');
    } finally {
      lab.restoreProxyConfig('lb1');
      records = { fresh: await fresh.stop(), sequential: await sequential.stop() };
    }
    const wrk = await kept;

    const events = await agents.api.listEvents(afterSeq);
    const moved = events.filter((e) => ['vip.moved', 'drain.started', 'handover.started', 'node.mode_changed'].includes(e.type));
    assert.deepEqual(moved.map((e) => `${e.type} ${e.message}`), [], 'no drain, no move, no mode change');
    for (const [name, r] of Object.entries(records)) {
      const s = summarizeProbe(r, {});
      t.diagnostic(`${name}: ${s.requests} requests, ${s.failed} failed, longest gap ${s.longestGapMs.toFixed(0)} ms`);
      assert.deepEqual(r.filter((x) => !x.ok).map((x) => `${new Date(x.t).toISOString()} ${x.error}`), [], `no request of the ${name} client failed`);
      assert.deepEqual([...new Set(r.map((x) => x.lb))], ['lb1'], `lb1 answered every request of the ${name} client`);
    }
    t.diagnostic(`10 kept-alive connections for 8 s, ${describeWrk(wrk)}`);
    assertKeptAliveServed(wrk, wrkOptions, 'wrk through the refused restart');
    assert.ok(wrk.requests > 100, `wrk ran (${wrk.requests} requests)`);
  });
});
