// Which VRRP transitions were asked for and which were not, and with what cause: one row each,
// on the pure classification with the time given; then the log's memory of them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { VrrpState } from '@lbha/shared';
import { classifyTransition, FLAP_MS, followsWithinMs, TransitionLog, type TransitionContext } from '../src/core/transition-log.js';

const T0 = 1_700_000_000_000;
const ADVERT = 100;
const QUIET: TransitionContext = {
  nowMs: T0,
  advertIntMs: ADVERT,
  placementChangedMs: T0 - 60_000,
  healthChanged: { atMs: T0 - 60_000, value: 0 },
  keepalivedStartedMs: T0 - 60_000,
  faults: [],
  downInterfaces: [],
  foreign: [],
  previous: undefined,
};
const within = followsWithinMs(ADVERT);

const rows: ReadonlyArray<{ rule: string; from: VrrpState; to: VrrpState; c: Partial<TransitionContext>; want: string }> = [
  { rule: 'keepalived starting is asked for', from: 'init', to: 'backup', c: { keepalivedStartedMs: T0 - 50 }, want: 'planned: keepalived started or reloaded' },
  { rule: 'a placement change this node wrote moves the VIP: asked for', from: 'master', to: 'backup', c: { placementChangedMs: T0 - within }, want: 'planned: placement changed' },
  { rule: '... and one millisecond too late it is not', from: 'master', to: 'backup', c: { placementChangedMs: T0 - within - 1 }, want: 'preempted: a higher-priority advert arrived' },
  { rule: 'a failing check puts the instance in FAULT', from: 'master', to: 'fault', c: { faults: ['check nginx: nginx is down'], healthChanged: { atMs: T0 - 10, value: 1 } }, want: 'check: check nginx: nginx is down' },
  { rule: 'a tracked link down', from: 'master', to: 'fault', c: { downInterfaces: ['eth2'] }, want: 'link: tracked interface eth2 down' },
  { rule: "keepalived's own FAULT", from: 'backup', to: 'fault', c: {}, want: "fault: keepalived reported FAULT (its own interface or tracking)" },
  { rule: 'leaving FAULT after the checks pass', from: 'fault', to: 'backup', c: { healthChanged: { atMs: T0 - 10, value: 0 } }, want: 'recovered: the failing checks pass again (or the node became a candidate of last resort)' },
  { rule: 'taking the VIP when the master goes quiet', from: 'backup', to: 'master', c: {}, want: "master_down: the master stopped advertising (it failed or left, or its adverts were lost)" },
  { rule: 'yielding to a higher priority', from: 'master', to: 'backup', c: {}, want: 'preempted: a higher-priority advert arrived' },
  {
    rule: '... named when it is a router that is not a node',
    from: 'master',
    to: 'backup',
    c: { foreign: [{ source: '192.168.20.50', priority: 200 }] },
    want: 'preempted: a higher-priority advert arrived; routers that are not nodes advertise it: 192.168.20.50 at 200',
  },
  {
    rule: 'a MASTER episode that began with the master going quiet and ends with it back is a flap',
    from: 'master',
    to: 'backup',
    c: { previous: { seq: 1, from: 'backup', to: 'master', kind: 'master_down', cause: '', atMs: T0 - 3 } },
    want: "flap: MASTER for 3 ms after the master's adverts stopped; a higher priority is back",
  },
  {
    rule: '... unless it lasted longer than 10 s',
    from: 'master',
    to: 'backup',
    c: { previous: { seq: 1, from: 'backup', to: 'master', kind: 'master_down', cause: '', atMs: T0 - FLAP_MS - 1 } },
    want: 'preempted: a higher-priority advert arrived',
  },
];

function describeOutcome(r: ReturnType<typeof classifyTransition>): string {
  return r.planned ? `planned: ${r.why}` : `${r.kind}: ${r.cause}`;
}

describe('VRRP transitions nobody asked for', () => {
  for (const row of rows) {
    it(row.rule, () => {
      assert.equal(describeOutcome(classifyTransition(row.from, row.to, { ...QUIET, ...row.c })), row.want);
    });
  }

  it('the log keeps the last eight per instance, numbered from its start, and finds flaps across records', () => {
    const log = new TransitionLog(5000);
    const c = { ...QUIET };
    assert.equal(log.record('vip1', 'backup', 'master', c)?.seq, 5001);
    const flap = log.record('vip1', 'master', 'backup', { ...c, nowMs: T0 + 3 });
    assert.deepEqual([flap?.kind, flap?.masterMs], ['flap', 3]);
    assert.equal(log.record('vip1', 'init', 'backup', { ...c, keepalivedStartedMs: T0 }), undefined, 'asked for: not recorded');
    for (let i = 0; i < 10; i++) log.record('vip1', 'backup', 'fault', { ...c, nowMs: T0 + 10 + i, faults: ['check x'] });
    assert.equal(log.of('vip1').length, 8);
    assert.equal(log.of('vip1').at(-1)?.seq, 5012);
    assert.deepEqual(log.of('vip2'), []);
  });
});
