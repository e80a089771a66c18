// A full collection of the agent's own once its old space has grown STEP_BYTES past what the
// last full collection left. Under check churn (a check flipping every second: reloads, the
// stream's messages, log lines) the scavenges promote some 150-200 KB a second of objects that
// die soon after, and V8 ran no full collection in 20 s of it: the old space grew from 7.6 to
// 11.3 MB used, of which a forced collection left 6.9 (docs/benchmarks.md, the seventh round).
// No heap flag measured (--optimize-for-size, --initial-old-space-size) brought V8's own
// collection sooner. With this check every 2 s the churn's peak RSS was 55.25 against 57.55 MB
// (medians of four, alternated).
//
// A collection holds the event loop for its whole length (13-22 ms on the development machine:
// the agent runs with --single-threaded-gc, and a forced collection is not incremental), so it
// is not run in the middle of detection: once one is due, it waits for a moment when no probe is
// in flight and no check or hung-proxy watch is confirming a change (`quiet`), looked for after
// each tick's work (util/tick-scheduler.ts), so that the pause falls between two ticks instead
// of into a probe's round trip or a failure's confirmation.
//
// V8 offers the collection only through --expose-gc (AGENT_NODE_FLAGS); without it (a node
// started by hand without the flags) nothing is done.
import { getHeapSpaceStatistics } from 'node:v8';
import { TICK_MS, TickTask, ticks } from './tick-scheduler.js';

/** How far the old space's used size may grow past the last full collection. */
export const STEP_BYTES = 2 * 1024 * 1024;
/** How often it is looked at. */
export const CHECK_MS = 2000;

export interface OldSpaceTrimDeps {
  /** Bytes used in V8's old space now. */
  readonly oldSpaceUsed: () => number;
  /** A full collection. */
  readonly collect: () => void;
  /** True at a moment when the loop may be held: nothing of the detection path under way. */
  readonly quiet: () => boolean;
  readonly stepBytes?: number;
}

export class OldSpaceTrim {
  private base: number;
  private readonly step: number;
  private collections = 0;
  private due = false;

  constructor(private readonly deps: OldSpaceTrimDeps) {
    this.step = deps.stepBytes ?? STEP_BYTES;
    this.base = deps.oldSpaceUsed();
  }

  /** How many collections it asked for. */
  get count(): number {
    return this.collections;
  }

  /** Whether a collection is due and waits for a quiet moment. */
  get pending(): boolean {
    return this.due;
  }

  /** Looks at the old space: a collection is due once it grew a step past the last one. Returns `pending`. */
  check(): boolean {
    const used = this.deps.oldSpaceUsed();
    // V8 collected by itself meanwhile: count from what it left.
    if (used < this.base) this.base = used;
    this.due = used - this.base >= this.step;
    return this.due;
  }

  /** Collects if one is due and the moment is quiet; true if it did. */
  collectIfQuiet(): boolean {
    if (!this.due || !this.deps.quiet()) return false;
    this.deps.collect();
    this.collections++;
    this.due = false;
    this.base = this.deps.oldSpaceUsed();
    return true;
  }
}

function oldSpaceUsed(): number {
  for (const s of getHeapSpaceStatistics()) if (s.space_name === 'old_space') return s.space_used_size;
  return 0;
}

/**
 * Starts the check on the agent's tick scheduler; returns a stop function (a no-op without
 * --expose-gc). A due collection is tried after the work of each tick (setImmediate: the tick's
 * probes have started and those without I/O have answered) until the moment is quiet.
 */
export function startOldSpaceTrim(quiet: () => boolean): () => void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') return () => {};
  const trim = new OldSpaceTrim({ oldSpaceUsed, collect: () => gc(), quiet });
  let stopped = false;
  const attempt = (): void => {
    if (stopped || trim.collectIfQuiet() || !trim.pending) return;
    ticks.start(retry, TICK_MS);
  };
  const retry = new TickTask(() => setImmediate(attempt));
  const cancelCheck = ticks.every(CHECK_MS, () => {
    if (trim.check()) setImmediate(attempt);
  });
  return () => {
    stopped = true;
    cancelCheck();
    ticks.cancel(retry);
  };
}
