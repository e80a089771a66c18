import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '@lbha/shared';
import { eventually } from '@lbha/test-support';
import { SupervisedService } from '../src/services/supervised-service.js';
import type { ProcessTable } from '../src/services/process-table.js';
import { Backoff } from '../src/util/backoff.js';
import { FakeDriver } from './helpers/fake-driver.js';

function supervised(driver: FakeDriver, graceMs = 200) {
  const restarts: string[] = [];
  const s = new SupervisedService(driver, {
    graceMs,
    backoff: { firstMs: 10, initialMs: 20, maxMs: 80 },
    stableMs: 60_000,
    watchFiles: [],
    logger: silentLogger(),
    onRestart: (_n, outcome) => restarts.push(outcome),
  });
  const states: string[] = [];
  s.onLiveness(() => states.push(s.liveness().state));
  return { s, states, restarts };
}

describe('backoff', () => {
  it('starts with the first delay, doubles from the initial one, stops at the maximum', () => {
    const b = new Backoff({ firstMs: 0, initialMs: 100, maxMs: 500 });
    assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [0, 100, 200, 400, 500, 500]);
    b.reset();
    assert.equal(b.next(), 0);
  });
});

describe('supervised service (restart policy over the driver port)', () => {
  it('adopts a running daemon instead of starting a second one', async () => {
    const d = new FakeDriver('nginx');
    d.adoptable = true;
    const { s } = supervised(d);
    await s.init(true);
    assert.equal(s.liveness().state, 'running');
    assert.deepEqual(d.calls, ['adopt']);
    s.close();
  });

  it('restarts a crashed proxy in place after validating its config; it never reads failed', async () => {
    const d = new FakeDriver('nginx');
    const { s, states, restarts } = supervised(d);
    await s.init(true);
    d.calls.length = 0;
    d.crash();
    await eventually(() => s.liveness().state === 'running');
    assert.deepEqual(d.calls, ['validate', 'start']);
    assert.deepEqual(states.slice(-2), ['starting', 'running']);
    assert.ok(!states.includes('failed'));
    assert.deepEqual(restarts, ['ok']);
    assert.equal(s.status().restarts, 1);
    s.close();
  });

  it('fails at once when the config does not validate, keeps retrying, recovers when it is fixed', async () => {
    const d = new FakeDriver('nginx');
    const { s, states } = supervised(d, 60_000);
    await s.init(true);
    d.configValid = false;
    d.calls.length = 0;
    d.crash();
    await eventually(() => s.liveness().state === 'failed');
    assert.match(s.liveness().lastError, /config does not validate: nginx: \[emerg\] unknown directive "broken"/);
    assert.ok(!d.calls.includes('start'), 'never starts on an invalid config');
    const validations = (): number => d.calls.filter((c) => c === 'validate').length;
    const v = validations();
    await eventually(() => validations() >= v + 2, 'retries with backoff', 5_000);
    d.configValid = true;
    await eventually(() => s.liveness().state === 'running');
    assert.deepEqual(states.filter((x, i) => x !== states[i - 1]), ['starting', 'running', 'starting', 'failed', 'running']);
    s.close();
  });

  it('fails over only after the grace when a valid config still will not start', async () => {
    const d = new FakeDriver('nginx');
    const { s } = supervised(d, 150);
    await s.init(true);
    d.startWorks = false;
    const crashed = Date.now();
    d.crash();
    await eventually(() => s.liveness().state === 'failed');
    assert.ok(Date.now() - crashed >= 140, 'not before the grace');
    assert.match(s.liveness().lastError, /bind\(\) failed/);
    d.startWorks = true;
    await eventually(() => s.liveness().state === 'running');
    s.close();
  });

  it('refuses an operator restart on an invalid config and leaves the daemon running', async () => {
    const d = new FakeDriver('nginx');
    const { s } = supervised(d);
    await s.init(true);
    d.configValid = false;
    const r = await s.restart();
    assert.equal(r.ok, false);
    assert.match(r.message, /does not validate; not restarted/);
    assert.equal(d.running, true);
    assert.equal(s.liveness().state, 'running');
    s.close();
  });

  it('does not treat the exit of an operator restart as a crash', async () => {
    const d = new FakeDriver('nginx');
    const { s, states } = supervised(d);
    await s.init(true);
    const r = await s.restart();
    assert.equal(r.ok, true);
    assert.equal(s.liveness().state, 'running');
    assert.ok(!states.includes('failed'));
    s.close();
  });
});

/** A clock that moves only when told; sleepers wake when it passes their time. */
class FakeClock {
  t = 0;
  private sleepers: Array<{ at: number; wake: () => void }> = [];
  readonly now = (): number => this.t;
  readonly sleep = (ms: number): Promise<void> => new Promise((wake) => this.sleepers.push({ at: this.t + ms, wake }));
  get sleeping(): number {
    return this.sleepers.length;
  }
  /** Moves the clock in steps of `stepMs`, letting whoever wakes run before the next step. */
  async advance(ms: number, stepMs = 10): Promise<void> {
    for (const end = this.t + ms; this.t < end; ) {
      this.t = Math.min(end, this.t + stepMs);
      const due = this.sleepers.filter((s) => s.at <= this.t);
      this.sleepers = this.sleepers.filter((s) => s.at > this.t);
      for (const s of due) s.wake();
      await new Promise((r) => setImmediate(r));
    }
  }
}

/**
 * A stuck daemon killed by killStuck: a parent (the driver's pid) with two children, on a fake
 * clock. The children outlive the parent until `reap()`.
 */
async function killedStuck() {
  const clock = new FakeClock();
  const alive = new Set<number>();
  const killed: number[] = [];
  const kills: string[] = [];
  const processes: ProcessTable = {
    tree: (pid) => (alive.has(pid) ? [pid, ...[...alive].filter((p) => p !== pid)] : []),
    kill: (pid) => void killed.push(pid),
    exists: (pid) => alive.has(pid),
    traced: () => false,
  };
  const d = new FakeDriver('keepalived', 'keepalived');
  const s = new SupervisedService(d, {
    graceMs: 60_000,
    backoff: { firstMs: 10, initialMs: 20, maxMs: 80 },
    stableMs: 60_000,
    watchFiles: [],
    logger: silentLogger(),
    now: clock.now,
    sleep: clock.sleep,
    processes,
    onKill: (name, cause) => void kills.push(`${name} ${cause}`),
  });
  await s.init(true);
  const parent = d.pid;
  alive.add(parent).add(parent + 1000).add(parent + 1001);
  d.calls.length = 0;
  s.killStuck('keepalived is frozen');
  // The parent's exit is seen while its children still exist.
  alive.delete(parent);
  d.crash();
  return { s, d, clock, killed, kills, parent, reap: () => alive.clear() };
}

describe('supervised service: a stuck daemon it killed', () => {
  it('is restarted only once the processes it killed are gone, on the injected clock', async () => {
    const { s, d, clock, killed, kills, parent, reap } = await killedStuck();
    assert.deepEqual(killed, [parent + 1001, parent + 1000, parent], 'children first, then the parent');
    assert.deepEqual(kills, ['keepalived stuck'], 'counted once (lbha_agent_service_kills_total)');
    await clock.advance(1_900);
    assert.deepEqual(d.calls, [], 'no restart while a killed process still exists');
    assert.equal(clock.sleeping, 1, 'waits on the injected clock');
    assert.equal(s.liveness().state, 'starting');
    reap();
    await clock.advance(20);
    await eventually(() => s.liveness().state === 'running');
    assert.deepEqual(d.calls, ['validate', 'start']);
    assert.equal(s.liveness().lastError, 'keepalived is frozen; killed and restarted');
    s.close();
  });

  it('is restarted after 2 s of the injected clock when a killed process never goes', async () => {
    const { s, d, clock } = await killedStuck();
    await clock.advance(1_990);
    assert.deepEqual(d.calls, [], 'not before 2 s');
    assert.equal(clock.sleeping, 1, 'waits on the injected clock');
    await clock.advance(20);
    await eventually(() => s.liveness().state === 'running');
    assert.deepEqual(d.calls, ['validate', 'start']);
    s.close();
  });
});

describe('supervised service: a stopped worker of a running proxy', () => {
  /** nginx with workers PID+1 and PID+2, PID+2 stopped; the hang watch samples every 5 ms. */
  async function stoppedWorker(killStoppedWorkers: boolean) {
    const killed: number[] = [];
    const kills: string[] = [];
    const d = new FakeDriver('nginx');
    const s = new SupervisedService(d, {
      graceMs: 60_000,
      backoff: { firstMs: 10, initialMs: 20, maxMs: 80 },
      stableMs: 60_000,
      watchFiles: [],
      logger: silentLogger(),
      stallIntervalMs: 5,
      killStoppedWorkers,
      onKill: (name, cause) => void kills.push(`${name} ${cause}`),
      processes: { tree: (pid) => [pid, pid + 1, pid + 2], kill: (pid) => void killed.push(pid), exists: () => true, traced: () => false },
      stallRead: {
        tree: (pid) => [pid, pid + 1, pid + 2],
        inodes: () => new Set(['1']),
        queues: () => ({ queued: 0, listeners: 1 }),
        states: (pids) => ({ stopped: pids.every((p) => p === d.pid + 2), runnable: false }),
        stopped: (pids) => pids.filter((p) => p === d.pid + 2),
      },
    });
    await s.init(true);
    d.calls.length = 0;
    return { s, d, killed, kills };
  }

  it('is killed (the master starts another); the proxy is neither restarted nor hung', async () => {
    const { s, d, killed, kills } = await stoppedWorker(true);
    await eventually(() => killed.length > 0, 'the stopped worker killed', { timeoutMs: 5_000 });
    assert.deepEqual(killed, [d.pid + 2], 'the stopped worker alone');
    assert.deepEqual(kills, ['nginx worker_stopped'], 'counted (lbha_agent_service_kills_total)');
    assert.deepEqual(d.calls, [], 'nginx itself is left alone');
    assert.deepEqual(s.liveness(), { state: 'running', lastError: '' }, 'not hung: its other worker takes the connections');
    s.close();
  });

  it('is left alone where the master does not replace workers (haproxy)', async () => {
    const { s, killed } = await stoppedWorker(false);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(killed, []);
    s.close();
  });
});

describe('supervised service: a proxy that stays hung', () => {
  /**
   * nginx whose every process (PID, PID+1) is stopped while `hung.now` is set; the hang watch
   * samples every 5 ms; killing the master ends the daemon. `traced` names processes a tracer holds.
   */
  async function hungProxy(hungRestartAfterMs: number, traced: (pid: number, master: number) => boolean = () => false) {
    const killed: number[] = [];
    const kills: string[] = [];
    const hung = { now: false };
    const d = new FakeDriver('nginx');
    const events: string[] = [];
    const logger = silentLogger();
    const record = (level: 'warn' | 'error') => (o: unknown) => void events.push(`${level} ${(o as { event?: string }).event}`);
    const s = new SupervisedService(d, {
      graceMs: 60_000,
      backoff: { firstMs: 10, initialMs: 20, maxMs: 80 },
      stableMs: 60_000,
      watchFiles: [],
      logger: Object.assign(Object.create(logger) as typeof logger, { warn: record('warn'), error: record('error') }),
      stallIntervalMs: 5,
      hungRestartAfterMs,
      onKill: (name, cause) => void kills.push(`${name} ${cause}`),
      processes: {
        tree: (pid) => [pid, pid + 1],
        kill: (pid) => {
          killed.push(pid);
          if (pid === d.pid) d.crash();
        },
        exists: () => false,
        traced: (pid) => traced(pid, d.pid),
      },
      stallRead: {
        tree: (pid) => [pid, pid + 1],
        inodes: () => new Set(['1']),
        queues: () => ({ queued: hung.now ? 3 : 0, listeners: 1 }),
        states: () => ({ stopped: hung.now, runnable: false }),
        stopped: (pids) => (hung.now ? [...pids] : []),
      },
    });
    await s.init(true);
    d.calls.length = 0;
    return { s, d, killed, kills, hung, events };
  }

  it('is killed once the hang has lasted hungRestartAfterMs, children first, and restarted in place', async () => {
    const { s, d, killed, kills, hung, events } = await hungProxy(60);
    const master = d.pid;
    hung.now = true;
    await eventually(() => s.liveness().hung !== undefined, 'the hang found');
    assert.deepEqual(killed, [], 'not killed at once: a hang that ends by itself keeps its connections');
    await eventually(() => killed.length > 0, 'the hung proxy killed', { timeoutMs: 5_000 });
    assert.deepEqual(killed, [master + 1, master], 'the worker first, then the master');
    hung.now = false;
    await eventually(() => s.liveness().state === 'running' && d.pid !== master, 'restarted in place');
    assert.deepEqual(d.calls, ['validate', 'start']);
    assert.match(s.liveness().lastError, /^hung for 60 ms \(.+\); killed and restarted$/);
    assert.ok(events.includes('error service.stuck'), `the kill is logged: ${events.join(', ')}`);
    assert.deepEqual(kills, ['nginx hung'], 'and counted (lbha_agent_service_kills_total)');
    s.close();
  });

  it('is not killed when the hang ends within the delay', async () => {
    const { s, killed, hung } = await hungProxy(200);
    hung.now = true;
    await eventually(() => s.liveness().hung !== undefined, 'the hang found');
    hung.now = false;
    await eventually(() => s.liveness().hung === undefined, 'the hang over');
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(killed, []);
    assert.equal(s.liveness().state, 'running');
    s.close();
  });

  it('is left alone while a tracer holds one of its processes, and with hungRestartAfterMs 0', async () => {
    const traced = await hungProxy(30, (pid, master) => pid === master + 1);
    traced.hung.now = true;
    await eventually(() => traced.events.includes('warn service.hung_traced'), 'the traced hang logged');
    assert.deepEqual(traced.killed, [], 'a debugger holds it on purpose');
    traced.s.close();
    const never = await hungProxy(0);
    never.hung.now = true;
    await eventually(() => never.s.liveness().hung !== undefined, 'the hang found');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(never.killed, []);
    assert.equal(never.s.liveness().state, 'running');
    never.s.close();
  });
});
