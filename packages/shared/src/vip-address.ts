// Addresses a VIP must never be: keepalived would add them to the interface and break the node
// (a /0 prefix route replaces the default route, the subnet's network or broadcast address
// steals traffic from every host on the segment, a multicast or loopback address confuses the
// kernel and VRRP itself). Checked in the cluster spec and again by the agent before it renders.
import { addressBits, cidrContains, parseCidr, v4ToInt, type Cidr } from './ip.js';

interface Reserved {
  readonly net: Cidr;
  readonly what: string;
}

const block = (text: string, what: string): Reserved => ({ net: parseCidr(text) as Cidr, what });

// Most specific first: the first match names the problem.
const RESERVED: readonly Reserved[] = [
  block('224.0.0.18/32', 'the VRRP multicast group'),
  block('255.255.255.255/32', 'the limited broadcast address'),
  block('0.0.0.0/8', 'in 0.0.0.0/8 ("this network")'),
  block('127.0.0.0/8', 'a loopback address'),
  block('224.0.0.0/4', 'a multicast address'),
  block('240.0.0.0/4', 'in the reserved range 240.0.0.0/4'),
  block('ff02::12/128', 'the VRRP multicast group'),
  block('::/128', 'the unspecified address'),
  block('::1/128', 'the loopback address'),
  block('::ffff:0:0/96', 'an IPv4-mapped address'),
  block('fe80::/10', 'a link-local address (VRRPv3 advertises from those)'),
  block('ff00::/8', 'a multicast address'),
];

/** A problem with the VIP address/prefix alone, whatever the interface; undefined when fine. */
export function vipAddressProblem(vip: Cidr): string | undefined {
  for (const r of RESERVED) {
    if (r.net.family === vip.family && cidrContains(r.net, vip.address)) return `${vip.address} is ${r.what}; it cannot be a VIP`;
  }
  if (vip.prefix === 0) return `prefix /0 would route every address to this interface; use the interface's subnet prefix or /${vip.family === 4 ? 32 : 128}`;
  return undefined;
}

/** "192.168.20.0/24": the subnet an interface address/prefix lies in. */
export function subnetText(c: Cidr): string {
  if (c.family === 4) {
    // In 32-bit integers rather than BigInt: called for every VIP of a spec.
    const mask = c.prefix === 0 ? 0 : (0xffffffff << (32 - c.prefix)) >>> 0;
    const net = (v4ToInt(c.address) & mask) >>> 0;
    return `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${c.prefix}`;
  }
  const host = BigInt(128 - c.prefix);
  const net = (addressBits(c.address) >> host) << host;
  return `${v6BitsToText(net)}/${c.prefix}`;
}

function v6BitsToText(n: bigint): string {
  const groups = [112n, 96n, 80n, 64n, 48n, 32n, 16n, 0n].map((s) => ((n >> s) & 0xffffn).toString(16));
  // Shortest form via the URL parser (RFC 5952), as elsewhere.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/**
 * A problem with the VIP on an interface whose subnet (`subnet`, the interface's own
 * address/prefix) holds it: a prefix wider than the subnet adds a route covering other
 * segments, and the subnet's network and broadcast addresses belong to every host on it.
 */
export function vipSubnetProblem(vip: Cidr, subnet: Cidr): string | undefined {
  if (vip.family !== subnet.family || !cidrContains(subnet, vip.address)) return undefined;
  const bits = vip.family === 4 ? 32 : 128;
  if (vip.prefix < subnet.prefix) return `prefix /${vip.prefix} is wider than the interface's subnet ${subnetText(subnet)}; use /${subnet.prefix} or /${bits}`;
  // /31, /32 (and /127, /128) subnets have no network or broadcast address (RFC 3021).
  if (subnet.prefix >= bits - 1) return undefined;
  if (vip.family === 4) {
    const size = 2 ** (32 - subnet.prefix);
    const offset = v4ToInt(vip.address) % size;
    if (offset === 0) return `${vip.address} is the network address of ${subnetText(subnet)}`;
    if (offset === size - 1) return `${vip.address} is the broadcast address of ${subnetText(subnet)}`;
    return undefined;
  }
  const hostBits = BigInt(128 - subnet.prefix);
  const offset = addressBits(vip.address) & ((1n << hostBits) - 1n);
  if (offset === 0n) return `${vip.address} is the subnet-router anycast address of ${subnetText(subnet)}`;
  return undefined;
}
