// The failover tracker: who holds a VIP after its holder lets go, when another node of the same
// cluster still reports MASTER (a split brain), and only then.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FailoverTracker, type InstanceObservation } from '../src/metrics/failover-tracker.js';

const master = (vip: string, sinceMs = 1): InstanceObservation => ({ vip, state: 'master', sinceMs, vipPresent: true });
const backup = (vip: string, sinceMs = 1): InstanceObservation => ({ vip, state: 'backup', sinceMs, vipPresent: false });
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
});
