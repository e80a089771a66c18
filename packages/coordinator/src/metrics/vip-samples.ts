// The VIP samples of /metrics: holders, desired holder and condition of each VIP, and the
// count of VIPs per condition in each cluster.
import { pieceWriter } from './node-samples.js';
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
export function* vipPieces(vips: ReadonlyMap<string, VipRow>, clusters: ReadonlySet<string>, slice: number): Generator<Buffer, void, undefined> {
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
  // Written as bytes from the parts of each line (pieceWriter): no string per line or label pair.
  const w = pieceWriter;
  const family = function* (def: MetricDefinition, add: (row: VipRow, i: number) => void): Generator<Buffer, void, undefined> {
    for (let start = 0; start < rows.length || start === 0; start += slice) {
      w.begin();
      // The first slice carries the family's HELP and TYPE; the others are bare sample lines.
      if (start === 0) w.text(`# HELP ${def.name} ${def.help}\n# TYPE ${def.name} ${def.type}\n`);
      const end = Math.min(rows.length, start + slice);
      for (let i = start; i < end; i++) add(rows[i] as VipRow, i);
      yield w.take();
    }
  };
  yield* family(d.vipHolders, (row) => {
    w.start(d.vipHolders.name, row.labels);
    w.end(row.holders.length);
  });
  yield* family(d.vipHolder, (row) => {
    for (const h of row.holders) {
      w.start(d.vipHolder.name, row.labels);
      w.label(',node="', h);
      w.end(1);
    }
  });
  yield* family(d.vipDesiredHolder, (row) => {
    if (!row.desired) return;
    w.start(d.vipDesiredHolder.name, row.labels);
    w.label(',node="', row.desired);
    w.end(1);
  });
  yield* family(d.vipStatus, (row, i) => {
    w.start(d.vipStatus.name, row.labels);
    w.label(',state="', conditions[i] as VipCondition);
    w.end(1);
  });
  // Seven lines per cluster: a piece every `slice` clusters (in one piece, 340 KB at 1,000
  // clusters, joined and encoded in one go and handed to gzip as one chunk).
  const byCondition = d.vips;
  w.begin();
  w.text(`# HELP ${byCondition.name} ${byCondition.help}\n# TYPE ${byCondition.name} ${byCondition.type}\n`);
  let k = 0;
  for (const [cluster, c] of counts) {
    for (const cond of VIP_CONDITIONS) {
      w.start(byCondition.name, '');
      w.label('cluster="', cluster);
      w.label(',state="', cond);
      w.end(c[cond]);
    }
    if (++k % slice === 0) {
      yield w.take();
      w.begin();
    }
  }
  yield w.take();
}
