// The one way the agent runs a program: an argument array, never a shell, with a timeout.
import { execFile, type ChildProcess } from 'node:child_process';

export interface CommandOutcome {
  readonly exitCode: number | undefined;
  /** stderr then stdout, trimmed (config tests speak on stderr). */
  readonly output: string;
  readonly stdout: string;
  readonly timedOut: boolean;
  /** Set when the program could not be started at all (ENOENT, EACCES). */
  readonly spawnError: string | undefined;
}

/** Runs `file` with `args`; resolves for every outcome (it never throws for a failing program). */
export type CommandRunner = (file: string, args: readonly string[], options?: { timeoutMs?: number }) => Promise<CommandOutcome>;

const ignore = (): void => {};

/**
 * Lets go of what a finished child still points to. Node's ChildProcess gives its process handle
 * an exit callback written straight into a property, which V8 allocates in the old generation;
 * that callback's scope holds the ChildProcess, so the ChildProcess survives every scavenge until
 * the next full collection, and with it all it points to: execFile's listeners (their scope holds
 * the options with the copy of the environment and the output), the three pipes' sockets and
 * their stream state. Dropped here, a command leaves 3.0 KB of promoted garbage instead of 9.7
 * (300 runs of `ip -o addr show` under the agent's flags); under check churn the commands were
 * the largest part of what the agent promoted (docs/benchmarks.md, the thirteenth round).
 */
function release(child: ChildProcess): void {
  child.removeAllListeners();
  // An error after the caller is done is of no interest, but must not be unhandled.
  child.on('error', ignore);
  const c = child as { stdio: unknown; stdin: unknown; stdout: unknown; stderr: unknown };
  c.stdio = [];
  c.stdin = c.stdout = c.stderr = null;
}

export const runCommand: CommandRunner = (file, args, options = {}) =>
  new Promise((resolve) => {
    const child = execFile(
      file,
      [...args],
      { timeout: options.timeoutMs ?? 10_000, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' }, encoding: 'utf8' },
      (err, stdout, stderr) => {
        // execFile calls back once the child has exited and its pipes are closed.
        release(child);
        const output = [stderr, stdout].map((s) => s.trim()).filter(Boolean).join('\n');
        if (!err) {
          resolve({ exitCode: 0, output, stdout, timedOut: false, spawnError: undefined });
          return;
        }
        const e = err as NodeJS.ErrnoException & { code?: string | number; killed?: boolean; signal?: string | null };
        if (typeof e.code === 'string') {
          resolve({ exitCode: undefined, output, stdout, timedOut: false, spawnError: `cannot run ${file}: ${e.code} (${e.message})` });
          return;
        }
        const timedOut = e.killed === true && e.signal === 'SIGKILL';
        resolve({ exitCode: typeof e.code === 'number' ? e.code : undefined, output, stdout, timedOut, spawnError: undefined });
      },
    );
  });

/** One line for logs and results: the program's own words, or why it did not run. */
export function describeOutcome(o: CommandOutcome): string {
  if (o.spawnError) return o.spawnError;
  if (o.timedOut) return `timed out${o.output ? `: ${o.output}` : ''}`;
  return o.output || `exit code ${o.exitCode ?? 'unknown'}`;
}
