// When is a running proxy hung? Pure: samples of the kernel's view in, a reason or nothing out.
//
// A proxy that takes connections empties its listen sockets' accept queues within microseconds
// of each arrival, however slow its backends are: waiting for a backend does not stop it from
// accepting. A queue that stays non-empty for a whole window while no process of the proxy is
// even runnable means nothing is going to take connections off it: the proxy sleeps with work
// waiting (out of worker connections, a deadlock, stuck in the disk). A runnable process is
// merely waiting for a CPU on a busy host (seen in the lab's control run: the queue stayed
// non-empty for 100 ms under ten times the load on a shared two-core machine): that is slow, not
// hung. A proxy whose every process is stopped (state T) is hung whatever its queue says.
//
// One stopped worker of several is not a hung proxy: the kernel hands new connections to a
// worker that waits for them, so the queue stays empty. It is a worker whose own connections
// stall; `stoppedWorkers` says which, and the agent ends it (nginx's master starts another).

export interface StallSample {
  readonly tMs: number;
  /** Connections waiting in the accept queues of the proxy's listen sockets. */
  readonly queued: number;
  /** Every process of the proxy is stopped or traced. */
  readonly stopped: boolean;
  /**
   * Some process of the proxy is running or waiting for a CPU (state R). Only looked at while
   * connections wait: with an empty queue a sample may carry the main process's state alone.
   */
  readonly runnable: boolean;
}

export interface StallRule {
  /** How long the accept queue must stay non-empty. */
  readonly windowMs: number;
  /** How many consecutive samples must see every process stopped. */
  readonly stoppedSamples: number;
}

export const DEFAULT_STALL_RULE: StallRule = { windowMs: 100, stoppedSamples: 2 };

/**
 * A worker of a proxy that has several is stopped for good once it is seen stopped (T) in
 * this many looks at the workers in a row: a stop seen once may be a debugger's step.
 */
export const STOPPED_WORKER_SCANS = 2;

/**
 * The workers stopped in each of the last STOPPED_WORKER_SCANS looks (`scans`, oldest first,
 * each the stopped workers of one look; fewer looks: none yet).
 */
export function stoppedWorkers(scans: readonly (readonly number[])[]): number[] {
  const last = scans.slice(-STOPPED_WORKER_SCANS);
  if (last.length < STOPPED_WORKER_SCANS) return [];
  return (last[last.length - 1] as readonly number[]).filter((pid) => last.every((scan) => scan.includes(pid)));
}

/** Why the proxy counts as hung given its recent samples (oldest first), or undefined. */
export function stallReason(samples: readonly StallSample[], rule: StallRule = DEFAULT_STALL_RULE): string | undefined {
  const last = samples[samples.length - 1];
  if (!last) return undefined;
  const tail = samples.slice(-rule.stoppedSamples);
  if (tail.length === rule.stoppedSamples && tail.every((s) => s.stopped)) return 'every process is stopped';
  const from = last.tMs - rule.windowMs;
  // The window must be covered: a sample at or before its start, and every sample since non-empty.
  let covered = false;
  for (let i = samples.length - 1; i >= 0; i--) {
    const s = samples[i] as StallSample;
    if (s.queued === 0 || s.runnable) return undefined;
    if (s.tMs <= from) {
      covered = true;
      break;
    }
  }
  return covered ? `its accept queue has not emptied for ${rule.windowMs} ms while it slept` : undefined;
}
