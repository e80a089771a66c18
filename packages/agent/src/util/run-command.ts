// The one way the agent runs a program: an argument array, never a shell, with a timeout.
import { execa } from 'execa';

export interface CommandOutcome {
  readonly exitCode: number | undefined;
  /** stdout and stderr interleaved, trimmed. */
  readonly output: string;
  readonly stdout: string;
  readonly timedOut: boolean;
  /** Set when the program could not be started at all (ENOENT, EACCES). */
  readonly spawnError: string | undefined;
}

/** Runs `file` with `args`; resolves for every outcome (it never throws for a failing program). */
export type CommandRunner = (file: string, args: readonly string[], options?: { timeoutMs?: number }) => Promise<CommandOutcome>;

export const runCommand: CommandRunner = async (file, args, options = {}) => {
  const r = await execa(file, [...args], {
    reject: false,
    all: true,
    stdin: 'ignore',
    timeout: options.timeoutMs ?? 10_000,
    killSignal: 'SIGKILL',
    env: { LC_ALL: 'C' },
    extendEnv: true,
  });
  const spawnError = r.failed && r.exitCode === undefined && !r.timedOut && !r.isTerminated ? r.shortMessage : undefined;
  return {
    exitCode: r.exitCode,
    output: String(r.all ?? '').trim(),
    stdout: String(r.stdout ?? ''),
    timedOut: r.timedOut,
    spawnError,
  };
};

/** One line for logs and results: the program's own words, or why it did not run. */
export function describeOutcome(o: CommandOutcome): string {
  if (o.spawnError) return o.spawnError;
  if (o.timedOut) return `timed out${o.output ? `: ${o.output}` : ''}`;
  return o.output || `exit code ${o.exitCode ?? 'unknown'}`;
}
