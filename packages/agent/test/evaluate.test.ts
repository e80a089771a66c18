// The agent's evaluation rules, one table row each, on the pure evaluation: a view of the node
// and a time in, instance statuses, track file values and the next wake-up out. No agent, no
// timers: the clock is the `now` of each row.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { unhealthy, unknown, type CheckResult, type CheckStatus, type DesiredState } from '@lbha/shared';
import { evaluate, FOREIGN_ANNOUNCE_MS, heldInstances, PENALTY_DEFER_MS, type Evaluation, type NodeView, type VrrpEntry } from '../src/core/evaluate.js';
import { handoffMs, MAX_VERDICT_WAIT_MS } from '../src/core/fault-mode.js';
import { IPV6, NGINX_ACTIVE_ACTIVE } from './fixtures/desired-states.js';

const T0 = 1_700_000_000_000;
const D: DesiredState = { ...NGINX_ACTIVE_ACTIVE, checks: [] };

function check(name: string, effect: CheckStatus['effect'], result: CheckResult, sinceMs = T0 - 60_000, penalty = 0): CheckStatus {
  return { name, kind: 'http', result, effect, penalty, sinceMs, durationMs: 1, streak: 1 };
}
/** nginx died 100 ms ago: within the hand-off time, the node is in FAULT. */
const nginxDown: CheckStatus = { ...check('nginx-process', 'fault', unhealthy('nginx is down'), T0 - 100), kind: 'process' };
/** An http check through the backends, failing since `sinceMs` (interval 200 ms, timeout 500 ms). */
const backends = (sinceMs: number): CheckStatus => check('backends', 'fault', unhealthy('HTTP 502'), sinceMs);
const downFile = (sinceMs = T0 - 60_000): CheckStatus => check('down-file', 'penalty', unhealthy('maintenance file /etc/lbha/down is present'), sinceMs, 50);
const vrrp = (entries: Record<string, VrrpEntry['state']>): ReadonlyMap<string, VrrpEntry> =>
  new Map(Object.entries(entries).map(([name, state]) => [name, { state, priority: 100, sinceMs: T0 - 1_000 }]));

function view(over: Partial<NodeView> = {}): NodeView {
  return {
    desired: D,
    localDrain: undefined,
    verdicts: [],
    links: new Map(),
    vrrp: new Map(),
    addresses: new Map(),
    handovers: [],
    handoverProblems: new Map(),
    handoverConnections: new Map(),
    coordinatorLinked: false,
    ownFailure: undefined,
    announced: new Map(),
    foreign: () => [],
    announcedAtMs: new Map(),
    unplanned: () => [],
    sharedFailure: false,
    ...over,
  };
}

/** What a row compares: per instance the placement file value and the effective priority. */
interface Outcome {
  readonly mode: Evaluation['mode'];
  readonly healthy: boolean;
  readonly placements: Record<string, number>;
  readonly priorities: Record<string, number>;
  readonly wakeAtMs: number | undefined;
}

function outcome(e: Evaluation): Outcome {
  return {
    mode: e.mode,
    healthy: e.healthy,
    placements: Object.fromEntries(e.placements),
    priorities: Object.fromEntries(e.instances.map((i) => [i.name, i.effectivePriority])),
    wakeAtMs: e.wakeAtMs,
  };
}

const BASE: Outcome = { mode: 'active', healthy: true, placements: { 'vip-28': 20, 'vip-29': 0 }, priorities: { 'vip-28': 120, 'vip-29': 100 }, wakeAtMs: undefined };
const LOWEST: Outcome = { ...BASE, placements: { 'vip-28': -253, 'vip-29': -253 }, priorities: { 'vip-28': 1, 'vip-29': 1 } };
const PENALIZED: Outcome = { ...BASE, placements: { 'vip-28': -30, 'vip-29': -50 }, priorities: { 'vip-28': 70, 'vip-29': 50 } };
const FRESH = T0 - 1_000;
const HELD: Outcome = { ...BASE, placements: { 'vip-28': 20, 'vip-29': -50 }, priorities: { 'vip-28': 120, 'vip-29': 50 }, wakeAtMs: FRESH + PENALTY_DEFER_MS };
/** A desired state from a coordinator that decides held faults. */
const DECIDING: DesiredState = { ...D, faultVerdicts: true };
/** The setting in which a fresh penalty is held back: holder of vip-28 (rank 0), coordinator connected. */
const HOLDER = { vrrp: vrrp({ 'vip-28': 'master', 'vip-29': 'backup' }), coordinatorLinked: true };

/**
 * A holder of vip-28 whose fault is held: it keeps vip-28 at its priority, and keeps off vip-29
 * (held by a node that may fail the same) at a last resort's priority.
 */
const HELD_FAULT: Outcome = { ...BASE, healthy: false, placements: { 'vip-28': 20, 'vip-29': -75 }, priorities: { 'vip-28': 120, 'vip-29': 25 } };

/** When the http check through the backends passed again (interval 200 ms, timeout 500 ms, rise 2). */
const RECOVERED = T0 - 50;
const PASSING: CheckStatus = check('backends', 'fault', { kind: 'healthy' }, RECOVERED);

const rows: ReadonlyArray<{ readonly rule: string; readonly view: NodeView; readonly now?: number; readonly want: Outcome }> = [
  { rule: 'without a desired state there are no instances', view: view({ desired: undefined }), want: { ...BASE, placements: {}, priorities: {} } },
  { rule: 'priority is base plus the placement weight', view: view(), want: BASE },
  {
    rule: 'a failing fault check faults every instance and leaves the placement alone',
    view: view({ verdicts: [nginxDown] }),
    want: { ...BASE, healthy: false, priorities: { 'vip-28': 0, 'vip-29': 0 }, wakeAtMs: T0 - 100 + handoffMs(100) },
  },
  { rule: 'an unknown verdict of a fault check counts as failing', view: view({ verdicts: [{ ...nginxDown, result: unknown('timed out after 500ms') }] }), want: { ...BASE, healthy: false, priorities: { 'vip-28': 0, 'vip-29': 0 }, wakeAtMs: T0 - 100 + handoffMs(100) } },
  {
    rule: 'a fault that has lasted the hand-off time (3 adverts + 200 ms) leaves the node a candidate of last resort, below any healthy node',
    view: view({ verdicts: [nginxDown] }),
    now: T0 - 100 + handoffMs(D.keepalived.advertIntMs),
    want: { ...BASE, healthy: false, placements: { 'vip-28': -74, 'vip-29': -75 }, priorities: { 'vip-28': 26, 'vip-29': 25 } },
  },
  {
    rule: '... and one millisecond before, it is still in FAULT (a healthy peer takes the VIPs at once)',
    view: view({ verdicts: [nginxDown] }),
    now: T0 - 101 + handoffMs(D.keepalived.advertIntMs),
    want: { ...BASE, healthy: false, priorities: { 'vip-28': 0, 'vip-29': 0 }, wakeAtMs: T0 - 100 + handoffMs(D.keepalived.advertIntMs) },
  },
  {
    rule: 'when the coordinator says every other node fails too, a failing node is a candidate of last resort at once',
    view: view({ verdicts: [nginxDown], desired: { ...D, lastResort: true } }),
    want: { ...BASE, healthy: false, placements: { 'vip-28': -74, 'vip-29': -75 }, priorities: { 'vip-28': 26, 'vip-29': 25 } },
  },
  {
    rule: 'a newly failing http check on a VIP holder waits for the other nodes to fail it too (coordinator connected); meanwhile it does not take the VIP it does not hold',
    view: view({ ...HOLDER, verdicts: [backends(T0 - 100)] }),
    want: { ...HELD_FAULT, wakeAtMs: T0 - 100 + 200 + 500 + 300 },
  },
  {
    rule: '... a VIP it holds keeps its priority, whichever',
    view: view({ ...HOLDER, vrrp: vrrp({ 'vip-28': 'master', 'vip-29': 'master' }), verdicts: [backends(T0 - 100)] }),
    want: { ...BASE, healthy: false, wakeAtMs: T0 - 100 + 200 + 500 + 300 },
  },
  { rule: '... then faults the node', view: view({ ...HOLDER, verdicts: [backends(T0 - 100)] }), now: T0 - 100 + 1000, want: { ...BASE, healthy: false, priorities: { 'vip-28': 0, 'vip-29': 0 }, wakeAtMs: T0 - 100 + 1000 + handoffMs(100) } },
  { rule: '... not without a coordinator', view: view({ ...HOLDER, coordinatorLinked: false, verdicts: [backends(T0 - 100)] }), want: { ...BASE, healthy: false, priorities: { 'vip-28': 0, 'vip-29': 0 }, wakeAtMs: T0 - 100 + handoffMs(100) } },
  { rule: '... not on a node that holds no VIP', view: view({ ...HOLDER, vrrp: vrrp({ 'vip-28': 'backup' }), verdicts: [backends(T0 - 100)] }), want: { ...BASE, healthy: false, priorities: { 'vip-28': 0, 'vip-29': 0 }, wakeAtMs: T0 - 100 + handoffMs(100) } },
  { rule: '... not with a dead proxy as well', view: view({ ...HOLDER, verdicts: [backends(T0 - 100), nginxDown] }), want: { ...BASE, healthy: false, priorities: { 'vip-28': 0, 'vip-29': 0 }, wakeAtMs: T0 - 100 + handoffMs(100) } },
  {
    rule: '... and while it waits the coordinator may say every other node fails it: last resort, no FAULT ever',
    view: view({ ...HOLDER, verdicts: [backends(T0 - 100)], desired: { ...D, lastResort: true } }),
    want: { ...BASE, healthy: false, placements: { 'vip-28': -74, 'vip-29': -75 }, priorities: { 'vip-28': 26, 'vip-29': 25 } },
  },
  // A coordinator that decides (faultVerdicts) is waited for, not the check's timing: the other
  // node's report may come later than that, and moving the VIP then would help nobody.
  {
    rule: 'with a coordinator that decides, a held check waits for its word past the check\'s timing',
    view: view({ ...HOLDER, verdicts: [backends(T0 - 100)], desired: DECIDING }),
    now: T0 - 100 + 1000,
    want: { ...HELD_FAULT, wakeAtMs: T0 - 100 + MAX_VERDICT_WAIT_MS },
  },
  {
    rule: '... faults the node once the coordinator says the failure is its own',
    view: view({ ...HOLDER, verdicts: [backends(T0 - 100)], desired: { ...DECIDING, ownFailureSinceMs: T0 - 100 }, ownFailure: { sinceMs: T0 - 100, atMs: T0 + 500 } }),
    now: T0 + 500,
    want: { ...BASE, healthy: false, priorities: { 'vip-28': 0, 'vip-29': 0 }, wakeAtMs: T0 + 500 + handoffMs(100) },
  },
  {
    rule: '... a word on an earlier failure does not decide a new one',
    view: view({ ...HOLDER, verdicts: [backends(T0 - 100)], desired: { ...DECIDING, ownFailureSinceMs: T0 - 5_000 }, ownFailure: { sinceMs: T0 - 5_000, atMs: T0 - 4_000 } }),
    want: { ...HELD_FAULT, wakeAtMs: T0 - 100 + MAX_VERDICT_WAIT_MS },
  },
  {
    rule: '... and one that does not answer is waited for 5 s at most',
    view: view({ ...HOLDER, verdicts: [backends(T0 - 100)], desired: DECIDING }),
    now: T0 - 100 + MAX_VERDICT_WAIT_MS,
    want: { ...BASE, healthy: false, priorities: { 'vip-28': 0, 'vip-29': 0 }, wakeAtMs: T0 - 100 + MAX_VERDICT_WAIT_MS + handoffMs(100) },
  },
  // The way out of a failure every node shared: this node passes again first; the other node
  // still holds vip-29 at a last resort's priority, and may pass a moment later.
  {
    rule: 'passing again after a failure every node shared, while the coordinator says every other node still fails: the VIP it does not hold keeps its last-resort priority',
    view: view({ ...HOLDER, verdicts: [PASSING], desired: { ...DECIDING, lastResort: true }, sharedFailure: true }),
    want: { ...BASE, placements: { 'vip-28': 20, 'vip-29': -75 }, priorities: { 'vip-28': 120, 'vip-29': 25 }, wakeAtMs: RECOVERED + 2 * 200 + 500 + MAX_VERDICT_WAIT_MS },
  },
  { rule: '... until the coordinator no longer says so', view: view({ ...HOLDER, verdicts: [PASSING], desired: DECIDING, sharedFailure: true }), want: BASE },
  { rule: '... or it has not said so for 5 s past the time the checks need to pass', view: view({ ...HOLDER, verdicts: [PASSING], desired: { ...DECIDING, lastResort: true }, sharedFailure: true }), now: RECOVERED + 2 * 200 + 500 + MAX_VERDICT_WAIT_MS, want: BASE },
  {
    rule: '... a VIP it took meanwhile (its holder faulted: its own failure) gets its own priority',
    view: view({ ...HOLDER, vrrp: vrrp({ 'vip-28': 'master', 'vip-29': 'master' }), verdicts: [PASSING], desired: { ...DECIDING, lastResort: true }, sharedFailure: true }),
    want: { ...BASE, wakeAtMs: RECOVERED + 2 * 200 + 500 + MAX_VERDICT_WAIT_MS },
  },
  { rule: '... not without a coordinator', view: view({ ...HOLDER, coordinatorLinked: false, verdicts: [PASSING], desired: { ...DECIDING, lastResort: true }, sharedFailure: true }), want: BASE },
  { rule: '... not after a failure of its own (it was no last resort on the coordinator\'s word)', view: view({ ...HOLDER, verdicts: [PASSING], desired: { ...DECIDING, lastResort: true } }), want: BASE },
  { rule: 'a passing check changes nothing', view: view({ verdicts: [{ ...nginxDown, result: { kind: 'healthy' } }] }), want: BASE },
  { rule: 'a failing check with effect none changes nothing', view: view({ verdicts: [{ ...nginxDown, effect: 'none' }] }), want: BASE },
  { rule: 'a failing penalty check lowers every placement', view: view({ verdicts: [downFile()] }), want: PENALIZED },
  { rule: 'penalties add up', view: view({ verdicts: [downFile(), { ...downFile(), name: 'other', penalty: 10 }] }), want: { ...PENALIZED, placements: { 'vip-28': -40, 'vip-29': -60 }, priorities: { 'vip-28': 60, 'vip-29': 40 } } },
  { rule: 'a fresh penalty waits on the VIP the node holds while a coordinator is connected', view: view({ ...HOLDER, verdicts: [downFile(FRESH)] }), want: HELD },
  { rule: '... until the hold is over', view: view({ ...HOLDER, verdicts: [downFile(FRESH)] }), now: FRESH + PENALTY_DEFER_MS, want: PENALIZED },
  { rule: '... and one millisecond before it still waits', view: view({ ...HOLDER, verdicts: [downFile(FRESH)] }), now: FRESH + PENALTY_DEFER_MS - 1, want: HELD },
  { rule: '... not without a coordinator', view: view({ ...HOLDER, coordinatorLinked: false, verdicts: [downFile(FRESH)] }), want: PENALIZED },
  { rule: '... not on a VIP it does not hold', view: view({ ...HOLDER, vrrp: vrrp({ 'vip-28': 'backup' }), verdicts: [downFile(FRESH)] }), want: PENALIZED },
  {
    rule: '... not where it is not the first choice (rank 1)',
    view: view({ ...HOLDER, desired: { ...D, instances: D.instances.map((i) => ({ ...i, rank: 1 })) }, verdicts: [downFile(FRESH)] }),
    want: PENALIZED,
  },
  { rule: '... not while the node drains', view: view({ ...HOLDER, localDrain: 'draining', verdicts: [downFile(FRESH)] }), want: { ...LOWEST, mode: 'draining' } },
  { rule: 'a drain by command puts every placement lowest', view: view({ localDrain: 'drained' }), want: { ...LOWEST, mode: 'drained' } },
  { rule: "a drain by command wins over the coordinator's mode", view: view({ localDrain: 'draining', desired: { ...D, mode: 'maintenance' } }), want: { ...LOWEST, mode: 'draining' } },
  { rule: "the coordinator's maintenance mode puts every placement lowest", view: view({ desired: { ...D, mode: 'maintenance' } }), want: { ...LOWEST, mode: 'maintenance' } },
  {
    rule: 'a step down request puts that instance lowest',
    view: view({ desired: { ...D, instances: D.instances.map((i) => (i.name === 'vip-28' ? { ...i, stepDown: true } : i)) } }),
    want: { ...BASE, placements: { 'vip-28': -253, 'vip-29': 0 }, priorities: { 'vip-28': 1, 'vip-29': 100 } },
  },
  {
    rule: 'a tracked interface that is down faults the instances tracking it, not the node',
    view: view({ links: new Map([['eth2', false]]), desired: { ...D, instances: D.instances.map((i) => (i.name === 'vip-29' ? { ...i, trackInterfaces: [] } : i)) } }),
    want: { ...BASE, priorities: { 'vip-28': 0, 'vip-29': 100 } },
  },
  { rule: 'a link that is up changes nothing', view: view({ links: new Map([['eth2', true]]) }), want: BASE },
  {
    rule: 'the track file value stays within what keepalived accepts',
    view: view({ desired: { ...D, instances: D.instances.map((i) => ({ ...i, placementWeight: 400 })) } }),
    want: { ...BASE, placements: { 'vip-28': 253, 'vip-29': 253 }, priorities: { 'vip-28': 254, 'vip-29': 254 } },
  },
];

describe('agent evaluation rules', () => {
  for (const row of rows) {
    it(row.rule, () => {
      assert.deepEqual(outcome(evaluate(row.view, row.now ?? T0)), row.want);
    });
  }

  // The coordinator's word that every node fails reaches the holders one at a time. The holder of
  // vip-29 that hears it first drops to a last resort's priority (26); a node still holding its
  // own fault must then be below that on vip-29, or it takes the VIP and gives it back a moment
  // later (seen in the lab's shared-failure file with the nodes at half a core).
  it('a held fault keeps the node below a last resort on the VIP it does not hold, and says why', () => {
    const held = evaluate(view({ ...HOLDER, verdicts: [backends(T0 - 100)], desired: DECIDING }), T0);
    const vip29 = held.instances.find((i) => i.name === 'vip-29');
    assert.equal(vip29?.effectivePriority, 25, 'below the other holder as a candidate of last resort (26)');
    assert.deepEqual(vip29?.priorityTerms.at(-1), {
      source: 'held_backup',
      delta: -75,
      reason: 'its own fault is held back: every node may fail it for one shared cause, so this node does not take the VIPs of nodes that fail it too until the coordinator says',
    });
    // The holder of vip-29, where it is first choice (rank 0), told first.
    const other = { ...DECIDING, lastResort: true, instances: D.instances.map((i) => ({ ...i, rank: i.name === 'vip-29' ? 0 : 1 })) };
    const lastResort = evaluate(view({ ...HOLDER, vrrp: vrrp({ 'vip-28': 'backup', 'vip-29': 'master' }), verdicts: [backends(T0 - 100)], desired: other }), T0);
    assert.ok(
      (lastResort.instances.find((i) => i.name === 'vip-29')?.effectivePriority ?? 0) > (vip29?.effectivePriority ?? Infinity),
      'the other holder, told first, still outbids it',
    );
  });

  it('remembers a failure every node shares: a last resort on the coordinator\'s word, then passing again while it waits', () => {
    const shared = evaluate(view({ ...HOLDER, verdicts: [backends(T0 - 100)], desired: { ...DECIDING, lastResort: true } }), T0);
    assert.equal(shared.sharedFailure, true);
    const back = evaluate(view({ ...HOLDER, verdicts: [PASSING], desired: { ...DECIDING, lastResort: true }, sharedFailure: shared.sharedFailure }), T0);
    assert.equal(back.sharedFailure, true);
    assert.deepEqual(back.instances.find((i) => i.name === 'vip-29')?.priorityTerms.at(-1), {
      source: 'shared_recovery',
      delta: -75,
      reason: 'passes again after a failure every node shared; the other nodes may pass a moment later, so this node does not take their VIPs until the coordinator says',
    });
    const alone = evaluate(view({ verdicts: [nginxDown] }), T0 - 100 + handoffMs(D.keepalived.advertIntMs));
    assert.equal(alone.sharedFailure, false, 'a last resort by the time its fault lasted is not one');
    assert.equal(evaluate(view({ ...HOLDER, verdicts: [PASSING], desired: DECIDING, sharedFailure: true }), T0).sharedFailure, false, 'over once the coordinator no longer says so');
  });

  it('explains a held-back penalty without applying it', () => {
    const e = evaluate(view({ ...HOLDER, verdicts: [downFile(FRESH)] }), T0);
    const terms = (name: string) => e.instances.find((i) => i.name === name)?.priorityTerms.filter((t) => t.source === 'check:down-file');
    assert.deepEqual(terms('vip-28'), [
      { source: 'check:down-file', delta: 0, reason: 'check down-file: maintenance file /etc/lbha/down is present; held back while the coordinator moves the VIP with a connection handover' },
    ]);
    assert.deepEqual(terms('vip-29'), [{ source: 'check:down-file', delta: -50, reason: 'check down-file: maintenance file /etc/lbha/down is present' }]);
  });

  it('reports the faults that set the health file, and marks every instance faulted by health', () => {
    const e = evaluate(view({ verdicts: [nginxDown] }), T0);
    assert.deepEqual(e.faults, [{ source: 'check:nginx-process', reason: 'check nginx-process: nginx is down' }]);
    assert.deepEqual(
      e.instances.map((i) => i.faultedByHealth),
      [true, true],
    );
    const link = evaluate(view({ links: new Map([['eth2', false]]) }), T0);
    assert.deepEqual(link.faults, [], "a link fault is keepalived's track_interface, not the health file");
    assert.deepEqual(
      link.instances.map((i) => i.faultedByHealth),
      [false, false],
    );
  });

  it('reports the VRRP state and VIP presence it observes', () => {
    const e = evaluate(
      view({
        vrrp: new Map([['vip-28', { state: 'master', priority: 120, sinceMs: T0 - 5 }]]),
        addresses: new Map([['eth1', new Set(['192.168.20.1/24', '192.168.20.28/24'])]]),
      }),
      T0,
    );
    assert.deepEqual(
      e.instances.map((i) => [i.name, i.state, i.sinceMs, i.vipPresent]),
      [
        ['vip-28', 'master', T0 - 5, true],
        ['vip-29', 'unknown', 0, false],
      ],
    );
    assert.deepEqual(heldInstances(e), ['vip-28']);
    const onOtherInterface = evaluate(view({ addresses: new Map([['eth2', new Set(['192.168.20.28/24'])]]) }), T0);
    assert.deepEqual(heldInstances(onOtherInterface), [], 'a VIP counts only on its own interface');
  });

  it('finds an IPv6 VIP whatever its spelling', () => {
    const e = evaluate(view({ desired: IPV6, addresses: new Map([['eth1', new Set(['fd00:20:0:0::28/64'])]]) }), T0);
    assert.equal(e.instances[0]?.vipPresent, true);
  });

  it('a node that keepalived still calls master holds its VIP even before the address shows', () => {
    assert.deepEqual(heldInstances(evaluate(view({ vrrp: vrrp({ 'vip-29': 'master' }) }), T0)), ['vip-29']);
  });

  it('reports the handover each instance runs, and why one could not start', () => {
    const e = evaluate(
      view({
        handovers: [{ instance: 'vip-28', vrid: 51, interface: 'eth1', vip: '192.168.20.28', role: 'outgoing', peer: '10.0.0.2', untilMs: T0 + 30_000 }],
        handoverProblems: new Map([['vip-29', 'nft is missing']]),
      }),
      T0,
    );
    assert.deepEqual(e.instances[0]?.handover, { role: 'outgoing', peer: '10.0.0.2', untilMs: T0 + 30_000 });
    assert.equal(e.instances[0]?.handoverError, undefined);
    assert.equal(e.instances[1]?.handover, undefined);
    assert.equal(e.instances[1]?.handoverError, 'nft is missing');
    assert.equal(e.instances[0]?.handoverConnections, undefined, 'not counted yet');
  });

  it('reports the connections an outgoing handover still serves, and none for an incoming one', () => {
    const task = { vrid: 51, interface: 'eth1', vip: '192.168.20.28', peer: '10.0.0.2', untilMs: T0 + 30_000 } as const;
    const counted = new Map([['vip-28', 7], ['vip-29', 3]]);
    const e = evaluate(
      view({
        handovers: [
          { ...task, instance: 'vip-28', role: 'outgoing' },
          { ...task, instance: 'vip-29', vrid: 52, vip: '192.168.20.29', role: 'incoming' },
        ],
        handoverConnections: counted,
      }),
      T0,
    );
    assert.equal(e.instances[0]?.handoverConnections, 7);
    assert.equal(e.instances[1]?.handoverConnections, undefined);
    assert.equal(evaluate(view({ handoverConnections: counted }), T0).instances[0]?.handoverConnections, undefined, 'no handover, no count');
  });

  it('is pure: the same view and time give the same result, and the view is not touched', () => {
    const v = view({ ...HOLDER, verdicts: [downFile(FRESH), nginxDown] });
    const before = JSON.stringify([...v.vrrp]);
    assert.deepEqual(evaluate(v, T0), evaluate(v, T0));
    assert.equal(JSON.stringify([...v.vrrp]), before);
  });
});

describe('announcements and routers that are not nodes', () => {
  const HOLDS_28 = new Map([['eth1', new Set(['192.168.20.1/24', '192.168.20.28/24'])]]);
  const asked = (announce: number): DesiredState => ({ ...D, instances: D.instances.map((i) => (i.name === 'vip-28' ? { ...i, announce } : i)) });
  const R = { source: '192.168.20.50', priority: 200, lastSeenMs: T0 - 500 };
  const blocking: DesiredState = { ...D, keepalived: { ...D.keepalived, blockForeignRouters: true } };
  const holder = (over: Partial<NodeView> = {}): NodeView =>
    view({ desired: blocking, vrrp: vrrp({ 'vip-28': 'master', 'vip-29': 'backup' }), addresses: HOLDS_28, foreign: (i, vrid) => (i === 'eth1' && vrid === 51 ? [R] : []), ...over });

  it('an announcement the coordinator asks for is due on the node that holds the VIP, once', () => {
    assert.deepEqual(evaluate(view({ desired: asked(T0 - 10), addresses: HOLDS_28 }), T0).announce, [{ instance: 'vip-28', interface: 'eth1', address: '192.168.20.28', value: T0 - 10 }]);
    assert.deepEqual(evaluate(view({ desired: asked(T0 - 10), addresses: HOLDS_28, announced: new Map([['vip-28', T0 - 10]]) }), T0).announce, [], 'done already');
    assert.deepEqual(evaluate(view({ desired: asked(T0 - 10) }), T0).announce, [], 'not while the node does not hold it');
    const e = evaluate(view({ desired: asked(T0 - 10), addresses: HOLDS_28, announced: new Map([['vip-28', T0 - 10]]) }), T0);
    assert.equal(e.instances[0]?.announced, T0 - 10, 'the node reports the request it carried out');
  });

  it('names the routers that are not nodes on each instance', () => {
    const e = evaluate(view({ foreign: (i, vrid) => (i === 'eth1' && vrid === 51 ? [R] : []) }), T0);
    assert.deepEqual(e.instances.map((i) => i.foreignRouters), [[R], undefined]);
  });

  it('with foreign routers blocked, the holder advertises the highest priority', () => {
    const e = evaluate(holder(), T0);
    assert.deepEqual(e.instances.map((i) => i.effectivePriority), [254, 100]);
    assert.equal(e.placements.get('vip-28'), 154);
    assert.deepEqual(e.instances[0]?.priorityTerms.at(-1), {
      source: 'foreign_routers',
      delta: 134,
      reason: 'holds the VIP; routers that are not nodes are blocked (policy foreign_routers: block): 192.168.20.50 at 200',
    });
  });

  for (const [what, over] of [
    ['not when foreign routers are only reported', { desired: D }],
    ['not on a backup', { vrrp: vrrp({ 'vip-28': 'backup' }) }],
    ['not where it is not the first choice (a planned move away must win)', { desired: { ...blocking, instances: blocking.instances.map((i) => ({ ...i, rank: 1 })) } }],
    ['not with a failing penalty check (its VIPs must be able to move)', { verdicts: [downFile()] }],
    ['not while draining', { localDrain: 'draining' as const }],
  ] as const) {
    it(`... ${what}`, () => {
      assert.notEqual(evaluate(holder(over as Partial<NodeView>), T0).instances[0]?.effectivePriority, 254);
    });
  }

  it('announces the VIP every second while a blocked router is known', () => {
    const first = evaluate(holder(), T0);
    assert.deepEqual(first.announce, [{ instance: 'vip-28', interface: 'eth1', address: '192.168.20.28', value: 0 }]);
    assert.equal(first.wakeAtMs, T0 + FOREIGN_ANNOUNCE_MS);
    const soon = evaluate(holder({ announcedAtMs: new Map([['vip-28', T0]]) }), T0 + 400);
    assert.deepEqual(soon.announce, []);
    assert.equal(soon.wakeAtMs, T0 + FOREIGN_ANNOUNCE_MS);
    assert.equal(evaluate(holder({ announcedAtMs: new Map([['vip-28', T0]]) }), T0 + FOREIGN_ANNOUNCE_MS).announce.length, 1);
    assert.deepEqual(evaluate(holder({ foreign: () => [] }), T0).announce, [], 'no router known, nothing to repeat');
  });
});

