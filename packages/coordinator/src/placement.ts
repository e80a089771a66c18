// Where each VIP should live, and in which order the other nodes back it up.
// A pure function: spec + node conditions + current holders + now in, rankings out.
// No I/O, no clock, no logger; the same input (in any order) gives the same output.
// The rules and the weight scheme are explained in docs/design/placement.md.
//
// Over 400 lines: one pass over every VIP group whose rules (pins, failback, keep, balance,
// readiness, backup order) share its per-cluster arrays; the readiness helpers live apart.
import type { NodeMode } from '@lbha/shared';
import type { ClusterSpec, Spec, VipSpec } from './spec/cluster-spec.js';
import { vipKey } from './spec/cluster-spec.js';
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

export function classify(c: NodeCondition): NodeClass {
  if (c.health === 'unhealthy') return 'unhealthy';
  if (c.health === 'unknown') return c.mode === 'active' ? 'unknown' : 'unreachable';
  if (c.mode !== 'active') return 'standby';
  return c.penalty > 0 ? 'degraded' : 'preferred';
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

// FNV-1a, 32 bit: cheap and stable across runs and platforms.
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  // Final avalanche (murmur3 fmix) so that similar names spread over the ring.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * What placement derives from the spec alone: nodes on the hash ring and VIPs grouped into
 * placement items. Memoized per (immutable) ClusterSpec object, so a steady stream of
 * placements over one spec pays for it once.
 */
interface Layout {
  /** Node names in ring order: by hash, then by name. */
  readonly names: readonly string[];
  readonly hashes: Uint32Array;
  readonly position: ReadonlyMap<string, number>;
  readonly items: readonly Item[];
}

interface Item {
  readonly key: string;
  readonly hash: number;
  readonly vips: readonly VipSpec[];
  readonly holderKeys: readonly string[];
  /** Ring position of the home node, -1 when none. */
  readonly home: number;
}

const layouts = new WeakMap<ClusterSpec, Layout>();

function layoutOf(cluster: ClusterSpec): Layout {
  const cached = layouts.get(cluster);
  if (cached) return cached;
  const ring = cluster.nodes
    .map((n) => ({ name: n.name, hash: hash32(n.name) }))
    .sort((a, b) => a.hash - b.hash || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const names = ring.map((r) => r.name);
  const hashes = Uint32Array.from(ring.map((r) => r.hash));
  const position = new Map(names.map((n, i) => [n, i]));
  const groups = new Map<string, VipSpec[]>();
  for (const v of cluster.vips) {
    const key = v.group === '' ? `vip:${v.name}` : `group:${v.group}`;
    const list = groups.get(key);
    if (list) list.push(v);
    else groups.set(key, [v]);
  }
  const items: Item[] = [];
  for (const [key, list] of groups) {
    list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const home = list.find((v) => v.home !== null)?.home ?? null;
    items.push({
      key,
      hash: hash32(`${cluster.name}/${key}`),
      vips: list,
      holderKeys: list.map((v) => vipKey(cluster.name, v.name)),
      home: home === null ? -1 : (position.get(home) ?? -1),
    });
  }
  items.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const layout = { names, hashes, position, items };
  layouts.set(cluster, layout);
  return layout;
}

/** First index in `ring` (ring positions, ascending) whose hash is >= h, wrapping to 0. */
function ringStart(ring: readonly number[], hashes: Uint32Array, h: number): number {
  let lo = 0;
  let hi = ring.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((hashes[ring[mid] as number] as number) < h) lo = mid + 1;
    else hi = mid;
  }
  return lo === ring.length ? 0 : lo;
}

function fmtMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

const PREFERRED = 0;
const DEGRADED = 1;
const UNKNOWN = 2;

function placeCluster(cluster: ClusterSpec, input: PlacementInput, maxRanked: number, wake: { at: number | null }): ClusterPlacement {
  const { names, hashes, position, items } = layoutOf(cluster);
  const n = names.length;
  const cls = new Uint8Array(n);
  const conds: NodeCondition[] = new Array<NodeCondition>(n);
  const rings: number[][] = CLASS_ORDER.map(() => []);
  for (let i = 0; i < n; i++) {
    const c = input.nodes.get(names[i] as string) ?? UNKNOWN_NODE;
    conds[i] = c;
    const k = CLASS_ORDER.indexOf(classify(c));
    cls[i] = k;
    (rings[k] as number[]).push(i);
  }
  const bestClass = (rings[PREFERRED] as number[]).length > 0 ? PREFERRED : (rings[DEGRADED] as number[]).length > 0 ? DEGRADED : -1;
  const best = bestClass >= 0 ? (rings[bestClass] as number[]) : null;

  const unready = items.map((item) => unreadyPositions(item.holderKeys, input.notReady, position));
  // Some node of the best class would serve the item's VIPs: the others are not chosen.
  const readyBest = (ii: number): boolean => best !== null && best.some((p) => !(unready[ii] as ReadonlySet<number>).has(p));
  const choosable = (ii: number, pos: number): boolean => !(unready[ii] as ReadonlySet<number>).has(pos) || !readyBest(ii);
  const unreadyNote = (ii: number, pos: number): string => ((unready[ii] as ReadonlySet<number>).has(pos) ? ', not ready' : '');

  const load = new Int32Array(n);
  const failback = cluster.policy.failback;
  const holderOf = new Int32Array(items.length);
  const reasons: string[] = new Array<string>(items.length);
  const eligibleHolder = new Uint8Array(items.length);

  const assign = (ii: number, holder: number, reason: string, eligible: boolean) => {
    holderOf[ii] = holder;
    reasons[ii] = reason;
    eligibleHolder[ii] = eligible ? 1 : 0;
    load[holder] = (load[holder] as number) + (items[ii] as Item).vips.length;
  };
  const pinOf = (item: Item): { pos: number; pin: VipPin } | undefined => {
    if (!input.pins || input.pins.size === 0) return undefined;
    for (const k of item.holderKeys) {
      const pin = input.pins.get(k);
      const pos = pin === undefined ? undefined : position.get(pin.node);
      if (pin !== undefined && pos !== undefined) return { pos, pin };
    }
    return undefined;
  };
  const currentOf = (item: Item, wanted: (pos: number) => boolean): number => {
    for (const k of item.holderKeys) {
      const h = input.holders.get(k);
      const pos = h === undefined ? undefined : position.get(h);
      if (pos !== undefined && wanted(pos)) return pos;
    }
    return -1;
  };

  // Pass 1: decisions that do not depend on load: an operator's pin, failback home, or keep
  // the current holder.
  const open: number[] = [];
  const openNotes = new Map<number, string>();
  items.forEach((item, ii) => {
    const current = currentOf(item, () => true);
    const currentCls = current < 0 ? -1 : (cls[current] as number);
    // A node we cannot see (agent down) may well still serve the VIP: moving it would only
    // start a priority tie in keepalived. It is kept until someone else reports the VIP.
    const keepable = current >= 0 && bestClass >= 0 && (currentCls === bestClass || currentCls === UNKNOWN);
    const home = item.home;
    const homeReady = home >= 0 && bestClass >= 0 && cls[home] === bestClass && choosable(ii, home);
    const pinned = pinOf(item);
    let pinNote = '';
    if (pinned && bestClass >= 0 && cls[pinned.pos] === bestClass && choosable(ii, pinned.pos)) {
      assign(ii, pinned.pos, pinned.pin.sticky ? `pinned to ${pinned.pin.node} by an operator` : `moved to ${pinned.pin.node} by an operator`, true);
      return;
    }
    if (pinned) pinNote = `; ${pinned.pin.sticky ? 'pinned' : 'moved'} to ${pinned.pin.node}, which is ${CLASS_ORDER[cls[pinned.pos] as number]}${unreadyNote(ii, pinned.pos)}`;
    const assignNoted = (holder: number, reason: string, eligible: boolean) => assign(ii, holder, reason + pinNote, eligible);

    if (homeReady && home !== current) {
      if (failback.kind === 'immediate' || (failback.kind === 'never' && !keepable)) {
        assignNoted(home, keepable ? 'home node (failback: immediate)' : 'home node', true);
        return;
      }
      if (failback.kind === 'hold_down') {
        const since = (conds[home] as NodeCondition).healthySinceMs;
        const readyAt = since === null ? null : since + failback.holdDownMs;
        if (!keepable || (readyAt !== null && readyAt <= input.nowMs)) {
          assignNoted(home, keepable ? `home node (healthy for ${fmtMs(failback.holdDownMs)} or more)` : 'home node', true);
          return;
        }
        if (readyAt !== null && (wake.at === null || readyAt < wake.at)) wake.at = readyAt;
        const left = readyAt === null ? fmtMs(failback.holdDownMs) : fmtMs(readyAt - input.nowMs);
        assignNoted(current, `current holder kept; home node ${names[home]} in hold-down for another ${left}`, currentCls !== UNKNOWN);
        return;
      }
    }
    if (keepable) {
      const why =
        currentCls === UNKNOWN
          ? 'current holder kept (its agent is not connected)'
          : home === current
            ? 'home node'
            : homeReady && failback.kind === 'never'
              ? 'current holder kept (failback: never)'
              : 'current holder kept';
      const homeNote = home >= 0 && home !== current && !homeReady ? `; home node ${names[home]} is ${CLASS_ORDER[cls[home] as number]}${unreadyNote(ii, home)}` : '';
      assignNoted(current, why + homeNote, currentCls !== UNKNOWN);
      return;
    }
    open.push(ii);
    if (pinNote) openNotes.set(ii, pinNote);
  });

  // Pass 2: everything else goes to the least-loaded eligible node; ties go to the first node
  // clockwise from the VIP's hash on the ring (a consistent-hash tie-break of node and VIP).
  // Loads only grow, so the minimum over the eligible ring is tracked with a count per level.
  const countAt = new Map<number, number>();
  let min = 0;
  if (best) {
    for (const i of best) countAt.set(load[i] as number, (countAt.get(load[i] as number) ?? 0) + 1);
    min = Math.min(...countAt.keys());
  }
  for (const ii of open) {
    const item = items[ii] as Item;
    if (best) {
      const len = best.length;
      const s = ringStart(best, hashes, item.hash);
      const skip = unready[ii] as ReadonlySet<number>;
      const ready = skip.size > 0 && readyBest(ii);
      // With nodes that would not serve the VIP left out, the least load among the others.
      const low = ready ? Math.min(...best.filter((p) => !skip.has(p)).map((p) => load[p] as number)) : min;
      for (let k = 0; k < len; k++) {
        const node = best[(s + k) % len] as number;
        const l = load[node] as number;
        if (l !== low || (ready && skip.has(node))) continue;
        const why = bestClass === DEGRADED ? 'least-loaded eligible node (every eligible node has a failing penalty check)' : 'least-loaded eligible node';
        const homeNote = item.home >= 0 && (cls[item.home] !== bestClass || skip.has(item.home)) ? `; home node ${names[item.home]} is ${CLASS_ORDER[cls[item.home] as number]}${unreadyNote(ii, item.home)}` : '';
        const readyNote = skip.size === 0 ? '' : ready ? `; not ready: ${[...skip].map((p) => names[p]).sort().join(', ')}` : '; no eligible node is ready to serve it';
        assign(ii, node, why + homeNote + readyNote + (openNotes.get(ii) ?? ''), true);
        const left = (countAt.get(l) ?? 1) - 1;
        if (left === 0) countAt.delete(l);
        else countAt.set(l, left);
        const nl = l + item.vips.length;
        countAt.set(nl, (countAt.get(nl) ?? 0) + 1);
        if (left === 0) min = Math.min(...countAt.keys());
        break;
      }
      continue;
    }
    // No eligible node: rank the best available so keepalived still has a candidate.
    for (let k = 0; k < rings.length; k++) {
      const ring = rings[k] as number[];
      if (ring.length === 0) continue;
      const current = currentOf(item, (pos) => cls[pos] === k);
      const pick = current >= 0 ? current : item.home >= 0 && cls[item.home] === k ? item.home : (ring[ringStart(ring, hashes, item.hash)] as number);
      assign(ii, pick, `no eligible node; best available is ${CLASS_ORDER[k]}`, false);
      break;
    }
  }

  // Rankings: holder first, then nodes by class; within a class the home node first,
  // then clockwise from the VIP's hash.
  const vips: VipPlacement[] = [];
  items.forEach((item, ii) => {
    const holder = holderOf[ii] as number;
    const ranking: string[] = [names[holder] as string];
    for (let k = 0; k < rings.length && ranking.length < maxRanked; k++) {
      const ring = rings[k] as number[];
      const len = ring.length;
      if (len === 0) continue;
      if (item.home >= 0 && item.home !== holder && cls[item.home] === k) ranking.push(names[item.home] as string);
      const s = ringStart(ring, hashes, item.hash);
      for (let j = 0; j < len && ranking.length < maxRanked; j++) {
        const node = ring[(s + j) % len] as number;
        if (node !== holder && node !== item.home) ranking.push(names[node] as string);
      }
    }
    const skip = unready[ii] as ReadonlySet<number>;
    if (skip.size > 0) {
      const backups = readyFirst(ranking.slice(1).map((nm) => position.get(nm) as number), skip, (p) => (cls[p] as number) <= UNKNOWN);
      ranking.splice(1, ranking.length - 1, ...backups.map((p) => names[p] as string));
    }
    const holderName = names[holder] as string;
    for (const v of item.vips) {
      vips.push({ cluster: cluster.name, vip: v.name, group: v.group, ranking, holder: holderName, reason: reasons[ii] as string, eligible: eligibleHolder[ii] === 1 });
    }
  });
  vips.sort((a, b) => (a.vip < b.vip ? -1 : a.vip > b.vip ? 1 : 0));
  const classes = new Map<string, NodeClass>();
  const loads = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    classes.set(names[i] as string, CLASS_ORDER[cls[i] as number] as NodeClass);
    loads.set(names[i] as string, load[i] as number);
  }
  return { cluster: cluster.name, basePriority: cluster.policy.basePriority, vips, classes, anyEligible: bestClass >= 0, load: loads };
}

/** Computes the placement of every VIP of every cluster. */
export function place(input: PlacementInput): Placement {
  const maxRanked = Math.max(1, input.maxRanked ?? 16);
  const wake = { at: null as number | null };
  const clusters = new Map<string, ClusterPlacement>();
  for (const c of input.spec.clusters) clusters.set(c.name, placeCluster(c, input, maxRanked, wake));
  return { clusters, nextChangeMs: wake.at };
}
