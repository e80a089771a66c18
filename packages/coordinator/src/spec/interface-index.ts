// The interfaces of one cluster's nodes, indexed once by interface name and subnet, so the
// rules that relate every VIP (and tracked interface) to every node cost O(nodes + VIPs), not
// O(nodes × VIPs): a fleet usually has one subnet per interface name, whatever its size.
import { isIPv4, isIPv6 } from 'node:net';
import { parseCidr, subnetText, type Cidr } from '@lbha/shared';
import type { ClusterSpec } from './cluster-spec.js';

/** Nodes on one subnet of an interface name. */
export interface SubnetNodes {
  readonly subnet: Cidr;
  readonly text: string;
  /** "name (address)" of each node, in document order. */
  readonly nodes: readonly string[];
}

interface InterfaceEntry {
  /** How many nodes declare the interface. */
  declared: number;
  /** Nodes that declare it without an address. */
  readonly unaddressed: string[];
  /** Nodes that declare it with an address. */
  addressed: number;
  /** Keyed by subnetText ("192.168.20.0/24"). */
  readonly subnets: Map<string, { subnet: Cidr; text: string; nodes: string[] }>;
  /** The prefix lengths in `subnets`, per family: a lookup tries each one. */
  readonly prefixes: Map<4 | 6, Set<number>>;
}

/** How many "which nodes lack X" scans one validation may do; past it, messages give counts only. */
const MAX_SCANS = 100;

export class InterfaceIndex {
  private readonly byName = new Map<string, InterfaceEntry>();
  private readonly missingSamples = new Map<string, readonly string[]>();
  private scans = 0;

  constructor(private readonly cluster: ClusterSpec) {
    for (const n of cluster.nodes) {
      for (const i of n.interfaces) {
        let e = this.byName.get(i.name);
        if (!e) {
          e = { declared: 0, unaddressed: [], addressed: 0, subnets: new Map(), prefixes: new Map() };
          this.byName.set(i.name, e);
        }
        e.declared++;
        if (i.address === null) {
          e.unaddressed.push(n.name);
          continue;
        }
        const cidr = parseCidr(i.address);
        if (typeof cidr === 'string') continue;
        e.addressed++;
        const text = subnetText(cidr);
        const s = e.subnets.get(text);
        if (s) s.nodes.push(`${n.name} (${i.address})`);
        else e.subnets.set(text, { subnet: cidr, text, nodes: [`${n.name} (${i.address})`] });
        let p = e.prefixes.get(cidr.family);
        if (!p) e.prefixes.set(cidr.family, (p = new Set()));
        p.add(cidr.prefix);
      }
    }
  }

  /** Nodes that do not declare interface `name`: how many, and the first few by name. */
  missing(name: string, max = 5): { readonly count: number; readonly sample: readonly string[] } {
    const count = this.cluster.nodes.length - (this.byName.get(name)?.declared ?? 0);
    if (count === 0) return { count, sample: [] };
    let sample = this.missingSamples.get(name);
    if (!sample) {
      if (this.scans >= MAX_SCANS) return { count, sample: [] };
      this.scans++;
      const found: string[] = [];
      for (const [ni, n] of this.cluster.nodes.entries()) {
        if (!n.interfaces.some((i) => i.name === name)) found.push(`${n.name} (nodes[${ni}])`);
        if (found.length >= max) break;
      }
      sample = found;
      this.missingSamples.set(name, sample);
    }
    return { count, sample };
  }

  unaddressed(name: string): readonly string[] {
    return this.byName.get(name)?.unaddressed ?? [];
  }

  /** The subnets of interface `name` (across the nodes) that hold `address`; usually one. */
  holding(name: string, address: string): readonly SubnetNodes[] {
    const e = this.byName.get(name);
    const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : 0;
    if (!e || family === 0) return [];
    const out: SubnetNodes[] = [];
    for (const prefix of e.prefixes.get(family) ?? []) {
      const s = e.subnets.get(subnetText({ address, prefix, family }));
      if (s) out.push(s);
    }
    return out;
  }

  /** Nodes whose interface `name` has an address on another subnet than `holding`: how many, and the first few. */
  outside(name: string, holding: readonly SubnetNodes[], max = 5): { readonly count: number; readonly sample: readonly string[] } {
    const e = this.byName.get(name);
    if (!e) return { count: 0, sample: [] };
    const inside = holding.reduce((n, s) => n + s.nodes.length, 0);
    const sample: string[] = [];
    for (const s of e.subnets.values()) {
      if (sample.length >= max) break;
      if (!holding.includes(s)) sample.push(...s.nodes.slice(0, max - sample.length));
    }
    return { count: e.addressed - inside, sample };
  }
}

/** "a, b, c and 12 more": node lists in messages stay short on large fleets. */
export function listNodes(names: readonly string[], total = names.length, max = 5): string {
  const shown = names.slice(0, max);
  if (shown.length === 0) return `${total} nodes`;
  return total > shown.length ? `${shown.join(', ')} and ${total - shown.length} more` : shown.join(', ');
}
