// The VIP samples of /metrics: holders, desired holder and condition of each VIP, and the
// count of VIPs per condition in each cluster.
import { Family, pair } from './exposition-writer.js';
import { METRICS, VIP_CONDITIONS, type MetricDefinition, type VipCondition } from './metric-definitions.js';

/** One VIP as a scrape assembles it: the holders agents report, the desired holder, the verdict. */
export interface VipRow {
  readonly cluster: string;
  readonly labels: string;
  readonly holders: string[];
  desired: string;
  status: VipCondition | undefined;
}

/**
 * Every VIP's samples, in pieces ('' marks where the writer may pause, every `slice` VIPs); its
 * condition is the reconcile verdict, or without one what the holders agents report say.
 */
export function* vipPieces(vips: ReadonlyMap<string, VipRow>, clusters: ReadonlySet<string>, slice: number): Generator<string, void, undefined> {
  const d = METRICS;
  const rows = Array.from(vips.values());
  const conditions: VipCondition[] = new Array<VipCondition>(rows.length);
  const counts = new Map<string, Record<VipCondition, number>>();
  for (const c of clusters) counts.set(c, { in_place: 0, diverged: 0, split_brain: 0, orphaned: 0, unknown: 0, foreign: 0, healing: 0 });
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as VipRow;
    const condition: VipCondition =
      row.status ??
      (row.holders.length === 0
        ? 'orphaned'
        : row.holders.length > 1
          ? 'split_brain'
          : row.desired && row.holders[0] !== row.desired
            ? 'diverged'
            : 'in_place');
    conditions[i] = condition;
    (counts.get(row.cluster) as Record<VipCondition, number>)[condition]++;
  }
  const family = function* (def: MetricDefinition, add: (f: Family, row: VipRow, i: number) => void): Generator<string, void, undefined> {
    for (let start = 0; start < rows.length || start === 0; start += slice) {
      // The first slice carries the family's HELP and TYPE; the others are bare sample lines.
      const f = start === 0 ? new Family(def) : new Family(def, false);
      const end = Math.min(rows.length, start + slice);
      for (let i = start; i < end; i++) add(f, rows[i] as VipRow, i);
      yield f.text();
    }
  };
  yield* family(d.vipHolders, (f, row) => f.add(row.labels, row.holders.length));
  yield* family(d.vipHolder, (f, row) => {
    for (const h of row.holders) f.add(`${row.labels},${pair('node', h)}`, 1);
  });
  yield* family(d.vipDesiredHolder, (f, row) => {
    if (row.desired) f.add(`${row.labels},${pair('node', row.desired)}`, 1);
  });
  yield* family(d.vipStatus, (f, row, i) => f.add(`${row.labels},state="${conditions[i] as VipCondition}"`, 1));
  // Seven lines per cluster: a piece every `slice` clusters (in one piece, 340 KB at 1,000
  // clusters, joined and encoded in one go and handed to gzip as one chunk).
  let byCondition = new Family(d.vips);
  let k = 0;
  for (const [cluster, c] of counts) {
    const cl = pair('cluster', cluster);
    for (const cond of VIP_CONDITIONS) byCondition.add(`${cl},state="${cond}"`, c[cond]);
    if (++k % slice === 0) {
      yield byCondition.text();
      byCondition = new Family(d.vips, false);
    }
  }
  yield byCondition.text();
}
