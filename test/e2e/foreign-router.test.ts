// A VRRP router that is not a node of the cluster, on the client segment (seed 1, nginx
// active/active): a stock keepalived advertising vip1's VRID with priority 200. With the default
// policy (report) it takes vip1 from the nodes within its master-down time and clients fail;
// lbha names it (source, VRID, priority) in an event, in `lbha vips` and in an alert, and calls
// the VIP foreign rather than orphaned. With `foreign_routers: block` the nodes drop its adverts
// and the holder outbids it: the cluster takes vip1 back, and a router that starts again never
// gets it. What clients see is measured in each phase.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually, waitFor } from '@lbha/test-support';
import { summarizeProbe, type Lab, type ProbeRecord } from '../lab/index.js';
import { startForeignRouter, type ForeignRouter } from '../lab/foreign-router.js';
import { agentsOf, assertKeptAliveServed, describeWrk, skipReason, useAgentLab } from './e2e-support.js';
import { LabPrometheus, prometheusMissing } from './lab-prometheus.js';

const ROGUE = '192.168.20.50';

function line(label: string, records: readonly ProbeRecord[], fromMs: number, toMs: number): string {
  const s = summarizeProbe(records, { fromMs, toMs });
  return `${label}: ${s.requests} requests, ${s.failed} failed, longest gap ${s.longestGapMs.toFixed(0)} ms`;
}

describe('a router that is not a node takes a VIP (nginx active/active)', { skip: skipReason ?? prometheusMissing, timeout: 8 * 60_000 }, () => {
  let lab: Lab;
  let prom: LabPrometheus;
  let rogue: ForeignRouter | undefined;
  useAgentLab('a', (l) => (lab = l), {
    afterRepair: async (l) => {
      await rogue?.remove();
      rogue = undefined;
      const agents = agentsOf(l);
      const r = await agents.cli(['spec', 'apply', agents.specFile, '--reason', 'e2e: back to the lab spec']);
      assert.equal(r.code, 0, r.stderr);
    },
  });
  before(async () => {
    prom = await LabPrometheus.start(lab);
  });
  after(async () => {
    await prom?.stop();
  });

  it('is reported as what it is, blocked on request, and cannot take the VIP back', async () => {
    const agents = agentsOf(lab);
    const vip1 = lab.vip('vip1');
    const afterSeq = Math.max(0, ...(await agents.api.listEvents()).map((e) => e.seq));
    const probe = await lab.startProbe('vip1', { maxDurationMs: 300_000 });
    const control = await lab.startProbe('vip2', { maxDurationMs: 300_000 });
    try {
      // Report (the default): the router takes vip1.
      const startedAt = Date.now();
      rogue = await startForeignRouter(lab, { vrid: vip1.vrid, priority: 200, vip: `${vip1.address}/${vip1.prefix}`, address: ROGUE });
      await eventually(() => rogue?.holdsVip(), 'the foreign router to take vip1', { timeoutMs: 15_000 });
      await lab.waitForHolder('vip1', 'lb1', { timeoutMs: 1 }).then(
        () => assert.fail('lb1 should have yielded vip1'),
        () => undefined,
      );
      const named = await eventually(async () => (await agents.api.listEvents(afterSeq)).find((e) => e.type === 'vrrp.foreign_router' && e.vip === 'vip1'), 'the foreign router named in an event', { timeoutMs: 20_000 });
      assert.match(named.message, new RegExp(`^${ROGUE.replaceAll('.', '\\.')} advertises vip1's VRID with priority 200; it is not a node of the cluster`));
      const foreign = await eventually(async () => (await agents.api.listEvents(afterSeq)).find((e) => e.type === 'vip.foreign'), 'vip.foreign', { timeoutMs: 20_000 });
      assert.equal(foreign.severity, 'critical');
      assert.deepEqual((await agents.api.listEvents(afterSeq)).filter((e) => e.type === 'vip.orphan'), [], 'not called an orphan');
      const listed = await agents.cli(['vips']);
      assert.match(listed.stdout, /vip1 .* FOREIGN/);
      assert.match(listed.stdout, new RegExp(`vip1: ${ROGUE.replaceAll('.', '\\.')} advertises VRID ${vip1.vrid} with priority 200; it is not a node of the cluster`));
      const alert = await prom.firing('LbhaForeignVrrpRouter', { vip: 'vip1', source: ROGUE });
      assert.equal(alert.labels['severity'], 'warning');
      await prom.firing('LbhaVipHeldByForeignRouter', { vip: 'vip1' });
      assert.ok(!(await prom.active()).includes('LbhaVipWithoutHolder'), 'not reported as a VIP without holder');
      const reportedAt = Date.now();
      const records = await probe.records();
      console.log(line('vip1 while the foreign router holds it (reported only)', records, startedAt, reportedAt));
      assert.ok(summarizeProbe(records, { fromMs: startedAt, toMs: reportedAt }).failed > 0, 'clients of vip1 reached the foreign router, not a load balancer');

      // Block: the nodes drop its adverts; lb1 takes vip1 back and outbids it.
      const seqBeforeBlock = Math.max(0, ...(await agents.api.listEvents(afterSeq)).map((e) => e.seq));
      const blocked = join(lab.runDir, 'cluster-block.yaml');
      writeFileSync(blocked, readFileSync(agents.specFile, 'utf8').replace('failback: immediate', 'failback: immediate\n      foreign_routers: block'));
      const applied = await agents.cli(['spec', 'apply', blocked, '--reason', 'e2e: block foreign routers']);
      assert.equal(applied.code, 0, applied.stderr);
      const blockAt = Date.now();
      await lab.waitForHolder('vip1', 'lb1', { timeoutMs: 20_000 });
      await eventually(async () => !(await rogue?.holdsVip()), 'the foreign router to let vip1 go', { timeoutMs: 10_000 });
      await eventually(async () => (await agents.api.listEvents(seqBeforeBlock)).some((e) => e.type === 'vip.converged' && e.vip === 'vip1'), 'vip1 converged', { timeoutMs: 20_000 });
      const explain = await agents.cli(['vips', '--explain']);
      assert.match(explain.stdout, /lb1\s+MASTER\s+has VIP\s+priority 254 = .*foreign_routers/);
      await prom.quiet('LbhaVipHeldByForeignRouter');
      const backAt = Date.now();
      // From here on, clients of vip1 reach lb1: every request answered, by lb1. The check reads
      // the requests sent from 1.5 s after that moment once there are over 50 of them and they
      // span at least 1.5 s (a loaded machine records fewer per second).
      const checkFrom = backAt + 1500;
      await waitFor('over 50 requests to vip1 spanning 1.5 s, from 1.5 s after lb1 has it back', async () => {
        const sent = (await probe.records()).filter((r) => r.t >= checkFrom);
        const span = Math.max(0, ...sent.map((r) => r.t - checkFrom));
        if (sent.length > 50 && span >= 1500) return { done: true, value: undefined };
        return { done: false, observed: `${sent.length} requests over ${span.toFixed(0)} ms` };
      }, { timeoutMs: 15_000, intervalMs: 100 });
      let after = (await probe.records()).filter((r) => r.t >= checkFrom);
      console.log(line('vip1 after blocking, from 1.5 s after lb1 has it back', after, checkFrom, Date.now()));
      assert.ok(after.length > 50 && after.every((r) => r.ok && r.lb === 'lb1'), 'vip1 is served by lb1 again');
      console.log(line('vip1 from the block to lb1 holding it', await probe.records(), blockAt, backAt));

      // The router starts again: it hears the holder outbid it and stays BACKUP.
      await rogue.remove();
      const sequential = await lab.startProbe('vip1', { sequential: true, timeoutMs: 300 });
      const wrkOptions = { connections: 10, durationS: 9, timeoutS: 1, perConnection: true };
      const kept = lab.wrk('vip1', wrkOptions);
      const restartAt = Date.now();
      rogue = await startForeignRouter(lab, { vrid: vip1.vrid, priority: 200, vip: `${vip1.address}/${vip1.prefix}`, address: ROGUE });
      await new Promise((r) => setTimeout(r, 8000));
      assert.equal(await rogue.holdsVip(), false, 'the foreign router never takes vip1');
      assert.deepEqual(await lab.holdersOf('vip1'), ['lb1']);
      after = (await probe.records()).filter((r) => r.t >= restartAt);
      console.log(line('vip1 while the blocked router runs again for 8 s', after, restartAt, Date.now()));
      assert.deepEqual(after.filter((r) => !r.ok).map((r) => r.error), [], 'no request fails while it runs');
      const seq = await sequential.stop();
      console.log(line('sequential client meanwhile', seq, restartAt, Date.now()));
      assert.deepEqual(seq.filter((r) => !r.ok).map((r) => r.error), [], 'no sequential request fails');
      const w = await kept;
      console.log(`10 kept-alive connections meanwhile, ${describeWrk(w)}`);
      assertKeptAliveServed(w, wrkOptions, 'while the blocked router runs again');
      const others = summarizeProbe(await control.records(), { fromMs: startedAt });
      console.log(`vip2 (not claimed) throughout: ${others.requests} requests, ${others.failed} failed`);
      assert.equal(others.failed, 0, 'vip2 is not affected');
    } finally {
      await probe.stop();
      await control.stop();
    }
  });
});

