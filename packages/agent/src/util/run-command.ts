// The one way the agent runs a program: an argument array, never a shell, with a timeout.
import { execFile } from 'node:child_process';

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

export const runCommand: CommandRunner = (file, args, options = {}) =>
  new Promise((resolve) => {
    execFile(
      file,
      [...args],
      { timeout: options.timeoutMs ?? 10_000, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' }, encoding: 'utf8' },
      (err, stdout, stderr) => {
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
