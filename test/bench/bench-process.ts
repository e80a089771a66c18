// What the benchmarks that start processes share: progress lines on stderr, pinning to cores
// with taskset where it works, and the children to kill when a run ends or is interrupted.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEV_CA_BIN } from '../lab/repo-paths.js';

/** A progress line on stderr, stamped with the time of day. */
export function benchLog(line: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
}

/** Whether taskset works here (it does not in some containers). */
export const HAS_TASKSET = spawnSync('taskset', ['-c', '0', 'true']).status === 0;

/** `command args` pinned to `cpus` when taskset works here, as it is otherwise. */
export function pinnedCommand(cpus: string, command: string, args: readonly string[]): [string, string[]] {
  return HAS_TASKSET ? ['taskset', ['-c', cpus, command, ...args]] : [command, [...args]];
}

/** Throws `message` (for use in expressions). */
export function fail(message: string): never {
  throw new Error(message);
}

/** Children alive now, so that a run's end or a Ctrl-C can kill them all. */
export class Children {
  private readonly alive = new Set<ChildProcess>();

  /** Remembers `proc` until it exits; returns it. */
  track(proc: ChildProcess): ChildProcess {
    this.alive.add(proc);
    proc.once('exit', () => this.alive.delete(proc));
    return proc;
  }

  killAll(signal: NodeJS.Signals = 'SIGKILL'): void {
    for (const child of this.alive) child.kill(signal);
  }
}

/**
 * A temporary directory for a run, removed (with `children` killed) on Ctrl-C or SIGTERM; the
 * run removes it itself when it ends.
 */
export function runDir(prefix: string, children: Children): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      children.killAll();
      rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  }
  return dir;
}

/** Makes a development CA and its certificates in `<dir>/tls` (lbha-dev-ca); returns that directory. */
export function devCertificates(dir: string): string {
  const tls = join(dir, 'tls');
  const ca = spawnSync(process.execPath, [DEV_CA_BIN, '--out', tls], { encoding: 'utf8' });
  if (ca.status !== 0) throw new Error(`lbha-dev-ca: ${ca.stderr}`);
  return tls;
}
