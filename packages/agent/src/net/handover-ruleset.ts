// The nftables side of a handover's incoming node, as text: the table that records the flows
// this node accepts and forwards every other TCP packet for the VIP to the old holder.
// Pure; the controller (handover.ts) loads it with `nft -f`.
import { isIP, isIPv6 } from 'node:net';
import type { HandoverTask } from './handover-task.js';

/** Every table of ours starts with this, so that leftovers of a crashed run can be found. */
export const HANDOVER_TABLE_PREFIX = 'lbha_handover_';
/**
 * A flow the incoming side recorded is forgotten after this long without a packet. Every packet
 * refreshes it, so the window can be extended without reloading the table.
 */
const FLOW_IDLE_S = 300;
/** When the set is full, new connections are forwarded to the old holder, which still serves. */
export const FLOW_SET_SIZE = 262_144;
export function tableName(t: Pick<HandoverTask, 'vrid' | 'interface'>): string {
  return `${HANDOVER_TABLE_PREFIX}${t.interface.replace(/[^A-Za-z0-9_]/g, '_')}_${t.vrid}`;
}

/**
 * The incoming side's ruleset; `flows` are "client-ip . port" pairs already open locally. With
 * `keep` (an agent that restarted during the handover adopts its table, or a table kept a moment
 * after its handover, handover-linger.ts) the rules are replaced and the flows the table recorded
 * stay, the listed ones added: the listing cannot see a connection whose SYN arrives while it
 * runs, and the table is the only record of it. Otherwise a table of the name is replaced whole,
 * in the same transaction. `notFrom` is a MAC address whose frames are not forwarded.
 */
export function incomingRuleset(t: HandoverTask, flows: readonly string[], keep = false, notFrom?: string): string {
  const table = tableName(t);
  const dev = JSON.stringify(t.interface);
  const ip = isIPv6(t.vip) ? 'ip6' : 'ip';
  // Only frames sent to this host: on a segment that floods, frames for the old holder arrive here too.
  const mine = `meta pkttype host ${ip} daddr ${t.vip}`;
  const lines = [
    `add table netdev ${table}`,
    // `flush table` empties the chain and leaves the set; `delete` takes the old table away.
    keep ? `flush table netdev ${table}` : `delete table netdev ${table}`,
    `table netdev ${table} {`,
    `  set flows {`,
    `    type ${ip === 'ip6' ? 'ipv6_addr' : 'ipv4_addr'} . inet_service; size ${FLOW_SET_SIZE}; flags dynamic,timeout; timeout ${FLOW_IDLE_S}s;`,
    ...(flows.length > 0 ? [`    elements = { ${flows.join(', ')} }`] : []),
    `  }`,
    `  chain ingress {`,
    `    type filter hook ingress device ${dev} priority -100; policy accept;`,
    // A connection that starts here is this node's from now on.
    `    ${mine} tcp flags & (syn | ack) == syn update @flows { ${ip} saddr . tcp sport } accept`,
    `    ${mine} ${ip} saddr . tcp sport @flows update @flows { ${ip} saddr . tcp sport } accept`,
    // Anything else for the VIP belongs to a connection the old holder has open; with `notFrom`
    // (the peer's MAC, while the peer has a table of its own) not what the peer forwarded here.
    `    ${mine} ${notFrom === undefined ? '' : `ether saddr != ${notFrom} `}meta l4proto tcp fwd ${ip} to ${t.peer} device ${dev}`,
    `  }`,
    `}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** Parses `ss -Htn state connected src VIP` into "ip . port" pairs of the remote ends (of one family). */
export function parseSsPeers(text: string, family: 4 | 6 = 4): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 2) continue;
    const peer = f[f.length - 1] ?? '';
    const i = peer.lastIndexOf(':');
    const ip = peer.slice(0, i).replace(/^\[(.*)\]$/, '$1');
    const port = Number(peer.slice(i + 1));
    if (isIP(ip) === family && Number.isInteger(port) && port > 0 && port < 65536) out.push(`${ip} . ${port}`);
  }
  return [...new Set(out)];
}
