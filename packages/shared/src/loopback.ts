// Plaintext is for loopback and unix sockets only: there nobody else can read or inject.
import { isIPv4 } from 'node:net';

/** Whether a listen or dial address ("host:port", "[v6]:port", "unix:...") stays on this host. */
export function isLocalAddress(address: string): boolean {
  if (address.startsWith('unix:')) return true;
  const m = /^(?:\[([^\]]+)\]|([^:]+)):\d+$/.exec(address);
  const host = (m?.[1] ?? m?.[2] ?? '').toLowerCase();
  if (host === 'localhost' || host === '::1') return true;
  return isIPv4(host) && host.startsWith('127.');
}

/** The config problem of plaintext on `addresses`, naming the first address that is not local. */
export function plaintextProblem(addresses: readonly string[], field: string): string | undefined {
  const remote = addresses.find((a) => !isLocalAddress(a));
  if (remote === undefined) return undefined;
  return `${field} ${JSON.stringify(remote)} is not loopback or a unix socket: plaintext there lets anyone on the network read and forge calls; use TLS, or set tls.allowNonLoopback: true`;
}
