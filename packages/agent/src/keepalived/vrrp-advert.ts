// VRRP advertisements built byte for byte: VRRPv3 (RFC 5798 section 5) and VRRPv2 (RFC 3768
// section 5.3, IPv4 only), so that the agent can send the priority-0 advert a dead keepalived
// could not (the backup then takes over after its skew time instead of three advert intervals,
// docs/design/unplanned-failover.md) and the priority-1 adverts of a node that gave a VIP up
// after a split brain (docs/design/vrrp-edges.md).
import { isIPv6 } from 'node:net';

export interface AdvertFields {
  readonly vrid: number;
  /** 0: the master is leaving. */
  readonly priority: number;
  readonly advertIntMs: number;
  /** Source and destination of the IP packet: both go into the checksum. */
  readonly src: string;
  readonly dst: string;
  readonly vips: readonly string[];
}

function v4Bytes(a: string): number[] {
  return a.split('.').map(Number);
}

/** The 16 bytes of an IPv6 address (the textual forms `ip` and keepalived print). */
export function v6Bytes(a: string): number[] {
  const [head = '', tail] = a.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.flatMap((g) => {
    const n = Number.parseInt(g, 16);
    return [(n >> 8) & 0xff, n & 0xff];
  });
}

function checksum(bytes: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** The VRRP message (the IP payload, protocol 112) of a VRRPv3 advertisement. */
export function vrrpV3Advert(f: AdvertFields): Buffer {
  const v6 = isIPv6(f.src);
  const interval = Math.max(1, Math.min(0xfff, Math.round(f.advertIntMs / 10)));
  const msg = [0x31, f.vrid & 0xff, f.priority & 0xff, f.vips.length & 0xff, (interval >> 8) & 0x0f, interval & 0xff, 0, 0, ...f.vips.flatMap((v) => (v6 ? v6Bytes(v) : v4Bytes(v)))];
  const pseudo = v6
    ? [...v6Bytes(f.src), ...v6Bytes(f.dst), 0, 0, (msg.length >> 8) & 0xff, msg.length & 0xff, 0, 0, 0, 112]
    : [...v4Bytes(f.src), ...v4Bytes(f.dst), 0, 112, (msg.length >> 8) & 0xff, msg.length & 0xff];
  const c = checksum([...pseudo, ...msg]);
  msg[6] = c >> 8;
  msg[7] = c & 0xff;
  return Buffer.from(msg);
}

/** What a VRRPv2 advert adds: the instance's PASS authentication ('' for none). */
export interface V2AdvertFields extends Omit<AdvertFields, 'src' | 'dst'> {
  readonly authPass: string;
}

/** Bytes of authentication data in a VRRPv2 advert; keepalived keeps the first 8 of a longer auth_pass. */
export const V2_AUTH_BYTES = 8;

/**
 * The VRRP message of a VRRPv2 advertisement: version 2, type 1, the interval in whole seconds
 * (keepalived rounds a fractional v2 advert_int, and drops an advert whose interval differs from
 * its own), auth type 1 (simple text password, zero-padded to 8 bytes) or 0 (none, eight zero
 * bytes). The checksum covers the VRRP message only: VRRPv2 has no pseudo-header.
 */
export function vrrpV2Advert(f: V2AdvertFields): Buffer {
  const interval = Math.max(1, Math.min(0xff, Math.round(f.advertIntMs / 1000)));
  const auth = Buffer.alloc(V2_AUTH_BYTES);
  auth.write(f.authPass.slice(0, V2_AUTH_BYTES), 'latin1');
  const msg = [0x21, f.vrid & 0xff, f.priority & 0xff, f.vips.length & 0xff, f.authPass === '' ? 0 : 1, interval, 0, 0, ...f.vips.flatMap(v4Bytes), ...auth];
  const c = checksum(msg);
  msg[6] = c >> 8;
  msg[7] = c & 0xff;
  return Buffer.from(msg);
}
