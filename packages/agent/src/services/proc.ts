// Process facts from /proc: is a pid alive (and not a zombie), and when did it start, so a
// recycled pid is never mistaken for the daemon the agent started.
//
// The hung-proxy watch asks for the proxy's state 50 times a second (and its supervisor whether
// it lives, in the same sample), so /proc/PID/stat is read through a descriptor kept open per
// pid, from offset 0 (pread) into one buffer, and parsed without splitting it: a third of the
// cost of open, read and close each time. A kept descriptor belongs to the process it was opened
// for: once that process is reaped, reading it fails (ESRCH), and the pid is opened afresh, so a
// recycled pid is read as the new process, as before. Reads within one synchronous run of the
// agent (one sample) share one snapshot of the file.
import { readKept } from '../util/kept-file.js';

export interface ProcStat {
  readonly state: string;
  /** Start time in clock ticks after boot (field 22 of /proc/PID/stat). */
  readonly startTime: string;
}

/** /proc/PID/stat is some 300 bytes; the command name is at most 64. */
const BUFFER = Buffer.alloc(1024);
/** The paths of the pids read lately, so that a read at 50 Hz builds no string. */
const PATHS = new Map<number, string>();
const MAX_PATHS = 64;
/** The pid whose stat is in BUFFER now (0: none), cleared when the synchronous run ends. */
let snapshotPid = 0;
let snapshotBytes = 0;
const clearSnapshot = (): void => {
  snapshotPid = 0;
};

function statPath(pid: number): string {
  let path = PATHS.get(pid);
  if (path === undefined) {
    if (PATHS.size >= MAX_PATHS) PATHS.clear();
    path = `/proc/${pid}/stat`;
    PATHS.set(pid, path);
  }
  return path;
}

/** Reads /proc/PID/stat into BUFFER; its length, or 0 when the process does not exist. */
function readStat(pid: number): number {
  if (snapshotPid === pid) return snapshotBytes;
  // Through a kept descriptor (util/kept-file.ts): once the process it was opened for is
  // reaped, the read fails and the path is opened afresh, so a recycled pid reads as the new
  // process, and a pid that does not exist reads as -1.
  const n = Math.max(0, readKept(statPath(pid), BUFFER, BUFFER.length, 0));
  if (n === 0) return 0;
  if (snapshotPid === 0) process.nextTick(clearSnapshot);
  snapshotPid = pid;
  snapshotBytes = n;
  return n;
}

/** Where field 3 (the state) is in BUFFER's `n` bytes: after the last ')', since the command name may hold any. */
function stateAt(n: number): number {
  const close = BUFFER.lastIndexOf(0x29, n - 1);
  return close < 0 || close + 2 >= n ? -1 : close + 2;
}

/** The state letter of a process (R, S, D, T, t, Z, X...) as a char code; 0 when it does not exist. Allocates nothing. */
export function procState(pid: number): number {
  if (!Number.isInteger(pid) || pid <= 0) return 0;
  const n = readStat(pid);
  const at = n > 0 ? stateAt(n) : -1;
  return at < 0 ? 0 : (BUFFER[at] as number);
}

export function readProcStat(pid: number): ProcStat | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const n = readStat(pid);
  const at = n > 0 ? stateAt(n) : -1;
  if (at < 0) return undefined;
  // Field 22 is the 19th space-separated field after the state.
  let i = at;
  for (let spaces = 0; i < n && spaces < 19; i++) if (BUFFER[i] === 0x20) spaces++;
  let end = i;
  while (end < n && BUFFER[end] !== 0x20 && BUFFER[end] !== 0x0a) end++;
  return { state: String.fromCharCode(BUFFER[at] as number), startTime: BUFFER.toString('latin1', i, end) };
}

const ZOMBIE = 0x5a; // Z
const DEAD = 0x58; // X
const DEAD_OLD = 0x78; // x

/** Alive: exists and is neither a zombie nor dead. With `startTime`, also the same process. */
export function isAlive(pid: number, startTime?: string): boolean {
  if (startTime === undefined) {
    const s = procState(pid);
    return s !== 0 && s !== ZOMBIE && s !== DEAD && s !== DEAD_OLD;
  }
  const s = readProcStat(pid);
  if (!s || s.state === 'Z' || s.state === 'X' || s.state === 'x') return false;
  return s.startTime === startTime;
}
