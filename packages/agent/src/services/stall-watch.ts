// Samples a running proxy from the kernel (listen-queue.ts) every few milliseconds and says
// when it becomes hung or stops being hung (stall-rule.ts). The listen sockets are looked up
// once per process (and again while none are found: a starting proxy binds late).
//
// With `onStoppedWorker`, it also looks at each worker on its own, every WORKER_SCAN_SAMPLES
// samples and at every sample while connections wait: a worker of a proxy with several is a proxy of its own for the connections it
// accepted. The workers share the listen socket and the kernel wakes only a worker that waits
// for it, so a stopped worker takes no new connection and the accept queue stays empty (the
// hung rule sees nothing), while every connection it had accepted stalls.
import { DEFAULT_STALL_RULE, STOPPED_WORKER_SCANS, stallReason, stoppedWorkers, type StallRule, type StallSample } from './stall-rule.js';
import { listenQueueReader, processStates, processTree, socketInodes, stoppedPids } from './listen-queue.js';
import { ticks } from '../util/tick-scheduler.js';

export interface StallWatchOptions {
  readonly intervalMs: number;
  readonly rule?: StallRule;
  /** The proxy's main pid, 0 when it does not run. */
  readonly pid: () => number;
  /** Called with the new reason (undefined: taking connections again). */
  readonly onChange: (reason: string | undefined) => void;
  /**
   * Called once for each worker stopped in STOPPED_WORKER_SCANS scans in a row while the main
   * process was not (a proxy whose master replaces a worker that dies: nginx). Unset: workers
   * are not looked at one by one.
   */
  readonly onStoppedWorker?: (pid: number, reason: string) => void;
  readonly now?: () => number;
  /** The kernel readers, replaceable in tests. */
  readonly read?: {
    tree(pid: number): number[];
    inodes(pids: readonly number[]): Set<string>;
    queues(inodes: ReadonlySet<string>): { queued: number; listeners: number };
    states(pids: readonly number[]): { stopped: boolean; runnable: boolean };
    stopped(pids: readonly number[]): number[];
  };
}

/** Workers are looked at one by one every this many samples (100 ms at the agent's 20 ms). */
export const WORKER_SCAN_SAMPLES = 5;

/** The kernel readers of one watch (the listen-queue reader remembers where the listeners are). */
const kernel = (): NonNullable<StallWatchOptions['read']> => ({
  tree: (p: number) => processTree(p),
  inodes: (p: readonly number[]) => socketInodes(p),
  queues: listenQueueReader(),
  states: (p: readonly number[]) => processStates(p),
  stopped: (p: readonly number[]) => stoppedPids(p),
});

export class StallWatch {
  private cancelTimer: (() => void) | undefined;
  private samples: StallSample[] = [];
  private reason: string | undefined;
  private pid = 0;
  private inodes = new Set<string>();
  /** Samples since the last look at the workers. */
  private sinceScan = 0;
  /** The stopped workers of the last looks, oldest first. */
  private scans: Array<{ readonly tMs: number; readonly pids: number[] }> = [];
  /** Workers reported stopped (each once). */
  private reported = new Set<number>();
  private readonly rule: StallRule;
  private readonly now: () => number;
  private readonly read: NonNullable<StallWatchOptions['read']>;

  constructor(private readonly opts: StallWatchOptions) {
    this.rule = opts.rule ?? DEFAULT_STALL_RULE;
    this.now = opts.now ?? Date.now;
    this.read = opts.read ?? kernel();
  }

  get current(): string | undefined {
    return this.reason;
  }

  /**
   * Nothing being confirmed: the last sample saw no connection waiting and the proxy not
   * stopped (or there is no sample: not watching).
   */
  get quiet(): boolean {
    const last = this.samples[this.samples.length - 1];
    return last === undefined || (last.queued === 0 && !last.stopped);
  }

  start(): void {
    // On the agent's tick grid, with the probes (util/tick-scheduler.ts), and before them: a
    // check's connection to the proxy opened in the same wakeup then counts as opened after
    // the sample, and its answer is taken off the handshakes the sample looks for
    // (own-opens.ts).
    this.cancelTimer ??= ticks.every(this.opts.intervalMs, () => this.sample(), true);
  }

  stop(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.samples = [];
    this.pid = 0;
    this.scans = [];
    this.sinceScan = 0;
    this.reported = new Set();
    this.set(undefined);
  }

  /** One sample (the timer calls it; tests may too). */
  sample(): void {
    const pid = this.opts.pid();
    if (pid <= 0) {
      this.samples = [];
      this.set(undefined);
      return;
    }
    if (pid !== this.pid) {
      this.pid = pid;
      this.inodes = new Set();
      this.samples = [];
      this.scans = [];
      this.reported = new Set();
    }
    // A starting proxy binds late: look its listeners up until some are found.
    if (this.inodes.size === 0) this.inodes = this.read.inodes(this.read.tree(pid));
    const t = this.now();
    const q = this.read.queues(this.inodes);
    // The state of every process matters only while connections wait (is any of them runnable?)
    // or once the main process is stopped (are they all?); otherwise the main process alone
    // shows that the proxy is not stopped, and the rule does not look at `runnable` of a sample
    // with an empty queue. Workers come and go (a reload): the tree is read again each time.
    let states = this.read.states([pid]);
    if (q.queued > 0 || states.stopped) states = this.read.states(this.read.tree(pid));
    this.samples.push({ tMs: t, queued: q.queued, ...states });
    const keepFrom = t - this.rule.windowMs - 4 * this.opts.intervalMs;
    while (this.samples.length > 2 && (this.samples[0] as StallSample).tMs < keepFrom) this.samples.shift();
    // Workers are looked at every WORKER_SCAN_SAMPLES samples, and at every sample while
    // connections wait: with every worker stopped the queue fills, and the workers' kill (their
    // master starts new ones, which take the queue) must come before the hang rule's window
    // ends, or the VIPs would move for a node that serves again a moment later.
    if (this.opts.onStoppedWorker !== undefined && (++this.sinceScan >= WORKER_SCAN_SAMPLES || q.queued > 0)) {
      this.sinceScan = 0;
      // The master is replacing killed workers: the queue's window starts again.
      if (this.scanWorkers(pid, t)) this.samples = this.samples.slice(-1);
    }
    this.set(stallReason(this.samples, this.rule));
  }

  /**
   * Looks at each worker: one stopped in STOPPED_WORKER_SCANS looks in a row while the main
   * process was not is reported once. A stopped main process is the hung rule's (every process
   * stopped) or nobody's: its workers serve on, and it could not replace one. Whether a worker
   * was reported now.
   */
  private scanWorkers(pid: number, tMs: number): boolean {
    const stopped = this.read.states([pid]).stopped ? [] : this.read.stopped(this.read.tree(pid).slice(1));
    this.scans.push({ tMs, pids: stopped });
    if (this.scans.length > STOPPED_WORKER_SCANS) this.scans.shift();
    // Forget the reported workers that are gone (killed and replaced).
    for (const worker of this.reported) if (!stopped.includes(worker)) this.reported.delete(worker);
    const since = (this.scans[0] as { tMs: number }).tMs;
    let reported = false;
    for (const worker of stoppedWorkers(this.scans.map((s) => s.pids))) {
      if (this.reported.has(worker)) continue;
      this.reported.add(worker);
      reported = true;
      this.opts.onStoppedWorker?.(worker, `worker ${worker} has been stopped for ${tMs - since} ms or more while the master runs`);
    }
    return reported;
  }

  private set(reason: string | undefined): void {
    if (reason === this.reason) return;
    this.reason = reason;
    this.opts.onChange(reason);
  }
}
