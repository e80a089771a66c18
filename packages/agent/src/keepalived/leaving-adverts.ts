// The priority-0 adverts keepalived would have sent on a clean stop, for the instances this node
// was master of when keepalived died: what the agent sends in its place (advert-sender.ts), so
// the backups take over after their skew time instead of three advert intervals. With a priority
// above 0, the adverts of a node that gave a VIP up after a split brain and keeps saying so
// (core/yield-adverts.ts): the holder answers each with a gratuitous ARP. Pure.
import { isIP, isIPv6 } from 'node:net';
import { parseCidr, type DesiredState } from '@lbha/shared';
import type { AddressMap } from '../net/address-watcher.js';
import type { RawPacket } from './advert-sender.js';
import { vrrpV2Advert, vrrpV3Advert } from './vrrp-advert.js';

const MCAST_V4 = '224.0.0.18';
const MCAST_V6 = 'ff02::12';

function addressesOf(addrs: AddressMap, ifname: string): string[] {
  return [...(addrs.get(ifname) ?? [])].map((a) => a.slice(0, a.lastIndexOf('/')));
}

/**
 * One packet per instance in `leaving` (and per unicast peer), with `priority` (0: the master is
 * leaving), in the VRRP version keepalived speaks for the instance: VRRPv2 with the instance's
 * PASS authentication when the cluster uses version 2 and the VIP is IPv4 (keepalived runs an
 * IPv6 instance as VRRPv3 whatever the version, and ignores its authentication).
 */
export function leavingAdverts(d: DesiredState, leaving: ReadonlySet<string>, addrs: AddressMap, priority = 0): RawPacket[] {
  const vips = new Set(d.instances.flatMap((i) => {
    const c = parseCidr(i.vip);
    return typeof c === 'string' ? [] : [c.address];
  }));
  const out: RawPacket[] = [];
  for (const inst of d.instances) {
    if (!leaving.has(inst.name)) continue;
    const cidr = parseCidr(inst.vip);
    if (typeof cidr === 'string') continue;
    const v6 = isIPv6(cidr.address);
    const own = addressesOf(addrs, inst.interface).filter((a) => !vips.has(a));
    // keepalived sends IPv6 adverts from the link-local address, IPv4 from the primary one.
    const src = v6 ? own.find((a) => a.toLowerCase().startsWith('fe80:')) : d.keepalived.unicast && isIP(d.keepalived.unicastSrc) === 4 ? d.keepalived.unicastSrc : own.find((a) => isIP(a) === 4);
    if (!src) continue;
    const dsts = d.keepalived.unicast
      ? d.keepalived.unicastPeers.filter((p) => isIPv6(p) === v6)
      : [v6 ? MCAST_V6 : isIP(d.keepalived.mcastGroup) === 4 ? d.keepalived.mcastGroup : MCAST_V4];
    const fields = { vrid: inst.vrid, priority, advertIntMs: d.keepalived.advertIntMs, vips: [cidr.address] };
    // A VRRPv2 message does not depend on the destination (no pseudo-header in its checksum).
    const v2 = d.keepalived.vrrpVersion === 2 && !v6 ? vrrpV2Advert({ ...fields, authPass: inst.authPass ?? d.keepalived.authPass }) : undefined;
    for (const dst of dsts) {
      out.push({ ifname: inst.interface, src, dst, payload: v2 ?? vrrpV3Advert({ ...fields, src, dst }) });
    }
  }
  return out;
}
