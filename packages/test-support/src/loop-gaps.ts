// How long the event loop is held, as the benchmarks measure it: the gaps between the ticks of
// a 1 ms interval timer, each split (Linux, /proc/self/task/TID/schedstat of the main thread)
// into the time the thread ran (its own work and its share of garbage collection) and the time
// it was runnable but waited for the core behind other processes. The two may add up to less
// than the gap: on a virtual machine, time the hypervisor gave the vCPU to others is neither.
// The kernel brings a running thread's schedstat up to date only at a context switch or a
// scheduler tick (every 4 ms at HZ=250): a thread that runs through several gaps without being
// preempted has its time counted in the gap where the tick fell (4 ms "ran" in a 1.2 ms gap,
// nothing in the 3 ms gap before it). Each gap therefore also carries the CPU time of the whole
// process (getrusage: up to date at every read, microseconds), which for a process pinned to
// one core is the part of the gap the process itself held the core: the main thread, and the
// garbage collector's and the thread pool's threads (gzip) that take the core from it.
// perf_hooks' monitorEventLoopDelay is not used: on Node 20 it reported 1.8 ms across a 40 ms
// busy loop, where the interval timer saw the 40 ms.
import { closeSync, openSync, readSync } from 'node:fs';

/** One gap between two ticks. */
export interface LoopGap {
  /** When the gap ended (the tick), on performance.now()'s clock. */
  readonly atMs: number;
  readonly gapMs: number;
  /** How long the main thread ran during the gap (schedstat: as of the last tick or switch). */
  readonly ranMs: number;
  /** The CPU time of the whole process during the gap, every thread. */
  readonly processRanMs: number;
  /** How long it was runnable and waited for the core. */
  readonly waitedMs: number;
}

/**
 * The main thread's schedstat file, opened once: read at every tick of a 1 ms timer, opening it
 * each time (a path walk through /proc/self) cost the measured process about a point of a core,
 * about as much as the rest of the probe.
 */
let schedstat: { readonly fd: number; readonly buf: Buffer } | null | undefined;

function schedstatFile(): { readonly fd: number; readonly buf: Buffer } | null {
  if (schedstat === undefined) {
    try {
      schedstat = { fd: openSync(`/proc/self/task/${process.pid}/schedstat`, 'r'), buf: Buffer.alloc(128) };
    } catch {
      schedstat = null;
    }
  }
  return schedstat;
}

/** The main thread's time on the CPU and waiting for it (run queue), in ms; NaN off Linux. */
export function threadSchedstat(): { readonly runMs: number; readonly waitMs: number } {
  const file = schedstatFile();
  if (file === null) return { runMs: NaN, waitMs: NaN };
  try {
    // A /proc file read from offset 0 is formatted anew: "run_ns wait_ns timeslices\n".
    const n = readSync(file.fd, file.buf, 0, file.buf.length, 0);
    const [run, wait] = file.buf.toString('latin1', 0, n).split(' ');
    return { runMs: Number(run) / 1e6, waitMs: Number(wait) / 1e6 };
  } catch {
    return { runMs: NaN, waitMs: NaN };
  }
}

/** Closes the kept schedstat file (the next read opens it again). */
export function closeThreadSchedstat(): void {
  if (schedstat) closeSync(schedstat.fd);
  schedstat = undefined;
}

/** The CPU time of the process (every thread), user and system, in ms. */
function processCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Records the gaps between the ticks of an interval timer (1 ms unless told) while started. */
export class LoopGapMonitor {
  private gaps: LoopGap[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs = 1) {}

  start(): void {
    if (this.timer) return;
    let lastTick = performance.now();
    let lastSched = threadSchedstat();
    let lastCpu = processCpuMs();
    this.timer = setInterval(() => {
      const now = performance.now();
      const sched = threadSchedstat();
      const cpu = processCpuMs();
      this.gaps.push({ atMs: now, gapMs: now - lastTick, ranMs: sched.runMs - lastSched.runMs, processRanMs: cpu - lastCpu, waitedMs: sched.waitMs - lastSched.waitMs });
      lastTick = now;
      lastSched = sched;
      lastCpu = cpu;
    }, this.intervalMs);
  }

  /** The gaps recorded since the previous take (or the start), and forgets them. */
  take(): LoopGap[] {
    const out = this.gaps;
    this.gaps = [];
    return out;
  }

  /** The timer no longer keeps the process alive. */
  unref(): void {
    this.timer?.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

export interface LoopGapSummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Of the longest gap: how long the thread ran, and how long it waited for the core. */
  readonly ranInMaxMs: number;
  readonly waitedInMaxMs: number;
  /** The most the thread ran within one gap (its own longest hold of the loop; see above for its granularity). */
  readonly ranMaxMs: number;
  /** The most CPU time the process used within one gap. */
  readonly processRanMaxMs: number;
}

const nearestRank = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;

/** Percentiles (nearest rank) of the gaps, and the split of the longest one; zeros when there are none. */
export function summarizeGaps(gaps: readonly LoopGap[]): LoopGapSummary {
  let worst: LoopGap | undefined;
  let ranMaxMs = 0;
  let processRanMaxMs = 0;
  for (const g of gaps) {
    if (worst === undefined || g.gapMs > worst.gapMs) worst = g;
    if (g.ranMs > ranMaxMs) ranMaxMs = g.ranMs;
    if (g.processRanMs > processRanMaxMs) processRanMaxMs = g.processRanMs;
  }
  const sorted = gaps.map((g) => g.gapMs).sort((a, b) => a - b);
  return {
    count: gaps.length,
    p50Ms: nearestRank(sorted, 0.5),
    p99Ms: nearestRank(sorted, 0.99),
    maxMs: worst?.gapMs ?? 0,
    ranInMaxMs: worst?.ranMs ?? 0,
    waitedInMaxMs: worst?.waitedMs ?? 0,
    ranMaxMs,
    processRanMaxMs,
  };
}
