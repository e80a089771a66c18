// Exponential backoff with an immediate first retry: a crashed proxy is restarted at once,
// a proxy that keeps crashing is retried less and less often, up to `maxMs`.

export interface BackoffOptions {
  /** Delay before the first retry (0 = immediately). */
  readonly firstMs: number;
  /** Delay before the second retry; doubles after that. */
  readonly initialMs: number;
  readonly maxMs: number;
}

export class Backoff {
  private attempt = 0;

  constructor(private readonly opts: BackoffOptions) {}

  /** The delay before the next attempt; advances the sequence. */
  next(): number {
    const n = this.attempt++;
    if (n === 0) return this.opts.firstMs;
    return Math.min(this.opts.maxMs, this.opts.initialMs * 2 ** (n - 1));
  }

  get attempts(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}
