// What placement derives from a cluster's spec alone: its nodes on the hash ring, its VIPs
// grouped into placement items, and the order in which the VIPs are reported. Memoized per
// (immutable) ClusterSpec object, so a steady stream of placements over one spec pays for it
// once; placement.ts does only the work that depends on the nodes' conditions and the holders.
import type { ClusterSpec, VipSpec } from './spec/cluster-spec.js';
import { vipKey } from './spec/cluster-spec.js';

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

/** VIPs placed together: one VIP, or every VIP of a group. */
export interface Item {
  readonly key: string;
  readonly hash: number;
  /** By name. */
  readonly vips: readonly VipSpec[];
  /** vipKey of each VIP, in the order of `vips`. */
  readonly holderKeys: readonly string[];
  /** Ring position of the home node, -1 when none. */
  readonly home: number;
  /**
   * Ring position of the first node clockwise from the item's hash (the first whose hash is
   * not lower), n when the hash is past the last node. The first node of any subset of the ring
   * clockwise from the hash is that subset's first position >= gap, wrapping to its first.
   */
  readonly gap: number;
}

export interface Layout {
  /** Node names in ring order: by hash, then by name. */
  readonly names: readonly string[];
  readonly position: ReadonlyMap<string, number>;
  /** By key. */
  readonly items: readonly Item[];
  /**
   * The cluster's VIPs by name (stable: items order among equal names), as item index and index
   * in the item; null when that is the items' own order (each item one VIP, no group: the
   * items' keys are "vip:" and the name).
   */
  readonly outItem: Int32Array | null;
  readonly outVip: Int32Array | null;
}

const layouts = new WeakMap<ClusterSpec, Layout>();

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** First index of `hashes` (ascending) whose value is >= h; hashes.length when none. */
function firstAtLeast(hashes: Uint32Array, h: number): number {
  let lo = 0;
  let hi = hashes.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((hashes[mid] as number) < h) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function layoutOf(cluster: ClusterSpec): Layout {
  const cached = layouts.get(cluster);
  if (cached) return cached;
  const ring = cluster.nodes.map((n) => ({ name: n.name, hash: hash32(n.name) })).sort((a, b) => a.hash - b.hash || byString(a.name, b.name));
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
    list.sort((a, b) => byString(a.name, b.name));
    const home = list.find((v) => v.home !== null)?.home ?? null;
    const hash = hash32(`${cluster.name}/${key}`);
    items.push({
      key,
      hash,
      vips: list,
      holderKeys: list.map((v) => vipKey(cluster.name, v.name)),
      home: home === null ? -1 : (position.get(home) ?? -1),
      gap: firstAtLeast(hashes, hash),
    });
  }
  items.sort((a, b) => byString(a.key, b.key));
  let layout: Layout = { names, position, items, outItem: null, outVip: null };
  if (items.length !== cluster.vips.length || groups.size !== items.length || items.some((it) => !it.key.startsWith('vip:'))) {
    const out: Array<{ name: string; item: number; vip: number }> = [];
    items.forEach((item, ii) => item.vips.forEach((v, vi) => out.push({ name: v.name, item: ii, vip: vi })));
    out.sort((a, b) => byString(a.name, b.name));
    layout = { ...layout, outItem: Int32Array.from(out.map((o) => o.item)), outVip: Int32Array.from(out.map((o) => o.vip)) };
  }
  layouts.set(cluster, layout);
  return layout;
}
