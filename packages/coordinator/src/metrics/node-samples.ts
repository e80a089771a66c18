// The sample lines one node's report contributes to /metrics (mode, health, services, checks,
// VRRP states and priorities, foreign routers), built once per report and reused by every scrape until it changes.
import { formatValue, type NodeMode, type NodeSnapshot } from '@lbha/shared';
import { msToSeconds, pair } from './exposition-writer.js';
import { MAX_FOREIGN_PER_VIP } from '../vip-observation.js';
import { METRICS, type MetricId } from './metric-definitions.js';

/** Bounds on what one agent report can add to /metrics, so a broken agent cannot flood it. */
export const MAX_PER_NODE = { services: 16, checks: 64, instances: 256 } as const;

/** Families filled from each node's report, in exposition order. */
export const NODE_FAMILIES = [
  'nodeMode',
  'nodeHealthy',
  'serviceUp',
  'serviceRestarts',
  'proxyActiveConnections',
  'checkStatus',
  'checkDuration',
  'vrrpState',
  'vrrpPriority',
  'vrrpForeignRouter',
] as const satisfies readonly MetricId[];
export type NodeFamily = (typeof NODE_FAMILIES)[number];
const NODE_FAMILY_INDEX = Object.fromEntries(NODE_FAMILIES.map((id, i) => [id, i])) as Record<NodeFamily, number>;

export interface NodeView {
  readonly snapshot: NodeSnapshot | undefined;
  readonly mode: NodeMode;
  readonly cluster: string;
  /** `cluster="…",node="…"` */
  readonly labels: string;
  /**
   * Sample lines of every family as UTF-8 bytes: family i is text[offsets[i], offsets[i+1]).
   * Kept as bytes because at 10,000 nodes the lines are ~20 MB: as JS strings, every rebuild
   * under churn is copied by the young-generation GC (pauses of 20-60 ms seen); a Buffer's
   * bytes live outside the JS heap and are never copied.
   */
  readonly text: Buffer;
  readonly offsets: Uint32Array;
  /** Each reported VIP: its key (see `vipKey`), its name, and whether this node holds it. */
  readonly instances: ReadonlyArray<readonly [string, string, boolean]>;
  generation: number;
}

/** The bytes of family `f` (an index into NODE_FAMILIES) of every view, concatenated. */
export function familyBytes(views: readonly NodeView[], f: number, from: number, to: number): Buffer {
  let size = 0;
  for (let i = from; i < to; i++) {
    const o = (views[i] as NodeView).offsets;
    size += (o[f + 1] as number) - (o[f] as number);
  }
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (let i = from; i < to; i++) {
    const v = views[i] as NodeView;
    pos += v.text.copy(out, pos, v.offsets[f], v.offsets[f + 1]);
  }
  return out;
}

/** The key a scrape groups a VIP's rows under: cluster and VIP name. */
export function vipKey(cluster: string, vip: string): string {
  return `${cluster}\u0000${vip}`;
}

const NAMES: readonly string[] = NODE_FAMILIES.map((id) => `${METRICS[id].name}{`);

/**
 * A node's samples: its mode always; health, services, checks and VRRP instances only from a
 * report of a live agent (a silent or disconnected agent's last report is history, not the present).
 * Under churn every scrape rebuilds most nodes, so this builds one string per family and writes
 * them into one buffer: no array of lines, no second join. `previous` is the node's last view.
 */
export function nodeSamples(cluster: string, labels: string, mode: NodeMode, snapshot: NodeSnapshot | undefined, generation: number, previous?: NodeView): NodeView {
  const n = labels;
  const texts: string[] = NODE_FAMILIES.map(() => '');
  const add = (id: NodeFamily, l: string, v: number) => {
    const f = NODE_FAMILY_INDEX[id];
    texts[f] += `${NAMES[f] as string}${l}} ${formatValue(v)}\n`;
  };
  add('nodeMode', `${n},state="${mode}"`, 1);
  const instances: Array<readonly [string, string, boolean]> = [];
  if (snapshot) {
    add('nodeHealthy', n, snapshot.healthy ? 1 : 0);
    for (const svc of snapshot.services.slice(0, MAX_PER_NODE.services)) {
      const l = `${n},${pair('service', svc.name)}`;
      add('serviceUp', l, svc.state === 'running' ? 1 : 0);
      add('serviceRestarts', l, svc.restarts);
      if (svc.stats) add('proxyActiveConnections', l, svc.stats.activeConnections);
    }
    for (const c of snapshot.checks.slice(0, MAX_PER_NODE.checks)) {
      const l = `${n},${pair('check', c.name)}`;
      add('checkStatus', `${l},state="${c.result.kind}"`, 1);
      add('checkDuration', l, msToSeconds(c.durationMs));
    }
    for (const i of snapshot.instances.slice(0, MAX_PER_NODE.instances)) {
      const l = `${n},${pair('vip', i.name)}`;
      add('vrrpState', `${l},state="${i.state}"`, 1);
      add('vrrpPriority', l, i.effectivePriority);
      for (const r of (i.foreignRouters ?? []).slice(0, MAX_FOREIGN_PER_VIP)) add('vrrpForeignRouter', `${l},${pair('source', r.source)}`, r.priority);
      instances.push([vipKey(cluster, i.name), i.name, i.state === 'master' || i.vipPresent]);
    }
  }
  // Which VIPs a node reports and holds rarely changes: keep the previous list (already in the
  // old generation of the heap) rather than one more object per VIP to copy at the next GC.
  const before = previous?.cluster === cluster ? previous.instances : undefined;
  const same = before?.length === instances.length && instances.every((x, k) => (before[k] as (typeof instances)[number])[1] === x[1] && before[k]?.[2] === x[2]);
  const offsets = new Uint32Array(NODE_FAMILIES.length + 1);
  for (let f = 0; f < texts.length; f++) offsets[f + 1] = (offsets[f] as number) + Buffer.byteLength(texts[f] as string);
  const text = Buffer.allocUnsafe(offsets[texts.length] as number);
  for (let f = 0; f < texts.length; f++) text.write(texts[f] as string, offsets[f] as number);
  return { snapshot, mode, cluster, labels: n, text, offsets, instances: same ? before : instances, generation };
}
