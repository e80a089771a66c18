// Planned maintenance on seed 1 under lbha, through the lbha CLI, with a client probing both
// VIPs at 100 requests per second each: drain, restart nginx and undrain each LB node in turn,
// a rolling restart of the cluster, and a coordinator killed in the middle of a drain.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { LB_NODES, runLeftovers, startLab, summarizeProbe, waitFor, type Lab, type ProbeSession } from '../lab/index.js';
import { repairLab, skipReason, waitForBaseline } from './e2e-support.js';

const TEST_TIMEOUT = 240_000;

describe('maintenance under lbha: no failed request', { skip: skipReason, timeout: 20 * 60_000 }, () => {
  let lab: Lab;

  before(async () => {
    lab = await startLab({ topology: 'a', control: 'agent' });
    await waitForBaseline(lab);
  });

  after(async () => {
    if (lab === undefined) return;
    await lab.down();
    assert.deepEqual(await runLeftovers(lab.runId, lab.runDir), [], 'down leaves no namespace, process or file behind');
  });

  afterEach(async () => {
    if (lab === undefined) return;
    await repairLab(lab);
    // A test that failed half way may leave a node drained.
    for (const node of LB_NODES) await lab.agents?.cli(['undrain', node, '--wait']);
    await waitForBaseline(lab, 45_000);
  });

  const lbha = async (...args: string[]) => {
    const agents = lab.agents;
    assert.ok(agents, 'the lab runs agents');
    const r = await agents.cli(args);
    return r;
  };

  async function probeBoth<T>(fn: () => Promise<T>): Promise<{ value: T; summary: string }> {
    const probes: ProbeSession[] = [];
    for (const vip of lab.plan.vips) probes.push(await lab.startProbe(vip.name, { intervalMs: 10, timeoutMs: 3000 }));
    const value = await fn();
    const lines: string[] = [];
    for (const p of probes) {
      const records = await p.stop();
      const s = summarizeProbe(records, {});
      lines.push(`${p.vip.name}: ${s.requests} requests, ${s.failed} failed`);
      const failed = records.filter((r) => !r.ok);
      if (failed.length > 0) {
        const events = (await lbha('events', '--limit', '400')).stdout.split('\n');
        const around = (t: number) => events.filter((l) => Math.abs(Date.parse(l.slice(0, 24)) - t) < 2000).join('\n');
        for (const f of failed.slice(0, 3)) lines.push(`failed at ${new Date(f.t).toISOString()}: ${f.error}\n${around(f.t)}`);
        console.log(lines.join('\n'));
      }
      assert.deepEqual(failed.slice(0, 5).map((r) => r.error), [], `no request to ${p.vip.name} fails (${failed.length} failed)`);
      assert.ok(records.length > 50, `the probe on ${p.vip.name} ran (${records.length} requests)`);
    }
    return { value, summary: lines.join('; ') };
  }

  it('drains, restarts nginx on and undrains each LB node in turn', { timeout: TEST_TIMEOUT }, async (t) => {
    const { summary } = await probeBoth(async () => {
      for (const node of LB_NODES) {
        const drain = await lbha('drain', node, '--wait', '--timeout', '20s', '--reason', 'e2e maintenance');
        assert.equal(drain.code, 0, `drain ${node}: ${drain.stderr}`);
        assert.deepEqual(await lab.holders(), Object.fromEntries(lab.plan.vips.map((v) => [v.name, LB_NODES.filter((n) => n !== node)])), `${node} holds no VIP`);
        const restart = await lbha('restart', node, 'nginx', '--timeout', '60s');
        assert.equal(restart.code, 0, `restart ${node}: ${restart.stderr}`);
        const undrain = await lbha('undrain', node, '--wait');
        assert.equal(undrain.code, 0, `undrain ${node}: ${undrain.stderr}`);
        await waitForBaseline(lab, 45_000);
      }
    });
    t.diagnostic(summary);
  });

  it('rolling-restarts nginx over the cluster, one node at a time', { timeout: TEST_TIMEOUT }, async (t) => {
    const { summary } = await probeBoth(async () => {
      const r = await lbha('rolling-restart', lab.plan.cluster, 'nginx', '--timeout', '60s');
      assert.equal(r.code, 0, `rolling restart: ${r.stderr}`);
      assert.match(r.stdout, /succeeded - nginx restarted on lb1, lb2, one node at a time/);
      await waitForBaseline(lab, 45_000);
    });
    t.diagnostic(summary);
  });

  it('completes a drain after the coordinator is killed in the middle of it', { timeout: TEST_TIMEOUT }, async () => {
    const agents = lab.agents;
    assert.ok(agents);
    const started = await lbha('drain', 'lb1', '--timeout', '20s', '--json');
    assert.equal(started.code, 0, started.stderr);
    const id = (JSON.parse(started.stdout) as { operation: { id: string } }).operation.id;
    await agents.stopCoordinator('SIGKILL');
    await agents.startCoordinator();
    const op = await waitFor('the drain to finish after the restart', async () => {
      const r = await lbha('operations', id, '--json');
      if (r.code !== 0) return { done: false, observed: r.stderr };
      const o = (JSON.parse(r.stdout) as { operation: { state: string; message: string } }).operation;
      return o.state === 'running' || o.state === 'pending' ? { done: false, observed: o.state } : { done: true, value: o };
    }, { timeoutMs: 60_000, intervalMs: 250 });
    assert.equal(op.state, 'succeeded', op.message);
    await lab.waitForHolder('vip1', 'lb2', { timeoutMs: 30_000 });
    const events = await lbha('events', '--node', 'lb1');
    assert.match(events.stdout, /drain\.succeeded/);
  });
});
