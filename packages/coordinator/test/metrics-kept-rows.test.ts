// /metrics keeps what a scrape builds (node lines, VIP rows, cluster counts, the scrape's arrays)
// and refills it at the next scrape. Here the fleet changes between scrapes the ways it can (VIPs
// move, split brains, verdicts and desired holders change, nodes disconnect, are forgotten or
// join, VIPs leave the spec) and each body is checked two ways: byte for byte against a
// coordinator's metrics built afresh for that scrape (nothing kept), and against the VIP series
// derived here from the reports and the placement. A row kept and not refilled shows as a
// difference.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { setImmediate } from 'node:timers/promises';
import type { InstanceStatus, NodeSnapshot } from '@lbha/shared';
import { seededRandom } from '@lbha/test-support';
import { CoordinatorMetrics } from '../src/metrics/coordinator-metrics.js';
import { METRICS, type VipCondition } from '../src/metrics/metric-definitions.js';
import type { VipPlacementView } from '../src/metrics/metrics-sources.js';
import { NODE_FAMILIES } from '../src/metrics/node-samples.js';
import { buildFleet, fakeSession, hello, instance, snapshot } from './support/fake-fleet.js';
import { holdScrapeAtFirstChunk } from './support/exposition.js';

const d = METRICS;
/** The families a scrape builds from the nodes' reports and the placement. */
const STATE_FAMILIES = new Set([d.nodeConnected, d.nodeHeartbeatAge, d.desiredStateNacked, ...NODE_FAMILIES.map((id) => d[id]), d.vipHolders, d.vipHolder, d.vipDesiredHolder, d.vipStatus, d.vips].map((m) => m.name));
const VIP_FAMILIES = new Set([d.vipHolders, d.vipHolder, d.vipDesiredHolder, d.vipStatus].map((m) => m.name));

/** The lines (HELP and TYPE included) of the families in `names`, in the body's order. */
function linesOf(body: string, names: ReadonlySet<string>): string[] {
  return body.split('\n').filter((line) => {
    const name = line.startsWith('# ') ? (line.split(' ')[2] as string) : (/^[a-z_:]+/.exec(line)?.[0] ?? '');
    return names.has(name);
  });
}

async function scrape(metrics: CoordinatorMetrics): Promise<string> {
  const chunks: Buffer[] = [];
  // A pause after every piece, as many slice boundaries as there can be.
  await metrics.stream((c) => void chunks.push(c), undefined, 0);
  return Buffer.concat(chunks).toString('utf8');
}

type Fleet = ReturnType<typeof buildFleet>;

/**
 * A full collection (V8's gc() made reachable without the process's --expose-gc), after a turn
 * of the event loop: a WeakRef keeps its target alive to the end of the job that made or read it.
 */
async function collectGarbage(): Promise<void> {
  await setImmediate();
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** Weak references to a node's record, its report and the view a scrape built of it. */
function weakRefsTo(fleet: Fleet, node: string): { record: WeakRef<object>; report: WeakRef<object> } {
  const rec = fleet.registry.get(node);
  if (!rec?.snapshot) throw new Error(`${node} has no report`);
  return { record: new WeakRef(rec), report: new WeakRef(rec.snapshot) };
}

/** The VIP series the reports and the placement call for, derived without the metrics code. */
function expectedVipLines(fleet: Fleet, placement: readonly VipPlacementView[]): Set<string> {
  const rows = new Map<string, { cluster: string; vip: string; holders: string[]; desired: string; status: VipCondition | undefined }>();
  const rowOf = (cluster: string, vip: string) => {
    const key = JSON.stringify([cluster, vip]);
    let r = rows.get(key);
    if (!r) rows.set(key, (r = { cluster, vip, holders: [], desired: '', status: undefined }));
    return r;
  };
  for (const rec of fleet.registry.list()) {
    if (rec.link === 'disconnected' || !rec.snapshot) continue;
    for (const i of rec.snapshot.instances) {
      const r = rowOf(rec.cluster, i.name);
      if (i.state === 'master' || i.vipPresent) r.holders.push(rec.name);
    }
  }
  for (const p of placement) Object.assign(rowOf(p.cluster, p.vip), { desired: p.desired, status: p.status });
  const out = new Set<string>();
  for (const r of rows.values()) {
    const l = `cluster="${r.cluster}",vip="${r.vip}"`;
    const condition = r.status ?? (r.holders.length === 0 ? 'orphaned' : r.holders.length > 1 ? 'split_brain' : r.desired && r.holders[0] !== r.desired ? 'diverged' : 'in_place');
    out.add(`${d.vipHolders.name}{${l}} ${r.holders.length}`);
    for (const h of r.holders) out.add(`${d.vipHolder.name}{${l},node="${h}"} 1`);
    if (r.desired) out.add(`${d.vipDesiredHolder.name}{${l},node="${r.desired}"} 1`);
    out.add(`${d.vipStatus.name}{${l},state="${condition}"} 1`);
  }
  return out;
}

function setInstances(fleet: Fleet, node: string, instances: InstanceStatus[], over: Partial<NodeSnapshot> = {}): void {
  const rec = fleet.registry.get(node);
  if (!rec?.snapshot || !rec.session) throw new Error(`${node} has no report`);
  fleet.registry.setSnapshot(node, rec.session.id, { ...rec.snapshot, ...over, instances });
}

describe('CoordinatorMetrics, what a scrape keeps for the next', () => {
  it('writes what a fresh render writes after every kind of change between scrapes', async () => {
    const rnd = seededRandom(5);
    const fleet = buildFleet(150);
    let placement: VipPlacementView[] = fleet.placement.map((p) => ({ ...p }));
    const sources = { registry: fleet.registry, placementView: () => placement, processMetrics: false, clock: () => 50_000 };
    const metrics = new CoordinatorMetrics(sources);
    const check = async (round: string): Promise<void> => {
      const body = await scrape(metrics);
      const fresh = new CoordinatorMetrics(sources);
      try {
        const reference = await scrape(fresh);
        assert.deepEqual(linesOf(body, STATE_FAMILIES), linesOf(reference, STATE_FAMILIES), `${round}: the body differs from a fresh render's`);
      } finally {
        fresh.close();
      }
      const vipLines = new Set(linesOf(body, VIP_FAMILIES).filter((l) => !l.startsWith('#')));
      const expected = expectedVipLines(fleet, placement);
      assert.deepEqual([...expected].filter((l) => !vipLines.has(l)), [], `${round}: VIP series missing`);
      assert.deepEqual([...vipLines].filter((l) => !expected.has(l)), [], `${round}: VIP series nobody expected`);
    };
    try {
      await check('first scrape');
      await check('nothing changed');
      // A fifth of the nodes swap their VIPs' states and report other check durations.
      for (const rec of fleet.registry.list()) {
        if (rnd() >= 0.2 || !rec.snapshot) continue;
        const swapped = rec.snapshot.instances.map((i) => instance(i.name, i.state === 'master' ? 'backup' : 'master', 2));
        setInstances(fleet, rec.name, swapped, { checks: rec.snapshot.checks.map((c) => ({ ...c, durationMs: c.durationMs + 7 })) });
      }
      await check('VIPs moved');
      // A split brain, an orphan, a holder with the address but in BACKUP, verdicts and desired holders changed.
      setInstances(fleet, 'web-0003-lb1', [instance('vip-a', 'master', 3), instance('vip-b', 'master', 3)]);
      setInstances(fleet, 'web-0003-lb2', [instance('vip-a', 'master', 3), instance('vip-b', 'backup', 3)]);
      setInstances(fleet, 'web-0004-lb1', [instance('vip-a', 'backup', 3), instance('vip-b', 'backup', 3)]);
      setInstances(fleet, 'web-0004-lb2', [instance('vip-a', 'backup', 3, { vipPresent: true }), instance('vip-b', 'backup', 3)]);
      placement = placement.map((p, k) => (k % 7 === 0 ? { ...p, desired: '' } : k % 11 === 0 ? { ...p, status: 'healing' } : k % 13 === 0 ? { ...p, desired: `${p.cluster}-lb2` } : p));
      await check('split brain, orphan, verdicts');
      // A node disconnects (its report is history: no holders, no health) ...
      const lost = fleet.registry.get('web-0010-lb1');
      fleet.registry.detach('web-0010-lb1', lost?.session?.id ?? '', 'test');
      await check('a node disconnected');
      // ... and is forgotten; a VIP leaves the spec and its nodes' reports; a cluster joins.
      assert.ok(fleet.registry.forget('web-0010-lb1'));
      placement = placement.filter((p) => !(p.cluster === 'web-0020' && p.vip === 'vip-b'));
      for (const node of ['web-0020-lb1', 'web-0020-lb2']) setInstances(fleet, node, (fleet.registry.get(node)?.snapshot?.instances ?? []).filter((i) => i.name !== 'vip-b'));
      for (const [k, node] of ['new-lb1', 'new-lb2'].entries()) {
        fleet.registry.attach(hello(node, 'new'), fakeSession(`s-${node}`));
        fleet.registry.setSnapshot(node, `s-${node}`, snapshot([instance('vip-n', k === 0 ? 'master' : 'backup', 4)]));
      }
      placement = [...placement, { cluster: 'new', vip: 'vip-n', desired: 'new-lb1' }];
      await check('forgotten, left the spec, joined');
      // Two VIPs leave the placement while their nodes still report them: no desired holder, no verdict.
      assert.equal(placement.find((p) => p.cluster === 'web-0005' && p.vip === 'vip-b')?.status, 'healing');
      placement = placement.filter((p) => !(p.cluster === 'web-0005' && p.vip === 'vip-b') && !(p.cluster === 'web-0030' && p.vip === 'vip-a'));
      await check('left the placement, still reported');
      // A cluster's only VIP leaves the placement and the reports: its counts go, its nodes stay.
      placement = placement.filter((p) => p.cluster !== 'new');
      for (const node of ['new-lb1', 'new-lb2']) setInstances(fleet, node, []);
      await check('a cluster without VIPs');
      // Every node's report replaced, some several times, between two scrapes.
      for (let k = 0; k < 3; k++) {
        for (const rec of fleet.registry.list()) {
          if (!rec.snapshot || rnd() < 0.5) continue;
          setInstances(fleet, rec.name, rec.snapshot.instances.map((i) => instance(i.name, rnd() < 0.5 ? 'master' : 'backup', 5 + k)));
        }
      }
      await check('churn');
    } finally {
      metrics.close();
    }
  });

  it('leaves the kept rows to the scrape that started alone; one beside it builds its own', async () => {
    const fleet = buildFleet(300);
    const placement = fleet.placement;
    const sources = { registry: fleet.registry, placementView: () => placement, processMetrics: false, clock: () => 50_000 };
    const metrics = new CoordinatorMetrics(sources);
    const flipAll = (): void => {
      for (const rec of fleet.registry.list()) {
        if (rec.snapshot) setInstances(fleet, rec.name, rec.snapshot.instances.map((i) => instance(i.name, i.state === 'master' ? 'backup' : 'master', 9)));
      }
    };
    const vipSeries = (body: string): Set<string> => new Set(linesOf(body, VIP_FAMILIES).filter((l) => !l.startsWith('#')));
    try {
      await scrape(metrics); // the rows exist and no scrape is in flight: the next one refills them
      const atStart = expectedVipLines(fleet, placement);
      // The first scrape pauses at its first chunk (its first pass over nodes and VIPs done) ...
      const first = await holdScrapeAtFirstChunk(metrics);
      // ... every VIP moves, and a second scrape runs to its end meanwhile.
      flipAll();
      const afterFlip = expectedVipLines(fleet, placement);
      assert.notDeepEqual(afterFlip, atStart);
      const second = await scrape(metrics);
      first.release();
      await first.done;
      assert.deepEqual(vipSeries(Buffer.concat(first.chunks).toString()), atStart);
      assert.deepEqual(vipSeries(second), afterFlip);
      flipAll();
      assert.deepEqual(vipSeries(await scrape(metrics)), expectedVipLines(fleet, placement));
    } finally {
      metrics.close();
    }
  });

  it('keeps nothing of a forgotten node: its record and report are collected, its series leave the next body', async () => {
    const fleet = buildFleet(40);
    const sources = { registry: fleet.registry, placementView: () => fleet.placement, processMetrics: false, clock: () => 50_000 };
    const metrics = new CoordinatorMetrics(sources);
    /** Gone: disconnected, then forgotten; weak references to what its record held. */
    const forget = (node: string) => {
      const refs = weakRefsTo(fleet, node);
      fleet.registry.detach(node, fleet.registry.get(node)?.session?.id ?? '', 'test');
      assert.ok(fleet.registry.forget(node));
      return refs;
    };
    // The node's own series and those of the VIPs it held (the placement, which these tests do
    // not change, still names it as a desired holder).
    const mentions = (body: string, node: string) => body.split('\n').filter((l) => l.includes(`node="${node}"`) && !l.startsWith(d.vipDesiredHolder.name));
    try {
      // Between scrapes: the last scrape's arrays hold every record.
      assert.notDeepEqual(mentions(await scrape(metrics), 'web-0007-lb1'), []);
      const between = forget('web-0007-lb1');
      await collectGarbage();
      assert.equal(between.record.deref(), undefined, 'the record of a node forgotten between scrapes is still held');
      assert.equal(between.report.deref(), undefined, 'the report of a node forgotten between scrapes is still held');
      assert.deepEqual(mentions(await scrape(metrics), 'web-0007-lb1'), []);
      // During a scrape: the scrape keeps the moment it started at, then lets go.
      const held = await holdScrapeAtFirstChunk(metrics);
      const during = forget('web-0008-lb2');
      held.release();
      await held.done;
      assert.notDeepEqual(mentions(Buffer.concat(held.chunks).toString(), 'web-0008-lb2'), [], 'the scrape that started before lost its moment');
      await collectGarbage();
      assert.equal(during.record.deref(), undefined, 'the record of a node forgotten during a scrape is still held after it');
      assert.equal(during.report.deref(), undefined, 'the report of a node forgotten during a scrape is still held after it');
      const after = await scrape(metrics);
      assert.deepEqual(mentions(after, 'web-0008-lb2'), []);
      // The others are all there: the arrays refilled.
      assert.equal(after.split('\n').filter((l) => l.startsWith(`${d.nodeConnected.name}{`)).length, fleet.registry.list().length);
    } finally {
      metrics.close();
    }
  });
});
