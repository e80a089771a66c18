// The backend pool on a seed topology under lbha (nginx: topology a, haproxy: topology b), with
// clients on fresh and kept-alive connections to every VIP at 100 requests per second each. What
// the web nodes' own access logs say is the truth: after `lbha backend drain web1` no LB node
// sends web1 a new request, the drain waits for web1's sessions to end, and not one client
// request fails; undrain brings web1 back; the minimum-healthy interlock refuses to drain the
// last server; a proxy reload or restart during the drain keeps web1 drained; a hand-edited
// proxy configuration on one LB node raises the drift event and alert.
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { waitFor } from '@lbha/test-support';
import { LB_NODES, type Lab, type ProbeRecord, type ProbeSession, type TopologyName } from '../lab/index.js';
import { agentsOf, runOperation, skipReason, useAgentLab, waitForBaseline } from './e2e-support.js';
import { LabPrometheus, prometheusMissing } from './lab-prometheus.js';

const TEST_TIMEOUT = 240_000;

/** Requests web `web` logged after byte `from` of its access log, per LB node (by its inner address). */
function webRequests(lab: Lab, web: 'web1' | 'web2', from: number): { bytes: number; byLb: Record<string, number>; other: number } {
  const text = readFileSync(lab.accessLog(web), 'utf8');
  const byLb: Record<string, number> = Object.fromEntries(LB_NODES.map((n) => [n, 0]));
  let other = 0;
  for (const line of text.slice(from).split('\n')) {
    if (line.trim() === '') continue;
    const addr = line.split(' ')[0];
    const lb = LB_NODES.find((n) => lab.plan.lbs[n].inner === addr);
    if (lb) byLb[lb] = (byLb[lb] ?? 0) + 1;
    else other++;
  }
  return { bytes: Buffer.byteLength(text), byLb, other };
}

const logSize = (lab: Lab, web: 'web1' | 'web2') => statSync(lab.accessLog(web)).size;
const total = (r: { byLb: Record<string, number> }) => Object.values(r.byLb).reduce((a, b) => a + b, 0);

interface BackendsJson {
  servers?: Array<{ pool: string; server: string; desiredAdmin: string; disagreement?: string; nodes?: Array<{ node: string; reported?: boolean; admin: string; sessions?: number }> }>;
  configs?: Array<{ cluster: string; drift?: boolean; message?: string }>;
}

async function backends(lab: Lab): Promise<BackendsJson> {
  const r = await agentsOf(lab).cli(['backends', lab.plan.cluster, '--json']);
  assert.equal(r.code, 0, `lbha backends: ${r.stderr}`);
  return JSON.parse(r.stdout) as BackendsJson;
}

/** Waits until every LB node reports `server` of pool webserver in `admin` (proto enum name suffix, e.g. DRAIN, READY). */
async function waitForAdmin(lab: Lab, server: string, admin: string): Promise<void> {
  await waitFor(`${server} ${admin} on every LB node`, async () => {
    const s = (await backends(lab)).servers?.find((x) => x.pool === 'webserver' && x.server === server);
    const nodes = (s?.nodes ?? []).filter((n) => n.reported);
    const ok = nodes.length === LB_NODES.length && nodes.every((n) => n.admin.endsWith(admin));
    return ok ? { done: true, value: undefined } : { done: false, observed: JSON.stringify(s?.nodes ?? []) };
  }, { timeoutMs: 30_000, intervalMs: 250 });
}

/**
 * Clients on every VIP: one on fresh connections and one on a kept-alive connection, 100
 * requests per second each. The kept-alive client retries a request once when the server closed
 * the reused connection just as the request went out, as HTTP clients do: every nginx reload
 * closes its idle kept-alive connections (measured without lbha: 4 resets in 40 reloads of a
 * plain nginx with a client at 100 requests per second), and an nginx drain is a reload.
 */
async function startClients(lab: Lab): Promise<ProbeSession[]> {
  const probes: ProbeSession[] = [];
  for (const vip of lab.plan.vips) {
    probes.push(await lab.startProbe(vip.name, { intervalMs: 10, timeoutMs: 3000 }));
    probes.push(await lab.startProbe(vip.name, { intervalMs: 10, timeoutMs: 3000, keepAlive: true, retryReset: true }));
  }
  return probes;
}

/** Moments of a test, to say what a failed request followed. */
type Marks = Array<readonly [number, string]>;

function after(marks: Marks, t: number): string {
  const m = marks.filter(([at]) => at <= t).at(-1);
  return m ? ` (${t - m[0]} ms after ${m[1]})` : '';
}

/**
 * Stops the clients; every request of every client must have been answered. Returns a summary
 * and how many requests the kept-alive clients sent again after a reset of their connection.
 */
async function stopClients(probes: readonly ProbeSession[], marks: Marks = []): Promise<{ summary: string; retried: number }> {
  const lines: string[] = [];
  let retriedTotal = 0;
  for (const [i, p] of probes.entries()) {
    const records: ProbeRecord[] = await p.stop();
    const kind = i % 2 === 0 ? 'fresh' : 'kept-alive';
    const failed = records.filter((r) => !r.ok).map((r) => `${new Date(r.t).toISOString()} ${r.error}${after(marks, r.t)}`);
    const retried = records.filter((r) => r.retriedAfter !== undefined).map((r) => `${new Date(r.t).toISOString()} ${r.retriedAfter}${after(marks, r.t)}`);
    retriedTotal += retried.length;
    lines.push(`${p.vip.name} ${kind}: ${records.length} requests, ${failed.length} failed${kind === 'kept-alive' ? `, ${retried.length} sent again after a reset [${retried.join(', ')}]` : ''}`);
    assert.deepEqual(failed, [], `no request of the ${kind} client of ${p.vip.name} failed`);
    assert.ok(records.length > 100, `the ${kind} client of ${p.vip.name} ran (${records.length} requests)`);
  }
  return { summary: lines.join('; '), retried: retriedTotal };
}

/** Lets the clients run `ms` longer. */
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Asserts that web1 got no request from any LB node since byte `from` of its log, while web2 did. */
function assertOnlyWeb2(lab: Lab, from1: number, from2: number, what: string): void {
  const w1 = webRequests(lab, 'web1', from1);
  const w2 = webRequests(lab, 'web2', from2);
  assert.deepEqual(w1.byLb, Object.fromEntries(LB_NODES.map((n) => [n, 0])), `${what}: no LB node sent web1 a request`);
  assert.ok(total(w2) > 100, `${what}: web2 kept serving (${JSON.stringify(w2.byLb)})`);
}

export function backendPoolTests(topology: TopologyName): void {
  describe(`the backend pool as one across the LB nodes (topology ${topology})`, { skip: skipReason, timeout: 20 * 60_000 }, () => {
    let lab: Lab;
    useAgentLab(topology, (l) => (lab = l), {
      backends: true,
      afterRepair: async (l) => {
        // A test that failed half way may leave a server drained.
        // Waited for, so that the next test does not find the server busy with this undrain.
        for (const server of ['web1', 'web2']) await agentsOf(l).cli(['backend', 'undrain', l.plan.cluster, server, '--force', '--wait', '--timeout', '30s'], 45_000);
      },
    });
    const lbha = (...args: string[]) => agentsOf(lab).cli(args);
    /** A waited-for operation: the CLI may run up to its own --timeout (30 s) and then some. */
    const lbhaWaiting = (...args: string[]) => agentsOf(lab).cli(args, 45_000);
    const cluster = () => lab.plan.cluster;

    it('drains web1 on every LB node: no new request reaches it, its sessions end, no request fails; undrain brings it back', { timeout: TEST_TIMEOUT }, async (t) => {
      const probes = await startClients(lab);
      // nginx: requests of 6 s to the slow backends (pool slowserver, web1 in it too) are open
      // when the drain starts, so it has sessions to wait for; none of them may fail. They last
      // longer than the drain's apply (an nginx reload on each node, 1-4 s on a loaded machine),
      // so some are still open when the drain starts waiting for sessions; shorter than nginx's
      // worker_shutdown_timeout (10 s), which would cut them.
      const stopSlow = lab.plan.proxy === 'nginx' ? await lab.startSlowBackends(6000) : undefined;
      const slow = stopSlow ? await lab.startProbe(lab.plan.vips[0]?.name ?? 'vip1', { path: '/slow', intervalMs: 250, timeoutMs: 15_000 }) : undefined;
      await pause(4000);
      const before = webRequests(lab, 'web1', 0);
      assert.ok(total(before) > 0, `web1 serves before the drain (${JSON.stringify(before.byLb)})`);

      const drain = await lbhaWaiting('backend', 'drain', cluster(), 'web1', '--wait', '--timeout', '30s', '--reason', 'e2e backend drain');
      assert.equal(drain.code, 0, `lbha backend drain: ${drain.stdout}${drain.stderr}`);
      assert.match(drain.stdout, /backend-drain web1 in cluster \S+: succeeded/);
      assert.match(drain.stderr, /sessions: /, 'the drain showed its wait for the sessions');
      // The drain is over: every LB node runs web1 drained and has no session with it.
      if (slow) assert.match(drain.stderr, /\d+ sessions left \(/, 'the drain waited for the sessions of web1 to the slow backends');
      const view = (await backends(lab)).servers?.find((s) => s.pool === 'webserver' && s.server === 'web1');
      assert.ok(view?.desiredAdmin.endsWith('DRAIN'), JSON.stringify(view));
      for (const n of view?.nodes ?? []) assert.equal(n.sessions ?? 0, 0, `${n.node} has no session with web1 after the drain`);
      const from1 = logSize(lab, 'web1');
      const from2 = logSize(lab, 'web2');
      await pause(4000);
      assertOnlyWeb2(lab, from1, from2, 'after the drain');

      const undrain = await lbha('backend', 'undrain', cluster(), 'web1', '--wait', '--timeout', '15s');
      assert.equal(undrain.code, 0, `lbha backend undrain: ${undrain.stdout}${undrain.stderr}`);
      await waitForAdmin(lab, 'web1', 'READY');
      const back = logSize(lab, 'web1');
      await waitFor('web1 to get requests again', async () => {
        const n = total(webRequests(lab, 'web1', back));
        return n > 50 ? { done: true, value: undefined } : { done: false, observed: `${n} requests` };
      }, { timeoutMs: 20_000, intervalMs: 250 });
      const { summary, retried } = await stopClients(probes);
      const slowRecords = (await slow?.stop()) ?? [];
      await stopSlow?.();
      assert.deepEqual(slowRecords.filter((r) => !r.ok).map((r) => `${new Date(r.t).toISOString()} ${r.error}`), [], 'no slow request failed');
      // haproxy drains through its runtime API: no reload, no connection of a client is closed.
      if (lab.plan.proxy === 'haproxy') assert.equal(retried, 0, `no kept-alive connection was reset: ${summary}`);
      t.diagnostic(`${summary}; slow requests: ${slowRecords.length}, 0 failed; web1 before the drain: ${JSON.stringify(before.byLb)}; drain: ${drain.stdout.trim()} | ${drain.stderr.trim().split('\n').join(' | ')}`);
    });

    it('refuses to drain the last healthy server of the pool, unless forced', { timeout: TEST_TIMEOUT }, async () => {
      const first = await runOperation(lab, ['backend', 'drain', cluster(), 'web1', '--timeout', '15s']);
      assert.equal(first.state, 'succeeded', `drain web1: ${first.message}`);
      const second = await lbha('backend', 'drain', cluster(), 'web2', '--json');
      const text = `${second.stdout}${second.stderr}`;
      // Refused, whether at the call or as the operation's outcome.
      const refused = second.code !== 0 ? text : (JSON.parse(second.stdout) as { operation: { state: string; message: string } }).operation;
      assert.match(typeof refused === 'string' ? refused : `${refused.state} ${refused.message}`, /fewer than its minimum of 1/);
      await waitForAdmin(lab, 'web2', 'READY');
      const undrain = await runOperation(lab, ['backend', 'undrain', cluster(), 'web1']);
      assert.equal(undrain.state, 'succeeded', `undrain web1: ${undrain.message}`);
    });

    it('keeps web1 drained through a reload and a restart of the proxy on the LB nodes', { timeout: TEST_TIMEOUT }, async (t) => {
      const marks: Marks = [];
      const mark = (what: string) => marks.push([Date.now(), what]);
      const probes = await startClients(lab);
      mark('backend drain');
      const drain = await runOperation(lab, ['backend', 'drain', cluster(), 'web1', '--timeout', '15s']);
      assert.equal(drain.state, 'succeeded', `drain web1: ${drain.message}`);
      const from1 = logSize(lab, 'web1');
      const from2 = logSize(lab, 'web2');
      const proxy = lab.plan.proxy;
      for (const node of LB_NODES) {
        mark(`reload on ${node}`);
        const reload = await runOperation(lab, ['reload', node, proxy]);
        assert.equal(reload.state, 'succeeded', `reload ${proxy} on ${node}: ${reload.message}`);
      }
      // A restart: a new proxy process, which knows nothing of the runtime change (haproxy) or
      // reads the include again (nginx). Planned, so the node's VIPs are handed over first.
      const before = await lab.proxyMasterPid('lb2');
      mark('restart on lb2');
      const restart = await runOperation(lab, ['restart', 'lb2', proxy, '--timeout', '60s', '--detach']);
      assert.equal(restart.state, 'succeeded', `restart ${proxy} on lb2: ${restart.message}`);
      mark('restart over');
      const restarted = await lab.proxyMasterPid('lb2');
      assert.notEqual(restarted, before, `${proxy} on lb2 is a new process`);
      await waitForBaseline(lab, 45_000);
      await pause(3000);
      await waitForAdmin(lab, 'web1', 'DRAIN');
      assertOnlyWeb2(lab, from1, from2, `reloads on ${LB_NODES.join(', ')} and a restart on lb2`);
      mark('backend undrain');
      const undrain = await runOperation(lab, ['backend', 'undrain', cluster(), 'web1']);
      assert.equal(undrain.state, 'succeeded', `undrain web1: ${undrain.message}`);
      const { summary } = await stopClients(probes, marks);
      t.diagnostic(`${summary}; ${proxy} on lb2 restarted: pid ${before} -> ${restarted}; ${marks.map(([at, w]) => `${new Date(at).toISOString()} ${w}`).join(', ')}`);
    });

    it('a hand-edited proxy configuration on one LB node raises the drift event and alert', { skip: prometheusMissing, timeout: TEST_TIMEOUT }, async (t) => {
      const prom = await LabPrometheus.start(lab);
      try {
        const file = lab.proxyFiles('lb2').config;
        const text = readFileSync(file, 'utf8');
        const edited = lab.plan.proxy === 'nginx' ? text.replace('proxy_connect_timeout 2s;', 'proxy_connect_timeout 3s;') : text.replace('timeout client 1m', 'timeout client 2m');
        assert.notEqual(edited, text, 'the edit changes the configuration');
        const editedAt = Date.now();
        writeFileSync(file, edited);
        const event = await waitFor('the config.drift event', async () => {
          const r = await lbha('events', '--limit', '200', '--json');
          const e = r.stdout
            .split('\n')
            .filter((l) => l.trim() !== '')
            .map((l) => JSON.parse(l) as { type: string; timeMs: number; message: string })
            .find((x) => x.type === 'config.drift' && x.timeMs >= editedAt - 1000);
          return e ? { done: true, value: e } : { done: false, observed: 'no config.drift event yet' };
        }, { timeoutMs: 30_000, intervalMs: 100 });
        assert.match(event.message, /lb2 differs from lb1/);
        const listed = (await backends(lab)).configs?.find((c) => c.cluster === cluster());
        assert.equal(listed?.drift, true, JSON.stringify(listed));
        const nodes = await lbha('nodes', '--cluster', cluster());
        assert.equal(nodes.code, 0, nodes.stderr);
        assert.match(nodes.stdout, /config differs from lb1/);
        const alert = await prom.firing('LbhaConfigDrift', { cluster: cluster() });
        assert.equal(alert.state, 'firing');
        const activeAt = alert.activeAt ? Date.parse(alert.activeAt) : NaN;
        lab.restoreProxyConfig('lb2');
        await prom.quiet('LbhaConfigDrift', 60_000);
        t.diagnostic(`edit to config.drift event: ${event.timeMs - editedAt} ms (report interval 1 s); edit to the alert's expression holding (Prometheus scrapes and evaluates every 1 s): ${activeAt - editedAt} ms`);
      } finally {
        await prom.stop();
      }
    });
  });
}
