// The VIP samples of /metrics: holders, desired holder and condition of each VIP, and the
// count of VIPs per condition in each cluster.
import { pair } from './exposition-writer.js';
import { pieceWriter } from './node-samples.js';
import { METRICS, VIP_CONDITIONS, type MetricDefinition, type VipCondition } from './metric-definitions.js';

/** The count of one cluster's VIPs per condition, as a scrape adds them up. */
export interface ClusterTally {
  readonly cluster: string;
  readonly counts: Record<VipCondition, number>;
  /** The cluster's VIP rows by VIP name (no key string per VIP and scrape to look them up by). */
  readonly rows: Map<string, VipRow>;
  /** Rows met in this scrape. */
  met: number;
  /** The scrape that last met the cluster (see VipTable). */
  generation: number;
}

/** One VIP as a scrape assembles it: the holders agents report, the desired holder, the verdict. */
export interface VipRow {
  readonly cluster: string;
  /** `cluster="…",vip="…"`, escaped. */
  readonly labels: string;
  /** The nodes that report holding the VIP: the first `held` entries (see VipTable.hold). */
  readonly holders: string[];
  held: number;
  desired: string;
  status: VipCondition | undefined;
  /** Its cluster's counts, which the row's condition is added to. */
  readonly tally: ClusterTally;
  /** The scrape that last met the VIP. */
  generation: number;
}

const zeroCounts = (): Record<VipCondition, number> => ({ in_place: 0, diverged: 0, split_brain: 0, orphaned: 0, unknown: 0, foreign: 0, healing: 0 });

/**
 * The VIP rows and cluster counts of a scrape, in the order the scrape first meets them (the
 * exposition's order). The coordinator keeps one table from scrape to scrape and refills its
 * rows in place: at 2,000 VIPs a scrape used to build a map, a row, a holders array and each
 * cluster's counts anew, about 0.8 MB that lived through the whole scrape and so was copied by
 * every young-generation collection inside it; kept, they sit in the old generation and a
 * scrape allocates none of them. A scrape that starts while another still writes from the kept
 * rows fills a table of its own (see CoordinatorMetrics).
 */
export class VipTable {
  private readonly byCluster = new Map<string, ClusterTally>();
  /** This scrape's rows and clusters (their first `rowCount` and `clusterCount` entries until `endPass`). */
  readonly rows: VipRow[] = [];
  readonly clusters: ClusterTally[] = [];
  private rowCount = 0;
  private clusterCount = 0;
  private generation = -1;

  /** Starts a scrape's pass: every row and cluster not met in it is no longer exported. */
  begin(generation: number): void {
    this.generation = generation;
    this.rowCount = 0;
    this.clusterCount = 0;
  }

  /** Counts the cluster in this scrape (a cluster without VIPs still has its count lines). */
  cluster(name: string): ClusterTally {
    let t = this.byCluster.get(name);
    if (!t) {
      t = { cluster: name, counts: zeroCounts(), rows: new Map(), met: 0, generation: -1 };
      this.byCluster.set(name, t);
    }
    if (t.generation !== this.generation) {
      t.generation = this.generation;
      t.met = 0;
      this.clusters[this.clusterCount++] = t;
    }
    return t;
  }

  /** The row of `cluster`'s VIP `vip`, emptied when first met in this scrape. */
  row(cluster: string, vip: string): VipRow {
    const t = this.cluster(cluster);
    let r = t.rows.get(vip);
    if (!r) {
      r = { cluster, labels: `${pair('cluster', cluster)},${pair('vip', vip)}`, holders: [], held: 0, desired: '', status: undefined, tally: t, generation: -1 };
      t.rows.set(vip, r);
    }
    if (r.generation !== this.generation) {
      r.generation = this.generation;
      r.held = 0;
      r.desired = '';
      r.status = undefined;
      t.met++;
      this.rows[this.rowCount++] = r;
    }
    return r;
  }

  /** `node` reports holding the row's VIP. Written over the last scrape's list: no new array. */
  hold(row: VipRow, node: string): void {
    row.holders[row.held++] = node;
  }

  /**
   * Ends the pass: the lists are cut to what this scrape met, and rows and clusters no scrape
   * met are forgotten. Yields '' now and then (a pause point for the writer).
   */
  *endPass(): Generator<'', void, undefined> {
    for (let i = 0; i < this.rowCount; i++) {
      const r = this.rows[i] as VipRow;
      if (r.holders.length !== r.held) r.holders.length = r.held;
    }
    if (this.rows.length !== this.rowCount) this.rows.length = this.rowCount;
    if (this.clusters.length !== this.clusterCount) this.clusters.length = this.clusterCount;
    let k = 0;
    for (let i = 0; i < this.clusterCount; i++) {
      const t = this.clusters[i] as ClusterTally;
      if (t.rows.size === t.met) continue;
      for (const [vip, r] of t.rows) {
        if (r.generation !== this.generation) t.rows.delete(vip);
        if (++k % 1024 === 0) yield '';
      }
    }
    if (this.byCluster.size !== this.clusterCount) {
      for (const [name, t] of this.byCluster) {
        if (t.generation !== this.generation) this.byCluster.delete(name);
        if (++k % 1024 === 0) yield '';
      }
    }
  }
}

/**
 * Every VIP's samples of a table whose pass has ended, in pieces (one every `slice` VIPs or
 * clusters); its condition is the reconcile verdict, or without one what the holders agents
 * report say.
 */
export function* vipPieces(table: Pick<VipTable, 'rows' | 'clusters'>, slice: number): Generator<Buffer, void, undefined> {
  const d = METRICS;
  const rows = table.rows;
  // Indexed loops here: for-of in a generator allocated a result per step (0.5 MB a scrape at
  // 1,000 clusters, seven conditions each).
  for (let i = 0; i < table.clusters.length; i++) {
    const counts = (table.clusters[i] as ClusterTally).counts;
    for (let c = 0; c < VIP_CONDITIONS.length; c++) counts[VIP_CONDITIONS[c] as VipCondition] = 0;
  }
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as VipRow;
    row.tally.counts[condition(row)]++;
  }
  // Written as bytes from the parts of each line (pieceWriter): no string per line or label pair.
  const w = pieceWriter;
  const family = function* (def: MetricDefinition, add: (row: VipRow) => void): Generator<Buffer, void, undefined> {
    for (let start = 0; start < rows.length || start === 0; start += slice) {
      w.begin();
      // The first slice carries the family's HELP and TYPE; the others are bare sample lines.
      if (start === 0) w.text(`# HELP ${def.name} ${def.help}\n# TYPE ${def.name} ${def.type}\n`);
      const end = Math.min(rows.length, start + slice);
      for (let i = start; i < end; i++) add(rows[i] as VipRow);
      yield w.take();
    }
  };
  yield* family(d.vipHolders, (row) => {
    w.start(d.vipHolders.name, row.labels);
    w.end(row.held);
  });
  yield* family(d.vipHolder, (row) => {
    for (let k = 0; k < row.held; k++) {
      const h = row.holders[k] as string;
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
  yield* family(d.vipStatus, (row) => {
    w.start(d.vipStatus.name, row.labels);
    w.label(',state="', condition(row));
    w.end(1);
  });
  // Seven lines per cluster: a piece every `slice` clusters (in one piece, 340 KB at 1,000
  // clusters, joined and encoded in one go and handed to gzip as one chunk).
  const byCondition = d.vips;
  w.begin();
  w.text(`# HELP ${byCondition.name} ${byCondition.help}\n# TYPE ${byCondition.name} ${byCondition.type}\n`);
  let k = 0;
  for (let i = 0; i < table.clusters.length; i++) {
    const t = table.clusters[i] as ClusterTally;
    for (let c = 0; c < VIP_CONDITIONS.length; c++) {
      const cond = VIP_CONDITIONS[c] as VipCondition;
      w.start(byCondition.name, '');
      w.label('cluster="', t.cluster);
      w.label(',state="', cond);
      w.end(t.counts[cond]);
    }
    if (++k % slice === 0) {
      yield w.take();
      w.begin();
    }
  }
  yield w.take();
}

/** The VIP's condition: the reconcile verdict, or what the holders agents report say. */
function condition(row: VipRow): VipCondition {
  if (row.status) return row.status;
  if (row.held === 0) return 'orphaned';
  if (row.held > 1) return 'split_brain';
  return row.desired && row.holders[0] !== row.desired ? 'diverged' : 'in_place';
}
