// Samples a running proxy from the kernel (listen-queue.ts) every few milliseconds and says
// when it becomes hung or stops being hung (stall-rule.ts). The listen sockets are looked up
// once per process (and again while none are found: a starting proxy binds late).
import { DEFAULT_STALL_RULE, stallReason, type StallRule, type StallSample } from './stall-rule.js';
import { listenQueueReader, processStates, processTree, socketInodes } from './listen-queue.js';
import { ticks } from '../util/tick-scheduler.js';

export interface StallWatchOptions {
  readonly intervalMs: number;
  readonly rule?: StallRule;
  /** The proxy's main pid, 0 when it does not run. */
  readonly pid: () => number;
  /** Called with the new reason (undefined: taking connections again). */
  readonly onChange: (reason: string | undefined) => void;
  readonly now?: () => number;
  /** The kernel readers, replaceable in tests. */
  readonly read?: {
    tree(pid: number): number[];
    inodes(pids: readonly number[]): Set<string>;
    queues(inodes: ReadonlySet<string>): { queued: number; listeners: number };
    states(pids: readonly number[]): { stopped: boolean; runnable: boolean };
  };
}

/** The kernel readers of one watch (the listen-queue reader remembers where the listeners are). */
const kernel = (): NonNullable<StallWatchOptions['read']> => ({
  tree: (p: number) => processTree(p),
  inodes: (p: readonly number[]) => socketInodes(p),
  queues: listenQueueReader(),
  states: (p: readonly number[]) => processStates(p),
});

export class StallWatch {
  private cancelTimer: (() => void) | undefined;
  private samples: StallSample[] = [];
  private reason: string | undefined;
  private pid = 0;
  private inodes = new Set<string>();
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
    // On the agent's tick grid, with the probes (util/tick-scheduler.ts).
    this.cancelTimer ??= ticks.every(this.opts.intervalMs, () => this.sample());
  }

  stop(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.samples = [];
    this.pid = 0;
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
    this.set(stallReason(this.samples, this.rule));
  }

  private set(reason: string | undefined): void {
    if (reason === this.reason) return;
    this.reason = reason;
    this.opts.onChange(reason);
  }
}
