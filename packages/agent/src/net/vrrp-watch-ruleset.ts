// The nftables tables through which the agent sees VRRP on its segments without parsing logs
// (docs/design/vrrp-edges.md). One table per address family, `lbha_vrrp`:
//
// - `foreign`: every advert for one of the cluster's VRIDs, on the VIP's interface, from a source
//   that is not a node of the cluster, as (interface . source . VRID . priority), kept while it
//   keeps coming (a dynamic set with a timeout: the kernel does the bookkeeping, the agent reads
//   the set now and then);
// - with `block`, those adverts are then dropped, so keepalived never yields to a foreign router;
// - `sent`: (interface . VRID) of every advert this node sends, kept for two advert intervals (at
//   least a second): an instance keepalived reports MASTER whose VRID is missing has stopped
//   advertising (a frozen keepalived).
//
// The VRRP header is the same in versions 2 and 3 where it matters: byte 1 is the VRID, byte 2
// the priority. (nft 1.0.6 cannot list rules that combine `meta l4proto` with a transport-header
// payload; `ip protocol` and `ip6 nexthdr` are used instead, and the tests list what they load.)
import { isIPv6 } from 'node:net';

export type Family = 4 | 6;

export const VRRP_WATCH_TABLE = 'lbha_vrrp';
/** A foreign advert is forgotten by the kernel after this long without another. */
export const FOREIGN_TIMEOUT_S = 5;
/**
 * An advert this node sent is forgotten after two advert intervals, at least a second: a live
 * master refreshes it every interval, late by scheduling delays at most. (Kept for one second
 * whatever the interval, a master with 1 s adverts was missing from some readings and one with
 * the seeds' 3 s adverts from most, and the agent ended its keepalived as frozen.)
 */
export function sentTimeoutS(advertIntMs: number): number {
  return Math.max(1, Math.ceil((2 * advertIntMs) / 1000));
}
const FOREIGN_SET_SIZE = 1024;

export interface WatchedInterface {
  readonly interface: string;
  readonly vrids: readonly number[];
}

export interface VrrpWatchSpec {
  /** Addresses of every node of the cluster (both families; without prefix). */
  readonly nodes: readonly string[];
  /** The interfaces the cluster's VIPs live on, with their VRIDs. */
  readonly interfaces: readonly WatchedInterface[];
  /** Drop foreign adverts for the cluster's VRIDs (policy foreign_routers: block). */
  readonly block: boolean;
  /** How long an advert this node sent stays in `sent` (sentTimeoutS of the advert interval). */
  readonly sentTimeoutS: number;
}

function words(f: Family): { table: string; ip: string; proto: string; addr: string } {
  return f === 6 ? { table: 'ip6', ip: 'ip6', proto: 'ip6 nexthdr 112', addr: 'ipv6_addr' } : { table: 'ip', ip: 'ip', proto: 'ip protocol 112', addr: 'ipv4_addr' };
}

export function familyOf(address: string): Family {
  return isIPv6(address) ? 6 : 4;
}

/** The table of one family; loading it replaces an older one in one transaction (the sets start empty). */
export function vrrpWatchRuleset(f: Family, spec: VrrpWatchSpec): string {
  const w = words(f);
  const name = `${w.table} ${VRRP_WATCH_TABLE}`;
  const nodes = spec.nodes.filter((a) => familyOf(a) === f);
  const key = `iifname . ${w.ip} saddr . @th,8,8 . @th,16,8`;
  const lines = [
    `add table ${name}`,
    `delete table ${name}`,
    `table ${name} {`,
    '  set nodes {',
    `    type ${w.addr};`,
    ...(nodes.length > 0 ? [`    elements = { ${nodes.join(', ')} }`] : []),
    '  }',
    '  set foreign {',
    `    typeof ${key};`,
    `    flags dynamic,timeout; timeout ${FOREIGN_TIMEOUT_S}s; size ${FOREIGN_SET_SIZE};`,
    '  }',
    '  set sent {',
    '    typeof oifname . @th,8,8;',
    `    flags dynamic,timeout; timeout ${spec.sentTimeoutS}s; size 1024;`,
    '  }',
    '  chain prerouting {',
    '    type filter hook prerouting priority -300; policy accept;',
  ];
  for (const i of spec.interfaces) {
    if (i.vrids.length === 0) continue;
    const match = `iifname ${JSON.stringify(i.interface)} ${w.proto} @th,8,8 { ${[...new Set(i.vrids)].sort((a, b) => a - b).join(', ')} } ${w.ip} saddr != @nodes`;
    lines.push(`    ${match} update @foreign { ${key} }`);
    // A rule of its own: a full set must not let adverts through.
    if (spec.block) lines.push(`    ${match} counter drop`);
  }
  lines.push('  }', '  chain output {', '    type filter hook output priority -300; policy accept;', `    ${w.proto} update @sent { oifname . @th,8,8 }`, '  }', '}', '');
  return lines.join('\n');
}

/** An advert from a source that is not a node of the cluster, as the set holds it. */
export interface ForeignAdvert {
  readonly interface: string;
  readonly source: string;
  readonly vrid: number;
  readonly priority: number;
}

export interface WatchReading {
  readonly foreign: readonly ForeignAdvert[];
  /** "interface/vrid" of the adverts this node sent within the set's timeout. */
  readonly sent: ReadonlySet<string>;
}

export function sentKey(iface: string, vrid: number): string {
  return `${iface}/${vrid}`;
}

interface NftElem {
  readonly elem?: { readonly val?: { readonly concat?: readonly unknown[] } };
}
interface NftSet {
  readonly set?: { readonly name?: string; readonly elem?: readonly NftElem[] };
}

/** Reads `nft -j list table FAMILY lbha_vrrp` output; unknown shapes are skipped. */
export function parseVrrpWatch(json: string): WatchReading {
  const foreign: ForeignAdvert[] = [];
  const sent = new Set<string>();
  let doc: { nftables?: readonly NftSet[] };
  try {
    doc = JSON.parse(json) as { nftables?: readonly NftSet[] };
  } catch {
    return { foreign, sent };
  }
  for (const item of doc.nftables ?? []) {
    const set = item.set;
    if (!set || (set.name !== 'foreign' && set.name !== 'sent')) continue;
    for (const e of set.elem ?? []) {
      const v = e.elem?.val?.concat ?? [];
      if (set.name === 'foreign') {
        const [iface, source, vrid, priority] = v;
        if (typeof iface === 'string' && typeof source === 'string' && typeof vrid === 'number' && typeof priority === 'number') foreign.push({ interface: iface, source, vrid, priority });
      } else {
        const [iface, vrid] = v;
        if (typeof iface === 'string' && typeof vrid === 'number') sent.add(sentKey(iface, vrid));
      }
    }
  }
  return { foreign, sent };
}
