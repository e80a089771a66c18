// A daemon the lab started, in a namespace (through `ip netns exec`, which execs the program, so
// the pid is the daemon's own) or in the host namespace. Output goes to a log file in the run dir.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

export interface ProcessExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface LabProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ProcessExit>;
  isRunning(): boolean;
  /** Sends `sig` (default SIGTERM) and waits for the exit; SIGKILL after `graceMs`. */
  stop(sig?: NodeJS.Signals, graceMs?: number): Promise<ProcessExit>;
}

export interface SpawnOptions {
  readonly name: string;
  /** Network namespace to run in; undefined for the host namespace. */
  readonly ns: string | undefined;
  readonly command: string;
  readonly args: readonly string[];
  readonly logFile: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

export function spawnLabProcess(options: SpawnOptions): LabProcess {
  const fd = openSync(options.logFile, 'a');
  const [cmd, args] =
    options.ns === undefined
      ? [options.command, [...options.args]]
      : ['ip', ['netns', 'exec', options.ns, options.command, ...options.args]];
  // Own process group: a Ctrl-C in the terminal reaches the lab program, which then stops its
  // daemons in order, instead of every daemon dying at once.
  const child = spawn(cmd, args, {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
  closeSync(fd);
  let running = child.pid !== undefined;
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, sig) => {
      running = false;
      resolve({ code, signal: sig });
    });
    child.once('error', () => {
      running = false;
      resolve({ code: null, signal: null });
    });
  });
  const pid = child.pid ?? -1;
  return {
    name: options.name,
    pid,
    logFile: options.logFile,
    exited,
    isRunning: () => running,
    async stop(sig: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<ProcessExit> {
      if (!running) return exited;
      try {
        process.kill(pid, sig);
      } catch {
        return exited;
      }
      const timer = setTimeout(() => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone between the check and the kill.
        }
      }, graceMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}
