// The agent's periodic work (probes, the hung-proxy watch, the keepalived watch, polls of
// daemons) runs from one timer, on a common grid. A wakeup of the process costs more than the
// work most of these timers do: an empty 50 Hz timer alone took 0.3 % of a core on the
// development machine, about what reading three /proc files at each tick adds to it. With every
// check at 10 Hz the agent had some 110 timer wakeups a second; on the grid, work that falls
// due at the same moment shares one, and a 20 ms watch plus any number of checks whose
// intervals are multiples of 20 ms wake the process 50 times a second.
//
// A due time within SNAP_MS of a grid point is moved to it (a little early or late); others
// keep their exact time, so an interval that is not a multiple of the grid keeps its rate.

/** The grid, in milliseconds. */
export const TICK_MS = 20;
/** How far a due time may move to land on the grid. */
const SNAP_MS = 8;
/** Node timers fire on whole milliseconds, sometimes a fraction early: what is due this soon runs. */
const EARLY_MS = 2;

/** Where a task due at `dueMs` runs: the grid point if it is within SNAP_MS, else `dueMs`. */
export function onGrid(dueMs: number): number {
  const grid = Math.round(dueMs / TICK_MS) * TICK_MS;
  return Math.abs(grid - dueMs) <= SNAP_MS ? grid : dueMs;
}

interface Task {
  readonly atMs: number;
  readonly fn: () => void;
}

export class TickScheduler {
  private readonly tasks = new Set<Task>();
  private timer: NodeJS.Timeout | undefined;
  private timerAtMs = Infinity;
  private maxLateMs = 0;

  constructor(private readonly clock: () => number = () => performance.now()) {}

  /** Runs `fn` once, `delayMs` from now (on the grid if that is close); returns a cancel function. */
  after(delayMs: number, fn: () => void): () => void {
    const now = this.clock();
    const task: Task = { atMs: onGrid(now + Math.max(0, delayMs)), fn };
    this.tasks.add(task);
    this.arm(task.atMs, now);
    return () => void this.tasks.delete(task);
  }

  /** Runs `fn` every `periodMs` (the first time one period from now) until cancelled. */
  every(periodMs: number, fn: () => void): () => void {
    let cancel: () => void;
    let cancelled = false;
    const run = (): void => {
      cancel = this.after(periodMs, run);
      fn();
    };
    cancel = this.after(periodMs, run);
    return () => {
      if (cancelled) return;
      cancelled = true;
      cancel();
    };
  }

  private arm(atMs: number, now: number): void {
    if (atMs >= this.timerAtMs) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAtMs = atMs;
    // Like the timers it replaces, it does not keep the process alive.
    this.timer = setTimeout(() => this.fire(), Math.max(0, atMs - now));
    this.timer.unref();
  }

  /** The longest a wakeup came after its due time since the previous call, in ms (the metrics' event-loop lag). */
  takeMaxLateMs(): number {
    const late = this.maxLateMs;
    this.maxLateMs = 0;
    return late;
  }

  private fire(): void {
    const now = this.clock();
    if (now - this.timerAtMs > this.maxLateMs) this.maxLateMs = now - this.timerAtMs;
    this.timer = undefined;
    this.timerAtMs = Infinity;
    const due: Task[] = [];
    let next = Infinity;
    for (const t of this.tasks) {
      if (t.atMs <= now + EARLY_MS) due.push(t);
      else if (t.atMs < next) next = t.atMs;
    }
    for (const t of due) this.tasks.delete(t);
    if (next < Infinity) this.arm(next, now);
    // One task that throws does not keep the others from running; its error still surfaces
    // as an uncaught exception, as it would have from its own timer.
    let failure: { readonly error: unknown } | undefined;
    for (const t of due) {
      try {
        t.fn();
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  }
}

/** The agent's one scheduler. */
export const ticks = new TickScheduler();
