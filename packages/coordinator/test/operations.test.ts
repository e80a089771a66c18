// Drain, undrain, restart, reload and rolling restart over real gRPC, with fake agents; and a
// coordinator restarted in the middle of a drain.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import type { pbControl } from '@lbha/shared/control';
import { eventually } from '@lbha/test-support';
import { Harness, LB1, LB2, SEED1 } from './support/coordinator-harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

type Op = pbControl.Operation;

async function seed(): Promise<Harness> {
  const hh = await Harness.start();
  await hh.applySpec(SEED1);
  await hh.agent(LB1);
  await hh.agent(LB2);
  await holders(hh, { 'vip-28': LB1, 'vip-29': LB2 });
  return hh;
}

const holders = (hh: Harness, want: Record<string, string>) =>
  eventually(async () => {
    const list = (await hh.call<pbControl.ListVipsResponse>('listVips', { cluster: '' })).vips;
    return Object.entries(want).every(([name, holder]) => {
      const v = list.find((x) => x.name === name);
      return v?.status === 'ok' && v.actualHolders.join() === holder;
    });
  }, `VIPs held as ${JSON.stringify(want)}`);

async function finished(hh: Harness, id: string, timeoutMs = 15_000): Promise<Op> {
  return eventually(async () => {
    const op = (await hh.call<pbControl.GetOperationResponse>('getOperation', { id })).operation;
    return op && ['succeeded', 'failed', 'cancelled'].includes(op.state) ? op : undefined;
  }, `operation ${id} to finish`, timeoutMs);
}

const modeOf = async (hh: Harness, node: string) => (await hh.call<pbControl.GetNodeResponse>('getNode', { name: node })).node?.mode;

describe('operations over gRPC', () => {
  it('drains a node: VIPs move, connections drain, the node ends drained; undrain brings it back', async () => {
    h = await seed();
    const a1 = h.agents.get(LB1)!;
    const started = (await h.call<pbControl.DrainResponse>('drain', { node: LB1, timeoutMs: 5000, force: false, maintenance: false, reason: 'kernel update' })).operation as Op;
    assert.equal(started.kind, 'drain');
    const op = await finished(h, started.id);
    assert.equal(op.state, 'succeeded', op.message);
    assert.deepEqual(op.steps.map((s) => [s.name, s.state]), [
      ['mode:draining', 'succeeded'],
      ['move-vips', 'succeeded'],
      ['connections', 'succeeded'],
      ['mode:drained', 'succeeded'],
    ]);
    assert.match(op.steps[1]?.message ?? '', /vip-28 moved to nginx-lb02/);
    await holders(h, { 'vip-28': LB2, 'vip-29': LB2 });
    assert.equal(await modeOf(h, LB1), 3 /* NODE_MODE_DRAINED */);
    await eventually(() => a1.desired?.mode === 'drained', 'lb01 told it is drained');
    assert.deepEqual(a1.received.map((c) => c.action.kind), ['drain']);
    const ev = h.events();
    assert.ok(ev.some((e) => e.type === 'drain.started' && e.reason === 'kernel update'));
    assert.ok(ev.some((e) => e.type === 'drain.succeeded'));

    const un = (await h.call<pbControl.UndrainResponse>('undrain', { node: LB1, reason: 'done' })).operation as Op;
    assert.equal((await finished(h, un.id)).state, 'succeeded');
    await holders(h, { 'vip-28': LB1, 'vip-29': LB2 });
    assert.equal(await modeOf(h, LB1), 1 /* NODE_MODE_ACTIVE */);
  });

  it('drains a node into maintenance mode, which undrain ends', async () => {
    h = await seed();
    const started = (await h.call<pbControl.DrainResponse>('drain', { node: LB1, timeoutMs: 5000, force: false, maintenance: true, reason: 'disk swap' })).operation as Op;
    const op = await finished(h, started.id);
    assert.equal(op.state, 'succeeded', op.message);
    assert.deepEqual(op.steps.map((s) => s.name), ['mode:draining', 'move-vips', 'connections', 'mode:maintenance']);
    assert.match(op.message, /nginx-lb01 drained, in maintenance/);
    await holders(h, { 'vip-28': LB2, 'vip-29': LB2 });
    assert.equal(await modeOf(h, LB1), 4 /* NODE_MODE_MAINTENANCE */);
    await eventually(() => h?.agents.get(LB1)?.desired?.mode === 'maintenance', 'lb01 told it is in maintenance');
    const un = (await h.call<pbControl.UndrainResponse>('undrain', { node: LB1, reason: 'done' })).operation as Op;
    assert.equal((await finished(h, un.id)).state, 'succeeded');
    assert.equal(await modeOf(h, LB1), 1 /* NODE_MODE_ACTIVE */);
    await holders(h, { 'vip-28': LB1, 'vip-29': LB2 });
  });

  it('refuses, through the safety interlock, to drain the last healthy node unless forced', async () => {
    h = await seed();
    h.agents.get(LB2)!.setHealth(false);
    await holders(h, { 'vip-28': LB1, 'vip-29': LB1 });
    const err = await h.call('drain', { node: LB1, timeoutMs: 1000, force: false, reason: '' }).then(
      () => undefined,
      (e: ServiceError) => e,
    );
    assert.ok(err, 'the drain was refused');
    assert.equal(err.code, status.FAILED_PRECONDITION);
    assert.match(err.details, /safety interlock: nginx-lb01 is the last healthy active node of cluster web: taking it out would leave vip-28, vip-29 without a healthy holder \(nginx-lb02 is unhealthy\)/);
    assert.equal(await modeOf(h, LB1), 1, 'a refused operation changes nothing');
    const forced = (await h.call<pbControl.DrainResponse>('drain', { node: LB1, timeoutMs: 1000, force: true, reason: '' })).operation as Op;
    const op = await finished(h, forced.id);
    assert.equal(op.state, 'succeeded', op.message);
    assert.match(op.steps.find((s) => s.name === 'move-vips')?.message ?? '', /forced: no other eligible node/);
  });

  it('refuses an unknown node, a bad name and a second operation on a busy node', async () => {
    h = await seed();
    const code = (p: Promise<unknown>) => p.then(() => status.OK, (e: ServiceError) => e.code);
    assert.equal(await code(h.call('drain', { node: 'nginx-lb09', timeoutMs: 0, force: false, reason: '' })), status.NOT_FOUND);
    assert.equal(await code(h.call('drain', { node: '../etc', timeoutMs: 0, force: false, reason: '' })), status.INVALID_ARGUMENT);
    assert.equal(await code(h.call('restartService', { node: LB1, service: 'nginx;reboot', force: false, timeoutMs: 0, reason: '' })), status.INVALID_ARGUMENT);
    h.agents.get(LB1)!.opts.drainMs = 60_000;
    await h.call('drain', { node: LB1, timeoutMs: 30_000, force: false, reason: '' });
    assert.equal(await code(h.call('restartService', { node: LB1, service: 'nginx', force: false, timeoutMs: 0, reason: '' })), status.FAILED_PRECONDITION);
    h.agents.get(LB1)!.finishDrains();
  });

  it('restarts the proxy on a VIP holder: drain, restart, healthy, undrain; each command exactly once', async () => {
    h = await seed();
    const a1 = h.agents.get(LB1)!;
    const started = (await h.call<pbControl.RestartServiceResponse>('restartService', { node: LB1, service: 'nginx', force: false, timeoutMs: 10_000, reason: '' })).operation as Op;
    const op = await finished(h, started.id);
    assert.equal(op.state, 'succeeded', op.message);
    assert.deepEqual(op.steps.map((s) => s.name), ['validate', 'mode:draining', 'move-vips', 'connections', 'mode:drained', 'restart', 'healthy', 'mode:active', 'agent-undrain']);
    assert.deepEqual(a1.received.map((c) => c.action.kind), ['validate', 'drain', 'restart', 'undrain']);
    assert.deepEqual(new Set(a1.executed).size, 4);
    await holders(h, { 'vip-28': LB1, 'vip-29': LB2 });
  });

  it('restarts without draining a node that holds no VIP', async () => {
    h = await seed();
    await h.applySpec(SEED1.replace('home: nginx-lb02', 'home: nginx-lb01'));
    await holders(h, { 'vip-28': LB1, 'vip-29': LB1 });
    const a2 = h.agents.get(LB2)!;
    const op = await finished(h, ((await h.call<pbControl.RestartServiceResponse>('restartService', { node: LB2, service: 'nginx', force: false, timeoutMs: 10_000, reason: '' })).operation as Op).id);
    assert.equal(op.state, 'succeeded', op.message);
    assert.deepEqual(a2.received.map((c) => c.action.kind), ['validate', 'restart']);
  });

  it('reports a reload refused by the config check', async () => {
    h = await seed();
    h.agents.get(LB1)!.opts.failReload = 'nginx';
    const r = await finished(h, ((await h.call<pbControl.ReloadServiceResponse>('reloadService', { node: LB1, service: 'nginx', reason: '' })).operation as Op).id);
    assert.equal(r.state, 'failed');
    assert.match(r.message, /reload of nginx on nginx-lb01 refused or failed \(failed: nginx configuration test failed: unknown directive "bogus"\)/);
  });

  it('refuses a restart whose config does not validate before anything moves', async () => {
    h = await seed();
    const a1 = h.agents.get(LB1)!;
    a1.opts.invalidConfig = 'nginx';
    const op = await finished(h, ((await h.call<pbControl.RestartServiceResponse>('restartService', { node: LB1, service: 'nginx', force: false, timeoutMs: 10_000, reason: '' })).operation as Op).id);
    assert.equal(op.state, 'failed');
    assert.match(op.message, /nginx on nginx-lb01 was not restarted, nothing moved: .*unknown directive "bogus"/);
    assert.deepEqual(op.steps.map((s) => [s.name, s.state]), [['validate', 'failed']]);
    assert.deepEqual(a1.received.map((c) => c.action.kind), ['validate'], 'no drain, no restart');
    assert.equal(await modeOf(h, LB1), 1 /* NODE_MODE_ACTIVE */);
    assert.equal(a1.desired?.mode, 'active');
    await holders(h, { 'vip-28': LB1, 'vip-29': LB2 });
  });

  it('gives a node its mode back when the restart fails after the drain', async () => {
    h = await seed();
    const a1 = h.agents.get(LB1)!;
    a1.opts.failRestart = 'nginx';
    const op = await finished(h, ((await h.call<pbControl.RestartServiceResponse>('restartService', { node: LB1, service: 'nginx', force: false, timeoutMs: 10_000, reason: '' })).operation as Op).id);
    assert.equal(op.state, 'failed');
    assert.match(op.message, /restart of nginx on nginx-lb01 failed .*; nginx-lb01 is active again/);
    assert.deepEqual(a1.received.map((c) => c.action.kind), ['validate', 'drain', 'restart', 'undrain']);
    assert.equal(await modeOf(h, LB1), 1 /* NODE_MODE_ACTIVE */);
    await eventually(() => a1.desired?.mode === 'active', 'lb01 told it is active again');
    await holders(h, { 'vip-28': LB1, 'vip-29': LB2 });
  });

  it('rolling-restarts a cluster one node at a time and stops at the first failure', async () => {
    h = await seed();
    const op = await finished(h, ((await h.call<pbControl.RollingRestartResponse>('rollingRestart', { cluster: 'web', service: 'nginx', force: false, timeoutMs: 10_000, reason: '' })).operation as Op).id, 30_000);
    assert.equal(op.state, 'succeeded', op.message);
    assert.match(op.message, /nginx restarted on nginx-lb01, nginx-lb02, one node at a time/);
    // The second node was drained only after the first was back and its VIP home again.
    const s = op.steps;
    const lb1Undrained = s.find((x) => x.name === `${LB1}/mode:active`)?.finishedMs ?? Infinity;
    const lb2Draining = s.find((x) => x.name === `${LB2}/mode:draining`)?.startedMs ?? 0;
    assert.ok(lb1Undrained <= lb2Draining);
    await holders(h, { 'vip-28': LB1, 'vip-29': LB2 });

    h.agents.get(LB2)!.opts.failRestart = 'nginx';
    const bad = await finished(h, ((await h.call<pbControl.RollingRestartResponse>('rollingRestart', { cluster: 'web', service: 'nginx', force: false, timeoutMs: 10_000, reason: '' })).operation as Op).id, 30_000);
    assert.equal(bad.state, 'failed');
    assert.match(bad.message, /stopped at nginx-lb02: restart of nginx on nginx-lb02 failed .*; restarted before it: nginx-lb01/);
  });

  it('resumes a drain interrupted by a coordinator restart; the drain command runs once', async () => {
    h = await seed();
    const a1 = h.agents.get(LB1)!;
    a1.opts.drainMs = 60_000;
    const started = (await h.call<pbControl.DrainResponse>('drain', { node: LB1, timeoutMs: 20_000, force: false, reason: '' })).operation as Op;
    await eventually(() => a1.received.some((c) => c.action.kind === 'drain'), 'the drain command at lb01');
    await h.restartCoordinator(() => {
      // The agent finishes its drain while the coordinator is away; it reports in Hello.
      a1.disconnect();
      h!.agents.get(LB2)!.disconnect();
      a1.finishDrains();
    });
    await h.agents.get(LB2)!.connect();
    await a1.connect();
    const op = await finished(h, started.id);
    assert.equal(op.state, 'succeeded', op.message);
    assert.equal(a1.executed.filter((id) => id.endsWith('connections')).length, 1, 'the drain command ran once');
    assert.ok(h.events().some((e) => e.type === 'drain.resumed' && e.operationId === started.id));
    assert.equal(await modeOf(h, LB1), 3);
  });

  it('cancels a drain waiting for connections: it stops there, nothing is rolled back, it cannot be cancelled twice', async () => {
    h = await seed();
    const a1 = h.agents.get(LB1)!;
    a1.opts.drainMs = 60_000;
    const started = (await h.call<pbControl.DrainResponse>('drain', { node: LB1, timeoutMs: 30_000, force: false, maintenance: false, reason: '' })).operation as Op;
    await eventually(() => a1.received.some((c) => c.action.kind === 'drain'), 'the drain command at lb01');
    const t0 = Date.now();
    const res = await h.call<pbControl.CancelOperationResponse>('cancelOperation', { id: started.id, reason: 'wrong node' });
    assert.ok(Date.now() - t0 < 5_000, 'cancel does not wait for the drain deadline');
    const op = res.operation as Op;
    assert.equal(op.state, 'cancelled');
    assert.match(op.message, /^cancelled by \S+ \(wrong node\) during connections; nothing was rolled back: nginx-lb01 is draining$/);
    assert.equal(await modeOf(h, LB1), 2 /* NODE_MODE_DRAINING */);
    assert.ok(h.events().some((e) => e.type === 'drain.cancelled' && e.operationId === started.id));
    const again = await h.call('cancelOperation', { id: started.id, reason: '' }).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.match(String(again?.message), /FAILED_PRECONDITION|already cancelled/);
    const unknown = await h.call('cancelOperation', { id: 'nope', reason: '' }).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.match(String(unknown?.message), /no operation nope/);
    a1.finishDrains();
    // The node is free for the next operation.
    const un = (await h.call<pbControl.UndrainResponse>('undrain', { node: LB1, reason: '' })).operation as Op;
    assert.equal((await finished(h, un.id)).state, 'succeeded');
  });

  it('applies, validates and diffs specs through the API; a refused spec changes nothing', async () => {
    h = await Harness.start();
    const bad = await h.call<pbControl.ApplySpecResponse>('applySpec', { yaml: SEED1.replace('vrid: 52', 'vrid: 51'), dryRun: false, expectedVersion: 0, reason: '' });
    assert.equal(bad.applied, false);
    assert.equal(bad.version, 0);
    assert.equal(bad.errors[0]?.path, 'clusters[0].vips[1].vrid');
    assert.ok((bad.errors[0]?.line ?? 0) > 0);
    assert.equal((await h.call<pbControl.GetSpecResponse>('getSpec', {})).version, 0);

    const dry = await h.call<pbControl.ApplySpecResponse>('applySpec', { yaml: SEED1, dryRun: true, expectedVersion: 0, reason: '' });
    assert.equal(dry.applied, false);
    assert.ok(dry.changes.includes('+ cluster web (service nginx, 2 nodes, 2 VIPs, 3 checks)'));
    await h.applySpec(SEED1);
    const v = await h.call<pbControl.ValidateSpecResponse>('validateSpec', { yaml: SEED1.replace('failback: immediate', 'failback: never') });
    assert.deepEqual([v.valid, v.changes], [true, ['~ cluster web: policy.failback: immediate -> never']]);
    const stale = await h.call('applySpec', { yaml: SEED1, dryRun: false, expectedVersion: 7, reason: '' }).then(() => undefined, (e: ServiceError) => e);
    assert.equal(stale?.code, status.FAILED_PRECONDITION);
    const spec = await h.call<pbControl.GetSpecResponse>('getSpec', {});
    assert.equal(spec.version, 1);
    assert.equal(spec.yaml, SEED1);
  });

  it('answers a risky spec with warnings beside the changes, applies it all the same and records them as events', async () => {
    h = await Harness.start();
    const risky = `${SEED1.trimEnd()}\n    backends:\n      pools:\n        - name: webserver\n          shared_zone: true\n          servers:\n            - { name: web1, address: "192.168.50.22:80", max_fails: 3 }\n`;
    const path = 'clusters[0].backends.pools[0].servers[0].fail_timeout';
    const v = await h.call<pbControl.ValidateSpecResponse>('validateSpec', { yaml: risky });
    assert.equal(v.valid, true);
    assert.deepEqual(v.warnings.map((w) => w.path), [path]);
    assert.ok((v.warnings[0]?.line ?? 0) > 0, 'with its line');
    assert.match(v.warnings[0]?.message ?? '', /^cluster web, pool webserver, server web1: fail_timeout 10s \(not set: nginx's default\): .*up to 11 s/);
    const dry = await h.call<pbControl.ApplySpecResponse>('applySpec', { yaml: risky, dryRun: true, expectedVersion: 0, reason: '' });
    assert.deepEqual([dry.applied, dry.warnings.map((w) => w.path)], [false, [path]]);
    const applied = await h.call<pbControl.ApplySpecResponse>('applySpec', { yaml: risky, dryRun: false, expectedVersion: 0, reason: 'warnings test' });
    assert.deepEqual([applied.applied, applied.version, applied.errors, applied.warnings.map((w) => w.path)], [true, 1, [], [path]]);
    const events = (await h.call<pbControl.ListEventsResponse>('listEvents', { afterSeq: 0, limit: 0, cluster: '', node: '' })).events;
    const warned = events.filter((e) => e.type === 'spec.warning');
    assert.deepEqual(warned.map((e) => [e.cluster, e.severity]), [['web', 'warning']]);
    assert.match(warned[0]?.message ?? '', new RegExp(`^spec v1: ${path.replace(/[[\].]/g, '\\$&')}: cluster web, pool webserver, server web1: fail_timeout 10s`));
    assert.match(events.find((e) => e.type === 'spec.applied')?.message ?? '', /, 1 warning\(s\)$/);
    // A spec without warnings answers none and records none.
    const clean = await h.call<pbControl.ApplySpecResponse>('applySpec', { yaml: SEED1, dryRun: false, expectedVersion: 0, reason: '' });
    assert.deepEqual([clean.applied, clean.warnings], [true, []]);
    const after = (await h.call<pbControl.ListEventsResponse>('listEvents', { afterSeq: 0, limit: 0, cluster: '', node: '' })).events;
    assert.equal(after.filter((e) => e.type === 'spec.warning').length, 1);
  });
});
