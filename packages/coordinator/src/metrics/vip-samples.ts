// The VIP samples of /metrics: holders, desired holder and condition of each VIP, and the
// count of VIPs per condition in each cluster.
import { Family, pair } from './exposition-writer.js';
import { METRICS, VIP_CONDITIONS, type VipCondition } from './metric-definitions.js';

/** One VIP as a scrape assembles it: the holders agents report, the desired holder, the verdict. */
export interface VipRow {
  readonly cluster: string;
  readonly labels: string;
  readonly holders: string[];
  desired: string;
  status: VipCondition | undefined;
}

/** Every VIP's samples; its condition is the reconcile verdict, or without one what the holders agents report say. */
export function vipSamples(vips: ReadonlyMap<string, VipRow>, clusters: ReadonlySet<string>): string {
  const d = METRICS;
  const holders = new Family(d.vipHolders);
  const holder = new Family(d.vipHolder);
  const desired = new Family(d.vipDesiredHolder);
  const status = new Family(d.vipStatus);
  const counts = new Map<string, Record<VipCondition, number>>();
  for (const c of clusters) counts.set(c, { in_place: 0, diverged: 0, split_brain: 0, orphaned: 0, unknown: 0, foreign: 0, healing: 0 });
  for (const row of vips.values()) {
    holders.add(row.labels, row.holders.length);
    for (const h of row.holders) holder.add(`${row.labels},${pair('node', h)}`, 1);
    if (row.desired) desired.add(`${row.labels},${pair('node', row.desired)}`, 1);
    const condition: VipCondition =
      row.status ??
      (row.holders.length === 0
        ? 'orphaned'
        : row.holders.length > 1
          ? 'split_brain'
          : row.desired && row.holders[0] !== row.desired
            ? 'diverged'
            : 'in_place');
    status.add(`${row.labels},state="${condition}"`, 1);
    (counts.get(row.cluster) as Record<VipCondition, number>)[condition]++;
  }
  const byCondition = new Family(d.vips);
  for (const [cluster, c] of counts) {
    const cl = pair('cluster', cluster);
    for (const cond of VIP_CONDITIONS) byCondition.add(`${cl},state="${cond}"`, c[cond]);
  }
  return holders.text() + holder.text() + desired.text() + status.text() + byCondition.text();
}
