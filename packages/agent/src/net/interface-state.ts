// Link state of one interface, read from sysfs (inside the agent's network namespace, as
// `ip netns exec` mounts a matching /sys). Used to confirm what netlink events announce.
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { forgetKept, readKept } from '../util/kept-file.js';

export type LinkState =
  | { readonly exists: false }
  | { readonly exists: true; readonly adminUp: boolean; readonly carrier: boolean; readonly operstate: string };

const IFF_UP = 0x1;

// The interface check reads three attributes ten times a second at its fastest. sysfs generates
// an attribute at each read from offset 0, so each is read through a descriptor kept open
// (util/kept-file.ts): one pread instead of readFileSync's open, fstat, two reads and close.
// A kept descriptor belongs to the device it was opened on, whatever the device is called
// later: before each read the interface's link in /sys/class/net is looked at (one readlink),
// and where it is gone or points at another device (a rename, a device removed and another one
// given the name) the descriptors are dropped and the attributes opened afresh. A device that
// is removed fails its reads (ENODEV), which opens the path afresh too.

/** An attribute is a few bytes ("lowerlayerdown", "0x1003"). */
const BUFFER = Buffer.alloc(64);

interface LinkFiles {
  readonly dir: string;
  /** What the interface's link pointed at when the attributes were opened ('' for a directory: a test's sysfs). */
  readonly target: string;
  readonly operstate: string;
  readonly flags: string;
  readonly carrier: string;
}

/** Per sysfs root, per interface name. */
const FILES = new Map<string, Map<string, LinkFiles>>();
const MAX_INTERFACES = 64;

function filesOf(sysfsRoot: string, ifname: string): LinkFiles {
  let byName = FILES.get(sysfsRoot);
  if (byName === undefined) {
    byName = new Map();
    FILES.set(sysfsRoot, byName);
  }
  let files = byName.get(ifname);
  if (files === undefined) {
    if (byName.size >= MAX_INTERFACES) {
      for (const f of byName.values()) forget(f);
      byName.clear();
    }
    const dir = join(sysfsRoot, ifname);
    files = { dir, target: '', operstate: join(dir, 'operstate'), flags: join(dir, 'flags'), carrier: join(dir, 'carrier') };
    byName.set(ifname, files);
  }
  return files;
}

function forget(f: LinkFiles): void {
  forgetKept(f.operstate);
  forgetKept(f.flags);
  forgetKept(f.carrier);
}

/** Where the interface's entry points now: a link's target, '' for a directory, undefined when there is none. */
function targetOf(dir: string): string | undefined {
  try {
    return readlinkSync(dir);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EINVAL' ? '' : undefined;
  }
}

function readTrim(path: string): string | undefined {
  const n = readKept(path, BUFFER, BUFFER.length, 0);
  return n < 0 ? undefined : BUFFER.toString('latin1', 0, n).trim();
}

export async function readLinkState(ifname: string, sysfsRoot = '/sys/class/net'): Promise<LinkState> {
  let files = filesOf(sysfsRoot, ifname);
  const target = targetOf(files.dir);
  if (target !== files.target) {
    // Renamed, removed, or another device under the name: what was kept belongs to another one.
    forget(files);
    files = { ...files, target: target ?? '' };
    (FILES.get(sysfsRoot) as Map<string, LinkFiles>).set(ifname, files);
  }
  if (target === undefined) return { exists: false };
  const operstate = readTrim(files.operstate);
  if (operstate === undefined) return { exists: false };
  const flags = Number.parseInt(readTrim(files.flags) ?? '0', 16);
  // Reading carrier of an administratively down link fails with EINVAL: no carrier.
  const carrier = readTrim(files.carrier) === '1';
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
