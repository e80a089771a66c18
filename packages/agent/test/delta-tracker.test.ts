// What goes to the coordinator stream: only what changed since the last delta.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { unhealthy, type CheckStatus, type InstanceStatus, type NodeDelta, type ServiceStatus } from '@lbha/shared';
import { DeltaTracker, type PublishInput } from '../src/core/delta-tracker.js';

const nginx: ServiceStatus = { name: 'nginx', kind: 'nginx', state: 'running', pid: 10, restarts: 0, lastError: '', stats: { activeConnections: 1, requestsTotal: 5, currentSessions: 0, serverStates: {} }, sinceMs: 1, supervisor: 'direct' };
const vip: InstanceStatus = {
  name: 'vip-28',
  vrid: 51,
  vip: '192.168.20.28/24',
  interface: 'eth1',
  state: 'backup',
  basePriority: 100,
  effectivePriority: 120,
  vipPresent: false,
  sinceMs: 1,
  priorityTerms: [],
  faultedByHealth: false,
};
const down: CheckStatus = { name: 'down-file', kind: 'maintenance_file', result: unhealthy('present'), effect: 'penalty', penalty: 50, sinceMs: 1, durationMs: 0, streak: 1 };
const NODE = { healthy: true, appliedVersion: 7, localMode: 'active' } as const;

function state(over: Partial<PublishInput> = {}): PublishInput {
  return { services: [nginx], instances: [vip], node: NODE, checkStatus: (n) => (n === down.name ? down : undefined), ...over };
}

describe('delta tracker', () => {
  it('sends everything first, then only what changed, and nothing when nothing did', () => {
    const t = new DeltaTracker();
    const seen: NodeDelta[] = [];
    t.onDelta((d) => seen.push(d));
    assert.deepEqual(t.publish(state()), { services: [nginx], checks: [], instances: [vip], removedChecks: [], removedInstances: [], ...NODE });
    assert.equal(t.publish(state()), undefined);
    const master = { ...vip, state: 'master' as const };
    assert.deepEqual(t.publish(state({ instances: [master] })), { services: [], checks: [], instances: [master], removedChecks: [], removedInstances: [] });
    assert.equal(seen.length, 2, 'listeners get what publish returns');
  });

  it('lets statistics ride along rather than send them on their own', () => {
    const t = new DeltaTracker();
    t.publish(state());
    assert.equal(t.publish(state({ services: [{ ...nginx, stats: { activeConnections: 9, requestsTotal: 99, currentSessions: 0, serverStates: {} } }] })), undefined);
    const restarted = { ...nginx, pid: 11, restarts: 1 };
    assert.deepEqual(t.publish(state({ services: [restarted] }))?.services, [restarted]);
  });

  it('sends the node fields only when one of them changes', () => {
    const t = new DeltaTracker();
    t.publish(state());
    const d = t.publish(state({ node: { ...NODE, healthy: false } }));
    assert.deepEqual(d, { services: [], checks: [], instances: [], removedChecks: [], removedInstances: [], ...NODE, healthy: false });
  });

  it('sends changed checks by their current status, and removals once', () => {
    const t = new DeltaTracker();
    t.publish(state());
    t.checkChanged('down-file');
    assert.deepEqual(t.publish(state())?.checks, [down]);
    t.checkRemoved('old');
    t.instanceRemoved('vip-27');
    assert.deepEqual(t.publish(state()), { services: [], checks: [], instances: [], removedChecks: ['old'], removedInstances: ['vip-27'] });
    assert.equal(t.publish(state()), undefined);
  });

  it('takes back a removal when the check comes back before the next delta', () => {
    const t = new DeltaTracker();
    t.publish(state());
    t.checkRemoved('down-file');
    t.checkAdded('down-file');
    assert.equal(t.publish(state()), undefined);
  });

  it('sends an instance that comes back after its removal again', () => {
    const t = new DeltaTracker();
    t.publish(state());
    t.instanceRemoved('vip-28');
    assert.deepEqual(t.publish(state({ instances: [] }))?.removedInstances, ['vip-28']);
    assert.deepEqual(t.publish(state())?.instances, [vip]);
  });
});
