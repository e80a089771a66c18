// Runs one check: the probe on its interval with a timeout, events from the probe's watcher,
// both through fall/rise hysteresis. Reports a CheckStatus only when the verdict changes.
import { unknown, type CheckResult, type CheckSpec, type CheckStatus } from '@lbha/shared';
import { Hysteresis } from './hysteresis.js';
import { ticks } from '../util/tick-scheduler.js';
import type { Probe } from './probe.js';

export interface CheckObserver {
  /** Every raw result, for metrics. */
  onResult?(name: string, result: CheckResult, durationMs: number): void;
  /** The verdict changed (or the first verdict arrived). */
  onChange(status: CheckStatus): void;
}

const PENDING: CheckResult = Object.freeze({ kind: 'unknown', reason: 'no result yet' });

export class CheckRunner {
  private readonly hysteresis: Hysteresis;
  private cancelTimer: (() => void) | undefined;
  private running = false;
  private inFlight = false;
  private ac: AbortController | undefined;
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

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unwatch = this.probe.watch?.((result, definitive) => this.accept(result, 0, definitive));
    this.schedule(0);
  }

  stop(): void {
    this.running = false;
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    this.ac?.abort();
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

  private schedule(delayMs: number): void {
    this.cancelTimer?.();
    const run = (): void => {
      this.cancelTimer = undefined;
      void this.runOnce();
    };
    if (delayMs > 0) {
      // The next probe of the interval, on the agent's tick grid (util/tick-scheduler.ts).
      this.cancelTimer = ticks.after(delayMs, run);
      return;
    }
    // Now (the start, an event hint, a probe that took its whole interval): not held for the grid.
    const timer = setTimeout(run, 0);
    timer.unref();
    this.cancelTimer = () => clearTimeout(timer);
  }

  private async runOnce(): Promise<void> {
    if (!this.running || this.inFlight) return;
    // One controller per runner, replaced only after it was used to abort (rare).
    if (!this.ac || this.ac.signal.aborted) this.ac = new AbortController();
    const ac = this.ac;
    this.inFlight = true;
    const started = performance.now();
    let outcome: { readonly result: CheckResult | undefined } | { readonly error: unknown } | undefined;
    const pending = this.probe.probe(ac.signal).then(
      (result) => void (outcome = { result }),
      (error: unknown) => void (outcome = { error }),
    );
    // Probes that need no I/O (process, sysfs, a file) are done once microtasks have run: they
    // need no timeout timer. At 10 Hz per check that saves a timer per probe.
    await new Promise<void>((resolve) => setImmediate(resolve));
    let expired = false;
    if (!outcome) {
      let timeout: NodeJS.Timeout | undefined;
      await Promise.race([
        pending,
        new Promise<void>((resolve) => {
          timeout = setTimeout(() => {
            expired = true;
            resolve();
            ac.abort();
          }, this.spec.timeoutMs);
        }),
      ]);
      clearTimeout(timeout);
    }
    this.inFlight = false;
    let result: CheckResult | undefined;
    if (expired) {
      // A probe that answers because it was aborted must not beat its own timeout.
      result = unknown(`timed out after ${this.spec.timeoutMs}ms`);
    } else if (outcome && 'error' in outcome) {
      // A probe that throws is a bug or an outage of the probe itself, not of the service.
      result = unknown(`probe failed: ${(outcome.error as Error).message}`);
    } else {
      result = outcome?.result;
    }
    const duration = performance.now() - started;
    if (!this.running) return;
    if (result) this.accept(result, duration, false);
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
