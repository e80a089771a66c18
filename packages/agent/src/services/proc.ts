// Process facts from /proc: is a pid alive (and not a zombie), and when did it start, so a
// recycled pid is never mistaken for the daemon the agent started.
import { readFileSync } from 'node:fs';

export interface ProcStat {
  readonly state: string;
  /** Start time in clock ticks after boot (field 22 of /proc/PID/stat). */
  readonly startTime: string;
}

export function readProcStat(pid: number): ProcStat | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = rest[0] ?? '?';
  const startTime = rest[19] ?? '';
  return { state, startTime };
}

/** Alive: exists and is neither a zombie nor dead. With `startTime`, also the same process. */
export function isAlive(pid: number, startTime?: string): boolean {
  const s = readProcStat(pid);
  if (!s || s.state === 'Z' || s.state === 'X' || s.state === 'x') return false;
  return startTime === undefined || s.startTime === startTime;
}
