// Where lab runs are recorded while they exist, so `cleanup` can tell a live run (its owner process
// still running) from the leftovers of a crashed one, wherever its run dir was.
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRunId } from './lab-names.js';

/** One directory for the whole host (root only: the lab needs root anyway). */
export const REGISTRY_DIR = '/run/lbha-lab';

export interface RunEntry {
  readonly runId: string;
  readonly runDir: string;
  readonly ownerPid: number;
  /** Start time of the owner (/proc/PID/stat field 22), so a reused pid is not mistaken for it. */
  readonly ownerStart: string;
  readonly keepRunDir: boolean;
  readonly createdAt: string;
}

export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch {
    return undefined;
  }
}

function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** A process with this pid runs (a zombie waiting to be reaped does not count). */
export function isProcessAlive(pid: number): boolean {
  const state = processState(pid);
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** The owner still runs: same pid, same start time, and not a zombie waiting to be reaped. */
export function isOwnerAlive(entry: RunEntry): boolean {
  return isProcessAlive(entry.ownerPid) && processStartTime(entry.ownerPid) === entry.ownerStart;
}

export function registerRun(entry: RunEntry): void {
  mkdirSync(REGISTRY_DIR, { recursive: true });
  writeFileSync(join(REGISTRY_DIR, `${entry.runId}.json`), `${JSON.stringify(entry)}\n`);
}

export function unregisterRun(runId: string): void {
  rmSync(join(REGISTRY_DIR, `${runId}.json`), { force: true });
}

export function readRun(runId: string): RunEntry | undefined {
  try {
    return JSON.parse(readFileSync(join(REGISTRY_DIR, `${runId}.json`), 'utf8')) as RunEntry;
  } catch {
    return undefined;
  }
}

export function listRegisteredRuns(): RunEntry[] {
  let names: string[];
  try {
    names = readdirSync(REGISTRY_DIR);
  } catch {
    return [];
  }
  return names
    .filter((name) => name.endsWith('.json') && isRunId(name.slice(0, -5)))
    .map((name) => readRun(name.slice(0, -5)))
    .filter((entry): entry is RunEntry => entry !== undefined);
}
