// Runs a program with an argument array (never a shell string) and collects its output.
import { execFile } from 'node:child_process';
import { LabCommandError } from './errors.js';

export interface CommandOutput {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Kill the command after this long; the lab never waits forever on a child. */
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** Runs a command and returns its exit code and output; never throws for a non-zero exit. */
export function runCommand(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<CommandOutput> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      [...args],
      {
        timeout: options.timeoutMs ?? 30_000,
        maxBuffer: 16 * 1024 * 1024,
        env: options.env ?? process.env,
        cwd: options.cwd,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ code: 0, stdout, stderr });
          return;
        }
        const code = typeof error.code === 'number' ? error.code : null;
        const extra = typeof error.code === 'string' ? `${error.code}: ${error.message}` : '';
        resolve({ code, stdout: stdout ?? '', stderr: `${stderr ?? ''}${extra}` });
      },
    );
  });
}

/** Runs a command and throws a LabCommandError unless it exits 0; returns stdout. */
export async function runChecked(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const out = await runCommand(cmd, args, options);
  if (out.code !== 0) throw new LabCommandError([cmd, ...args], out.code, out.stderr || out.stdout);
  return out.stdout;
}

/** `ip ARGS`, checked. */
export function ip(args: readonly string[]): Promise<string> {
  return runChecked('ip', args);
}

/** `ip -n NS ARGS`, checked. */
export function ipIn(ns: string, args: readonly string[]): Promise<string> {
  return runChecked('ip', ['-n', ns, ...args]);
}

/** Runs a program inside a network namespace (`ip netns exec NS cmd ...`). */
export function runInNamespace(
  ns: string,
  cmd: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<CommandOutput> {
  return runCommand('ip', ['netns', 'exec', ns, cmd, ...args], options);
}
