// Runs one check: the probe on its interval with a timeout, events from the probe's watcher,
// both through fall/rise hysteresis. Reports a CheckStatus only when the verdict changes.
import { unknown, type CheckResult, type CheckSpec, type CheckStatus } from '@lbha/shared';
import { Hysteresis } from './hysteresis.js';
import { TickTask, ticks } from '../util/tick-scheduler.js';
import type { Probe } from './probe.js';

export interface CheckObserver {
  /** Every raw result, for metrics. */
  onResult?(name: string, result: CheckResult, durationMs: number): void;
  /** The verdict changed (or the first verdict arrived). */
  onChange(status: CheckStatus): void;
}

const PENDING: CheckResult = Object.freeze({ kind: 'unknown', reason: 'no result yet' });

// With every check at 10 Hz a runner probes ten times a second, and what it did around each
// probe (an async function, a setImmediate and a promise to learn whether the probe was done
// without I/O, a timeout timer and Promise.race for the others, a timer task and closures for
// the next probe) was a fifth of the agent's CPU samples. Now a probe costs its own promise and
// one `then`: the next probe and the timeout are two tasks on the agent's tick scheduler, made
// once per runner and started again for each probe, and the probe's outcome arrives through two
// handlers made once per abort controller (so the answer of a probe abandoned at its timeout,
// which holds the old controller, is told apart and dropped).

export class CheckRunner {
  private readonly hysteresis: Hysteresis;
  /** The next probe of the interval, on the agent's tick grid (util/tick-scheduler.ts). */
  private readonly next = new TickTask(() => this.runOnce());
  /** The running probe's timeout, at its exact time. */
  private readonly deadline = new TickTask(() => this.expire());
  /** A probe asked for now (the start, an event hint, a probe that took its whole interval): not held for the grid. */
  private immediate: NodeJS.Timeout | undefined;
  private readonly runNowTimer = (): void => {
    this.immediate = undefined;
    this.runOnce();
  };
  private running = false;
  private inFlight = false;
  private startedMs = 0;
  /** The running probes' controller, replaced once it was used to abort (rare), with its handlers. */
  private ac: AbortController | undefined;
  private onValue: (result: CheckResult | undefined) => void = () => {};
  private onError: (error: unknown) => void = () => {};
  private unwatch: (() => void) | undefined;
  private verdict: CheckResult = PENDING;
  private settled = false;
  private sinceMs: number;
  private lastDurationMs = 0;

  constructor(
    /** A spec with defaults filled (see withDefaults). */
    readonly spec: CheckSpec,
    private readonly probe: Probe,
    private readonly observer: CheckObserver,
    /** The clock behind `sinceMs` (the agent's penalty hold counts from it). */
    private readonly now: () => number = Date.now,
  ) {
    this.hysteresis = new Hysteresis(spec.fall, spec.rise);
    this.sinceMs = now();
  }

  get name(): string {
    return this.spec.name;
  }

  /** True once the check has a verdict (its first result arrived). */
  get hasVerdict(): boolean {
    return this.settled;
  }

  /** No probe in flight and no change being confirmed (the agent's own collection waits for this). */
  get quiet(): boolean {
    return !this.inFlight && !this.hysteresis.confirming;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unwatch = this.probe.watch?.((result, definitive) => this.accept(result, 0, definitive));
    this.schedule(0);
  }

  stop(): void {
    this.running = false;
    this.cancelNext();
    ticks.cancel(this.deadline);
    // The probe in flight is abandoned: its answer, if it comes, holds the old controller.
    this.inFlight = false;
    this.abandon();
    this.unwatch?.();
    this.unwatch = undefined;
  }

  /** Runs a probe now instead of waiting for the interval (used after an event hint). */
  runNow(): void {
    if (!this.running || this.inFlight) return;
    this.schedule(0);
  }

  status(): CheckStatus {
    return {
      name: this.spec.name,
      kind: this.spec.params.kind,
      result: this.verdict,
      effect: this.spec.effect,
      penalty: this.spec.penalty,
      sinceMs: this.sinceMs,
      durationMs: this.lastDurationMs,
      streak: this.hysteresis.streak,
    };
  }

  private cancelNext(): void {
    ticks.cancel(this.next);
    if (this.immediate) clearTimeout(this.immediate);
    this.immediate = undefined;
  }

  private schedule(delayMs: number): void {
    this.cancelNext();
    if (delayMs > 0) {
      ticks.start(this.next, delayMs);
      return;
    }
    this.immediate = setTimeout(this.runNowTimer, 0);
    this.immediate.unref();
  }

  /** A new controller, and the handlers that take its probes' outcomes. */
  private controller(): AbortController {
    const ac = new AbortController();
    this.ac = ac;
    this.onValue = (result) => {
      if (this.ac === ac && this.inFlight) this.finish(result);
    };
    this.onError = (error) => {
      // A probe that throws is a bug or an outage of the probe itself, not of the service.
      if (this.ac === ac && this.inFlight) this.finish(unknown(`probe failed: ${(error as Error)?.message ?? String(error)}`));
    };
    return ac;
  }

  /** Aborts the probe in flight, if any; what it answers later is dropped. */
  private abandon(): void {
    const ac = this.ac;
    this.ac = undefined;
    ac?.abort();
  }

  private runOnce(): void {
    if (!this.running || this.inFlight) return;
    const ac = this.ac ?? this.controller();
    this.inFlight = true;
    this.startedMs = performance.now();
    ticks.start(this.deadline, this.spec.timeoutMs, true);
    let pending: Promise<CheckResult | undefined>;
    try {
      pending = this.probe.probe(ac.signal);
    } catch (error) {
      pending = Promise.reject(error);
    }
    // A probe that needs no I/O (process, sysfs, a file) is done once microtasks have run, and
    // its timeout task is cancelled before any wakeup.
    void pending.then(this.onValue, this.onError);
  }

  private expire(): void {
    if (!this.inFlight) return;
    const elapsedMs = performance.now() - this.startedMs;
    // The scheduler runs what is due within a few ms; a timeout waits its whole time.
    if (elapsedMs < this.spec.timeoutMs) {
      ticks.start(this.deadline, this.spec.timeoutMs - elapsedMs, true);
      return;
    }
    // A probe that answers because it was aborted must not beat its own timeout.
    this.abandon();
    this.finish(unknown(`timed out after ${this.spec.timeoutMs}ms`));
  }

  private finish(result: CheckResult | undefined): void {
    ticks.cancel(this.deadline);
    this.inFlight = false;
    const duration = performance.now() - this.startedMs;
    if (!this.running) return;
    if (result) this.accept(result, duration, false);
    if (!this.running) return;
    this.schedule(Math.max(0, this.spec.intervalMs - duration));
  }

  private accept(result: CheckResult, durationMs: number, definitive: boolean): void {
    if (!this.running) return;
    this.lastDurationMs = Math.round(durationMs);
    this.observer.onResult?.(this.spec.name, result, durationMs);
    const before = this.verdict;
    const after = this.hysteresis.push(result, definitive);
    const first = !this.settled;
    this.settled = true;
    if (first || !sameResult(before, after)) {
      this.verdict = after;
      if (first || before.kind !== after.kind) this.sinceMs = this.now();
      this.observer.onChange(this.status());
    }
  }
}

export function sameResult(a: CheckResult, b: CheckResult): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'healthy' || b.kind === 'healthy') return true;
  return a.reason === b.reason;
}
