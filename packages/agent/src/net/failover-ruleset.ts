// The nftables tables that hand new connections for a VIP to the peer the moment this node
// cannot serve them (docs/design/unplanned-failover.md). One table per address family, in the
// prerouting hook before conntrack:
//
// - a TCP SYN for the VIP that finds no local socket (the proxy is dead or restarting) goes to
//   the peer, decided by the kernel itself with no agent in the loop;
// - a SYN for a VIP in the `given` set (the agent decided: fault, hung proxy, keepalived dead,
//   maintenance) goes to the peer whatever the local sockets;
// - every later packet of a flow sent to the peer follows it (the `flows` set, refreshed by
//   every packet), so a proxy that comes back does not reset what the peer serves; a SYN is
//   always decided afresh (and a local one forgets an old flow of the same address and port);
// - frames from the peers themselves are never sent back (no loop when both give up).
//
// The peer accepts what it is sent because every node keeps its VIPs on lo with the ARP
// sysctls of the connection handover (handover.md), whether it holds them or not. `dup` plus
// `drop` sends the packet unchanged at layer 3 to the peer's MAC address.
//
// The `flows` set is the only record of which connections live on the peer: a load replaces
// the rules and the `given` and `peers` elements, and keeps the flows (a restarted agent, a new
// peer MAC, a VIP added). Were they forgotten, the next packet of each would be answered here
// with a reset.
import { isIPv6 } from 'node:net';

export interface FailoverTarget {
  /** The VIP, without prefix. */
  readonly vip: string;
  readonly interface: string;
  /** The peer's address on the interface (the VIP's family): who takes the VIP from this node. */
  readonly peer: string;
}

export const FAILOVER_TABLE = 'lbha_failover';
/** A flow handed to the peer is forgotten after this long without a packet. */
const FLOW_IDLE_S = 300;
const FLOW_SET_SIZE = 262_144;

export type Family = 4 | 6;

export function familyOf(address: string): Family {
  return isIPv6(address) ? 6 : 4;
}

function words(f: Family): { table: string; ip: string; addr: string } {
  return f === 6 ? { table: 'ip6', ip: 'ip6', addr: 'ipv6_addr' } : { table: 'ip', ip: 'ip', addr: 'ipv4_addr' };
}

/**
 * How a load treats a table of the name that is already there: `keep` replaces its rules and
 * the `given` and `peers` elements in one transaction and keeps the `flows` elements; `replace`
 * deletes the whole table first (for a table whose sets nft cannot redeclare, e.g. one of
 * another version with another set type).
 */
export type LoadMode = 'keep' | 'replace';

/**
 * The table of one family for `targets` (of that family), with `given` VIPs in the set and the
 * peers' MAC addresses (frames from them are left alone). Loading it is one transaction.
 */
export function failoverRuleset(f: Family, targets: readonly FailoverTarget[], given: readonly string[], peerMacs: readonly string[], mode: LoadMode = 'keep'): string {
  const w = words(f);
  const name = `${w.table} ${FAILOVER_TABLE}`;
  const mine = targets.filter((t) => familyOf(t.vip) === f);
  const flowKey = `${w.ip} daddr . ${w.ip} saddr . tcp sport`;
  const givenHere = given.filter((v) => mine.some((t) => t.vip === v));
  const lines = [
    `add table ${name}`,
    // `flush table` empties the chains, not the sets; the declarations below leave existing sets as they are.
    mode === 'keep' ? `flush table ${name}` : `delete table ${name}`,
    `table ${name} {`,
    `  set given {`,
    `    type ${w.addr};`,
    `  }`,
    `  set flows {`,
    `    type ${w.addr} . ${w.addr} . inet_service; size ${FLOW_SET_SIZE}; flags dynamic,timeout; timeout ${FLOW_IDLE_S}s;`,
    `  }`,
    `  set peers {`,
    `    type ether_addr;`,
    `  }`,
    `  chain prerouting {`,
    `    type filter hook prerouting priority -300; policy accept;`,
    ...mine.map((t) => `    iifname ${JSON.stringify(t.interface)} meta pkttype host ${w.ip} daddr ${t.vip} meta l4proto tcp jump vip`),
    `  }`,
    `  chain vip {`,
    `    ether saddr @peers return`,
    `    tcp flags & (syn | ack) == syn goto syn`,
    `    ${flowKey} @flows update @flows { ${flowKey} } goto out`,
    `  }`,
    // A new connection is decided afresh, even if its address and port once belonged to a flow
    // that went to the peer (clients reuse source ports within minutes).
    `  chain syn {`,
    `    ${w.ip} daddr @given goto new`,
    // A socket found (listening or not): the connection is this node's.
    `    socket transparent 0 goto mine`,
    `    socket transparent 1 goto mine`,
    `    goto new`,
    `  }`,
    `  chain mine {`,
    `    delete @flows { ${flowKey} }`,
    `  }`,
    `  chain new {`,
    `    update @flows { ${flowKey} } counter goto out`,
    `  }`,
    `  chain out {`,
    ...mine.map((t) => `    ${w.ip} daddr ${t.vip} dup to ${t.peer} device ${JSON.stringify(t.interface)} drop`),
    `    drop`,
    `  }`,
    `}`,
    `flush set ${name} given`,
    `flush set ${name} peers`,
    ...(givenHere.length > 0 ? [`add element ${name} given { ${givenHere.join(', ')} }`] : []),
    ...(peerMacs.length > 0 ? [`add element ${name} peers { ${peerMacs.join(', ')} }`] : []),
  ];
  return `${lines.join('\n')}\n`;
}

/** One line for `nft -i`: makes `given` exactly `vips` (of the family), atomically. */
export function givenCommand(f: Family, vips: readonly string[]): string {
  const name = `${words(f).table} ${FAILOVER_TABLE}`;
  const mine = vips.filter((v) => familyOf(v) === f);
  return mine.length === 0 ? `flush set ${name} given` : `flush set ${name} given; add element ${name} given { ${mine.join(', ')} }`;
}

/** Lists the `given` set of a family (what a previous agent left), for `nft -j`. */
export function listGivenArgs(f: Family): string[] {
  return ['-j', 'list', 'set', words(f).table, FAILOVER_TABLE, 'given'];
}

/** The elements of a set from `nft -j list set ...` output (addresses only); [] when there is none. */
export function parseSetElements(json: string): string[] {
  try {
    const doc = JSON.parse(json) as { nftables?: Array<{ set?: { elem?: unknown[] } }> };
    const elems = doc.nftables?.find((e) => e.set)?.set?.elem ?? [];
    return elems.filter((e): e is string => typeof e === 'string');
  } catch {
    return [];
  }
}

/** Removes the table of a family (nothing to forward any more). */
export function deleteCommand(f: Family): string {
  return `delete table ${words(f).table} ${FAILOVER_TABLE}`;
}
