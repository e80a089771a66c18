// IPv4/IPv6 address and prefix parsing, without I/O.
import { isIPv4, isIPv6 } from 'node:net';

export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 4 | 6;
}

/** Parses "a.b.c.d/nn" (or an IPv6 equivalent). Returns an error message on failure. */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf('/');
  if (slash < 0) return `${JSON.stringify(text)} must be address/prefix, e.g. 192.168.20.28/24`;
  const address = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const family = isIPv4(address) ? 4 : isIPv6(address) ? 6 : 0;
  if (family === 0) return `${JSON.stringify(address)} is not an IP address`;
  if (!/^\d{1,3}$/.test(prefixText)) return `prefix ${JSON.stringify(prefixText)} is not a number`;
  const prefix = Number(prefixText);
  const max = family === 4 ? 32 : 128;
  if (prefix > max) return `prefix /${prefix} is larger than /${max}`;
  return { address, prefix, family };
}

/**
 * A dotted-quad IPv4 address (one isIPv4 accepts) as an unsigned 32-bit integer. Read digit by
 * digit: spec validation does this several times per VIP, tens of thousands of times.
 */
export function v4ToInt(a: string): number {
  let acc = 0;
  let octet = 0;
  for (let i = 0; i < a.length; i++) {
    const c = a.charCodeAt(i);
    if (c === 46) {
      acc = acc * 256 + octet;
      octet = 0;
    } else octet = octet * 10 + (c - 48);
  }
  return acc * 256 + octet;
}

/** The address as an unsigned integer (32 bits for IPv4, 128 for IPv6). */
export function addressBits(a: string): bigint {
  return isIPv4(a) ? BigInt(v4ToInt(a)) : v6ToBigInt(a);
}

function v6ToBigInt(a: string): bigint {
  const [head = '', tail] = a.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].reduce((acc, g) => acc * 65536n + BigInt(parseInt(g || '0', 16)), 0n);
}

/** True when `address` lies inside `net` (same family). */
export function cidrContains(net: Cidr, address: string): boolean {
  if (net.family === 4) {
    if (!isIPv4(address)) return false;
    if (net.prefix === 0) return true;
    const mask = net.prefix === 32 ? 0xffffffff : (~((1 << (32 - net.prefix)) - 1)) >>> 0;
    return ((v4ToInt(address) & mask) >>> 0) === ((v4ToInt(net.address) & mask) >>> 0);
  }
  if (!isIPv6(address)) return false;
  const shift = BigInt(128 - net.prefix);
  return v6ToBigInt(address) >> shift === v6ToBigInt(net.address) >> shift;
}

export function sameAddress(a: string, b: string): boolean {
  if (isIPv4(a) && isIPv4(b)) return a === b;
  if (isIPv6(a) && isIPv6(b)) return v6ToBigInt(a) === v6ToBigInt(b);
  return false;
}
