// Link state of one interface, read from sysfs (inside the agent's network namespace, as
// `ip netns exec` mounts a matching /sys). Used to confirm what netlink events announce.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export type LinkState =
  | { readonly exists: false }
  | { readonly exists: true; readonly adminUp: boolean; readonly carrier: boolean; readonly operstate: string };

const IFF_UP = 0x1;

// sysfs attributes are generated in memory: a synchronous read costs less than a trip through
// the thread pool, which matters for interface checks polled at 10 Hz.
function readTrim(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export async function readLinkState(ifname: string, sysfsRoot = '/sys/class/net'): Promise<LinkState> {
  const dir = join(sysfsRoot, ifname);
  const operstate = readTrim(join(dir, 'operstate'));
  if (operstate === undefined) return { exists: false };
  const flags = Number.parseInt(readTrim(join(dir, 'flags')) ?? '0', 16);
  // Reading carrier of an administratively down link fails with EINVAL: no carrier.
  const carrier = readTrim(join(dir, 'carrier')) === '1';
  return { exists: true, adminUp: (flags & IFF_UP) !== 0, carrier, operstate };
}

/** Up means: administratively up, carrier present, and the kernel calls it up (or unknown, like lo). */
export function linkProblem(ifname: string, s: LinkState): string | undefined {
  if (!s.exists) return `interface ${ifname} does not exist`;
  if (!s.adminUp) return `interface ${ifname} is administratively down`;
  if (!s.carrier) return `interface ${ifname} has no carrier`;
  if (s.operstate !== 'up' && s.operstate !== 'unknown') return `interface ${ifname} is ${s.operstate}`;
  return undefined;
}
