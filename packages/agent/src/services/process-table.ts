// The processes of a daemon as the kernel sees them: what a stuck daemon's kill needs (which
// processes it has, kill them, are they gone). Replaceable in unit tests.
import { processTree } from './listen-queue.js';
import { procState } from './proc.js';

export interface ProcessTable {
  /** The process and its children, parent first. */
  tree(pid: number): number[];
  /** SIGKILL; a process that is gone already is no error. */
  kill(pid: number): void;
  /** Whether the process still exists (a zombie still does). */
  exists(pid: number): boolean;
  /** Whether a tracer holds the process (state `t`: `gdb -p`, `strace -p` at a system call). */
  traced(pid: number): boolean;
}

export const kernelProcessTable: ProcessTable = {
  tree: (pid) => processTree(pid),
  kill: (pid) => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  },
  exists: (pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
  traced: (pid) => procState(pid) === 0x74,
};
