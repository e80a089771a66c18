// Fall/rise hysteresis, the one piece every check shares: a healthy check turns failing only
// after `fall` failing results in a row, a failing one turns healthy after `rise` good ones.
// A definitive result (an exited process, a link the kernel reports down) skips the count.
import type { CheckResult } from '@lbha/shared';

export class Hysteresis {
  private current: CheckResult | undefined;
  private failStreak = 0;
  private okStreak = 0;

  constructor(
    private readonly fall: number,
    private readonly rise: number,
  ) {
    if (fall < 1 || rise < 1) throw new RangeError('fall and rise must be at least 1');
  }

  /** The verdict so far; undefined until the first result. */
  get state(): CheckResult | undefined {
    return this.current;
  }

  /** Consecutive raw results in the direction of the last one (healthy or not). */
  get streak(): number {
    return Math.max(this.failStreak, this.okStreak);
  }

  /** The last raw results disagree with the verdict: a change is being confirmed (fall or rise under way). */
  get confirming(): boolean {
    const cur = this.current;
    if (cur === undefined) return false;
    return cur.kind === 'healthy' ? this.failStreak > 0 : this.okStreak > 0;
  }

  /** Feeds one raw result and returns the verdict after it. */
  push(result: CheckResult, definitive = false): CheckResult {
    const ok = result.kind === 'healthy';
    if (ok) {
      this.okStreak++;
      this.failStreak = 0;
    } else {
      this.failStreak++;
      this.okStreak = 0;
    }
    const cur = this.current;
    let next: CheckResult;
    if (cur === undefined) {
      // The first result decides: an agent starting up has no history to smooth.
      next = result;
    } else if (cur.kind === 'healthy') {
      next = !ok && (definitive || this.failStreak >= this.fall) ? result : cur;
    } else if (ok) {
      next = definitive || this.okStreak >= this.rise ? result : cur;
    } else {
      // Still failing: keep the freshest reason (unhealthy may become unknown and back).
      next = result;
    }
    this.current = next;
    return next;
  }

  reset(): void {
    this.current = undefined;
    this.failStreak = 0;
    this.okStreak = 0;
  }
}
