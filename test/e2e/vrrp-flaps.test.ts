// A flap (seed 1, nginx active/active): lb2 misses lb1's adverts for vip1 a little longer than
// its master-down time, takes the VIP, and gives it back when lb1's next advert arrives. Nobody
// asked for it and it lasts a moment; lbha must still report it: an event for each transition
// with its cause, a flap event with how long lb2 was MASTER, LbhaVipFlapping in a real Prometheus.
// The clients are measured (fresh connections, a sequential client, kept-alive connections from
// wrk) and their neighbour entry for vip1 must point at lb1 again right after.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually } from '@lbha/test-support';
import { linkMac, summarizeProbe, type Lab } from '../lab/index.js';
import { NeighbourWatch } from '../lab/neighbour-watch.js';
import { clearVrrpDrop, dropVrrp } from '../lab/vrrp-path.js';
import { agentsOf, describeWrk, skipReason, useAgentLab } from './e2e-support.js';
import { LabPrometheus, prometheusMissing } from './lab-prometheus.js';

describe('a short flap (nginx active/active)', { skip: skipReason ?? prometheusMissing, timeout: 6 * 60_000 }, () => {
  let lab: Lab;
  let prom: LabPrometheus;
  useAgentLab('a', (l) => (lab = l), { afterRepair: (l) => clearVrrpDrop(l, 'lb2') });
  before(async () => {
    prom = await LabPrometheus.start(lab);
  });
  after(async () => {
    await prom?.stop();
  });

  it('is reported with its cause and its length, and fires LbhaVipFlapping', async () => {
    const agents = agentsOf(lab);
    const vip1 = lab.vip('vip1');
    const lb1Mac = await linkMac(lab.names.ns.lb1, 'eth1');
    const afterSeq = Math.max(0, ...(await agents.api.listEvents()).map((e) => e.seq));
    await prom.quiet('LbhaVipFlapping');
    const fresh = await lab.startProbe('vip1');
    const sequential = await lab.startProbe('vip1', { sequential: true, timeoutMs: 300 });
    const watch = await NeighbourWatch.start(lab, [vip1.address]);
    const kept = lab.wrk('vip1', { connections: 10, durationS: 6, timeoutS: 1, perConnection: true });
    await new Promise((r) => setTimeout(r, 1500));
    // lb2 misses lb1's adverts for 600 ms: its master-down timer (3 adverts + skew) runs out.
    const dropAt = Date.now();
    await dropVrrp(lab, 'lb2', { from: [lab.plan.lbs.lb1.outer] });
    await new Promise((r) => setTimeout(r, 600));
    await clearVrrpDrop(lab, 'lb2');
    const restoredAt = Date.now();
    const flap = await eventually(async () => (await agents.api.listEvents(afterSeq)).find((e) => e.type === 'vip.flap'), 'a vip.flap event', { timeoutMs: 15_000 });
    assert.equal(flap.node, 'lb2');
    assert.equal(flap.vip, 'vip1');
    assert.match(flap.message, /^lb2 was MASTER of vip1 for \d+ ms: MASTER for \d+ ms after the master's adverts stopped; a higher priority is back$/);
    const took = (await agents.api.listEvents(afterSeq)).find((e) => e.type === 'vrrp.unplanned' && e.node === 'lb2' && e.vip === 'vip1');
    assert.equal(took?.reason, 'master_down');
    assert.match(took?.message ?? '', /^lb2: vip1 BACKUP -> MASTER: the master stopped advertising/);
    await prom.firing('LbhaVipFlapping', { vip: 'vip1' });
    const flaps = await prom.samples('lbha_vip_flaps_total{vip="vip1"}');
    assert.equal(flaps[0]?.value, 1);
    const wrk = await kept;
    watch.stop();
    const records = { fresh: await fresh.stop(), sequential: await sequential.stop() };
    const ms = Number(/for (\d+) ms/.exec(flap.message)?.[1]);
    console.log(`flap: lb2 was MASTER of vip1 for ${ms} ms (VRRP from lb1 dropped at lb2 for ${restoredAt - dropAt} ms)`);
    console.log(`the client's entry for vip1 meanwhile: ${watch.all().map((c) => `${c.t - dropAt} ms ${c.mac ?? '-'} ${c.state}`).join('; ') || 'unchanged'} (lb1 is ${lb1Mac})`);
    for (const [name, r] of Object.entries(records)) {
      const s = summarizeProbe(r, { fromMs: dropAt });
      console.log(`${name}: ${s.requests} requests from the drop on, ${s.failed} failed, longest gap ${s.longestGapMs.toFixed(0)} ms`);
    }
    console.log(`10 kept-alive connections for 6 s around it, ${describeWrk(wrk)}`);
    // The client sends to lb1 again, and from a second after the path is back every request is answered by lb1.
    assert.equal(watch.macAt(vip1.address, Date.now()), lb1Mac, "the client's neighbour entry points at lb1 again");
    for (const [name, r] of Object.entries(records)) {
      const late = r.filter((x) => x.t >= restoredAt + 1000);
      assert.ok(late.length > 0 && late.every((x) => x.ok && x.lb === 'lb1'), `${name}: served by lb1 again after the flap`);
    }
  });
});
