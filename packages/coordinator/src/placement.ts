// Where each VIP should live, and in which order the other nodes back it up.
// A pure function: spec + node conditions + current holders + now in, rankings out.
// No I/O, no clock, no logger; the same input (in any order) gives the same output. For speed
// at tens of thousands of VIPs (docs/design/placement.md, "Speed") it works in scratch arrays
// shared by every call (it is synchronous and never re-entered) and returns a cluster's last
// placement again when nothing it depends on changed.
// The rules and the weight scheme are explained in docs/design/placement.md.
//
// Over 400 lines: one pass over every VIP group whose rules (pins, failback, keep, balance,
// readiness, backup order) share the scratch arrays; the layout and the readiness helpers
// live apart.
import type { NodeMode } from '@lbha/shared';
import type { ClusterSpec, Spec, VipSpec } from './spec/cluster-spec.js';
import { layoutOf, type Item } from './placement-layout.js';
import { readyFirst, unreadyPositions } from './placement-readiness.js';
import { placementWeight } from './priority-scheme.js';

export type NodeHealth = 'healthy' | 'unhealthy' | 'unknown';

/** What the coordinator knows about a node right now. */
export interface NodeCondition {
  /** unknown: no agent connected (or not yet reported); the node may well be serving. */
  readonly health: NodeHealth;
  /** Sum of the penalties of failing penalty checks (e.g. the maintenance file). */
  readonly penalty: number;
  readonly mode: NodeMode;
  /** When the node last became healthy, for hold-down failback; null when not healthy. */
  readonly healthySinceMs: number | null;
  /**
   * Unhealthy, but only with checks that failed on every active node, and another node passes
   * them again: it may a moment later (shared-failure.ts). Classed `unknown` meanwhile: it keeps
   * the VIPs it holds and is given no other.
   */
  readonly recovering?: boolean;
}

export const UNKNOWN_NODE: NodeCondition = Object.freeze({ health: 'unknown', penalty: 0, mode: 'active', healthySinceMs: null });

export interface PlacementInput {
  readonly spec: Spec;
  /** Missing nodes count as UNKNOWN_NODE. */
  readonly nodes: ReadonlyMap<string, NodeCondition>;
  /** vipKey(cluster, vip) -> node that holds the VIP now (or is presumed to). */
  readonly holders: ReadonlyMap<string, string>;
  readonly nowMs: number;
  /** Rank at most this many nodes per VIP; the rest share the lowest weight. */
  readonly maxRanked?: number;
  /** vipKey(cluster, vip) -> where an operator put the VIP (`lbha move`); missing: no pins. */
  readonly pins?: ReadonlyMap<string, VipPin>;
  /**
   * vipKey(cluster, vip) -> nodes whose proxy would not serve the VIP (standby readiness). Such
   * a node is not chosen as a new holder, and backs the VIP up after those that would, while
   * another candidate of its class would serve it; a holder keeps the VIP. Missing: all ready.
   */
  readonly notReady?: ReadonlyMap<string, ReadonlySet<string>>;
}

/**
 * An operator's choice of holder for one VIP (its group moves with it). Honoured while the node
 * is in the cluster's best class, before failback and before keeping the current holder.
 * sticky (`--pin`): kept until unpinned, so the VIP comes back when the node recovers; a plain
 * move is dropped by the reconcile pass once the node cannot hold the VIP.
 */
export interface VipPin {
  readonly node: string;
  readonly sticky: boolean;
}

/**
 * How a node stands for holding VIPs, best first. Only `preferred` and `degraded` are eligible;
 * the others are ranked only so that keepalived always has a candidate.
 */
export type NodeClass = 'preferred' | 'degraded' | 'unknown' | 'standby' | 'unreachable' | 'unhealthy';
const CLASS_ORDER: readonly NodeClass[] = ['preferred', 'degraded', 'unknown', 'standby', 'unreachable', 'unhealthy'];

/** The index in CLASS_ORDER of a node's class. */
function classIndex(c: NodeCondition): number {
  if (c.recovering === true && c.mode === 'active') return 2;
  if (c.health === 'unhealthy') return 5;
  if (c.health === 'unknown') return c.mode === 'active' ? 2 : 4;
  if (c.mode !== 'active') return 3;
  return c.penalty > 0 ? 1 : 0;
}

export function classify(c: NodeCondition): NodeClass {
  return CLASS_ORDER[classIndex(c)] as NodeClass;
}

export interface VipPlacement {
  readonly cluster: string;
  readonly vip: string;
  readonly group: string;
  /** Nodes in the order they should hold the VIP; ranking[0] is the desired holder. */
  readonly ranking: readonly string[];
  readonly holder: string;
  /** Why ranking[0] was chosen, for operators. */
  readonly reason: string;
  /** False when no node was eligible and the holder is only the best available. */
  readonly eligible: boolean;
}

export interface ClusterPlacement {
  readonly cluster: string;
  readonly basePriority: number;
  readonly vips: readonly VipPlacement[];
  readonly classes: ReadonlyMap<string, NodeClass>;
  /** True when some node is eligible; ineligible nodes then get the floor weight. */
  readonly anyEligible: boolean;
  /** VIPs (rank 0) per node. */
  readonly load: ReadonlyMap<string, number>;
}

export interface Placement {
  readonly clusters: ReadonlyMap<string, ClusterPlacement>;
  /** Earliest time a hold-down expires and placement may change without new input; null if none. */
  readonly nextChangeMs: number | null;
}

export interface NodeWeight {
  readonly rank: number;
  readonly weight: number;
}

/** Rank and placement weight of `node` for one VIP. */
export function weightOf(cp: ClusterPlacement, vp: VipPlacement, node: string): NodeWeight {
  const idx = vp.ranking.indexOf(node);
  const rank = idx < 0 ? vp.ranking.length : idx;
  const cls = cp.classes.get(node) ?? 'unknown';
  const eligible = !cp.anyEligible || cls === 'preferred' || cls === 'degraded' || cls === 'unknown';
  return { rank, weight: placementWeight(rank, eligible, cp.basePriority) };
}

function fmtMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

const PREFERRED = 0;
const DEGRADED = 1;
const UNKNOWN = 2;
const CLASSES = CLASS_ORDER.length;
const NONE: ReadonlySet<number> = new Set();

// Scratch arrays shared by every call, indexed by ring position (nodes) or item: placement is
// synchronous and never re-entered, and a placement of thousands of small clusters then
// allocates no arrays per cluster but its output.
let cls = new Uint8Array(64);
/** Ring positions grouped by class (CLASS_ORDER), ascending within a class: classStart[k] to classStart[k + 1]. */
let byClass = new Int32Array(64);
let load = new Int32Array(64);
let holderOf = new Int32Array(64);
let eligibleHolder = new Uint8Array(64);
let openItems = new Int32Array(64);
const classStart = new Int32Array(CLASSES + 1);

function reserve(nodes: number, items: number): void {
  if (cls.length < nodes) {
    const size = Math.max(nodes, cls.length * 2);
    cls = new Uint8Array(size);
    byClass = new Int32Array(size);
    load = new Int32Array(size);
  }
  if (holderOf.length < items) {
    const size = Math.max(items, holderOf.length * 2);
    holderOf = new Int32Array(size);
    eligibleHolder = new Uint8Array(size);
    openItems = new Int32Array(size);
  }
}

/** What the last placement of a cluster (without readiness input) decided, and its output. */
interface LastPlacement {
  readonly maxRanked: number;
  readonly cls: Uint8Array;
  readonly holderOf: Int32Array;
  readonly eligible: Uint8Array;
  readonly reasons: readonly string[];
  readonly rankings: ReadonlyArray<readonly string[]>;
  readonly placement: ClusterPlacement;
}

/** Per (immutable) ClusterSpec object, like the layout: dropped with the spec. */
const lastPlacements = new WeakMap<ClusterSpec, LastPlacement>();

function sameUpTo<T>(a: ArrayLike<T>, b: ArrayLike<T>, count: number): boolean {
  for (let i = 0; i < count; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Index in `byClass` of the first node of class k clockwise from `gap` (see Item.gap); -1 when the class is empty. */
function startIn(k: number, gap: number): number {
  const a = classStart[k] as number;
  const b = classStart[k + 1] as number;
  if (a === b) return -1;
  let lo = a;
  let hi = b;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((byClass[mid] as number) < gap) lo = mid + 1;
    else hi = mid;
  }
  return lo === b ? a : lo;
}

/** Some node of the best class would serve the item (not in `skip`). */
function readyBest(bestClass: number, skip: ReadonlySet<number>): boolean {
  if (bestClass < 0) return false;
  for (let j = classStart[bestClass] as number; j < (classStart[bestClass + 1] as number); j++) if (!skip.has(byClass[j] as number)) return true;
  return false;
}

/** A node that would not serve the item is not chosen while some node of the best class would. */
function choosable(bestClass: number, skip: ReadonlySet<number>, pos: number): boolean {
  return !skip.has(pos) || !readyBest(bestClass, skip);
}

function unreadyNote(skip: ReadonlySet<number>, pos: number): string {
  return skip.has(pos) ? ', not ready' : '';
}

/** The nodes in the order they should hold the item: holder, then by class; in a class the home node, then clockwise from the item's hash. */
function rankingOf(names: readonly string[], item: Item, holder: number, maxRanked: number): string[] {
  const home = item.home;
  const ranking: string[] = [names[holder] as string];
  for (let k = 0; k < CLASSES && ranking.length < maxRanked; k++) {
    const s = startIn(k, item.gap);
    if (s < 0) continue;
    const a = classStart[k] as number;
    const len = (classStart[k + 1] as number) - a;
    if (home >= 0 && home !== holder && cls[home] === k) ranking.push(names[home] as string);
    for (let j = s - a, left = len; left > 0 && ranking.length < maxRanked; left--, j = j + 1 === len ? 0 : j + 1) {
      const node = byClass[a + j] as number;
      if (node !== holder && node !== home) ranking.push(names[node] as string);
    }
  }
  return ranking;
}

function placeCluster(cluster: ClusterSpec, input: PlacementInput, maxRanked: number, wake: { at: number | null }): ClusterPlacement {
  const { names, position, items, outItem, outVip } = layoutOf(cluster);
  const n = names.length;
  const m = items.length;
  reserve(n, m);

  // The class of every node, and the ring grouped by class (a counting sort keeps ring order).
  const counts = [0, 0, 0, 0, 0, 0];
  for (let i = 0; i < n; i++) {
    const k = classIndex(input.nodes.get(names[i] as string) ?? UNKNOWN_NODE);
    cls[i] = k;
    counts[k] = (counts[k] as number) + 1;
  }
  classStart[0] = 0;
  for (let k = 0; k < CLASSES; k++) classStart[k + 1] = (classStart[k] as number) + (counts[k] as number);
  for (let k = 0; k < CLASSES; k++) counts[k] = classStart[k] as number;
  for (let i = 0; i < n; i++) {
    const k = cls[i] as number;
    byClass[counts[k] as number] = i;
    counts[k] = (counts[k] as number) + 1;
  }
  load.fill(0, 0, n);
  holderOf.fill(0, 0, m);
  eligibleHolder.fill(0, 0, m);
  const reasons: string[] = new Array<string>(m);
  const bestClass = classStart[PREFERRED + 1] !== classStart[PREFERRED] ? PREFERRED : classStart[DEGRADED + 1] !== classStart[DEGRADED] ? DEGRADED : -1;

  const notReady = input.notReady !== undefined && input.notReady.size > 0 ? input.notReady : undefined;
  const unready = notReady === undefined ? undefined : items.map((item) => unreadyPositions(item.holderKeys, notReady, position));
  const pins = input.pins !== undefined && input.pins.size > 0 ? input.pins : undefined;
  const holders = input.holders;
  const failback = cluster.policy.failback;

  const assign = (ii: number, holder: number, reason: string, eligible: boolean): void => {
    holderOf[ii] = holder;
    reasons[ii] = reason;
    eligibleHolder[ii] = eligible ? 1 : 0;
    load[holder] = (load[holder] as number) + (items[ii] as Item).vips.length;
  };

  // Pass 1: decisions that do not depend on load: an operator's pin, failback home, or keep
  // the current holder.
  let open = 0;
  let openNotes: Map<number, string> | undefined;
  for (let ii = 0; ii < m; ii++) {
    const item = items[ii] as Item;
    const skip = unready === undefined ? NONE : (unready[ii] as ReadonlySet<number>);
    let current = -1;
    for (const k of item.holderKeys) {
      const h = holders.get(k);
      const pos = h === undefined ? undefined : position.get(h);
      if (pos !== undefined) {
        current = pos;
        break;
      }
    }
    const currentCls = current < 0 ? -1 : (cls[current] as number);
    // A node we cannot see (agent down) may well still serve the VIP: moving it would only
    // start a priority tie in keepalived. It is kept until someone else reports the VIP.
    const keepable = current >= 0 && bestClass >= 0 && (currentCls === bestClass || currentCls === UNKNOWN);
    const home = item.home;
    const homeReady = home >= 0 && bestClass >= 0 && cls[home] === bestClass && choosable(bestClass, skip, home);
    let pin: VipPin | undefined;
    let pinPos = -1;
    if (pins !== undefined) {
      for (const k of item.holderKeys) {
        const p = pins.get(k);
        const pos = p === undefined ? undefined : position.get(p.node);
        if (p !== undefined && pos !== undefined) {
          pin = p;
          pinPos = pos;
          break;
        }
      }
    }
    let pinNote = '';
    if (pin !== undefined) {
      if (bestClass >= 0 && cls[pinPos] === bestClass && choosable(bestClass, skip, pinPos)) {
        assign(ii, pinPos, pin.sticky ? `pinned to ${pin.node} by an operator` : `moved to ${pin.node} by an operator`, true);
        continue;
      }
      pinNote = `; ${pin.sticky ? 'pinned' : 'moved'} to ${pin.node}, which is ${CLASS_ORDER[cls[pinPos] as number]}${unreadyNote(skip, pinPos)}`;
    }

    if (homeReady && home !== current) {
      if (failback.kind === 'immediate' || (failback.kind === 'never' && !keepable)) {
        assign(ii, home, (keepable ? 'home node (failback: immediate)' : 'home node') + pinNote, true);
        continue;
      }
      if (failback.kind === 'hold_down') {
        const since = (input.nodes.get(names[home] as string) ?? UNKNOWN_NODE).healthySinceMs;
        const readyAt = since === null ? null : since + failback.holdDownMs;
        if (!keepable || (readyAt !== null && readyAt <= input.nowMs)) {
          assign(ii, home, (keepable ? `home node (healthy for ${fmtMs(failback.holdDownMs)} or more)` : 'home node') + pinNote, true);
          continue;
        }
        if (readyAt !== null && (wake.at === null || readyAt < wake.at)) wake.at = readyAt;
        const left = readyAt === null ? fmtMs(failback.holdDownMs) : fmtMs(readyAt - input.nowMs);
        assign(ii, current, `current holder kept; home node ${names[home]} in hold-down for another ${left}${pinNote}`, currentCls !== UNKNOWN);
        continue;
      }
    }
    if (keepable) {
      const why =
        currentCls === UNKNOWN
          ? input.nodes.get(names[current] as string)?.recovering === true
            ? 'current holder kept (it fails a check that failed on every node, and may pass it again as another node did)'
            : 'current holder kept (its agent is not connected)'
          : home === current
            ? 'home node'
            : homeReady && failback.kind === 'never'
              ? 'current holder kept (failback: never)'
              : 'current holder kept';
      const homeNote = home >= 0 && home !== current && !homeReady ? `; home node ${names[home]} is ${CLASS_ORDER[cls[home] as number]}${unreadyNote(skip, home)}` : '';
      assign(ii, current, why + homeNote + pinNote, currentCls !== UNKNOWN);
      continue;
    }
    openItems[open++] = ii;
    if (pinNote !== '') (openNotes ??= new Map()).set(ii, pinNote);
  }

  // Pass 2: everything else goes to the least-loaded eligible node; ties go to the first node
  // clockwise from the VIP's hash on the ring (a consistent-hash tie-break of node and VIP).
  if (open > 0 && bestClass >= 0) placeOpen(names, items, open, bestClass, unready, openNotes, assign);
  else if (open > 0) {
    // No eligible node: rank the best available so keepalived still has a candidate.
    for (let o = 0; o < open; o++) {
      const ii = openItems[o] as number;
      const item = items[ii] as Item;
      for (let k = 0; k < CLASSES; k++) {
        const s = startIn(k, item.gap);
        if (s < 0) continue;
        let pick = -1;
        for (const key of item.holderKeys) {
          const h = holders.get(key);
          const pos = h === undefined ? undefined : position.get(h);
          if (pos !== undefined && cls[pos] === k) {
            pick = pos;
            break;
          }
        }
        if (pick < 0) pick = item.home >= 0 && cls[item.home] === k ? item.home : (byClass[s] as number);
        assign(ii, pick, `no eligible node; best available is ${CLASS_ORDER[k]}`, false);
        break;
      }
    }
  }

  // The same decisions over the same classes as the last call give the same placement: it is
  // returned as it was (no VIP or ranking is built again). Readiness reorders backups, so a
  // placement with readiness input is always built.
  const last = unready === undefined ? lastPlacements.get(cluster) : undefined;
  const sameClasses = last !== undefined && last.maxRanked === maxRanked && sameUpTo(last.cls, cls, n);
  if (sameClasses && sameUpTo(last.holderOf, holderOf, m) && sameUpTo(last.eligible, eligibleHolder, m) && sameUpTo(last.reasons, reasons, m)) return last.placement;

  // Rankings: holder first, then nodes by class; within a class the home node first,
  // then clockwise from the VIP's hash. The VIPs of an item share theirs, and an item whose
  // holder and classes are as in the last call keeps its ranking.
  const rankings: Array<readonly string[]> = new Array<readonly string[]>(m);
  for (let ii = 0; ii < m; ii++) {
    if (sameClasses && last.holderOf[ii] === holderOf[ii]) {
      rankings[ii] = last.rankings[ii] as readonly string[];
      continue;
    }
    const ranking = rankingOf(names, items[ii] as Item, holderOf[ii] as number, maxRanked);
    const skip = unready === undefined ? NONE : (unready[ii] as ReadonlySet<number>);
    if (skip.size > 0) {
      const backups = readyFirst(ranking.slice(1).map((nm) => position.get(nm) as number), skip, (p) => (cls[p] as number) <= UNKNOWN);
      ranking.splice(1, ranking.length - 1, ...backups.map((p) => names[p] as string));
    }
    rankings[ii] = ranking;
  }
  // By VIP name (the layout's order), so no sort per call.
  const count = outItem === null ? m : outItem.length;
  const vips: VipPlacement[] = new Array<VipPlacement>(count);
  for (let o = 0; o < count; o++) {
    const ii = outItem === null ? o : (outItem[o] as number);
    const v = (items[ii] as Item).vips[outVip === null ? 0 : (outVip[o] as number)] as VipSpec;
    vips[o] = { cluster: cluster.name, vip: v.name, group: v.group, ranking: rankings[ii] as readonly string[], holder: names[holderOf[ii] as number] as string, reason: reasons[ii] as string, eligible: eligibleHolder[ii] === 1 };
  }
  const classes = new Map<string, NodeClass>();
  const loads = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    classes.set(names[i] as string, CLASS_ORDER[cls[i] as number] as NodeClass);
    loads.set(names[i] as string, load[i] as number);
  }
  const placement: ClusterPlacement = { cluster: cluster.name, basePriority: cluster.policy.basePriority, vips, classes, anyEligible: bestClass >= 0, load: loads };
  if (unready === undefined) {
    lastPlacements.set(cluster, { maxRanked, cls: cls.slice(0, n), holderOf: holderOf.slice(0, m), eligible: eligibleHolder.slice(0, m), reasons, rankings, placement });
  } else lastPlacements.delete(cluster);
  return placement;
}

/**
 * Pass 2 with some eligible node: each open item to the least-loaded node of the best class,
 * the first such clockwise from its hash. Loads only grow, so the minimum over the class is
 * tracked with a count of nodes per load.
 */
function placeOpen(
  names: readonly string[],
  items: readonly Item[],
  open: number,
  bestClass: number,
  unready: ReadonlyArray<ReadonlySet<number>> | undefined,
  openNotes: ReadonlyMap<number, string> | undefined,
  assign: (ii: number, holder: number, reason: string, eligible: boolean) => void,
): void {
  const a = classStart[bestClass] as number;
  const len = (classStart[bestClass + 1] as number) - a;
  const countAt = new Map<number, number>();
  for (let j = a; j < a + len; j++) {
    const l = load[byClass[j] as number] as number;
    countAt.set(l, (countAt.get(l) ?? 0) + 1);
  }
  let min = Math.min(...countAt.keys());
  const why = bestClass === DEGRADED ? 'least-loaded eligible node (every eligible node has a failing penalty check)' : 'least-loaded eligible node';
  for (let o = 0; o < open; o++) {
    const ii = openItems[o] as number;
    const item = items[ii] as Item;
    const skip = unready === undefined ? NONE : (unready[ii] as ReadonlySet<number>);
    const ready = skip.size > 0 && readyBest(bestClass, skip);
    // With nodes that would not serve the VIP left out, the least load among the others.
    let low = min;
    if (ready) {
      low = Infinity;
      for (let j = a; j < a + len; j++) {
        const p = byClass[j] as number;
        if (!skip.has(p) && (load[p] as number) < low) low = load[p] as number;
      }
    }
    for (let j = (startIn(bestClass, item.gap) as number) - a, left = len; left > 0; left--, j = j + 1 === len ? 0 : j + 1) {
      const node = byClass[a + j] as number;
      const l = load[node] as number;
      if (l !== low || (ready && skip.has(node))) continue;
      const home = item.home;
      const homeNote = home >= 0 && (cls[home] !== bestClass || skip.has(home)) ? `; home node ${names[home]} is ${CLASS_ORDER[cls[home] as number]}${unreadyNote(skip, home)}` : '';
      const readyNote = skip.size === 0 ? '' : ready ? `; not ready: ${[...skip].map((p) => names[p]).sort().join(', ')}` : '; no eligible node is ready to serve it';
      assign(ii, node, why + homeNote + readyNote + (openNotes?.get(ii) ?? ''), true);
      const rest = (countAt.get(l) ?? 1) - 1;
      if (rest === 0) countAt.delete(l);
      else countAt.set(l, rest);
      const nl = l + item.vips.length;
      countAt.set(nl, (countAt.get(nl) ?? 0) + 1);
      if (rest === 0) min = Math.min(...countAt.keys());
      break;
    }
  }
}

/** Computes the placement of every VIP of every cluster. */
export function place(input: PlacementInput): Placement {
  const maxRanked = Math.max(1, input.maxRanked ?? 16);
  const wake = { at: null as number | null };
  const clusters = new Map<string, ClusterPlacement>();
  for (const c of input.spec.clusters) clusters.set(c.name, placeCluster(c, input, maxRanked, wake));
  return { clusters, nextChangeMs: wake.at };
}
