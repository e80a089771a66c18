// Seed 2 (haproxy master/backup, one VIP, stats page) under lbha.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sleep, waitFor } from '@lbha/test-support';
import { type Lab } from '../lab/index.js';
import {
  agentLog,
  agentsOf,
  assertNoStalledConnection,
  assertServedBy,
  describeWrk,
  drainWithKeptAliveClient,
  outageLine,
  assertRestartedInPlace,
  skipReason,
  useAgentLab,
  waitForNodeHealth,
  runOperation,
  waitForBaseline,
  waitForSuccesses,
} from './e2e-support.js';

const TEST_TIMEOUT = 120_000;

describe('seed 2: haproxy master/backup under lbha', { skip: skipReason, timeout: 10 * 60_000 }, () => {
  let lab: Lab;

  useAgentLab('b', (l) => (lab = l));
  const agents = () => agentsOf(lab);

  it('serves the VIP from the master, alternating between the web nodes, with the stats page on', { timeout: TEST_TIMEOUT }, async () => {
    assert.deepEqual(await lab.holders(), { vip: ['lb1'] });
    assertServedBy(lab, await lab.request('vip', 8), 'lb1');
    const vip = lab.vip('vip');
    const [stats] = await lab.requestUrl(`http://admin:admin@${vip.address}:${lab.plan.statsPort}/admin?stats`);
    assert.ok(stats?.ok, `the stats page answers: ${stats?.error}`);
    const [denied] = await lab.requestUrl(`http://${vip.address}:${lab.plan.statsPort}/admin?stats`);
    assert.equal(denied?.status, 401, 'the stats page wants the seed credentials');
  });

  it('003: haproxy stopped on the master is started again by the agent; the VIP stays', { timeout: TEST_TIMEOUT }, async (t) => {
    const oldMaster = await lab.proxyMasterPid('lb1');
    assert.ok(oldMaster !== undefined, 'haproxy runs on lb1');
    const probe = await lab.startProbe('vip');
    const stopped = Date.now();
    await lab.stopProxy('lb1');
    await waitFor('haproxy on lb1 to run again', async () => {
      const pid = await lab.proxyMasterPid('lb1');
      return pid !== undefined && pid !== oldMaster ? { done: true, value: pid } : { done: false, observed: `master ${pid}` };
    }, { timeoutMs: 30_000 });
    const restarted = Date.now();
    await waitForSuccesses(probe, restarted, 50, 'lb1');
    const records = await probe.stop();
    const viaPeer = assertRestartedInPlace(records, 'lb1', 'lb2', restarted);
    assert.deepEqual(await lab.holdersOf('vip'), ['lb1']);
    t.diagnostic(`${outageLine('haproxy stopped and restarted in place', records, stopped)}; ${viaPeer} served by lb2 meanwhile`);
  });

  it('003: haproxy stopped on the master and unable to start moves the VIP to the backup; started again, it returns', { timeout: TEST_TIMEOUT }, async (t) => {
    const probe = await lab.startProbe('vip');
    const stopped = Date.now();
    // As `systemctl stop haproxy` on a node whose config no longer passes `haproxy -c`.
    lab.breakProxyConfig('lb1');
    await lab.stopProxy('lb1');
    await lab.waitForHolder('vip', 'lb2');
    await waitForSuccesses(probe, Date.now(), 20, 'lb2');
    await agents().waitForReportedHolder('vip', 'lb2');
    await waitForNodeHealth(lab, 'lb1', false);

    const started = Date.now();
    lab.restoreProxyConfig('lb1');
    await lab.waitForHolder('vip', 'lb1', { timeoutMs: 30_000 });
    await waitForSuccesses(probe, Date.now(), 20, 'lb1');
    await agents().waitForReportedHolder('vip', 'lb1');
    const records = await probe.stop();
    t.diagnostic(outageLine('haproxy stopped', records, stopped, started));
    t.diagnostic(outageLine('haproxy started again', records, started));
  });

  it('inner link down on the master: the VIP moves, and the connections haproxy holds on it are reset, none stalls', { timeout: TEST_TIMEOUT }, async (t) => {
    // Kept-alive connections from a client that does not retry, one wrk thread each, busy when
    // the link goes: a request haproxy had sent to a web node over it would wait for its server
    // timeout; the agent resets the connections on the VIP instead (unplanned-failover.md).
    const wrk = { connections: 8, durationS: 8, timeoutS: 3, delayMs: 20, perConnection: true };
    const kept = lab.wrk('vip', wrk);
    kept.catch(() => undefined);
    await sleep(1000);
    const t0 = Date.now();
    await lab.setLink('lb1', 'eth2', 'down');
    await lab.waitForHolder('vip', 'lb2');
    const w = await kept;
    t.diagnostic(`inner link down, kept-alive ${describeWrk(w)}`);
    assertNoStalledConnection(w, wrk, 'inner link down, kept-alive');
    const reset = (await agentLog(lab, 'lb1')).find((l) => l.event === 'failover.connections_reset' && Number(l.time) >= t0);
    assert.match(reset?.msg ?? '', /eth2 is down: reset \d+ connections on /, `the agent reset haproxy's connections behind the link: ${JSON.stringify(reset)}`);
    t.diagnostic(`reset ${Number(reset?.time) - t0} ms after the fault: ${reset?.msg}`);
  });

  it('a drain of the master hands its open connections over to the backup: no request fails', { timeout: TEST_TIMEOUT }, async (t) => {
    const probe = await lab.startProbe('vip');
    const started = Date.now();
    await drainWithKeptAliveClient(lab, 'vip', 'lb1', 'lb2');
    const undrain = await runOperation(lab, ['undrain', 'lb1']);
    assert.equal(undrain.state, 'succeeded', `undrain lb1: ${undrain.message}`);
    await waitForBaseline(lab, 45_000);
    const records = await probe.stop();
    assert.deepEqual(records.filter((r) => !r.ok).map((r) => `${new Date(r.t).toISOString()} ${r.error}`), [], 'no request on fresh connections failed');
    t.diagnostic(outageLine('drain and undrain of the master', records, started));
  });
});
