// Upgrading lbha on a VIP holder: the agent on lb1 (holder of vip1) is stopped the way systemd
// stops it (SIGTERM) and replaced by a new release, packed by deploy/pack.sh with another
// version; under a client probe on both VIPs, no VIP moves, keepalived and nginx are adopted
// (same pids), and not one request fails.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { execFileSync } from 'node:child_process';
import { waitFor } from '@lbha/test-support';
import { runLeftovers, startLab, summarizeProbe, type Lab, type LbNode } from '../lab/index.js';
import { ROOT } from '../support/paths.js';
import { nodeInfo, skipReason, waitForBaseline, waitForSuccesses } from './e2e-support.js';

const NEW_VERSION = '0.0.0-upgrade-test';

describe('upgrading the agent on a VIP holder', { skip: skipReason, timeout: 10 * 60_000 }, () => {
  let lab: Lab | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'lbha-upgrade-'));
  let newAgent = '';

  before(async () => {
    // The "new build": a release tarball of this tree with another version, unpacked.
    const tarball = execFileSync('bash', [join(ROOT, 'deploy/pack.sh'), '--out', dir, '--version', NEW_VERSION], { encoding: 'utf8' }).trim().split('\n').pop() ?? '';
    execFileSync('tar', ['-xzf', tarball, '-C', dir]);
    newAgent = join(dir, `lbha-${NEW_VERSION}`, 'lib/packages/agent/dist/bundle/lbha-agent.js');
    lab = await startLab({ topology: 'a', control: 'agent' });
    await waitForBaseline(lab);
  });

  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    if (lab === undefined) return;
    await lab.down();
    assert.deepEqual(await runLeftovers(lab.runId, lab.runDir), [], 'down leaves no namespace, process or file behind');
  });

  it('moves no VIP, restarts no daemon and fails no request', { timeout: 5 * 60_000 }, async () => {
    assert.ok(lab?.agents, 'the lab runs agents');
    const agents = lab.agents;
    const node: LbNode = 'lb1';
    assert.deepEqual(await lab.holders(), { vip1: ['lb1'], vip2: ['lb2'] });
    const before = await nodeInfo(lab, node);
    assert.ok(before?.connected);
    assert.notEqual(before.agentVersion, NEW_VERSION);
    const nginxBefore = await lab.proxyMasterPid(node);
    const keepalivedBefore = (await lab.pidsByName(node, 'keepalived')).sort();
    assert.ok(nginxBefore !== undefined && keepalivedBefore.length > 0, 'nginx and keepalived run on lb1');

    const probes = [await lab.startProbe('vip1'), await lab.startProbe('vip2')];
    // Watch the VIP addresses themselves for the whole upgrade, not just at the end.
    const moves: string[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const h = await lab.holders();
        if (h['vip1']?.join() !== 'lb1' || h['vip2']?.join() !== 'lb2') moves.push(`${new Date().toISOString()} ${JSON.stringify(h)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();

    let upgraded: ReturnType<Lab['spawn']> | undefined;
    try {
      const start = Date.now();
      await waitForSuccesses(probes[0]!, start, 20, 'lb1');

      // What `systemctl restart lbha-agent` does after install.sh put the new release in place.
      await agents.stopAgent(node, 'SIGTERM');
      upgraded = lab.spawn(`${node}-agent-upgraded`, node, process.execPath, [newAgent, '--config', agents.agentConfigFile(node)]);

      // The new agent is connected, healthy, reports the new version and has applied the desired state.
      const info = await waitFor('the upgraded agent to connect and apply the desired state', async () => {
        if (!upgraded?.isRunning()) throw new Error(`the upgraded agent exited; see ${upgraded?.logFile}`);
        const n = await nodeInfo(lab!, node).catch(() => undefined);
        const ready = n?.connected && n.healthy && n.agentVersion === NEW_VERSION && n.bootId !== before.bootId && n.appliedVersion === n.desiredVersion && n.desiredVersion > 0;
        return ready ? { done: true, value: n } : { done: false, observed: JSON.stringify({ connected: n?.connected, healthy: n?.healthy, version: n?.agentVersion, desired: String(n?.desiredVersion), applied: String(n?.appliedVersion) }) };
      }, { timeoutMs: 60_000, intervalMs: 100 });
      assert.equal(info.nackError, '');

      // Keep the clients going a while after the new agent took over its track files.
      const settled = Date.now();
      for (const p of probes) await waitForSuccesses(p, settled, 100);
      await agents.waitForReportedHolder('vip1', 'lb1');
      await agents.waitForReportedHolder('vip2', 'lb2');
    } finally {
      watching = false;
      await watcher;
    }

    const results = await Promise.all(probes.map((p) => p.stop()));
    assert.deepEqual(moves, [], 'the VIPs stayed on their holders during the upgrade');
    for (const [i, records] of results.entries()) {
      const s = summarizeProbe(records);
      assert.ok(s.requests > 100, `probe ${i + 1} sent ${s.requests} requests`);
      assert.equal(s.failed, 0, `probe ${i + 1}: ${s.failed} of ${s.requests} requests failed (longest gap ${s.longestGapMs.toFixed(0)} ms)`);
    }
    assert.ok(results[0]!.every((r) => r.lb === 'lb1'), 'every vip1 request was served by lb1');
    assert.equal(await lab.proxyMasterPid(node), nginxBefore, 'nginx was adopted, not restarted');
    assert.deepEqual((await lab.pidsByName(node, 'keepalived')).sort(), keepalivedBefore, 'keepalived was adopted, not restarted');

    await upgraded?.stop('SIGTERM');
  });
});
