// nginx with two workers on the LB nodes (the seed and the deploy example run several; the other
// lab files run one): one worker stopped, one worker killed, the master killed with its workers
// still running, and the planned reload, drain, restart and undrain, each under four clients
// side by side: the probe (a fresh connection every 10 ms), the sequential client (each request
// waits for the previous one, 300 ms timeout), a kept-alive client (a request every 20 ms on one
// connection, 2 s timeout, a request on a reused connection that is reset sent again, as HTTP
// clients do) and wrk (8 kept-alive connections that do not retry: a cut connection is an error;
// wrk 4.1 counts no timeout for a request that never gets an answer, so a stalled wrk connection
// shows only as fewer requests). The listen socket is shared by the workers; a connection belongs
// to the worker that accepted it, so a fault on one worker reaches only its own connections, and
// the worker faulted here is the one that owns the kept-alive client's.
// docs/design/unplanned-failover.md, "Several nginx workers".
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { waitFor } from '@lbha/test-support';
import { clientFigures, describeFigures, type Lab, type ProbeRecord, type ProbeSession, type WrkResult } from '../lab/index.js';
import { agentLog, describeWrk, drainWithKeptAliveClient, runOperation, skipReason, useAgentLab, waitForBaseline, waitForSuccesses, watchHolders } from './e2e-support.js';

const TEST_TIMEOUT = 180_000;
const VIP = 'vip1';
const WORKERS = 2;
/** The kept-alive client's timeout: a request that waits longer on its connection failed. */
const KEPT_TIMEOUT_MS = 2000;
/** Events of a node that lost its VIPs or its health: none may follow a fault on one worker. */
const FAILOVER_EVENTS = ['service.hung', 'check.changed', 'failover.given', 'vrrp.transition'];

interface Clients {
  readonly probe: ProbeSession;
  readonly sequential: ProbeSession;
  readonly kept: ProbeSession;
  readonly load: Promise<WrkResult>;
  readonly holders: ReturnType<typeof watchHolders>;
}

/**
 * The probe, the sequential client, the kept-alive client and wrk (8 kept-alive connections, a
 * request on each every 20 ms, for `seconds`), all through lb1, and a watch of where the VIPs are.
 */
async function startClients(lab: Lab, seconds: number): Promise<Clients> {
  const probe = await lab.startProbe(VIP);
  const sequential = await lab.startProbe(VIP, { sequential: true, timeoutMs: 300 });
  const kept = await lab.startProbe(VIP, { keepAlive: true, retryReset: true, intervalMs: 20, timeoutMs: KEPT_TIMEOUT_MS });
  await waitForSuccesses(probe, 0, 20, 'lb1');
  await waitForSuccesses(sequential, 0, 10, 'lb1');
  await waitForSuccesses(kept, 0, 10, 'lb1');
  const load = lab.wrk(VIP, { connections: 8, durationS: seconds, timeoutS: 2, delayMs: 20 });
  load.catch(() => undefined); // awaited in the test; a failure before then must not go unhandled
  return { probe, sequential, kept, load, holders: watchHolders(lab) };
}

/** The worker of lb1 that owns the kept-alive client's connection, and how many of the others' it owns. */
async function keptClientWorker(lab: Lab, c: Clients): Promise<{ pid: number; connections: number }> {
  return waitFor("the nginx worker of lb1 that owns the kept-alive client's connection", async () => {
    const workers = await lab.proxyWorkerPids('lb1');
    const owners = await lab.connectionOwners('lb1');
    const ports = await lab.clientPorts(c.kept.pid);
    const owner = owners.find((o) => ports.includes(o.clientPort) && workers.includes(o.pid));
    return owner !== undefined
      ? { done: true, value: { pid: owner.pid, connections: owners.filter((o) => o.pid === owner.pid).length } }
      : { done: false, observed: `client ports ${ports.join(' ')}, owners ${JSON.stringify(owners)} of workers ${workers.join(' ')}` };
  }, { timeoutMs: 15_000, intervalMs: 100 });
}

/** Waits until lb1's nginx runs `WORKERS` workers again, none of them in `gone`, under a master; returns them. */
async function waitForWorkers(lab: Lab, gone: readonly number[], what: string): Promise<{ master: number; workers: number[] }> {
  return waitFor(what, async () => {
    const all = await lab.proxyPids('lb1');
    const master = await lab.proxyMasterPid('lb1');
    const workers = await lab.proxyWorkerPids('lb1');
    const left = all.filter((p) => gone.includes(p));
    return master !== undefined && left.length === 0 && workers.length === WORKERS
      ? { done: true, value: { master, workers } }
      : { done: false, observed: `processes ${all.join(' ')}, still there ${left.join(' ') || 'none'}` };
  }, { timeoutMs: 20_000, intervalMs: 50 });
}

describe('nginx with two workers: one worker hung or killed, the master killed, reloads', { skip: skipReason, timeout: 15 * 60_000 }, () => {
  let lab: Lab;
  useAgentLab('a', (l) => (lab = l), { nginxWorkers: WORKERS });

  /**
   * Stops the clients and checks what they saw: the VIP never left lb1; neither fresh-connection
   * client had more than one request that reached no server, and their answers came from lb1 (or,
   * with `restarting`, from lb2 while nginx on lb1 restarted: its new connections are handed to
   * the peer then); the kept-alive client had no failed request (with `restarting`, at most the one
   * its worker was serving when the agent killed it, reset); lb1's agent saw no hang and gave
   * nothing up. Returns wrk's figures.
   */
  async function assertServedInPlace(t: { diagnostic(m: string): void }, c: Clients, label: string, faultMs: number, restarting = false): Promise<WrkResult> {
    const load = await c.load;
    await waitForSuccesses(c.probe, Date.now(), 20, 'lb1');
    await waitForSuccesses(c.sequential, Date.now(), 10, 'lb1');
    await waitForSuccesses(c.kept, Date.now(), 10, 'lb1');
    const records: Record<'probe' | 'sequential' | 'kept', ProbeRecord[]> = { probe: await c.probe.stop(), sequential: await c.sequential.stop(), kept: await c.kept.stop() };
    const seen = await c.holders.stop();
    t.diagnostic(`${label}, ${describeWrk(load)}`);
    for (const kind of ['probe', 'sequential', 'kept'] as const) {
      const f = clientFigures(records[kind], { faultMs });
      const retried = records[kind].filter((r) => r.retriedAfter !== undefined).length;
      t.diagnostic(`${describeFigures(`${label}, ${kind}`, f)}${kind === 'kept' ? `, ${retried} sent again after a reset` : ''}`);
      assert.ok(f.requests > 0, `${kind} sent requests`);
      if (kind === 'kept') {
        // With the master killed the agent ends its workers (SIGKILL): a request the kept-alive
        // connection's worker was serving then may be reset, as the design says of every request
        // the old workers were serving. That one is allowed; a stall (a timeout) or a second
        // failure never is.
        const notOk = records.kept.filter((r) => !r.ok);
        const reset = restarting ? notOk.filter((r) => r.error === 'ECONNRESET').slice(0, 1) : [];
        const failed = notOk.filter((r) => !reset.includes(r)).map((r) => `${new Date(r.t).toISOString()} ${r.error} after ${r.ms} ms`);
        assert.deepEqual(failed, [], `no request of the kept-alive client failed${restarting ? ' beyond the one its worker was serving when killed' : ''}: its connection was not left stalled (${describeFigures(kind, f)})`);
      } else {
        assert.ok(f.failed <= 1, `${kind}: at most one request that reached no server failed (${describeFigures(kind, f)})`);
      }
      const servers = [...new Set(records[kind].filter((r) => r.ok).map((r) => r.lb))].sort();
      assert.ok(servers.includes('lb1') && servers.every((lb) => lb === 'lb1' || (restarting && lb === 'lb2')), `${kind}: answers came from lb1${restarting ? ' (and from lb2 while nginx restarted)' : ''}: ${servers.join(', ')}`);
    }
    const moved = seen.filter((h) => JSON.stringify(h[VIP]) !== JSON.stringify(['lb1']));
    assert.deepEqual(moved, [], `${VIP} stayed on lb1 all along`);
    const events = (await agentLog(lab, 'lb1')).filter((l) => Number(l.time) >= faultMs && FAILOVER_EVENTS.includes(l.event ?? '')).map((l) => `${l.event} ${l.msg}`);
    assert.deepEqual(events, [], 'lb1 saw no hang, no failing check, gave nothing up, made no VRRP transition');
    assert.ok(load.requests > 0, `wrk ran (${describeWrk(load)})`);
    return load;
  }

  it('one worker stopped: the agent kills it, the master starts another; its kept-alive connections are cut, not left stalled; no VIP move', { timeout: TEST_TIMEOUT }, async (t) => {
    const c = await startClients(lab, 12);
    const { master } = await waitForWorkers(lab, [], 'two workers on lb1');
    const victim = await keptClientWorker(lab, c);
    const t0 = Date.now();
    try {
      await lab.signalProxyProcess('lb1', victim.pid, 'SIGSTOP');
      t.diagnostic(`stopped worker ${victim.pid} (${victim.connections} of the clients' connections) at ${new Date(t0).toISOString()}`);
      const load = await assertServedInPlace(t, c, `worker ${victim.pid} stopped`, t0);
      const after = await waitForWorkers(lab, [victim.pid], `the stopped worker ${victim.pid} to be replaced`);
      assert.equal(after.master, master, 'the same master runs: nginx was not restarted');
      const stuck = (await agentLog(lab, 'lb1')).filter((l) => l.event === 'service.worker_stopped' && Number(l.time) >= t0);
      assert.equal(stuck.length, 1, `lb1's agent reported the stopped worker once: ${stuck.map((l) => l.msg).join('; ')}`);
      assert.match(stuck[0]?.msg ?? '', new RegExp(`\\b${victim.pid}\\b`), 'the report names the worker');
      t.diagnostic(`the agent killed worker ${victim.pid} ${Number(stuck[0]?.time) - t0} ms after the stop; wrk: ${load.readErrors} connections cut`);
    } finally {
      await lab.signalProxyProcess('lb1', victim.pid, 'SIGCONT').catch(() => undefined);
    }
  });

  it('every worker stopped, the master running: the agent kills them before the hang rule fires, the new workers take the waiting connections; no VIP move', { timeout: TEST_TIMEOUT }, async (t) => {
    const c = await startClients(lab, 8);
    const old = await waitForWorkers(lab, [], 'two workers on lb1');
    await keptClientWorker(lab, c);
    const t0 = Date.now();
    try {
      for (const pid of old.workers) await lab.signalProxyProcess('lb1', pid, 'SIGSTOP');
      const after = await waitForWorkers(lab, old.workers, `the stopped workers ${old.workers.join(' ')} to be replaced`);
      assert.equal(after.master, old.master, 'the same master runs: nginx was not restarted');
      t.diagnostic(`workers ${old.workers.join(' ')} stopped, replaced by ${after.workers.join(' ')} within ${Date.now() - t0} ms`);
      await assertServedInPlace(t, c, 'every worker stopped', t0);
      const stuck = (await agentLog(lab, 'lb1')).filter((l) => l.event === 'service.worker_stopped' && Number(l.time) >= t0);
      assert.equal(stuck.length, WORKERS, `lb1's agent reported each stopped worker once: ${stuck.map((l) => l.msg).join('; ')}`);
    } finally {
      for (const pid of old.workers) await lab.signalProxyProcess('lb1', pid, 'SIGCONT').catch(() => undefined);
    }
  });

  it('one worker killed: the master starts another, its connections are reset, nothing else moves', { timeout: TEST_TIMEOUT }, async (t) => {
    const c = await startClients(lab, 8);
    const { master } = await waitForWorkers(lab, [], 'two workers on lb1');
    const victim = await keptClientWorker(lab, c);
    const t0 = Date.now();
    await lab.signalProxyProcess('lb1', victim.pid, 'SIGKILL');
    t.diagnostic(`killed worker ${victim.pid} (${victim.connections} of the clients' connections) at ${new Date(t0).toISOString()}`);
    const after = await waitForWorkers(lab, [victim.pid], `the killed worker ${victim.pid} to be replaced`);
    assert.equal(after.master, master, 'the same master runs: nginx was not restarted');
    await assertServedInPlace(t, c, `worker ${victim.pid} killed`, t0);
  });

  it('the master killed, its workers still serving: the agent ends them and restarts nginx, which binds at once; no VIP move', { timeout: TEST_TIMEOUT }, async (t) => {
    const c = await startClients(lab, 8);
    const old = await waitForWorkers(lab, [], 'two workers on lb1');
    await keptClientWorker(lab, c);
    const errorLog = lab.proxyFiles('lb1').errorLog;
    const logFrom = readFileSync(errorLog).length;
    const t0 = Date.now();
    await lab.signalProxyProcess('lb1', old.master, 'SIGKILL');
    const after = await waitForWorkers(lab, [old.master, ...old.workers], 'a new nginx master on lb1 with new workers');
    t.diagnostic(`master ${old.master} (workers ${old.workers.join(' ')}) killed; new master ${after.master} (workers ${after.workers.join(' ')}) after ${Date.now() - t0} ms or less`);
    await assertServedInPlace(t, c, `master ${old.master} killed`, t0, true);
    const log = readFileSync(errorLog, 'utf8').slice(logFrom);
    assert.doesNotMatch(log, /Address already in use/, `the new master bound its port at once: nothing held it (${log.trim().split('\n').slice(-3).join(' | ')})`);
    const restarted = (await agentLog(lab, 'lb1')).filter((l) => l.event === 'service.restarted' && Number(l.time) >= t0);
    assert.equal(restarted.length, 1, 'the agent restarted nginx once');
  });

  it('a reload replaces both workers; the old ones let go of their connections, no request that reached no server fails', { timeout: TEST_TIMEOUT }, async (t) => {
    const c = await startClients(lab, 8);
    const old = await waitForWorkers(lab, [], 'two workers on lb1');
    await keptClientWorker(lab, c);
    const t0 = Date.now();
    const reload = await runOperation(lab, ['reload', 'lb1', 'nginx']);
    assert.equal(reload.state, 'succeeded', `reload nginx on lb1: ${reload.message}`);
    const after = await waitForWorkers(lab, old.workers, 'the old workers of lb1 to exit after the reload');
    assert.equal(after.master, old.master, 'a reload keeps the master');
    t.diagnostic(`reload: workers ${old.workers.join(' ')} -> ${after.workers.join(' ')}, the old ones gone ${Date.now() - t0} ms or less after the reload started`);
    await assertServedInPlace(t, c, 'reload', t0);
  });

  it('drain, restart nginx and undrain lb1: the old holder answers its kept-alive connection after the move, then takes the VIP back', { timeout: TEST_TIMEOUT }, async (t) => {
    const probe = await lab.startProbe(VIP, { intervalMs: 10, timeoutMs: 3000 });
    await drainWithKeptAliveClient(lab, VIP, 'lb1', 'lb2');
    const before = await waitForWorkers(lab, [], 'two workers on lb1');
    const restart = await runOperation(lab, ['restart', 'lb1', 'nginx', '--timeout', '60s', '--detach']);
    assert.equal(restart.state, 'succeeded', `restart nginx on lb1: ${restart.message}`);
    const after = await waitForWorkers(lab, [before.master, ...before.workers], 'a new nginx on lb1 with two workers');
    const undrain = await runOperation(lab, ['undrain', 'lb1']);
    assert.equal(undrain.state, 'succeeded', `undrain lb1: ${undrain.message}`);
    await waitForBaseline(lab, 45_000);
    const records = await probe.stop();
    const failed = records.filter((r) => !r.ok);
    t.diagnostic(`drain, restart (master ${before.master} -> ${after.master}), undrain: ${records.length} requests, ${failed.length} failed`);
    assert.deepEqual(failed.map((r) => `${new Date(r.t).toISOString()} ${r.error}`), [], 'no request failed');
    assert.ok(records.some((r) => r.ok && r.lb === 'lb2') && records.some((r) => r.ok && r.lb === 'lb1'), 'the VIP moved to lb2 and back');
  });
});
