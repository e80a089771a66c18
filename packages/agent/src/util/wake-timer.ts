// One timer for "look again at time T": asked for several times, it fires at the earliest.
// The callback decides what is due and asks again for what is not (timers may fire a
// little before the clock says the time has come).

/** Fire this much after the time asked for, so that the clock has surely passed it. */
const SLACK_MS = 5;

export class WakeTimer {
  private timer: NodeJS.Timeout | undefined;
  private atMs = Infinity;
  private stopped = false;

  constructor(
    private readonly wake: () => void,
    private readonly now: () => number,
  ) {}

  /** Makes sure `wake` runs at the earliest of `times` or before; undefined asks for nothing. */
  at(...times: ReadonlyArray<number | undefined>): void {
    let ms = Infinity;
    for (const t of times) if (t !== undefined && t < ms) ms = t;
    if (this.stopped || ms >= this.atMs) return;
    if (this.timer) clearTimeout(this.timer);
    this.atMs = ms;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.atMs = Infinity;
      this.wake();
    }, Math.max(0, ms - this.now()) + SLACK_MS);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
