// Observability in the lab (seed 1, nginx active/active): a real Prometheus scrapes the
// coordinator and both agents, evaluates lbha's alert rules, and runs every query of the Grafana
// dashboard. A failover (nginx killed on lb1 with a config that no longer validates) must move
// the failover counters and histogram and fire the node alert; a drain and undrain produce the
// operation metrics; a webhook receives the events.
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LB_NODES, runLeftovers, startLab, type Lab } from '../lab/index.js';
import { STORE_METRICS } from '@lbha/coordinator';
import { freePort, waitFor } from '@lbha/test-support';
import { hostRelay, RELAY_SCRIPT } from '../support/namespace-relay.js';

import { ALERTS_FILE, alertRules, dashboardQueries, metricNames, prometheusBinary, PrometheusServer, type Sample } from '../support/prometheus.js';
import { repairLab, skipReason, waitForBaseline, waitForNodeHealth } from './e2e-support.js';

const skip = skipReason ?? (prometheusBinary() ? undefined : 'skipped: prometheus is not installed (Debian package "prometheus")');
const AGENT_METRICS_PORT = 9946;

/**
 * Dashboard queries that select events the lab may not produce here, so an empty answer is right
 * for them; everything else must return data. NACKs only when an agent refuses; the backend pool
 * only for clusters whose spec declares one (this lab does not; the backend-pool lab tests run
 * its metrics and its drift alert in a real Prometheus); failed TLS handshakes and connections
 * refused before TLS only when a client fails one or goes over a limit (their panels show only
 * the reasons that moved, `> 0`; grpc-listener.test.ts and hostile-limits.test.ts count them).
 */
const MAY_BE_EMPTY = [/lbha_desired_state_nacks_total/, /lbha_backend_/, /lbha_grpc_tls_handshakes_failed_total/, /lbha_api_connections_refused_total/];
/** Metrics of the backend pool, exported only for a cluster whose spec declares one. */
const BACKEND_POOL_ONLY = (name: string): boolean => name.startsWith('lbha_backend_');
/** Metrics a coordinator exports only with the etcd store. */
const ETCD_ONLY: ReadonlySet<string> = new Set(STORE_METRICS.map((m) => m.name));
/**
 * Metrics that exist only while what they report happens (a router that is not a node
 * advertising a VIP's VRID): the tests that make it happen fire their alerts in a real
 * Prometheus (foreign-router.test.ts).
 */
const WHILE_IT_HAPPENS: ReadonlySet<string> = new Set(['lbha_vrrp_foreign_router']);
/** Metrics a coordinator exports once a cluster has had a drill (drill.test.ts reads them). */
const AFTER_A_DRILL = (name: string): boolean => name.startsWith('lbha_drill_');

describe('observability: Prometheus on the lab', { skip, timeout: 12 * 60_000 }, () => {
  let lab: Lab;
  let prom: PrometheusServer;
  let promStartedMs = 0;
  let hookServer: Server | undefined;
  const hooks: Array<{ type: string; vip: string; node: string }> = [];
  const relays: Array<{ close(): Promise<void> }> = [];

  const agents = () => {
    const a = lab.agents;
    assert.ok(a, 'the lab runs agents');
    return a;
  };

  async function until(what: string, expr: string, pred: (s: readonly Sample[]) => boolean, timeoutMs = 30_000): Promise<readonly Sample[]> {
    return waitFor(what, async () => {
      const s = await prom.samples(expr);
      return pred(s) ? { done: true, value: s } : { done: false, observed: JSON.stringify(s.slice(0, 5)) };
    }, { timeoutMs, intervalMs: 250 });
  }

  before(async () => {
    lab = await startLab({ topology: 'a', control: 'agent' });
    await waitForBaseline(lab);

    // A webhook receiver on the host's loopback, which the coordinator (host namespace) reaches.
    hookServer = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        hooks.push(JSON.parse(body) as { type: string; vip: string; node: string });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => hookServer?.listen(0, '127.0.0.1', resolve));
    const hookPort = (hookServer.address() as { port: number }).port;

    // Give the lab's coordinator the HTTP API (/metrics), unless it has one, and a webhook; restart it.
    const configFile = agents().coordinatorConfigFile;
    const existing = /^http:\s*\n\s+listen:\s*"?127\.0\.0\.1:(\d+)"?/m.exec(readFileSync(configFile, 'utf8'));
    const httpPort = existing ? Number(existing[1]) : await freePort();
    if (!existing) appendFileSync(configFile, `http:\n  listen: "127.0.0.1:${httpPort}"\n`);
    assert.doesNotMatch(readFileSync(configFile, 'utf8'), /^webhooks:/m, 'the lab configures no webhooks of its own');
    appendFileSync(configFile, `webhooks:\n  - { name: lab, url: "http://127.0.0.1:${hookPort}/lbha", backoff: { initial: 50ms, max: 1s } }\n`);
    await agents().stopCoordinator('SIGTERM');
    await agents().startCoordinator();
    await waitForBaseline(lab);

    // The agents' /metrics listen on 127.0.0.1 inside their namespaces: relay them to the host.
    const agentTargets = [];
    for (const node of LB_NODES) {
      const socket = join(lab.runDir, `${node}-metrics.sock`);
      lab.spawn(`${node}-metrics-relay`, node, process.execPath, [RELAY_SCRIPT, socket, String(AGENT_METRICS_PORT)]);
      const relay = await hostRelay(socket);
      relays.push(relay);
      agentTargets.push({ address: `127.0.0.1:${relay.port}`, labels: { node, cluster: lab.plan.cluster } });
    }

    promStartedMs = Date.now();
    prom = await PrometheusServer.start({
      dir: join(lab.runDir, 'prometheus'),
      intervalSeconds: 1,
      ruleFiles: [ALERTS_FILE],
      jobs: [
        { job: 'lbha-coordinator', scheme: 'https', caFile: agents().tls.ca, targets: [{ address: `127.0.0.1:${httpPort}` }] },
        { job: 'lbha-agent', targets: agentTargets },
      ],
    });
  });

  after(async () => {
    await prom?.stop();
    for (const r of relays) await r.close();
    await new Promise<void>((resolve) => (hookServer ? hookServer.close(() => resolve()) : resolve()));
    if (lab === undefined) return;
    await lab.down();
    assert.deepEqual(await runLeftovers(lab.runId, lab.runDir), [], 'down leaves no namespace, process or file behind');
  });

  it('scrapes the coordinator and both agents', async () => {
    await waitFor('every target up', async () => {
      const targets = await prom.targets();
      const up = targets.filter((t) => t.health === 'up');
      return up.length === 3 ? { done: true, value: targets } : { done: false, observed: JSON.stringify(targets) };
    }, { timeoutMs: 30_000, intervalMs: 250 });
    const cluster = lab.plan.cluster;
    const connected = await until('both nodes connected', `lbha_node_connected{cluster="${cluster}"} == 1`, (s) => s.length === 2);
    assert.deepEqual(connected.map((s) => s.metric['node']).sort(), ['lb1', 'lb2']);
    const holders = await until('each VIP on its home node', `lbha_vip_holder{cluster="${cluster}"}`, (s) => s.length === 2);
    assert.deepEqual(Object.fromEntries(holders.map((s) => [s.metric['vip'], s.metric['node']])), { vip1: 'lb1', vip2: 'lb2' });
    const inPlace = await prom.samples(`lbha_vips{cluster="${cluster}",state="in_place"}`);
    assert.equal(inPlace[0]?.value, 2);
    // The agents' own metrics arrive through the relays, labelled with their node.
    const agentUp = await prom.samples('up{job="lbha-agent"}');
    assert.deepEqual(agentUp.map((s) => [s.metric['node'], s.value]).sort(), [['lb1', 1], ['lb2', 1]]);
  });

  it('a failover moves the failover counters and histogram and fires LbhaNodeUnhealthy', { timeout: 180_000 }, async (t) => {
    const cluster = lab.plan.cluster;
    const countBefore = (await prom.samples('sum(lbha_failover_duration_seconds_count)'))[0]?.value ?? 0;
    await lab.killProxy('lb1', { breakConfig: true });
    await lab.waitForHolder('vip1', 'lb2');
    await waitForNodeHealth(lab, 'lb1', false);

    const counted = await until('the failover histogram to count it', 'sum(lbha_failover_duration_seconds_count)', (s) => (s[0]?.value ?? 0) > countBefore);
    t.diagnostic(`failovers counted: ${countBefore} -> ${counted[0]?.value}`);
    const moved = await until('lbha_failovers_total for vip1', `lbha_failovers_total{cluster="${cluster}",vip="vip1"}`, (s) => s.some((x) => x.value >= 1));
    const reason = moved.find((x) => x.value >= 1)?.metric['reason'];
    assert.ok(reason === 'health' || reason === 'fault', `vip1 left lb1 because its proxy failed, got reason ${reason}`);
    const inf = await prom.samples(`sum(lbha_failover_duration_seconds_bucket{le="+Inf",reason="${reason}"})`);
    assert.ok((inf[0]?.value ?? 0) >= 1, 'the +Inf bucket counts it');
    // The series existed at zero before, so increase() sees the failover.
    await until('increase() to see the failover', `sum(increase(lbha_failover_duration_seconds_count{reason="${reason}"}[2m]))`, (s) => (s[0]?.value ?? 0) > 0);
    const last = await prom.samples(`lbha_vip_last_failover_duration_seconds{cluster="${cluster}",vip="vip1"}`);
    assert.equal(last.length, 1);
    t.diagnostic(`vip1 failover (${reason}) took ${((last[0]?.value ?? 0) * 1000).toFixed(0)} ms from the fault being seen to lb2 reporting MASTER`);
    await until('vip1 held by lb2', `lbha_vip_holder{cluster="${cluster}",vip="vip1"}`, (s) => s.length === 1 && s[0]?.metric['node'] === 'lb2');

    // LbhaNodeUnhealthy has `for: 30s`.
    const alert = await waitFor('LbhaNodeUnhealthy to fire for lb1', async () => {
      const alerts = await prom.alerts();
      const a = alerts.find((x) => x.labels['alertname'] === 'LbhaNodeUnhealthy' && x.labels['node'] === 'lb1');
      return a?.state === 'firing' ? { done: true, value: a } : { done: false, observed: JSON.stringify(alerts.map((x) => [x.labels['alertname'], x.labels['node'], x.state])) };
    }, { timeoutMs: 90_000, intervalMs: 500 });
    assert.equal(alert.labels['severity'], 'warning');
    assert.equal(alert.labels['cluster'], cluster);
    const split = (await prom.alerts()).filter((x) => ['LbhaSplitBrain', 'LbhaVipWithoutHolder'].includes(x.labels['alertname'] ?? ''));
    assert.deepEqual(split, [], 'no split brain or orphan was seen');

    // The webhook heard about it.
    await waitFor('the webhook to receive the move of vip1', async () =>
      hooks.some((h) => h.type === 'vip.moved' && h.vip === 'vip1') ? { done: true, value: undefined } : { done: false, observed: hooks.map((h) => h.type).join(' ') },
    { timeoutMs: 15_000, intervalMs: 100 });

    await repairLab(lab);
    await waitForBaseline(lab, 60_000);
    await waitFor('LbhaNodeUnhealthy to resolve', async () => {
      const firing = (await prom.alerts()).filter((x) => x.labels['alertname'] === 'LbhaNodeUnhealthy');
      return firing.length === 0 ? { done: true, value: undefined } : { done: false, observed: JSON.stringify(firing) };
    }, { timeoutMs: 30_000, intervalMs: 500 });
  });

  it('a drain and undrain show up as node modes and operations', { timeout: 120_000 }, async () => {
    const cluster = lab.plan.cluster;
    const drain = await agents().cli(['drain', 'lb2', '--wait', '--timeout', '30s']);
    assert.equal(drain.code, 0, drain.stderr);
    await until('lb2 drained in lbha_node_mode', `lbha_node_mode{cluster="${cluster}",node="lb2",state="drained"}`, (s) => s[0]?.value === 1);
    await until('vip2 held by lb1', `lbha_vip_holder{cluster="${cluster}",vip="vip2"}`, (s) => s.length === 1 && s[0]?.metric['node'] === 'lb1');
    // Stay drained for several scrapes, so the dashboard's range queries (2 s steps) cannot step over it.
    await until('several scrapes of lb2 drained', `sum_over_time(lbha_node_mode{cluster="${cluster}",node="lb2",state="drained"}[1m])`, (s) => (s[0]?.value ?? 0) >= 5);
    const undrain = await agents().cli(['undrain', 'lb2', '--wait']);
    assert.equal(undrain.code, 0, undrain.stderr);
    await waitForBaseline(lab, 60_000);
    await until('the drain counted as succeeded', `lbha_operations_total{cluster="${cluster}",operation="drain",state="succeeded"}`, (s) => (s[0]?.value ?? 0) >= 1);
    await until('the agents\' drain command results counted', `sum(lbha_node_command_results_total{cluster="${cluster}",state="succeeded"})`, (s) => (s[0]?.value ?? 0) >= 1);
    // These counters appear with their first increment; rate() and increase() need a few samples.
    await until('a few samples of the new counters', `min(count_over_time(lbha_operations_total{cluster="${cluster}"}[1m]))`, (s) => (s[0]?.value ?? 0) >= 4);
  });

  it('every dashboard query is valid and returns data for the lab cluster', async () => {
    const cluster = lab.plan.cluster;
    // Over the time the tests ran, as the dashboard shows it: some panels (failing checks, nodes
    // not active) only have data while something was wrong or drained.
    const queries = dashboardQueries({ rateInterval: '15s', range: '15m', cluster });
    assert.ok(queries.length > 40);
    const problems: string[] = [];
    for (const q of queries) {
      const r = await prom.queryRange(q.expr, promStartedMs, Date.now());
      if (!r.ok) problems.push(`${q.where}: invalid: ${r.error}`);
      else if (r.series === 0 && !MAY_BE_EMPTY.some((re) => re.test(q.expr))) problems.push(`${q.where}: no data for ${q.expr}`);
    }
    assert.deepEqual(problems, []);
  });

  it('every alert expression is valid and every metric it uses has data', async () => {
    const rules = alertRules();
    assert.equal(rules.length, 26);
    const problems: string[] = [];
    for (const rule of rules) {
      const r = await prom.query(rule.expr);
      if (!r.ok) {
        problems.push(`${rule.alert}: invalid: ${r.error}`);
        continue;
      }
      for (const name of metricNames(rule.expr)) {
        // The lab's coordinator runs on the file store; the etcd tests cover these.
        if (ETCD_ONLY.has(name) || WHILE_IT_HAPPENS.has(name) || BACKEND_POOL_ONLY(name) || AFTER_A_DRILL(name)) continue;
        const s = await prom.samples(`count(${name})`);
        if (s.length === 0) problems.push(`${rule.alert}: no data for ${name}`);
      }
    }
    assert.deepEqual(problems, []);
  });
});
