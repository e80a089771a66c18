// Operations keep to one deadline: each step is given the time the operation has left, not the
// whole timeout again, so an operation ends by the deadline it reports (Operation.deadline_ms,
// which the CLI waits for). The rest of the coordinator is faked at the OperationEnv port with a
// fake clock: no server, no timers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '@lbha/shared';
import { EventLog } from '../src/event-log.js';
import { OperationRunner, type OperationRequest } from '../src/operations/operation-runner.js';
import { isFinalOperationState, type OperationRecord } from '../src/store/coordinator-state.js';
import { FakeOperationWorld } from './support/fake-operation-env.js';
import { LB1, T0 } from './support/pass-world.js';

function runner(w: FakeOperationWorld): { ops: OperationRunner; writes: OperationRecord[] } {
  const writes: OperationRecord[] = [];
  const ops = new OperationRunner({
    env: w.env(),
    state: { write: async (r) => void writes.push(...(r.operations ?? [])) },
    events: new EventLog(1000, () => w.now),
    logger: silentLogger(),
  });
  return { ops, writes };
}

function finished(ops: OperationRunner, id: string): Promise<OperationRecord> {
  return new Promise((resolve) => {
    const check = (op: OperationRecord | undefined) => {
      if (op?.id === id && isFinalOperationState(op.state)) {
        off();
        resolve(op);
      }
    };
    const off = ops.subscribe(check);
    check(ops.get(id));
  });
}

async function run(w: FakeOperationWorld, req: Omit<OperationRequest, 'actor'>): Promise<OperationRecord> {
  const { ops } = runner(w);
  const started = await ops.start({ ...req, actor: 'test' });
  return finished(ops, started.id);
}

const SECOND = 1000;
const worstCase = (allowedMs: number) => allowedMs;

describe('operation budgets', () => {
  const rows: ReadonlyArray<{ name: string; req: Omit<OperationRequest, 'actor'>; budgetMs: number }> = [
    { name: 'drain', req: { kind: 'drain', node: LB1, timeoutMs: 60 * SECOND }, budgetMs: 60 * SECOND },
    { name: 'undrain', req: { kind: 'undrain', node: LB1, timeoutMs: 30 * SECOND }, budgetMs: 30 * SECOND },
    { name: 'restart of a VIP holder (drained first)', req: { kind: 'restart', node: LB1, service: 'nginx', timeoutMs: 120 * SECOND }, budgetMs: 120 * SECOND },
    { name: 'reload', req: { kind: 'reload', node: LB1, service: 'nginx', timeoutMs: 60 * SECOND }, budgetMs: 60 * SECOND },
    { name: 'rolling restart of two nodes', req: { kind: 'rolling_restart', cluster: 'web', service: 'nginx', timeoutMs: 100 * SECOND }, budgetMs: 200 * SECOND },
  ];
  for (const row of rows) {
    it(`${row.name}: reports its deadline and ends by it when every wait takes all the time it is given`, async () => {
      const w = new FakeOperationWorld();
      w.conditionDelay = worstCase;
      w.commandDelay = () => worstCase;
      const op = await run(w, row.req);
      assert.equal(op.deadlineMs, T0 + row.budgetMs, 'the deadline the API reports');
      assert.equal(op.state, 'succeeded', op.message);
      assert.ok(w.now <= op.deadlineMs, `ended ${w.now - op.deadlineMs} ms after its deadline`);
      assert.ok(w.waits.length > 0);
      for (const wait of w.waits) assert.ok(wait.atMs + wait.timeoutMs <= op.deadlineMs, `${wait.what} at +${wait.atMs - T0} ms may not wait ${wait.timeoutMs} ms`);
    });
  }

  it('gives each step of a drain the time left: the connections get what moving the VIPs left', async () => {
    const w = new FakeOperationWorld();
    w.conditionDelay = () => 20 * SECOND; // the VIPs take 20 s to move
    const op = await run(w, { kind: 'drain', node: LB1, timeoutMs: 60 * SECOND });
    assert.equal(op.state, 'succeeded', op.message);
    assert.deepEqual(
      w.waits.map((x) => [x.what, x.atMs - T0, x.timeoutMs]),
      [
        ['condition', 0, 60 * SECOND],
        ['command drain', 20 * SECOND, 40 * SECOND],
      ],
    );
    const drain = w.issued.find((c) => c.action.kind === 'drain');
    assert.deepEqual(drain?.action, { kind: 'drain', timeoutMs: 35 * SECOND }, 'the agent drains for the time left less its answer');
    assert.equal(drain?.deadlineMs, op.deadlineMs, 'and does not start it after the deadline');
  });

  it('gives the drain of a restart the first half of its time, and keeps time for the undrain', async () => {
    const w = new FakeOperationWorld();
    w.conditionDelay = worstCase;
    w.commandDelay = () => worstCase;
    const op = await run(w, { kind: 'restart', node: LB1, service: 'nginx', timeoutMs: 120 * SECOND });
    assert.equal(op.state, 'succeeded', op.message);
    const at = (what: string) => w.waits.filter((x) => x.what === what).map((x) => [x.atMs - T0, x.timeoutMs]);
    assert.deepEqual(at('command drain'), [[60 * SECOND, 0]], 'moving the VIPs took the whole first half');
    assert.deepEqual(at('command restart'), [[60 * SECOND, 50 * SECOND]], 'restart and health gate until 10 s before the end');
    assert.deepEqual(at('condition'), [[0, 60 * SECOND], [110 * SECOND, 0], [110 * SECOND, 5 * SECOND]], 'VIPs moving, the health gate (the restart left it nothing: it looks once), the new mode applied');
    assert.deepEqual(w.waits.filter((x) => x.atMs - T0 >= 110 * SECOND && x.timeoutMs > 0).map((x) => [x.what, x.atMs - T0, x.timeoutMs]), [
      ['condition', 110 * SECOND, 5 * SECOND],
      ['command undrain', 115 * SECOND, 5 * SECOND],
    ], 'the undrain in the last 10 s: the agent applying the new mode, then lifting its drain');
  });

  it('passes the time one node of a rolling restart leaves unused to the next', async () => {
    const w = new FakeOperationWorld();
    w.conditionDelay = () => 0;
    w.commandDelay = () => () => 15 * SECOND;
    const op = await run(w, { kind: 'rolling_restart', cluster: 'web', service: 'nginx', timeoutMs: 100 * SECOND });
    assert.equal(op.state, 'succeeded', op.message);
    const settles = w.waits.filter((x) => x.what === 'condition').slice(0, 1);
    assert.deepEqual(settles.map((x) => x.timeoutMs), [100 * SECOND], 'the first node has its own 100 s');
    const second = op.steps.find((s) => s.name.startsWith('nginx-lb02/settle'));
    const lb2Settle = w.waits.find((x) => x.what === 'condition' && x.atMs >= (second?.startedMs ?? Infinity));
    assert.equal(lb2Settle?.timeoutMs, op.deadlineMs - (second?.startedMs ?? 0), 'the second node has what is left of both');
  });

  it('fails a step that runs out of time, naming the time it had', async () => {
    const w = new FakeOperationWorld();
    w.conditionDelay = () => 'never';
    const op = await run(w, { kind: 'drain', node: LB1, timeoutMs: 60 * SECOND });
    assert.equal(op.state, 'failed');
    assert.match(op.message, /^VIPs did not leave nginx-lb01 within 60s: vip-28/);
  });

  it('does not count the time the coordinator was away against a resumed operation', async () => {
    const w = new FakeOperationWorld();
    const { ops, writes } = runner(w);
    const interrupted: OperationRecord = {
      id: 'drain-1',
      kind: 'drain',
      cluster: 'web',
      node: LB1,
      service: '',
      state: 'running',
      message: 'move-vips...',
      createdMs: T0,
      updatedMs: T0 + 10 * SECOND,
      deadlineMs: T0 + 60 * SECOND,
      steps: [{ name: 'mode:draining', state: 'succeeded', message: '', startedMs: T0, finishedMs: T0 + 10 * SECOND }],
      actor: 'test',
      reason: '',
      force: false,
      timeoutMs: 60 * SECOND,
      activeConnections: 0,
      data: { vips: 'vip-28' },
    };
    w.setModeForTest(LB1, 'draining');
    w.now = T0 + 300 * SECOND; // the coordinator was away for 290 s
    ops.load([interrupted]);
    ops.resume();
    const op = await finished(ops, 'drain-1');
    assert.equal(op.state, 'succeeded', op.message);
    assert.equal(op.deadlineMs, T0 + 350 * SECOND);
    assert.equal(w.waits[0]?.timeoutMs, 50 * SECOND, 'the 50 s it had left when the coordinator went away');
    assert.equal(writes[0]?.deadlineMs, T0 + 350 * SECOND, 'the new deadline is stored');
  });
});
