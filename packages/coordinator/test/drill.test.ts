// lbha drill over real gRPC with fake agents, the probes answered by a stand-in for lbha-probe
// (support/fake-probe.ts: nothing answers on the fake agents' VIPs): each VIP goes to its
// standby and back with the move's steps and a handover, its figures land in the operation,
// the events and /metrics; a failed probe fails the drill and the VIP still comes home;
// refusals change nothing; a cancelled drill takes its pins back; a coordinator restart during
// a move brings the VIP home and the drill carries on.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import type { pbControl } from '@lbha/shared/control';
import { eventually } from '@lbha/test-support';
import { fakeProbeDrill, Harness, LB1, LB2 } from './support/coordinator-harness.js';

type Op = pbControl.Operation;

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

async function drillHarness(probeArgs: readonly string[] = [], holdMs = 300): Promise<Harness> {
  return Harness.seeded({ config: { drill: fakeProbeDrill(probeArgs, holdMs) } });
}

const drill = async (hh: Harness, req: Partial<pbControl.DrillClusterRequest> = {}): Promise<Op> =>
  (await hh.call<pbControl.DrillClusterResponse>('drillCluster', { cluster: 'web', vip: '', timeoutMs: 20_000, reason: 'test', ...req })).operation as Op;

async function finished(hh: Harness, id: string, timeoutMs = 30_000): Promise<Op> {
  return eventually(async () => {
    const op = (await hh.call<pbControl.GetOperationResponse>('getOperation', { id })).operation;
    return op && ['succeeded', 'failed', 'cancelled'].includes(op.state) ? op : undefined;
  }, `operation ${id} to finish`, timeoutMs);
}

const vips = async (hh: Harness) => (await hh.call<pbControl.ListVipsResponse>('listVips', { cluster: '' })).vips;

async function home(hh: Harness): Promise<void> {
  await eventually(async () => {
    const v = await vips(hh);
    return v.every((x) => x.status === 'ok' && x.pin === undefined) && v.find((x) => x.name === 'vip-28')?.actualHolders.join() === LB1 && v.find((x) => x.name === 'vip-29')?.actualHolders.join() === LB2;
  }, 'both VIPs home, unpinned');
}

async function metrics(hh: Harness): Promise<string> {
  return (await hh.server.metrics.render()).body;
}

function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

describe('lbha drill over gRPC', () => {
  it('moves each VIP to its standby and back with a handover, and records its figures', async () => {
    h = await drillHarness();
    const op = await finished(h, (await drill(h)).id);
    assert.equal(op.state, 'succeeded', op.message);
    assert.equal(op.kind, 'drill');
    assert.deepEqual(
      op.steps.map((s) => `${s.name} ${s.state}`),
      [
        `vip-28/to-${LB2}/pin`,
        `vip-28/to-${LB2}/move-vip`,
        `vip-28/to-${LB2}/hold`,
        `vip-28/back-${LB1}/pin`,
        `vip-28/back-${LB1}/move-vip`,
        `vip-28/back-${LB1}/unpin`,
        `vip-29/to-${LB1}/pin`,
        `vip-29/to-${LB1}/move-vip`,
        `vip-29/to-${LB1}/hold`,
        `vip-29/back-${LB2}/pin`,
        `vip-29/back-${LB2}/move-vip`,
        `vip-29/back-${LB2}/unpin`,
      ].map((s) => `${s} succeeded`),
    );
    assert.match(op.message, /^drill passed: vip-28 passed: to nginx-lb02: \d+ probes, 0 failed, longest gap \d+ ms, answered on nginx-lb02 after \d+ ms; back to nginx-lb01: /);
    assert.deepEqual(op.drillResults.map((r) => [r.vip, r.home, r.standby, r.passed, r.endedOn, r.error]), [
      ['vip-28', LB1, LB2, true, LB1, ''],
      ['vip-29', LB2, LB1, true, LB2, ''],
    ]);
    for (const r of op.drillResults) {
      for (const f of [r.toStandby, r.backHome]) {
        assert.ok(f && f.sent > 0 && f.failed === 0 && f.complete && f.answeredMs >= 0, JSON.stringify(f));
        // The hold alone (300 ms) sees a probe every 20 ms.
        assert.ok(f.sent >= 5, `probes in a move: ${f.sent}`);
      }
    }
    await home(h);

    const ev = h.events().filter((e) => e.operationId === op.id || e.type === 'handover.started');
    assert.ok(ev.some((e) => e.type === 'drill.started'));
    for (const [vip, to] of [['vip-28', LB2], ['vip-29', LB1]] as const) {
      assert.ok(ev.some((e) => e.type === 'handover.started' && e.vip === vip && e.node === to), `${vip} went to ${to} with a handover`);
      const r = ev.find((e) => e.type === 'drill.vip_result' && e.vip === vip);
      assert.match(r?.message ?? '', new RegExp(`^${vip} passed: to ${to}: \\d+ probes, 0 failed`));
    }
    assert.match(ev.find((e) => e.type === 'drill.finished')?.message ?? '', /^drill of cluster web passed: 2 of 2 VIPs moved to their standby and back without a failed probe$/);
    assert.ok(ev.some((e) => e.type === 'drill.succeeded'));

    const m = await metrics(h);
    const last = sample(m, 'lbha_drill_last_success_timestamp_seconds', 'cluster="web"');
    assert.ok(last !== undefined && Math.abs(last * 1000 - op.updatedMs) < 5000, `last success ${last} near ${op.updatedMs}`);
    assert.equal(sample(m, 'lbha_drill_last_passed', 'cluster="web"'), 1);
    for (const r of op.drillResults) {
      const labels = `cluster="web",vip="${r.vip}"`;
      assert.equal(sample(m, 'lbha_drill_probes', labels), (r.toStandby?.sent ?? 0) + (r.backHome?.sent ?? 0));
      assert.equal(sample(m, 'lbha_drill_failed_probes', labels), 0);
      assert.equal(sample(m, 'lbha_drill_longest_gap_seconds', labels), Math.max(r.toStandby?.longestGapMs ?? 0, r.backHome?.longestGapMs ?? 0) / 1000);
    }
    assert.match(m, /lbha_operations_total\{cluster="web",operation="drill",state="succeeded"\} 1/);
  });

  it('fails on a failed probe, brings the VIP home all the same, and keeps when a drill last passed', async () => {
    h = await drillHarness(['--fail-every', '7']);
    const op = await finished(h, (await drill(h, { vip: 'vip-28' })).id);
    assert.equal(op.state, 'failed');
    assert.match(op.message, /^drill failed: vip-28 failed \(\d+ of \d+ probes failed during the move to the standby \(ECONNRESET\)/);
    assert.deepEqual(op.drillResults.map((r) => [r.vip, r.passed, r.endedOn]), [['vip-28', false, LB1]]);
    assert.ok(op.steps.every((s) => s.state === 'succeeded'), 'both moves happened');
    await home(h);
    const ev = h.events().filter((e) => e.operationId === op.id);
    assert.equal(ev.find((e) => e.type === 'drill.vip_result')?.severity, 'warning');
    assert.match(ev.find((e) => e.type === 'drill.finished')?.message ?? '', /^drill of cluster web failed: 0 of 1 VIPs .*; failed: vip-28$/);
    const m = await metrics(h);
    assert.equal(sample(m, 'lbha_drill_last_passed', 'cluster="web"'), 0);
    assert.equal(sample(m, 'lbha_drill_last_success_timestamp_seconds', 'cluster="web"'), undefined, 'no drill has passed');
    assert.ok((sample(m, 'lbha_drill_failed_probes', 'cluster="web",vip="vip-28"') ?? 0) > 0);
  });

  it('refuses, changing nothing: a bad or unknown cluster or VIP, a pinned VIP, no standby, a busy cluster', async () => {
    h = await drillHarness([], 1500);
    const hh = h;
    const count = async () => (await hh.call<pbControl.ListOperationsResponse>('listOperations', { limit: 0 })).operations.length;
    const refused = async (req: Partial<pbControl.DrillClusterRequest>, code: status, pattern: RegExp) => {
      const before = await count();
      await assert.rejects(drill(hh, req), (e: ServiceError) => {
        assert.equal(e.code, code, e.details);
        assert.match(e.details, pattern);
        return true;
      }, `refused: ${JSON.stringify(req)}`);
      assert.equal(await count(), before, 'no operation was started');
    };
    await refused({ cluster: 'nope' }, status.NOT_FOUND, /cluster nope is not in the cluster spec/);
    await refused({ cluster: 'bad name!' }, status.INVALID_ARGUMENT, /cluster/);
    await refused({ vip: 'vip-99' }, status.NOT_FOUND, /VIP vip-99 is not in cluster web/);
    await refused({ cluster: '' }, status.INVALID_ARGUMENT, /cluster/);

    const pinned = (await hh.call<pbControl.MoveVipResponse>('moveVip', { vip: 'vip-29', cluster: '', node: LB2, pin: true, timeoutMs: 5000, reason: 'keep' })).operation as Op;
    assert.equal((await finished(hh, pinned.id)).state, 'succeeded');
    await refused({}, status.FAILED_PRECONDITION, /^refused: vip-29 is pinned to nginx-lb02 by .* \(lbha unpin vip-29 first\)$/);
    await hh.call('unpinVip', { vip: 'vip-29', cluster: '', reason: '' });

    hh.agents.get(LB2)?.setHealth(false);
    await eventually(async () => (await vips(hh)).every((v) => v.actualHolders.join() === LB1 && v.status === 'ok'), 'both VIPs on lb01');
    await refused({ vip: 'vip-28' }, status.FAILED_PRECONDITION, /^refused: vip-28 has no healthy, active standby: nginx-lb02 is unhealthy$/);
    hh.agents.get(LB2)?.setHealth(true);
    await home(hh);

    // While a drill runs, the cluster is busy: no second drill, no move, no drain of its nodes.
    const first = await drill(hh);
    await refused({}, status.FAILED_PRECONDITION, new RegExp(`web is busy with operation ${first.id} \\(drill\\)`));
    await assert.rejects(hh.call('moveVip', { vip: 'vip-29', cluster: '', node: LB1, pin: false, timeoutMs: 5000, reason: '' }), (e: ServiceError) => e.code === status.FAILED_PRECONDITION && /busy/.test(e.details), 'move refused');
    await assert.rejects(hh.call('drain', { node: LB1, timeoutMs: 5000, force: false, maintenance: false, reason: '' }), (e: ServiceError) => e.code === status.FAILED_PRECONDITION && /busy/.test(e.details), 'drain refused');
    assert.equal((await finished(hh, first.id)).state, 'succeeded');
  });

  it('cancelled, it takes its pins back: the VIP comes home', async () => {
    h = await drillHarness([], 60_000);
    const hh = h;
    const op = await drill(hh, { vip: 'vip-28', timeoutMs: 120_000 });
    await eventually(async () => (await vips(hh)).find((v) => v.name === 'vip-28')?.actualHolders.join() === LB2, 'vip-28 on its standby');
    const c = (await hh.call<pbControl.CancelOperationResponse>('cancelOperation', { id: op.id, reason: 'enough' })).operation as Op;
    assert.equal(c.state, 'cancelled');
    assert.match(c.message, /the drill's pins are removed and placement brings each VIP home/);
    await home(hh);
  });

  it('a coordinator restart during a move: the VIP comes home, the move counts as unmeasured, the drill carries on', async () => {
    h = await drillHarness([], 3000);
    const hh = h;
    const op = await drill(hh);
    await eventually(async () => (await vips(hh)).find((v) => v.name === 'vip-28')?.actualHolders.join() === LB2, 'vip-28 on its standby');
    const [a1, a2] = [hh.agents.get(LB1), hh.agents.get(LB2)];
    await hh.restartCoordinator(() => {
      a1?.disconnect();
      a2?.disconnect();
    });
    await a1?.connect();
    await a2?.connect();
    const done = await finished(hh, op.id, 60_000);
    assert.equal(done.state, 'failed');
    const [r28, r29] = done.drillResults;
    assert.equal(r28?.toStandby?.complete, false);
    assert.match(r28?.error ?? '', /the coordinator restarted during the move to the standby/);
    assert.equal(r28?.endedOn, LB1);
    assert.equal(r29?.passed, true, JSON.stringify(r29));
    await home(hh);
    assert.ok(hh.events().some((e) => e.type === 'drill.resumed' && e.operationId === op.id));
  });
});
