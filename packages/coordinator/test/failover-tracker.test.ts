// The failover tracker: who holds a VIP after its holder lets go, when another node of the same
// cluster still reports MASTER (a split brain), and only then.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { FailoverTracker, type InstanceObservation } from '../src/metrics/failover-tracker.js';

const master = (name: string, sinceMs = 1): InstanceObservation => ({ name, state: 'master', sinceMs, vipPresent: true });
const backup = (name: string, sinceMs = 1): InstanceObservation => ({ name, state: 'backup', sinceMs, vipPresent: false });
const explain = (_vip: string, _since: number) => ({ reason: 'health' as const, atMs: 100 });

describe('FailoverTracker', () => {
  it('hands the VIP to another MASTER of the same cluster when the holder is lost', () => {
    const t = new FailoverTracker();
    t.observe('web', 'lb1', [master('v')], explain, 0);
    t.observe('web', 'lb2', [master('v')], explain, 0);
    assert.equal(t.holderOf('web', 'v'), 'lb2', 'the last to take it');
    t.nodeLost('lb2', 50);
    assert.equal(t.holderOf('web', 'v'), 'lb1', 'lb1 still reports MASTER: it holds the VIP');
  });

  it('does not take a MASTER of the same VIP name in another cluster for a holder', () => {
    const t = new FailoverTracker();
    t.observe('api', 'x1', [master('v')], explain, 0);
    t.observe('web', 'lb1', [master('v')], explain, 0);
    t.observe('web', 'lb2', [backup('v')], explain, 0);
    assert.deepEqual(t.nodeLost('lb1', 50), []);
    assert.equal(t.holderOf('web', 'v'), undefined, 'nobody in web holds it');
    const moved = t.observe('web', 'lb2', [master('v', 120)], explain, 120);
    assert.deepEqual(moved.failovers.map((f) => [f.from, f.to, f.reason, f.durationMs]), [['lb1', 'lb2', 'node_lost', 70]]);
  });

  it('follows a node into its new cluster, and forgets it', () => {
    const t = new FailoverTracker();
    t.observe('web', 'lb1', [master('v')], explain, 0);
    t.observe('api', 'lb2', [master('v')], explain, 0);
    // lb2 now reports as a member of web, still MASTER of v.
    t.observe('web', 'lb2', [master('v')], explain, 0);
    assert.equal(t.holderOf('web', 'v'), 'lb2');
    t.observe('api', 'x1', [master('v')], explain, 0);
    t.observe('web', 'lb1', [backup('v')], explain, 0);
    t.nodeLost('lb2', 50);
    assert.equal(t.holderOf('web', 'v'), undefined, 'lb1 let go and lb2 is lost; x1 is in api');
    t.forget('lb1');
    t.observe('web', 'lb3', [master('v')], explain, 0);
    t.nodeLost('lb3', 60);
    assert.equal(t.holderOf('web', 'v'), undefined, 'a forgotten node holds nothing');
  });

  it('follows every report in the records it keeps: a state, a time, a VIP no longer reported', () => {
    const t = new FailoverTracker();
    const asked: Array<[string, number]> = [];
    const explainAt = (atMs: number) => (vip: string, heldSinceMs: number) => {
      asked.push([vip, heldSinceMs]);
      return { reason: 'health' as const, atMs };
    };
    t.observe('web', 'lb1', [master('v', 10)], explain, 0);
    t.observe('web', 'lb2', [backup('v', 5)], explain, 0);
    // Unchanged reports, as every second: nothing to say.
    for (let k = 0; k < 3; k++) assert.deepEqual(t.observe('web', 'lb1', [master('v', 10)], explain, 0), { transitions: [], failovers: [] });
    const letGo = t.observe('web', 'lb1', [backup('v', 40)], explainAt(38), 40);
    assert.deepEqual(letGo.transitions.map((x) => [x.node, x.from, x.to]), [['lb1', 'master', 'backup']]);
    assert.deepEqual(asked, [['v', 10]], 'held since the previous report said, not this one');
    const took = t.observe('web', 'lb2', [master('v', 45)], explain, 45);
    assert.deepEqual(took.failovers.map((f) => [f.from, f.to, f.durationMs]), [['lb1', 'lb2', 7]]);
    // lb2 no longer reports v: it let go of what it held since 45 (its last report), not 5.
    asked.length = 0;
    t.observe('web', 'lb2', [], explainAt(50), 50);
    assert.deepEqual(asked, [['v', 45]]);
    assert.equal(t.holderOf('web', 'v'), undefined);
    // Reported again, it is a new instance: no transition from the one dropped.
    assert.deepEqual(t.observe('web', 'lb2', [backup('v', 60)], explain, 60).transitions, []);
    // Only the first `count` instances of a report are followed.
    t.observe('web', 'lb3', [backup('w'), master('v', 70)], explain, 70, 1);
    assert.equal(t.holderOf('web', 'v'), undefined, 'the second instance is past the count');
  });

  it("hands out each call's failovers in an array of their own", () => {
    const t = new FailoverTracker();
    t.observe('web', 'lb1', [master('v', 1), master('w', 1)], explain, 0);
    t.observe('web', 'lb2', [backup('v'), backup('w')], explain, 0);
    t.observe('web', 'lb1', [backup('v', 50), master('w', 1)], explain, 50);
    const first = t.observe('web', 'lb2', [master('v', 120), backup('w')], explain, 120);
    t.observe('web', 'lb1', [backup('v', 50), backup('w', 130)], explain, 130);
    const second = t.observe('web', 'lb2', [master('v', 120), master('w', 140)], explain, 140);
    assert.deepEqual(first.failovers.map((f) => f.vip), ['v']);
    assert.deepEqual(second.failovers.map((f) => f.vip), ['w']);
    assert.deepEqual(t.nodeLost('lb2', 200), []);
  });

  it("keeps nothing of a report's own objects", async () => {
    const t = new FailoverTracker();
    let report: InstanceObservation[] | undefined = [master('v', 10), backup('w', 10)];
    const refs = report.map((i) => new WeakRef(i));
    t.observe('web', 'lb1', report, explain, 0);
    report = undefined;
    await setImmediate();
    setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as () => void)();
    assert.deepEqual(refs.map((r) => r.deref()), [undefined, undefined], 'the report is collected once nothing else holds it');
    assert.equal(t.holderOf('web', 'v'), 'lb1');
    const moved = t.observe('web', 'lb1', [backup('v', 20), backup('w', 10)], explain, 20);
    assert.deepEqual(moved.transitions.map((x) => [x.vip, x.from, x.to]), [['v', 'master', 'backup']]);
  });
});
