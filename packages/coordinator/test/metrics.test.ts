import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { NodeDelta, NodeMode } from '@lbha/shared';
import { collectDefaultMetrics, Registry as PromRegistry } from 'prom-client';
import { AgentOutbox } from '../src/agent-outbox.js';
import { EventLog } from '../src/event-log.js';
import { CoordinatorMetrics } from '../src/metrics/coordinator-metrics.js';
import { METRICS, sampleNames } from '../src/metrics/metric-definitions.js';
import { openFdsOffTheLoop } from '../src/metrics/open-fds-gauge.js';
import type { VipPlacementView } from '../src/metrics/metrics-sources.js';
import { Registry } from '../src/registry.js';
import { find, parseExposition, value, type Sample } from './support/exposition.js';
import { check, fakeSession, hello, instance, snapshot } from './support/fake-fleet.js';

function delta(over: Partial<NodeDelta>): NodeDelta {
  return { services: [], checks: [], instances: [], removedChecks: [], removedInstances: [], ...over };
}

/** One two-node cluster "web": lb1 holds vip-a, lb2 holds vip-b, as placement wants. */
function setup(opts: { modes?: Map<string, NodeMode> } = {}) {
  const clock = { now: 10_000 };
  const registry = new Registry(3500, () => clock.now);
  const outbox = new AgentOutbox((node) => registry.get(node)?.session);
  const events = new EventLog(100, () => clock.now);
  const placement: VipPlacementView[] = [
    { cluster: 'web', vip: 'vip-a', desired: 'lb1' },
    { cluster: 'web', vip: 'vip-b', desired: 'lb2' },
  ];
  const modes = opts.modes ?? new Map<string, NodeMode>();
  const metrics = new CoordinatorMetrics({
    registry,
    outbox,
    events,
    clock: () => clock.now,
    modeOf: (n) => modes.get(n) ?? 'active',
    placementView: () => placement,
    processMetrics: false,
  });
  for (const [i, node] of ['lb1', 'lb2'].entries()) {
    registry.attach(hello(node, 'web'), fakeSession(node));
    registry.setSnapshot(node, node, snapshot([instance('vip-a', i === 0 ? 'master' : 'backup', 1000), instance('vip-b', i === 1 ? 'master' : 'backup', 1000)]));
  }
  const scrape = async (): Promise<Sample[]> => parseExposition((await metrics.render()).body);
  return { clock, registry, outbox, events, metrics, placement, modes, scrape };
}

describe('CoordinatorMetrics', () => {
  it('exports connection, health, services, checks, VRRP state and holders per node and VIP', async () => {
    const { scrape, metrics } = setup();
    const s = await scrape();
    assert.equal((await metrics.render()).contentType, 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(value(s, 'lbha_node_connected', { node: 'lb1', cluster: 'web' }), 1);
    assert.equal(value(s, 'lbha_node_heartbeat_age_seconds', { node: 'lb1' }), 0);
    assert.equal(value(s, 'lbha_node_healthy', { node: 'lb2' }), 1);
    assert.equal(value(s, 'lbha_node_mode', { node: 'lb1', state: 'active' }), 1);
    assert.equal(value(s, 'lbha_desired_state_nacked', { node: 'lb1' }), 0);
    assert.equal(value(s, 'lbha_service_up', { node: 'lb1', service: 'nginx' }), 1);
    assert.equal(value(s, 'lbha_service_restarts_total', { node: 'lb1', service: 'keepalived' }), 0);
    assert.equal(value(s, 'lbha_proxy_active_connections', { node: 'lb1', service: 'nginx' }), 3);
    assert.equal(find(s, 'lbha_proxy_active_connections', { service: 'keepalived' }).length, 0, 'keepalived has no connection stats');
    assert.equal(value(s, 'lbha_check_status', { node: 'lb1', check: 'nginx-http', state: 'healthy' }), 1);
    assert.equal(value(s, 'lbha_check_duration_seconds', { node: 'lb1', check: 'nginx-http' }), 0.002);
    assert.equal(value(s, 'lbha_vrrp_state', { node: 'lb1', vip: 'vip-a' }), 1);
    assert.equal(find(s, 'lbha_vrrp_state', { node: 'lb1', vip: 'vip-a' })[0]?.labels['state'], 'master');
    assert.equal(value(s, 'lbha_vrrp_priority', { node: 'lb1', vip: 'vip-a' }), 150);
    assert.equal(value(s, 'lbha_vip_holders', { cluster: 'web', vip: 'vip-a' }), 1);
    assert.equal(value(s, 'lbha_vip_holder', { vip: 'vip-a', node: 'lb1' }), 1);
    assert.equal(value(s, 'lbha_vip_desired_holder', { vip: 'vip-b', node: 'lb2' }), 1);
    assert.equal(value(s, 'lbha_vip_status', { vip: 'vip-a', state: 'in_place' }), 1);
    assert.equal(find(s, 'lbha_vip_status', { vip: 'vip-a' }).length, 1, 'only the current condition');
    assert.equal(value(s, 'lbha_vips', { cluster: 'web', state: 'in_place' }), 2);
    assert.equal(value(s, 'lbha_vips', { cluster: 'web', state: 'orphaned' }), 0);
    // The histogram starts at zero for every reason, so that increase() sees the first failover.
    assert.equal(value(s, 'lbha_failover_duration_seconds_count', { reason: 'health' }), 0);
    assert.equal(value(s, 'lbha_failover_duration_seconds_bucket', { reason: 'node_lost', le: '+Inf' }), 0);
    assert.equal(find(s, 'lbha_failovers_total').length, 0);
    assert.equal(find(s, 'lbha_vip_last_failover_duration_seconds').length, 0);
  });

  it('only emits names and labels from the catalog', async () => {
    const { scrape } = setup();
    const names = sampleNames();
    const labelsOf = new Map<string, readonly string[]>();
    for (const d of Object.values(METRICS)) {
      const ls: readonly string[] = d.labels;
      if (d.type === 'histogram') {
        labelsOf.set(`${d.name}_bucket`, [...ls, 'le']);
        labelsOf.set(`${d.name}_sum`, ls);
        labelsOf.set(`${d.name}_count`, ls);
      } else labelsOf.set(d.name, ls);
    }
    for (const sample of await scrape()) {
      assert.ok(names.has(sample.name), `${sample.name} is not in the catalog`);
      assert.deepEqual(Object.keys(sample.labels).sort(), [...(labelsOf.get(sample.name) ?? [])].sort(), sample.name);
    }
  });

  it('counts a failover caused by a failing check and measures it from the check going bad', async () => {
    const { registry, scrape, metrics, clock } = setup();
    const seen: string[] = [];
    metrics.onFailover((f) => seen.push(`${f.vip}:${f.from}->${f.to}:${f.reason}:${f.durationMs}`));
    // nginx dies on lb1 at 5000; its instance goes FAULT 20 ms later; lb2 is MASTER at 5090.
    registry.applyDelta('lb1', 'lb1', delta({
      healthy: false,
      checks: [check('nginx-process', { result: { kind: 'unhealthy', reason: 'nginx exited' }, sinceMs: 5000 })],
      instances: [instance('vip-a', 'fault', 5020, { faultedByHealth: true })],
    }));
    registry.applyDelta('lb2', 'lb2', delta({ instances: [instance('vip-a', 'master', 5090)] }));
    assert.deepEqual(seen, ['vip-a:lb1->lb2:health:90']);
    clock.now = 12_000;
    const s = await scrape();
    assert.equal(value(s, 'lbha_failovers_total', { cluster: 'web', vip: 'vip-a', reason: 'health' }), 1);
    assert.equal(value(s, 'lbha_failover_duration_seconds_count', { reason: 'health' }), 1);
    assert.equal(value(s, 'lbha_failover_duration_seconds_sum', { reason: 'health' }), 0.09);
    assert.equal(value(s, 'lbha_failover_duration_seconds_bucket', { reason: 'health', le: '0.05' }), 0);
    assert.equal(value(s, 'lbha_failover_duration_seconds_bucket', { reason: 'health', le: '0.1' }), 1);
    assert.equal(value(s, 'lbha_failover_duration_seconds_bucket', { reason: 'health', le: '+Inf' }), 1);
    assert.equal(value(s, 'lbha_failover_duration_seconds_count', { reason: 'fault' }), 0);
    assert.equal(value(s, 'lbha_vip_last_failover_duration_seconds', { cluster: 'web', vip: 'vip-a', reason: 'health' }), 0.09);
    assert.equal(value(s, 'lbha_vip_last_failover_timestamp_seconds', { cluster: 'web', vip: 'vip-a' }), 10);
    assert.equal(value(s, 'lbha_vrrp_transitions_total', { vip: 'vip-a', state: 'fault' }), 1);
    assert.equal(value(s, 'lbha_vrrp_transitions_total', { vip: 'vip-a', state: 'master' }), 1);
    assert.equal(value(s, 'lbha_node_healthy', { node: 'lb1' }), 0);
    assert.equal(value(s, 'lbha_check_status', { node: 'lb1', check: 'nginx-process', state: 'unhealthy' }), 1);
    assert.equal(value(s, 'lbha_vip_holder', { vip: 'vip-a', node: 'lb2' }), 1);
    assert.equal(value(s, 'lbha_vip_status', { vip: 'vip-a', state: 'diverged' }), 1, 'placement still wants lb1');
    assert.equal(value(s, 'lbha_vips', { state: 'diverged' }), 1);
    assert.deepEqual(metrics.failoverStats('health'), { count: 1, sumSeconds: 0.09 });
  });

  it('completes a failover whose new holder reports before the old one lets go', async () => {
    const { registry, metrics } = setup();
    const seen: string[] = [];
    metrics.onFailover((f) => seen.push(`${f.from}->${f.to}:${f.reason}:${f.durationMs}`));
    registry.applyDelta('lb2', 'lb2', delta({ instances: [instance('vip-a', 'master', 7150)] }));
    assert.deepEqual(seen, []);
    registry.applyDelta('lb1', 'lb1', delta({ instances: [instance('vip-a', 'fault', 7100)] }));
    assert.deepEqual(seen, ['lb1->lb2:fault:50']);
  });

  it('names a drained holder and a preempted one, and counts a preemption as instant', () => {
    const modes = new Map<string, NodeMode>();
    const { registry, metrics } = setup({ modes });
    const seen: string[] = [];
    metrics.onFailover((f) => seen.push(`${f.vip}:${f.reason}:${f.durationMs}`));
    modes.set('lb1', 'draining');
    registry.applyDelta('lb1', 'lb1', delta({ instances: [instance('vip-a', 'backup', 8000)] }));
    registry.applyDelta('lb2', 'lb2', delta({ instances: [instance('vip-a', 'master', 8010)] }));
    // lb1 comes back and takes vip-a home: lb1 MASTER a moment before lb2 steps back.
    modes.set('lb1', 'active');
    registry.applyDelta('lb1', 'lb1', delta({ instances: [instance('vip-a', 'master', 9000)] }));
    registry.applyDelta('lb2', 'lb2', delta({ instances: [instance('vip-a', 'backup', 9003)] }));
    assert.deepEqual(seen, ['vip-a:drain:10', 'vip-a:preempted:0']);
  });

  it('counts a lost node from its last message, and not an agent that merely reconnects', async () => {
    const { registry, metrics, clock, scrape } = setup();
    const seen: string[] = [];
    metrics.onFailover((f) => seen.push(`${f.vip}:${f.reason}:${f.durationMs}`));
    // lb2's agent restarts; keepalived kept vip-b all along.
    registry.detach('lb2', 'lb2', 'stream ended');
    let s = await scrape();
    assert.equal(value(s, 'lbha_node_connected', { node: 'lb2' }), 0);
    assert.equal(find(s, 'lbha_vrrp_state', { node: 'lb2' }).length, 0, 'no stale VRRP state of a disconnected node');
    assert.equal(value(s, 'lbha_vip_holders', { vip: 'vip-b' }), 0);
    assert.equal(value(s, 'lbha_vips', { state: 'orphaned' }), 1);
    registry.attach(hello('lb2', 'web'), fakeSession('lb2b'));
    registry.setSnapshot('lb2', 'lb2b', snapshot([instance('vip-a', 'backup', 1000), instance('vip-b', 'master', 1000)]));
    assert.deepEqual(seen, []);
    // lb1 goes silent at 10 000 (its last message); lb2 takes vip-a at 10 700.
    clock.now = 14_000;
    registry.touch('lb2', 'lb2b');
    registry.sweep();
    assert.equal(registry.get('lb1')?.link, 'stale');
    registry.applyDelta('lb2', 'lb2b', delta({ instances: [instance('vip-a', 'master', 10_700)] }));
    assert.deepEqual(seen, ['vip-a:node_lost:700']);
    s = await scrape();
    assert.equal(value(s, 'lbha_node_heartbeat_age_seconds', { node: 'lb1' }), 4);
    assert.equal(value(s, 'lbha_failovers_total', { vip: 'vip-a', reason: 'node_lost' }), 1);
    // A failover twice as slow as the last one replaces the per-VIP gauges, reason and all.
    registry.applyDelta('lb2', 'lb2b', delta({ instances: [instance('vip-a', 'fault', 20_000)] }));
    registry.attach(hello('lb1', 'web', 'boot-2'), fakeSession('lb1b'));
    registry.setSnapshot('lb1', 'lb1b', snapshot([instance('vip-a', 'master', 21_400), instance('vip-b', 'backup', 1)]));
    s = await scrape();
    assert.equal(find(s, 'lbha_vip_last_failover_duration_seconds', { vip: 'vip-a' }).length, 1);
    assert.equal(value(s, 'lbha_vip_last_failover_duration_seconds', { vip: 'vip-a', reason: 'fault' }), 1.4);
    assert.equal(value(s, 'lbha_failover_duration_seconds_count', { reason: 'fault' }), 1);
  });

  it('shows a split brain and an orphan', async () => {
    const { registry, scrape } = setup();
    registry.applyDelta('lb2', 'lb2', delta({ instances: [instance('vip-a', 'master', 6000)] }));
    registry.applyDelta('lb2', 'lb2', delta({ instances: [instance('vip-b', 'fault', 6000)] }));
    const s = await scrape();
    assert.equal(value(s, 'lbha_vip_holders', { vip: 'vip-a' }), 2);
    assert.equal(find(s, 'lbha_vip_holder', { vip: 'vip-a' }).length, 2);
    assert.equal(value(s, 'lbha_vip_holders', { vip: 'vip-b' }), 0);
    assert.equal(value(s, 'lbha_vips', { state: 'split_brain' }), 1);
    assert.equal(value(s, 'lbha_vips', { state: 'orphaned' }), 1);
    assert.equal(value(s, 'lbha_vips', { state: 'in_place' }), 0);
    assert.equal(value(s, 'lbha_vip_status', { vip: 'vip-a', state: 'split_brain' }), 1);
  });

  it("takes the reconciler's verdict on a VIP and lists spec nodes that never connected", async () => {
    const registry = new Registry(3500);
    registry.attach(hello('lb1', 'web'), fakeSession('lb1'));
    registry.setSnapshot('lb1', 'lb1', snapshot([instance('vip-a', 'backup', 1)]));
    const metrics = new CoordinatorMetrics({
      registry,
      processMetrics: false,
      placementView: () => [{ cluster: 'web', vip: 'vip-a', desired: 'lb2', status: 'unknown' }],
      specNodes: () => [{ cluster: 'web', node: 'lb1' }, { cluster: 'web', node: 'lb2' }],
    });
    const s = parseExposition((await metrics.render()).body);
    assert.equal(value(s, 'lbha_vip_status', { vip: 'vip-a', state: 'unknown' }), 1, 'lb2 never reported: no holder is not proof of an orphan');
    assert.equal(value(s, 'lbha_vips', { state: 'unknown' }), 1);
    assert.equal(value(s, 'lbha_vip_holders', { vip: 'vip-a' }), 0);
    assert.equal(value(s, 'lbha_node_connected', { node: 'lb2', cluster: 'web' }), 0);
    assert.equal(value(s, 'lbha_node_connected', { node: 'lb1' }), 1);
  });

  it('measures push latency to the ACK and counts NACKs', async () => {
    const { registry, outbox, scrape, clock } = setup();
    outbox.sendDesiredState({ version: 2, cluster: 'web', node: 'lb1' } as never);
    clock.now += 40;
    registry.recordAck('lb1', 'lb1', 2, true, '');
    outbox.sendDesiredState({ version: 3, cluster: 'web', node: 'lb1' } as never);
    clock.now += 10;
    registry.recordAck('lb1', 'lb1', 3, false, 'keepalived -t: unknown interface eth9');
    const s = await scrape();
    assert.equal(value(s, 'lbha_desired_state_push_duration_seconds_count'), 2);
    assert.equal(value(s, 'lbha_desired_state_push_duration_seconds_sum'), 0.05);
    assert.equal(value(s, 'lbha_desired_state_push_duration_seconds_bucket', { le: '0.025' }), 1);
    assert.equal(value(s, 'lbha_desired_state_nacked', { node: 'lb1' }), 1);
    assert.equal(value(s, 'lbha_desired_state_nacks_total', { node: 'lb1', cluster: 'web' }), 1);
  });

  it('counts each handover an agent could not start, once per error', async () => {
    const { registry, scrape } = setup();
    const failures = async () => value(await scrape(), 'lbha_handover_failures_total', { node: 'lb2', cluster: 'web' });
    assert.equal(await failures(), 0, 'every node starts at 0, so increase() sees the first one');
    const broken = instance('vip-a', 'backup', 1000, { handoverError: 'nft refused the handover table: No such file or directory' });
    registry.applyDelta('lb2', 'lb2', delta({ instances: [broken] }));
    assert.equal(await failures(), 1);
    // Reported again with every delta while the handover lasts: still one failure.
    registry.applyDelta('lb2', 'lb2', delta({ instances: [{ ...broken, effectivePriority: 120 }] }));
    assert.equal(await failures(), 1);
    registry.applyDelta('lb2', 'lb2', delta({ instances: [instance('vip-a', 'backup', 1000)] }));
    registry.applyDelta('lb2', 'lb2', delta({ instances: [broken] }));
    assert.equal(await failures(), 2, 'a later handover that fails again counts again');
  });

  it('counts events, finished operations and command results', async () => {
    const { registry, events, scrape } = setup();
    events.record({ type: 'drain.succeeded', cluster: 'web', node: 'lb1', message: 'lb1 drained' });
    events.record({ type: 'rolling_restart.failed', cluster: 'web', severity: 'warning', message: 'lb2 did not come back' });
    events.record({ type: 'drain.started', cluster: 'web', message: 'not an outcome' });
    registry.recordCommandResult('lb1', 'lb1', { commandId: 'c1', state: 'succeeded', message: '', activeConnections: 0, finishedMs: 1 });
    registry.recordCommandResult('lb1', 'lb1', { commandId: 'c2', state: 'running', message: '', activeConnections: 4, finishedMs: 0 });
    const s = await scrape();
    assert.equal(value(s, 'lbha_operations_total', { operation: 'drain', state: 'succeeded' }), 1);
    assert.equal(value(s, 'lbha_operations_total', { operation: 'rolling_restart', state: 'failed' }), 1);
    assert.equal(find(s, 'lbha_operations_total').length, 2);
    assert.equal(value(s, 'lbha_node_command_results_total', { cluster: 'web', state: 'succeeded' }), 1);
    assert.equal(find(s, 'lbha_node_command_results_total').length, 1, 'running is not a result');
    assert.ok(value(s, 'lbha_events_total', { severity: 'info' }) >= 2);
    assert.equal(value(s, 'lbha_events_total', { severity: 'warning' }), 1);
  });

  it('escapes label values an agent sends', async () => {
    const { registry, scrape } = setup();
    registry.applyDelta('lb1', 'lb1', delta({ checks: [check('odd"name\\x\ny')] }));
    const s = await scrape();
    assert.equal(find(s, 'lbha_check_status', { node: 'lb1', check: 'odd"name\\x\ny' }).length, 1);
  });

  it('reports webhook delivery counts from its source', async () => {
    const registry = new Registry(3500);
    const metrics = new CoordinatorMetrics({
      registry,
      processMetrics: false,
      webhooks: () => [{ name: 'ops', queued: 2, delivered: 5, failed: 1, dropped: 0, retried: 3 }],
    });
    const s = parseExposition((await metrics.render()).body);
    assert.equal(value(s, 'lbha_webhook_deliveries_total', { webhook: 'ops', state: 'delivered' }), 5);
    assert.equal(value(s, 'lbha_webhook_deliveries_total', { webhook: 'ops', state: 'retried' }), 3);
    assert.equal(value(s, 'lbha_webhook_queued_events', { webhook: 'ops' }), 2);
  });

  it('exports the coordinator process metrics under lbha_coordinator_', async () => {
    const metrics = new CoordinatorMetrics({ registry: new Registry(3500) });
    const s = parseExposition((await metrics.render()).body);
    assert.ok(find(s, 'lbha_coordinator_process_cpu_seconds_total').length === 1);
    assert.ok(find(s, 'lbha_coordinator_nodejs_eventloop_lag_p99_seconds').length === 1);
    metrics.close();
  });

  it('counts the open file descriptors, as the listing of /proc/self/fd does', { skip: process.platform !== 'linux' && 'Linux only' }, async () => {
    const metrics = new CoordinatorMetrics({ registry: new Registry(3500) });
    const exported = async (): Promise<number> => value(parseExposition((await metrics.render()).body), 'lbha_coordinator_process_open_fds');
    const extra: number[] = [];
    try {
      const before = await exported();
      assert.equal(before, readdirSync('/proc/self/fd').length - 1);
      for (let i = 0; i < 40; i++) extra.push(openSync('/dev/null', 'r'));
      assert.equal(await exported(), before + 40);
    } finally {
      for (const fd of extra) closeSync(fd);
      metrics.close();
    }
  });

  it('counts the open file descriptors by listing /proc/self/fd where its size is no count (Linux before 6.2)', { skip: process.platform !== 'linux' && 'Linux only' }, async () => {
    const prom = new PromRegistry();
    collectDefaultMetrics({ register: prom, prefix: 'old_kernel_' });
    let sizesRead = 0;
    // The directory's size as kernels before 6.2 give it.
    openFdsOffTheLoop(prom, 'old_kernel_', async () => {
      sizesRead++;
      return 0;
    });
    const exported = async (): Promise<number> => value(parseExposition(await prom.getSingleMetricAsString('old_kernel_process_open_fds')), 'old_kernel_process_open_fds');
    const extra: number[] = [];
    try {
      const before = await exported();
      assert.equal(sizesRead, 1);
      assert.equal(before, readdirSync('/proc/self/fd').length - 1);
      for (let i = 0; i < 40; i++) extra.push(openSync('/dev/null', 'r'));
      assert.equal(await exported(), before + 40);
      assert.equal(sizesRead, 2);
    } finally {
      for (const fd of extra) closeSync(fd);
      prom.clear();
    }
  });
});
