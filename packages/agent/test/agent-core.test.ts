// The agent core with fakes at the driver port and a fake keepalived config test: what it
// writes to the track files, when it reloads keepalived, what it reports and how commands run.
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { silentLogger, type CommandResult, type DesiredState, type NodeDelta } from '@lbha/shared';
import { eventually } from '@lbha/test-support';
import { Agent } from '../src/agent.js';
import { AgentMetrics } from '../src/agent-metrics.js';
import { compileAgentOptions } from '../src/agent-options.js';
import { agentConfigSchema } from '../src/agent-config.js';
import { runCommand, type CommandRunner } from '../src/util/run-command.js';
import { NGINX_ACTIVE_ACTIVE } from './fixtures/desired-states.js';
import { FakeDriver } from './helpers/fake-driver.js';
import { raiseDelayMs } from '../src/core/track-writer.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Harness {
  agent: Agent;
  nginx: FakeDriver;
  keepalived: FakeDriver;
  dir: string;
  configTests: string[];
  deltas: NodeDelta[];
  read(file: string): string;
}

let keepalivedAccepts = true;

async function harness(desired?: DesiredState, reuseDir?: string, now?: () => number): Promise<Harness> {
  const dir = reuseDir ?? mkdtempSync(join(tmpdir(), 'lbha-agent-'));
  dirs.push(dir);
  for (const ifname of ['eth1', 'eth2']) {
    const d = join(dir, 'sysfs', ifname);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'flags'), '0x1003\n');
    writeFileSync(join(d, 'carrier'), '1\n');
    writeFileSync(join(d, 'operstate'), 'up\n');
  }
  const config = agentConfigSchema.parse({
    node: 'lb1',
    cluster: 'web',
    coordinator: { addresses: ['127.0.0.1:1'] },
    tls: { insecure: true },
    stateDir: join(dir, 'state'),
    runtimeDir: join(dir, 'run'),
    metrics: { listen: '' },
    services: { nginx: { configFile: join(dir, 'nginx.conf') } },
  });
  const opts = { ...compileAgentOptions(config), sysfsNetRoot: join(dir, 'sysfs') };
  const nginx = new FakeDriver('nginx');
  const keepalived = new FakeDriver('keepalived', 'keepalived');
  const configTests: string[] = [];
  const run: CommandRunner = async (file, args, o) => {
    if (args[0] === '-t') {
      configTests.push(readFileSync(args[2] as string, 'utf8'));
      return keepalivedAccepts
        ? { exitCode: 0, output: '', stdout: '', timedOut: false, spawnError: undefined }
        : { exitCode: 5, output: "WARNING - interface eth1 for vrrp_instance vip-28 doesn't exist", stdout: '', timedOut: false, spawnError: undefined };
    }
    return runCommand(file, args, o);
  };
  const agent = new Agent(opts, {
    logger: silentLogger(),
    run,
    metrics: new AgentMetrics({ defaultMetrics: false }),
    drivers: { proxy: () => nginx, keepalived: () => keepalived },
    netlinkEvents: false,
    ...(now ? { now } : {}),
  });
  const deltas: NodeDelta[] = [];
  agent.onDelta((d) => deltas.push(d));
  await agent.start();
  if (desired) assert.deepEqual(await agent.applyDesiredState(desired), { accepted: true });
  return { agent, nginx, keepalived, dir, configTests, deltas, read: (f) => readFileSync(join(dir, 'run', f), 'utf8').trim() };
}

const D = NGINX_ACTIVE_ACTIVE;
const simple: DesiredState = { ...D, checks: [] };

/** Applies `simple` plus a maintenance-file penalty check (50) on a file in the harness dir. */
async function withDownFile(h: Harness): Promise<{ file: string; d: DesiredState }> {
  const file = join(h.dir, 'down');
  const d: DesiredState = {
    ...simple,
    checks: [{ name: 'down-file', intervalMs: 0, timeoutMs: 0, fall: 0, rise: 0, effect: 'penalty', penalty: 50, params: { kind: 'maintenance_file', path: file } }],
  };
  assert.deepEqual(await h.agent.applyDesiredState(d), { accepted: true });
  await eventually(() => h.read('track/placement-vip-28') === '20');
  return { file, d };
}

describe('agent core', () => {
  beforeEach(() => {
    keepalivedAccepts = true;
  });

  it('applies a desired state: config tested, track files written, keepalived started, ACK', async () => {
    const h = await harness(simple);
    try {
      assert.equal(h.configTests.length, 1);
      assert.match(h.read('keepalived.conf'), /vrrp_instance vip-28 \{/);
      assert.equal(h.read('track/placement-vip-28'), '20');
      assert.equal(h.read('track/placement-vip-29'), '0');
      assert.ok(h.keepalived.running);
      await eventually(() => h.read('track/health') === '0');
      assert.equal(h.agent.appliedVersion(), 7);
      const snap = h.agent.snapshot();
      assert.equal(snap.healthy, true);
      assert.deepEqual(
        snap.instances.map((i) => [i.name, i.effectivePriority]),
        [
          ['vip-28', 120],
          ['vip-29', 100],
        ],
      );
      assert.deepEqual(snap.checks.map((c) => c.name), ['nginx-process'], 'the proxy gets a process check');
    } finally {
      await h.agent.stop();
    }
  });

  it('moves VIPs through track files only: a new placement causes no keepalived reload', async () => {
    const h = await harness(simple);
    try {
      const moved: DesiredState = { ...simple, version: 8, instances: simple.instances.map((i) => ({ ...i, placementWeight: i.name === 'vip-28' ? 0 : 50 })) };
      assert.deepEqual(await h.agent.applyDesiredState(moved), { accepted: true });
      assert.equal(h.read('track/placement-vip-28'), '0');
      assert.equal(h.read('track/placement-vip-29'), '50');
      assert.ok(!h.keepalived.calls.includes('reload'));
      assert.equal(h.configTests.length, 1, 'unchanged structure is not even re-tested');
      const added: DesiredState = { ...moved, version: 9, instances: [...moved.instances, { ...moved.instances[0]!, name: 'vip-30', vrid: 53, vip: '192.168.20.30/24' }] };
      assert.deepEqual(await h.agent.applyDesiredState(added), { accepted: true });
      assert.deepEqual(h.keepalived.calls.filter((c) => c === 'reload'), ['reload'], 'a new VIP reloads keepalived once');
    } finally {
      await h.agent.stop();
    }
  });

  it('NACKs what keepalived rejects and keeps running the previous state', async () => {
    const h = await harness(simple);
    try {
      keepalivedAccepts = false;
      const bad: DesiredState = { ...simple, version: 8, instances: [...simple.instances, { ...simple.instances[0]!, name: 'vip-30', vrid: 53, vip: '192.168.20.30/24' }] };
      const r = await h.agent.applyDesiredState(bad);
      assert.equal(r.accepted, false);
      assert.match((r as { error: string }).error, /keepalived rejected the configuration \(keepalived -t\): WARNING - interface eth1/);
      assert.equal(h.agent.appliedVersion(), 7);
      assert.doesNotMatch(h.read('keepalived.conf'), /vip-30/);
      const invalid = await h.agent.applyDesiredState({ ...simple, version: 9, keepalived: { ...simple.keepalived, authPass: 'x' } });
      assert.match((invalid as { error: string }).error, /^keepalived\.authPass: VRRPv3 has no authentication/);
    } finally {
      await h.agent.stop();
    }
  });

  it('writes FAULT to the health file when the proxy cannot come back, and clears it when it does', async () => {
    const h = await harness(simple);
    try {
      await eventually(() => h.read('track/health') === '0');
      h.nginx.configValid = false;
      h.nginx.crash();
      await eventually(() => h.read('track/health') === '1');
      const snap = h.agent.snapshot();
      assert.equal(snap.healthy, false);
      assert.equal(snap.instances[0]?.effectivePriority, 0);
      assert.match(snap.instances[0]!.priorityTerms.at(-1)!.reason, /^FAULT: check nginx-process: nginx is down: config does not validate/);
      assert.ok(h.deltas.some((d) => d.healthy === false));
      h.nginx.configValid = true;
      await eventually(() => h.read('track/health') === '0', 'recovery after backoff', 10_000);
      assert.ok(!h.keepalived.calls.includes('reload'));
    } finally {
      await h.agent.stop();
    }
  });

  it('applies a penalty check through the placement file', async () => {
    const h = await harness();
    try {
      const { file } = await withDownFile(h);
      writeFileSync(file, '');
      await eventually(() => h.read('track/placement-vip-28') === '-30');
      assert.equal(h.read('track/health'), '0', 'a penalty is not a fault');
      const terms = h.agent.snapshot().instances[0]!.priorityTerms;
      assert.deepEqual(terms.at(-1), { source: 'check:down-file', delta: -50, reason: `check down-file: maintenance file ${file} is present` });
    } finally {
      await h.agent.stop();
    }
  });

  it('holds a fresh penalty back on a VIP it holds while a coordinator is connected, until the coordinator moves the VIP', async () => {
    const h = await harness();
    try {
      const { file, d } = await withDownFile(h);
      const fifo = join(h.dir, 'run', 'keepalived.fifo');
      const fd = openSync(fifo, 'w');
      writeSync(fd, 'INSTANCE "vip-28" MASTER 120\nINSTANCE "vip-29" BACKUP 100\n');
      closeSync(fd);
      await eventually(() => h.agent.snapshot().instances[0]?.state === 'master');
      h.agent.setCoordinatorLink(true);

      writeFileSync(file, '');
      const held = () => h.agent.snapshot().instances[0]?.priorityTerms.find((t) => t.source === 'check:down-file');
      await eventually(() => held() !== undefined);
      assert.equal(held()?.delta, 0);
      assert.match(held()?.reason ?? '', /held back while the coordinator moves the VIP with a connection handover/);
      await eventually(() => h.read('track/placement-vip-29') === '-50', 'a VIP it does not hold to take the penalty at once', 2_000);
      assert.equal(h.read('track/placement-vip-28'), '20', 'the VIP it holds keeps its priority for now');

      // The coordinator moves vip-28 away (rank 1): the penalty applies.
      const moved: DesiredState = { ...d, version: 8, instances: d.instances.map((i) => (i.name === 'vip-28' ? { ...i, rank: 1, placementWeight: 0 } : i)) };
      assert.deepEqual(await h.agent.applyDesiredState(moved), { accepted: true });
      assert.equal(h.read('track/placement-vip-28'), '-50');

      // A coordinator that does nothing about it delays the penalty by three seconds at most.
      rmSync(file);
      await eventually(() => h.read('track/placement-vip-29') === '0');
      assert.deepEqual(await h.agent.applyDesiredState({ ...d, version: 9 }), { accepted: true });
      await eventually(() => h.read('track/placement-vip-28') === '20');
      const start = Date.now();
      writeFileSync(file, '');
      await eventually(() => h.read('track/placement-vip-28') === '-30', 6_000);
      assert.ok(Date.now() - start >= 2_500, `applied after the hold (${Date.now() - start} ms)`);
    } finally {
      await h.agent.stop();
    }
  });

  it('drains (lowest placement, connections counted to zero), stays drained across a restart, undrains', async () => {
    const h = await harness(simple);
    try {
      h.nginx.activeConnections = 2;
      const results: CommandResult[] = [];
      h.agent.runCommand({ id: 'drain-1', deadlineMs: 0, action: { kind: 'drain', timeoutMs: 10_000 } }, (r) => results.push(r));
      await eventually(() => h.read('track/placement-vip-28') === '-253');
      await eventually(() => results.some((r) => r.state === 'running' && r.activeConnections === 2));
      h.nginx.activeConnections = 0;
      await eventually(() => results.at(-1)?.state === 'succeeded');
      assert.match(results.at(-1)!.message, /^drained: 0 active connections after [\d.]+s, no VIP held$/);
      assert.equal(h.agent.snapshot().localMode, 'drained');
      await h.agent.stop();

      const again = await harness(undefined, h.dir);
      assert.equal(again.agent.snapshot().localMode, 'drained', 'drain survives an agent restart');
      const replay: CommandResult[] = [];
      again.agent.runCommand({ id: 'drain-1', deadlineMs: 0, action: { kind: 'drain', timeoutMs: 10_000 } }, (r) => replay.push(r));
      assert.deepEqual(replay, [results.at(-1)], 'the finished drain is replayed, not run again');
      await again.agent.stop();
    } finally {
      await h.agent.stop();
    }
  });

  it('undrain restores the placement from the desired state', async () => {
    const h = await harness(simple);
    try {
      const results: CommandResult[] = [];
      h.agent.runCommand({ id: 'd', deadlineMs: 0, action: { kind: 'drain', timeoutMs: 300 } }, (r) => results.push(r));
      await eventually(() => results.at(-1)?.state === 'succeeded');
      h.agent.runCommand({ id: 'u', deadlineMs: 0, action: { kind: 'undrain' } }, (r) => results.push(r));
      await eventually(() => results.at(-1)?.commandId === 'u' && results.at(-1)?.state === 'succeeded');
      assert.equal(results.at(-1)!.message, 'undrained (was drained): placement restored');
      assert.equal(h.read('track/placement-vip-28'), '20');
      assert.equal(h.agent.snapshot().localMode, 'active');
    } finally {
      await h.agent.stop();
    }
  });

  it('reports a restarted service with its new pid, so the coordinator can tell it is back', async () => {
    const h = await harness(simple);
    try {
      const before = h.nginx.pid;
      const results: CommandResult[] = [];
      h.agent.runCommand({ id: 'r', deadlineMs: 0, action: { kind: 'restart', service: 'nginx' } }, (r) => results.push(r));
      await eventually(() => results.at(-1)?.state === 'succeeded');
      await eventually(() => h.deltas.some((d) => d.services.some((s) => s.name === 'nginx' && s.state === 'running' && s.pid !== before)));
      assert.equal(h.agent.snapshot().services.find((s) => s.name === 'nginx')?.restarts, 1);
    } finally {
      await h.agent.stop();
    }
  });

  it('defers a placement raise on a BACKUP instance by a master-down interval, applies a drop at once', async () => {
    // The agent's clock moves only when the test says: a loaded machine cannot make the wait
    // look over before it is.
    let clock = Date.now();
    const h = await harness(simple, undefined, () => clock);
    try {
      const fifo = join(h.dir, 'run', 'keepalived.fifo');
      const say = (line: string): void => {
        const fd = openSync(fifo, 'w');
        writeSync(fd, `${line}\n`);
        closeSync(fd);
      };
      say('INSTANCE "vip-28" BACKUP 120');
      await eventually(() => h.agent.snapshot().instances[0]?.state === 'backup');
      const raised: DesiredState = { ...simple, version: 8, instances: simple.instances.map((i) => (i.name === 'vip-28' ? { ...i, placementWeight: 50 } : i)) };
      assert.deepEqual(await h.agent.applyDesiredState(raised), { accepted: true });
      // Other refreshes while the raise waits must not write anything else.
      say('INSTANCE "vip-29" BACKUP 100');
      await eventually(() => h.agent.snapshot().instances[1]?.state === 'backup');
      assert.equal(h.read('track/placement-vip-28'), '20');
      const wait = raiseDelayMs(simple.keepalived.advertIntMs);
      clock += wait - 1;
      say('INSTANCE "vip-29" MASTER 100');
      await eventually(() => h.agent.snapshot().instances[1]?.state === 'master');
      assert.equal(h.read('track/placement-vip-28'), '20', 'not before a master-down interval');
      clock += 1;
      say('INSTANCE "vip-29" BACKUP 100');
      await eventually(() => h.read('track/placement-vip-28') === '50');
      for (let i = 0; i < 5; i++) {
        const state = i % 2 ? 'backup' : 'master';
        say(`INSTANCE "vip-29" ${state.toUpperCase()} 100`);
        // Each notification is a refresh that decides the track files again.
        await eventually(() => h.agent.snapshot().instances[1]?.state === state);
        assert.equal(h.read('track/placement-vip-28'), '50', 'stays raised (no flapping between old and new values)');
      }
      const dropped: DesiredState = { ...raised, version: 9, instances: raised.instances.map((i) => (i.name === 'vip-28' ? { ...i, placementWeight: -99 } : i)) };
      assert.deepEqual(await h.agent.applyDesiredState(dropped), { accepted: true });
      assert.equal(h.read('track/placement-vip-28'), '-99');
    } finally {
      await h.agent.stop();
    }
  });

  it('keeps the desired state across a restart without a coordinator', async () => {
    const h = await harness(simple);
    await h.agent.stop();
    const config = JSON.parse(readFileSync(join(h.dir, 'state', 'desired-state.json'), 'utf8')) as DesiredState;
    assert.equal(config.version, 7);
  });
});
