// Files the kernel generates at each read (/proc/net/snmp, /proc/net/tcp, /proc/PID/stat), read
// many times a second by the hung-proxy watch: each is read through a descriptor kept open, from
// an explicit offset (pread), instead of an open, read and close each time. For /proc/net/snmp
// that is 26 against 60 µs of CPU per read under the agent's flags (20,000 reads each, twice);
// the kernel formats the file again for a read from offset 0 either way.
//
// Only for such files: a regular file replaced by a rename would still be read through the old
// descriptor. A read that fails (the descriptor went stale: for /proc/PID/stat, its process was
// reaped) opens the path again once, so a pid used again is read as the new process.
import { closeSync, openSync, readSync } from 'node:fs';

/**
 * One limit for every kept file: the watch reads /proc/net/snmp, tcp and tcp6 and the stat of
 * the proxy's processes (its master and workers), the supervisors that of keepalived and the
 * daemons they started, the keepalived watch keepalived's children, the interface check three
 * sysfs attributes per interface. More are closed oldest first (a file read again is then
 * opened again, so the limit is well above what a node reads in turn).
 */
export const MAX_KEPT_FILES = 64;
const kept = new Map<string, number>();

/** Closes the descriptor kept for `path`, if any: the next read opens the path afresh. */
export function forgetKept(path: string): void {
  const fd = kept.get(path);
  if (fd === undefined) return;
  kept.delete(path);
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

function open(path: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  kept.set(path, fd);
  if (kept.size > MAX_KEPT_FILES) forgetKept(kept.keys().next().value as string);
  return fd;
}

/**
 * Reads up to `length` bytes of `path` at `position` into `buffer` (from its start); the bytes
 * read, or -1 when the file cannot be opened or read.
 */
export function readKept(path: string, buffer: Buffer, length: number, position: number): number {
  const fd = kept.get(path);
  if (fd !== undefined) {
    try {
      return readSync(fd, buffer, 0, length, position);
    } catch {
      forgetKept(path);
    }
  }
  const fresh = open(path);
  if (fresh === undefined) return -1;
  try {
    return readSync(fresh, buffer, 0, length, position);
  } catch {
    forgetKept(path);
    return -1;
  }
}

/** How many descriptors are kept open now. */
export function keptFileCount(): number {
  return kept.size;
}

/** Closes every kept descriptor (tests; the agent keeps them for its life). */
export function closeKeptFiles(): void {
  for (const path of [...kept.keys()]) forgetKept(path);
}
