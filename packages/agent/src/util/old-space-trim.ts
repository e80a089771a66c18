// A full collection of the agent's own once its old space has grown STEP_BYTES past what the
// last full collection left. Under check churn (a check flipping every second: reloads, the
// stream's messages, log lines) the scavenges promote some 150-200 KB a second of objects that
// die soon after, and V8 ran no full collection in 20 s of it: the old space grew from 7.6 to
// 11.3 MB used, of which a forced collection left 6.9 (docs/benchmarks.md, the seventh round).
// No heap flag measured (--optimize-for-size, --initial-old-space-size) brought V8's own
// collection sooner. With this check every 2 s the churn's peak RSS was 55.25 against 57.55 MB
// (medians of four, alternated); a collection of the agent's heap costs 13-22 ms of CPU, about
// one each 13 s under churn and each minute or so at 10 Hz.
//
// V8 offers the collection only through --expose-gc (AGENT_NODE_FLAGS); without it (a node
// started by hand without the flags) nothing is done.
import { getHeapSpaceStatistics } from 'node:v8';
import { ticks } from './tick-scheduler.js';

/** How far the old space's used size may grow past the last full collection. */
export const STEP_BYTES = 2 * 1024 * 1024;
/** How often it is looked at. */
export const CHECK_MS = 2000;

export interface OldSpaceTrimDeps {
  /** Bytes used in V8's old space now. */
  readonly oldSpaceUsed: () => number;
  /** A full collection. */
  readonly collect: () => void;
  readonly stepBytes?: number;
}

export class OldSpaceTrim {
  private base: number;
  private readonly step: number;
  private collections = 0;

  constructor(private readonly deps: OldSpaceTrimDeps) {
    this.step = deps.stepBytes ?? STEP_BYTES;
    this.base = deps.oldSpaceUsed();
  }

  /** How many collections it asked for. */
  get count(): number {
    return this.collections;
  }

  /** Collects if the old space grew a step past the last collection; true if it did. */
  check(): boolean {
    const used = this.deps.oldSpaceUsed();
    // V8 collected by itself meanwhile: count from what it left.
    if (used < this.base) this.base = used;
    if (used - this.base < this.step) return false;
    this.deps.collect();
    this.collections++;
    this.base = this.deps.oldSpaceUsed();
    return true;
  }
}

function oldSpaceUsed(): number {
  for (const s of getHeapSpaceStatistics()) if (s.space_name === 'old_space') return s.space_used_size;
  return 0;
}

/** Starts the check on the agent's tick scheduler; returns a stop function (a no-op without --expose-gc). */
export function startOldSpaceTrim(): () => void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc !== 'function') return () => {};
  const trim = new OldSpaceTrim({ oldSpaceUsed, collect: () => gc() });
  return ticks.every(CHECK_MS, () => void trim.check());
}
