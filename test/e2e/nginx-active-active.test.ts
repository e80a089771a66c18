// Seed 1 (two nginx load balancers, two VIPs, active/active) under lbha: every scenario the seed
// tests by hand, plus the control plane failing. One lab for the file; each test leaves it as it
// found it (afterEach repairs and waits for the baseline, also after a failure).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { waitFor } from '@lbha/test-support';
import { type Lab } from '../lab/index.js';
import {
  agentsOf,
  assertRestartedInPlace,
  assertServedBy,
  nodeInfo,
  outageLine,
  servedOnlyBy,
  skipReason,
  useAgentLab,
  waitForFailingCheck,
  waitForNodeHealth,
  waitForSuccesses,
} from './e2e-support.js';

const TEST_TIMEOUT = 120_000;

describe('seed 1: nginx active/active under lbha', { skip: skipReason, timeout: 15 * 60_000 }, () => {
  let lab: Lab;

  useAgentLab('a', (l) => (lab = l));
  const agents = () => agentsOf(lab);

  it('serves both VIPs from their home nodes, alternating between the web nodes', { timeout: TEST_TIMEOUT }, async () => {
    assert.deepEqual(await lab.holders(), { vip1: ['lb1'], vip2: ['lb2'] });
    assertServedBy(lab, await lab.request('vip1', 8), 'lb1');
    assertServedBy(lab, await lab.request('vip2', 8), 'lb2');
    const vips = await agents().api.listVips();
    for (const vip of vips) assert.equal(vip.status, 'ok', `${vip.name}: ${vip.status} (${vip.reason})`);
  });

  it('1.5: inner link down on the holder moves its VIP to the peer; link up brings it back', { timeout: TEST_TIMEOUT }, async (t) => {
    const probe = await lab.startProbe('vip1');
    const down = Date.now();
    await lab.setLink('lb1', 'eth2', 'down');
    await lab.waitForHolder('vip1', 'lb2');
    await waitForSuccesses(probe, Date.now(), 20, 'lb2');
    assert.deepEqual(await lab.holdersOf('vip2'), ['lb2'], 'the other VIP stays where it was');
    await agents().waitForReportedHolder('vip1', 'lb2');
    await waitForNodeHealth(lab, 'lb1', false);
    await waitForFailingCheck(lab, 'lb1', 'inner-link');

    const up = Date.now();
    await lab.setLink('lb1', 'eth2', 'up');
    await lab.waitForHolder('vip1', 'lb1', { timeoutMs: 30_000 });
    const tail = await waitForSuccesses(probe, Date.now(), 20, 'lb1');
    await agents().waitForReportedHolder('vip1', 'lb1');
    const records = await probe.stop();
    assert.ok(records.some((r) => r.ok && r.lb === 'lb2' && r.t > down && r.t < up), 'the client was served by lb2 while the link was down');
    assert.ok(tail.filter((r) => r.ok).every((r) => r.lb === 'lb1'), 'and by lb1 again once it came back');
    t.diagnostic(outageLine('link down', records, down, up));
    t.diagnostic(outageLine('link up', records, up));
  });

  it('1.6: nginx stopped on the holder is restarted by the agent; the VIP does not move', { timeout: TEST_TIMEOUT }, async (t) => {
    const before = await nodeInfo(lab, 'lb1');
    const restartsBefore = before?.state?.services.find((s) => s.name === 'nginx')?.restarts ?? 0;
    const oldMaster = await lab.proxyMasterPid('lb1');
    assert.ok(oldMaster !== undefined, 'nginx runs on lb1');
    const probe = await lab.startProbe('vip1');
    const stopped = Date.now();
    await lab.stopProxy('lb1');
    const newMaster = await waitFor('nginx on lb1 to run again with a new master', async () => {
      const pid = await lab.proxyMasterPid('lb1');
      return pid !== undefined && pid !== oldMaster ? { done: true, value: pid } : { done: false, observed: `master ${pid}` };
    }, { timeoutMs: 30_000 });
    // Enough answers after the restart to see where the VIP is.
    const restarted = Date.now();
    await waitForSuccesses(probe, restarted, 50, 'lb1');
    const records = await probe.stop();
    const viaPeer = assertRestartedInPlace(records, 'lb1', 'lb2', restarted);
    t.diagnostic(`${viaPeer} new connections served by lb2 while nginx restarted`);
    assert.deepEqual(await lab.holdersOf('vip1'), ['lb1']);
    await waitFor('the coordinator to count the restart', async () => {
      const info = await nodeInfo(lab, 'lb1');
      const restarts = info?.state?.services.find((s) => s.name === 'nginx')?.restarts ?? 0;
      return restarts > restartsBefore ? { done: true, value: restarts } : { done: false, observed: `restarts ${restarts}` };
    }, { timeoutMs: 10_000 });
    t.diagnostic(`nginx master ${oldMaster} -> ${newMaster}; ${outageLine('restart in place', records, stopped)}`);
  });

  it('1.6: nginx unable to start (broken config) moves the VIP; fixed config brings nginx and the VIP back', { timeout: TEST_TIMEOUT }, async (t) => {
    // The failover and the return go through track files only: keepalived is never reloaded.
    const keepalivedLog = (node: 'lb1' | 'lb2') => readFileSync(join(agents().agentRuntimeDir(node), 'keepalived.log'), 'utf8');
    const reloads = (node: 'lb1' | 'lb2') => (keepalivedLog(node).match(/Reloading/g) ?? []).length;
    const reloadsBefore = { lb1: reloads('lb1'), lb2: reloads('lb2') };
    assert.match(keepalivedLog('lb1'), /Entering MASTER STATE/, 'the keepalived log is the live one');
    const probe = await lab.startProbe('vip1');
    const killed = Date.now();
    await lab.killProxy('lb1', { breakConfig: true });
    await lab.waitForHolder('vip1', 'lb2');
    await waitForSuccesses(probe, Date.now(), 20, 'lb2');
    await agents().waitForReportedHolder('vip1', 'lb2');
    await waitForNodeHealth(lab, 'lb1', false);
    const reason = await waitForFailingCheck(lab, 'lb1', 'nginx');
    assert.match(reason, /unexpected end of file|test failed|valid/, `the reason names the broken config: ${reason}`);
    // No nginx stays up on lb1. The agent's config check (`nginx -t`) and its start attempts
    // are nginx processes too, each gone within a moment: a pid seen in every one of five looks
    // over a second is a running nginx, one seen once is such an attempt.
    const looks: number[][] = [];
    for (let i = 0; i < 5; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 250));
      looks.push(await lab.proxyPids('lb1'));
    }
    const running = looks[0]!.filter((pid) => looks.every((l) => l.includes(pid)));
    assert.deepEqual(running, [], `nginx cannot start on lb1 while its config is broken (looks: ${JSON.stringify(looks)})`);

    const fixed = Date.now();
    lab.restoreProxyConfig('lb1');
    await waitFor('nginx to run on lb1 again', async () => {
      const pid = await lab.proxyMasterPid('lb1');
      return pid !== undefined ? { done: true, value: pid } : { done: false, observed: 'not running' };
    }, { timeoutMs: 30_000 });
    await lab.waitForHolder('vip1', 'lb1', { timeoutMs: 30_000 });
    await waitForSuccesses(probe, Date.now(), 20, 'lb1');
    await agents().waitForReportedHolder('vip1', 'lb1');
    const records = await probe.stop();
    t.diagnostic(outageLine('nginx killed, config broken', records, killed, fixed));
    t.diagnostic(outageLine('config fixed', records, fixed));
    assert.deepEqual({ lb1: reloads('lb1'), lb2: reloads('lb2') }, reloadsBefore, 'no keepalived reload on either node');
  });

  it('1.7: the maintenance file moves the VIPs away from the node; removing it brings them back', { timeout: TEST_TIMEOUT }, async (t) => {
    const probe = await lab.startProbe('vip1');
    const created = Date.now();
    lab.setMaintenance('lb1', true);
    await lab.waitForHolder('vip1', 'lb2');
    await waitForSuccesses(probe, Date.now(), 20, 'lb2');
    assert.deepEqual(await lab.holders(), { vip1: ['lb2'], vip2: ['lb2'] }, 'lb1 holds no VIP');
    await agents().waitForReportedHolder('vip1', 'lb2');
    await waitForFailingCheck(lab, 'lb1', 'down-file');

    const removed = Date.now();
    lab.setMaintenance('lb1', false);
    await lab.waitForHolder('vip1', 'lb1', { timeoutMs: 30_000 });
    await waitForSuccesses(probe, Date.now(), 20, 'lb1');
    await agents().waitForReportedHolder('vip1', 'lb1');
    const records = await probe.stop();
    t.diagnostic(outageLine('down file created', records, created, removed));
    t.diagnostic(outageLine('down file removed', records, removed));
    // With the coordinator up, both moves are planned ones: handed over, nothing fails.
    assert.deepEqual(records.filter((r) => !r.ok).map((r) => `${new Date(r.t).toISOString()} ${r.error}`), [], 'no request failed');
  });

  it('drain moves the VIPs off a node while the client is served; undrain brings them back', { timeout: TEST_TIMEOUT }, async (t) => {
    const probe = await lab.startProbe('vip1');
    const drained = Date.now();
    const drain = await agents().cli(['drain', 'lb1', '--wait', '--timeout', '30s', '--reason', 'e2e']);
    assert.equal(drain.code, 0, `lbha drain lb1: ${drain.stdout}${drain.stderr}`);
    assert.deepEqual(await lab.holders(), { vip1: ['lb2'], vip2: ['lb2'] }, 'a drained node holds no VIP');
    await waitForSuccesses(probe, Date.now(), 20, 'lb2');
    await agents().waitForReportedHolder('vip1', 'lb2');
    const info = await nodeInfo(lab, 'lb1');
    assert.equal(info?.mode, 3, `the coordinator reports lb1 drained (mode ${info?.mode})`);

    const undrained = Date.now();
    const undrain = await agents().cli(['undrain', 'lb1']);
    assert.equal(undrain.code, 0, `lbha undrain lb1: ${undrain.stdout}${undrain.stderr}`);
    await lab.waitForHolder('vip1', 'lb1', { timeoutMs: 30_000 });
    await waitForSuccesses(probe, Date.now(), 20, 'lb1');
    await agents().waitForReportedHolder('vip1', 'lb1');
    const records = await probe.stop();
    t.diagnostic(outageLine('drain', records, drained, undrained));
    t.diagnostic(outageLine('undrain', records, undrained));
  });

  it('without the coordinator, a dead nginx still moves its VIP; a restarted coordinator rebuilds its view', { timeout: TEST_TIMEOUT }, async (t) => {
    await agents().stopCoordinator('SIGKILL');
    const probe = await lab.startProbe('vip1');
    const killed = Date.now();
    await lab.killProxy('lb1', { breakConfig: true });
    await lab.waitForHolder('vip1', 'lb2');
    await waitForSuccesses(probe, Date.now(), 20, 'lb2');
    assert.equal(agents().coordinatorRunning, false, 'the VIP moved while the coordinator was down');

    await agents().startCoordinator();
    await agents().waitForAgentsConnected();
    // What the new coordinator knows came from the agents' snapshots.
    await agents().waitForReportedHolder('vip1', 'lb2');
    await agents().waitForReportedHolder('vip2', 'lb2');
    await waitForNodeHealth(lab, 'lb1', false);

    const fixed = Date.now();
    lab.restoreProxyConfig('lb1');
    await lab.waitForHolder('vip1', 'lb1', { timeoutMs: 30_000 });
    await waitForSuccesses(probe, Date.now(), 20, 'lb1');
    await agents().waitForReportedHolder('vip1', 'lb1');
    const records = await probe.stop();
    t.diagnostic(outageLine('nginx killed, no coordinator', records, killed, fixed));
  });

  it('an agent killed on the holder leaves the VIP in place; the restarted agent adopts the daemons', { timeout: TEST_TIMEOUT }, async (t) => {
    const keepalivedBefore = (await lab.pidsByName('lb1', 'keepalived')).sort();
    const nginxBefore = await lab.proxyMasterPid('lb1');
    assert.ok(keepalivedBefore.length > 0 && nginxBefore !== undefined, 'keepalived and nginx run on lb1');
    // lb1 holds vip1 and is the standby of vip2: fresh connections to both, a sequential client
    // and a kept-alive connection to vip1.
    const probe = await lab.startProbe('vip1');
    const standby = await lab.startProbe('vip2');
    const sequential = await lab.startProbe('vip1', { sequential: true, intervalMs: 10, timeoutMs: 300 });
    const kept = await lab.startProbe('vip1', { intervalMs: 20, timeoutMs: 3000, keepAlive: true });
    const killed = Date.now();
    await agents().stopAgent('lb1', 'SIGKILL');
    await waitFor('the coordinator to see lb1 disconnected', async () => {
      const info = await nodeInfo(lab, 'lb1');
      return info !== undefined && !info.connected ? { done: true, value: undefined } : { done: false, observed: `connected ${info?.connected}` };
    }, { timeoutMs: 30_000 });
    // keepalived keeps the VIP where it is: the client keeps being served by lb1.
    await waitForSuccesses(probe, Date.now(), 100, 'lb1');
    assert.deepEqual(await lab.holdersOf('vip1'), ['lb1']);

    await agents().startAgent('lb1');
    await agents().waitForAgentsConnected();
    await waitForNodeHealth(lab, 'lb1', true);
    await waitForSuccesses(probe, Date.now(), 100, 'lb1');
    const records = await probe.stop();
    const clients = { 'vip2 (lb1 its standby)': await standby.stop(), sequential: await sequential.stop(), 'kept-alive': await kept.stop() };
    assert.ok(servedOnlyBy(records, 'lb1'), 'no request went anywhere but lb1: no VIP moved');
    assert.ok(servedOnlyBy(clients.sequential, 'lb1') && servedOnlyBy(clients['kept-alive'], 'lb1'), 'the sequential and kept-alive clients were served by lb1 only');
    assert.ok(servedOnlyBy(clients['vip2 (lb1 its standby)'], 'lb2'), 'vip2 was served by lb2 only');
    assert.deepEqual(await lab.holders(), { vip1: ['lb1'], vip2: ['lb2'] });
    assert.deepEqual((await lab.pidsByName('lb1', 'keepalived')).sort(), keepalivedBefore, 'keepalived was adopted, not restarted');
    assert.equal(await lab.proxyMasterPid('lb1'), nginxBefore, 'nginx was adopted, not restarted');
    await agents().waitForReportedHolder('vip1', 'lb1');
    t.diagnostic(outageLine('agent killed and restarted', records, killed));
    for (const [name, r] of Object.entries(clients)) t.diagnostic(outageLine(name, r, killed));
    for (const [name, r] of Object.entries({ probe: records, ...clients })) {
      assert.deepEqual(r.filter((x) => !x.ok).map((x) => `${new Date(x.t).toISOString()} ${x.error}`), [], `${name}: no request failed`);
    }
  });
});
