// A VIP moved back while the handover of its first move still runs, on seed 1 under lbha with
// real keepalived and nginx: kept-alive connections opened on lb1 (a request every 100 ms each,
// so nginx does not end them within the test) are still forwarded by lb2 to lb1 when vip1 is
// moved home again. None of their requests may fail (docs/design/handover.md, "Limits").
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Lab } from '../lab/index.js';
import { agentsOf, assertKeptAliveServed, describeWrk, runOperation, skipReason, useAgentLab } from './e2e-support.js';

const TEST_TIMEOUT = 180_000;

describe('a VIP moved back during the handover of its first move', { skip: skipReason, timeout: 10 * 60_000 }, () => {
  let lab: Lab;
  useAgentLab('a', (l) => (lab = l), {
    afterRepair: async (l) => void (await l.agents?.cli(['unpin', 'vip1'])),
  });

  it('keeps the first holder\'s kept-alive connections through both moves', { timeout: TEST_TIMEOUT }, async (t) => {
    const agents = agentsOf(lab);
    const wrkOptions = { connections: 8, durationS: 20, timeoutS: 2, delayMs: 100, perConnection: true };
    const wrk = lab.wrk('vip1', wrkOptions);
    wrk.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 2000));
    const out = await runOperation(lab, ['move', 'vip1', 'lb2', '--pin', '--detach', '--reason', 'e2e move back']);
    assert.equal(out.state, 'succeeded', out.message);
    await lab.waitForHolder('vip1', 'lb2', { timeoutMs: 30_000 });
    // lb1's connections are still open: the handover runs. Now home again.
    const back = await runOperation(lab, ['move', 'vip1', 'lb1', '--detach', '--reason', 'e2e move back']);
    assert.equal(back.state, 'succeeded', back.message);
    await lab.waitForHolder('vip1', 'lb1', { timeoutMs: 30_000 });
    const k = await wrk;
    const events = (await agents.api.listEvents()).filter((e) => e.type.startsWith('handover.') || e.type === 'placement.changed' || e.type === 'vip.moved');
    for (const e of events) t.diagnostic(`event ${new Date(Number(e.timeMs)).toISOString()} ${e.type} ${e.node} ${e.vip}: ${e.message}`);
    t.diagnostic(describeWrk(k));
    assertKeptAliveServed(k, wrkOptions, 'through both moves');
  });
});
