// lbha drill on seed 1 under lbha, with real keepalived and nginx: each VIP goes to its standby
// and back with the connection handover while the lab's own clients watch both VIPs from the
// client namespace (a fresh-connection probe, a sequential client and kept-alive connections
// from wrk, which does not retry). None of their requests may fail, each VIP must end on its
// home, and the drill's own figures (probes it sent from the client namespace through
// lbha-probe) must be in the operation, the events and /metrics, and agree with each other.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { describe, it } from 'node:test';
import type { Lab, LbNode, ProbeRecord } from '../lab/index.js';
import { agentsOf, assertKeptAliveServed, describeWrk, runOperation, skipReason, useAgentLab } from './e2e-support.js';

const TEST_TIMEOUT = 240_000;

interface Figures {
  readonly sent: number;
  readonly failed: number;
  readonly longestGapMs: number;
  readonly answeredMs: number;
  readonly complete: boolean;
}
interface VipResult {
  readonly vip: string;
  readonly home: string;
  readonly standby: string;
  readonly toStandby: Figures;
  readonly backHome: Figures;
  readonly endedOn: string;
  readonly passed: boolean;
  readonly error: string;
}

const failures = (records: readonly ProbeRecord[]) => records.filter((r) => !r.ok).map((r) => `${new Date(r.t).toISOString()} ${r.error} after ${r.ms} ms (${r.connected ? 'connected' : 'not connected'})`);

/** The coordinator's /metrics over its HTTPS listener on loopback. */
function metrics(lab: Lab): Promise<string> {
  const agents = agentsOf(lab);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', servername: 'localhost', port: agents.httpPort, path: '/metrics', ca: readFileSync(agents.tls.ca) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`/metrics: HTTP ${res.statusCode}: ${body}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

describe('lbha drill: each VIP to its standby and back, measured', { skip: skipReason, timeout: 10 * 60_000 }, () => {
  let lab: Lab;
  useAgentLab('a', (l) => (lab = l), {
    // A drill that failed half way may leave a VIP pinned.
    afterRepair: async (l) => {
      for (const vip of ['vip1', 'vip2']) await l.agents?.cli(['unpin', vip]);
    },
  });

  it('drills seed 1: no client request fails, each VIP ends home, the figures are recorded', { timeout: TEST_TIMEOUT }, async (t) => {
    const agents = agentsOf(lab);
    const vips = [
      { name: 'vip1', home: 'lb1', standby: 'lb2' },
      { name: 'vip2', home: 'lb2', standby: 'lb1' },
    ] as const;
    const clients = await Promise.all(
      vips.map(async (v) => ({
        vip: v.name,
        fresh: await lab.startProbe(v.name, { intervalMs: 10, timeoutMs: 3000 }),
        // Each request waits for the previous one, 300 ms timeout: a stalled SYN shows here.
        sequential: await lab.startProbe(v.name, { sequential: true, intervalMs: 10, timeoutMs: 300 }),
      })),
    );
    // Kept-alive connections from a client that does not retry, for longer than the drill takes.
    // A request every 10 ms on each: flat out (4,500 requests a second per VIP) on a busy 2-core
    // machine, a sequential-client request accepted after the drill, with no move or flap
    // around it, waited more than 300 ms for its answer.
    // (nginx ends a connection after 1,000 requests: each lives about 10 s, across moves.)
    const wrkOptions = { connections: 8, durationS: 40, timeoutS: 1, delayMs: 10, perConnection: true };
    const wrk = vips.map((v) => lab.wrk(v.name, wrkOptions));
    // Awaited below; until then a failure of the drill must not leave them unhandled.
    for (const w of wrk) w.catch(() => undefined);
    const startedMs = Date.now();
    const op = (await runOperation(lab, ['drill', 'nginx-lb', '--timeout', '60s', '--detach', '--reason', 'e2e drill'])) as {
      state: string;
      message: string;
      id: string;
      steps: Array<{ name: string; state: string; startedMs: string | number; finishedMs: string | number }>;
      drillResults: VipResult[];
    };
    const drillMs = Date.now() - startedMs;
    const kept = await Promise.all(wrk);
    const seen = await Promise.all(clients.map(async (c) => ({ vip: c.vip, fresh: await c.fresh.stop(), sequential: await c.sequential.stop() })));

    t.diagnostic(`drill took ${drillMs} ms: ${op.message}`);
    // When a client request failed, the drill's steps and the coordinator's events say where the
    // moves and their handovers were at that time (wrk has no times: its run is the whole drill).
    if (seen.some((s) => failures(s.fresh).length + failures(s.sequential).length > 0) || kept.some((k) => k.errors > 0)) {
      for (const s of op.steps) t.diagnostic(`step ${s.name}: ${new Date(Number(s.startedMs)).toISOString()} - ${new Date(Number(s.finishedMs)).toISOString()} ${s.state}`);
      for (const e of await agents.api.listEvents()) {
        if (Number(e.timeMs) >= startedMs) t.diagnostic(`event ${new Date(Number(e.timeMs)).toISOString()} ${e.type} ${e.node} ${e.vip}: ${e.message}${e.reason ? ` (${e.reason})` : ''}`);
      }
    }
    for (const s of seen) t.diagnostic(`${s.vip}: fresh-connection probe ${s.fresh.length} requests, ${failures(s.fresh).length} failed; sequential ${s.sequential.length}, ${failures(s.sequential).length} failed`);
    for (const [i, k] of kept.entries()) t.diagnostic(`${vips[i]?.name}: ${describeWrk(k)}`);

    assert.equal(op.state, 'succeeded', op.message);
    for (const s of seen) {
      assert.deepEqual(failures(s.fresh), [], `no request of the fresh-connection probe of ${s.vip} failed`);
      assert.deepEqual(failures(s.sequential), [], `no request of the sequential client of ${s.vip} failed`);
      assert.ok(s.fresh.length > 0 && s.sequential.length > 0);
    }
    for (const [i, k] of kept.entries()) assertKeptAliveServed(k, wrkOptions, `the kept-alive connections to ${vips[i]?.name}`);

    // Each VIP went to its standby and came home; the client's neighbour entry names home.
    for (const v of vips) {
      assert.deepEqual(await lab.holdersOf(v.name), [v.home], `${v.name} ended on ${v.home}`);
      assert.equal((await lab.clientNeighbour(v.name))?.mac, await lab.macOf(v.home as LbNode), `the client's neighbour entry for ${v.name} names ${v.home}`);
    }
    assert.deepEqual((await agents.api.listVips()).map((v) => v.pin), [undefined, undefined], 'no pin is left');

    // The drill's own figures: probes sent from the client namespace during each move, none failed.
    assert.deepEqual(op.drillResults.map((r) => [r.vip, r.home, r.standby, r.passed, r.endedOn, r.error]), vips.map((v) => [v.name, v.home, v.standby, true, v.home, '']));
    const events = (await agents.api.listEvents()).filter((e) => e.operationId === op.id || e.type === 'handover.started');
    const m = await metrics(lab);
    for (const r of op.drillResults) {
      for (const [what, f] of [['to the standby', r.toStandby], ['back home', r.backHome]] as const) {
        t.diagnostic(`${r.vip} ${what}: ${f.sent} probes, ${f.failed} failed, longest gap ${f.longestGapMs} ms, answered after ${f.answeredMs} ms`);
        assert.ok(f.sent > 0 && f.complete, `${r.vip} ${what}: probes were sent (${JSON.stringify(f)})`);
        assert.equal(f.failed, 0, `${r.vip} ${what}: no probe failed`);
        assert.ok(Number(f.answeredMs) >= 0 && Number(f.answeredMs) <= drillMs, `${r.vip} ${what}: answered within the drill (${f.answeredMs} ms)`);
        assert.ok(f.longestGapMs > 0 && f.longestGapMs <= drillMs, `${r.vip} ${what}: a longest gap within the drill (${f.longestGapMs} ms)`);
      }
      assert.ok(events.some((e) => e.type === 'handover.started' && e.vip === r.vip && e.node === r.standby), `${r.vip} went to ${r.standby} with a handover`);
      const ev = events.find((e) => e.type === 'drill.vip_result' && e.vip === r.vip);
      assert.ok(
        ev?.message.startsWith(`${r.vip} passed: to ${r.standby}: ${r.toStandby.sent} probes, 0 failed, longest gap ${r.toStandby.longestGapMs} ms`),
        `the event carries the figures: ${ev?.message}`,
      );
      const labels = `cluster="nginx-lb",vip="${r.vip}"`;
      assert.equal(sample(m, 'lbha_drill_probes', labels), r.toStandby.sent + r.backHome.sent);
      assert.equal(sample(m, 'lbha_drill_failed_probes', labels), 0);
      assert.equal(sample(m, 'lbha_drill_longest_gap_seconds', labels), Math.max(r.toStandby.longestGapMs, r.backHome.longestGapMs) / 1000);
    }
    assert.match(events.find((e) => e.type === 'drill.finished')?.message ?? '', /^drill of cluster nginx-lb passed: 2 of 2 VIPs/);
    const last = sample(m, 'lbha_drill_last_success_timestamp_seconds', 'cluster="nginx-lb"');
    assert.ok(last !== undefined && last * 1000 >= startedMs && last * 1000 <= Date.now(), `when the drill last passed: ${last}`);
    assert.equal(sample(m, 'lbha_drill_last_passed', 'cluster="nginx-lb"'), 1);
  });
});
