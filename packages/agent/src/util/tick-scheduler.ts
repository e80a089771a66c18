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

/**
 * Work the scheduler runs once each time it is started. A caller that runs the same work again
 * and again (a check's next probe, its timeout, a watch's sample) keeps one and starts it again:
 * nothing is allocated per run.
 */
export class TickTask {
  /** When it runs next (scheduler's clock); meaningful while it is started. */
  atMs = Infinity;
  /** Its neighbours in the scheduler's list of started tasks, and whether it is in it. */
  prev: TickTask | undefined;
  next: TickTask | undefined;
  listed = false;
  /**
   * Runs before the tasks that are not `first` when both fall due in one wakeup (a watch that
   * must sample before the probes of the same wakeup start: services/own-opens.ts).
   */
  constructor(
    readonly fn: () => void,
    readonly first = false,
  ) {}
}

export class TickScheduler {
  // The started tasks, in the order they were started: a list through the tasks themselves. A
  // Set of them allocated at each wakeup (its iterator, and a new table each time its deleted
  // entries filled the old one; that table outlived two scavenges in the Set and went into the
  // old generation, about 6 KB a second with every check at 10 Hz, docs/benchmarks.md, the
  // thirteenth round); the list allocates nothing.
  private head: TickTask | undefined;
  private tail: TickTask | undefined;
  /** The tasks of the wakeup being run (kept between wakeups: one array, not one per wakeup). */
  private readonly due: (TickTask | undefined)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerAtMs = Infinity;
  private maxLateMs = 0;
  /** The timer's callback, made once (a wakeup arms the timer again: 50 times a second). */
  private readonly onTimer = (): void => this.fire();

  constructor(private readonly clock: () => number = () => performance.now()) {}

  /**
   * Runs `task` once, `delayMs` from now: on the grid if that is close, at that very time if
   * `exact` (a timeout, which must not fire early). A task started again before it ran is moved.
   */
  start(task: TickTask, delayMs: number, exact = false): void {
    const now = this.clock();
    const at = now + Math.max(0, delayMs);
    task.atMs = exact ? at : onGrid(at);
    this.add(task);
    this.arm(task.atMs, now);
  }

  /** A started task does not run (also when it is due in the wakeup being run). */
  cancel(task: TickTask): void {
    this.remove(task);
  }

  /** Appends `task` to the started ones (a `first` one goes to the head); one already there keeps its place. */
  private add(task: TickTask): void {
    if (task.listed) return;
    task.listed = true;
    if (task.first) {
      task.prev = undefined;
      task.next = this.head;
      if (this.head) this.head.prev = task;
      else this.tail = task;
      this.head = task;
      return;
    }
    task.prev = this.tail;
    task.next = undefined;
    if (this.tail) this.tail.next = task;
    else this.head = task;
    this.tail = task;
  }

  /** Takes `task` out of the started ones; false if it was not there. */
  private remove(task: TickTask): boolean {
    if (!task.listed) return false;
    if (task.prev) task.prev.next = task.next;
    else this.head = task.next;
    if (task.next) task.next.prev = task.prev;
    else this.tail = task.prev;
    task.prev = task.next = undefined;
    task.listed = false;
    return true;
  }

  /** Runs `fn` once, `delayMs` from now (on the grid if that is close); returns a cancel function. */
  after(delayMs: number, fn: () => void): () => void {
    const task = new TickTask(fn);
    this.start(task, delayMs);
    return () => this.cancel(task);
  }

  /**
   * Runs `fn` every `periodMs` (the first time one period from now) until cancelled; `first`:
   * before the other tasks of each wakeup (see TickTask).
   */
  every(periodMs: number, fn: () => void, first = false): () => void {
    const task: TickTask = new TickTask(() => {
      this.start(task, periodMs);
      fn();
    }, first);
    this.start(task, periodMs);
    return () => this.cancel(task);
  }

  private arm(atMs: number, now: number): void {
    if (atMs >= this.timerAtMs) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAtMs = atMs;
    // Like the timers it replaces, it does not keep the process alive.
    this.timer = setTimeout(this.onTimer, Math.max(0, atMs - now));
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
    const due = this.due;
    const dueBy = now + EARLY_MS;
    let next = Infinity;
    let n = 0;
    for (let t = this.head; t !== undefined; t = t.next) {
      if (t.atMs <= dueBy) due[n++] = t;
      else if (t.atMs < next) next = t.atMs;
    }
    if (next < Infinity) this.arm(next, now);
    // One task that throws does not keep the others from running; its error still surfaces
    // as an uncaught exception, as it would have from its own timer.
    let failure: { readonly error: unknown } | undefined;
    for (let i = 0; i < n; i++) {
      const t = due[i] as TickTask;
      // Emptied slot by slot: `due.length = 0` would drop the array's store, and the next
      // wakeup would allocate another.
      due[i] = undefined;
      // Cancelled, or started again for later, by a task that ran before it in this wakeup.
      if (t.atMs > dueBy || !this.remove(t)) continue;
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
