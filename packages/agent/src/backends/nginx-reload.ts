// When an nginx reload has taken effect. A reload is a signal: the master starts new workers
// with the new configuration and tells the old ones to stop; an old worker closes its listening
// sockets and its idle connections the moment it takes the signal, then finishes the requests it
// is serving. So the reload is in force once new workers run and no old worker holds a listening
// socket: from then on every new request is routed by the new configuration.
import { readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { processTree } from '../services/listen-queue.js';

/** The master's child processes (its workers, cache manager...). */
export function childPids(master: number): number[] {
  return processTree(master).slice(1);
}

/** Inodes of the listening TCP sockets of the network namespace. */
export async function listeningInodes(procNet: string): Promise<Set<string>> {
  const out = new Set<string>();
  for (const file of ['tcp', 'tcp6']) {
    const text = await readFile(join(procNet, file), 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && f[9]) out.add(f[9]);
    }
  }
  return out;
}

/** Whether `pid` holds one of `inodes`; undefined when its descriptors cannot be read. */
export async function holdsSocket(pid: number, inodes: ReadonlySet<string>): Promise<boolean | undefined> {
  let fds: string[];
  try {
    fds = await readdir(`/proc/${pid}/fd`);
  } catch (err) {
    // Gone: holds nothing. Not ours to read: cannot tell.
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? false : undefined;
  }
  for (const fd of fds) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m && inodes.has(m[1] as string)) return true;
  }
  return false;
}

/**
 * Waits until the reload that followed the snapshot `before` (the master's children then) is in
 * force; resolves to what was seen: 'in force', 'new workers' (they run, but the old ones could
 * not be read), or 'not seen' after `timeoutMs`.
 */
export async function reloadInForce(master: number, before: ReadonlySet<number>, procNet: string, timeoutMs: number): Promise<'in force' | 'new workers' | 'not seen'> {
  const deadline = Date.now() + timeoutMs;
  let seen: 'new workers' | 'not seen' = 'not seen';
  for (;;) {
    const now = childPids(master);
    if (now.some((p) => !before.has(p))) {
      seen = 'new workers';
      const listening = await listeningInodes(procNet);
      const held = await Promise.all(now.filter((p) => before.has(p)).map((p) => holdsSocket(p, listening)));
      if (held.every((h) => h === false)) return 'in force';
      if (held.some((h) => h === undefined) && !held.some((h) => h === true)) return seen;
    }
    if (Date.now() >= deadline) return seen;
    await new Promise((r) => setTimeout(r, 20));
  }
}
