// Token buckets per key (a caller, an address, a node): `rate` tokens a second, at most `burst`
// saved up. Bounded memory: idle full buckets are forgotten, and at most `maxKeys` are kept.

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly clock: () => number = Date.now,
    private readonly maxKeys = 100_000,
  ) {}

  /**
   * Takes `cost` tokens of `key`'s bucket: 0 when granted, else how many milliseconds until
   * it would be (nothing is taken then).
   */
  take(key: string, cost = 1): number {
    const now = this.clock();
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxKeys) this.prune(now);
      b = { tokens: this.burst, atMs: now };
      this.buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.atMs) * this.rate) / 1000);
      b.atMs = now;
    }
    if (b.tokens >= cost) {
      b.tokens -= cost;
      return 0;
    }
    return Math.ceil(((cost - b.tokens) * 1000) / this.rate);
  }

  /** Drops buckets that have filled up again (they hold nothing a fresh one would not). */
  private prune(now: number): void {
    for (const [k, b] of this.buckets) if (b.tokens + ((now - b.atMs) * this.rate) / 1000 >= this.burst) this.buckets.delete(k);
    // Still full of busy keys: drop the oldest entries (their callers start with a full bucket).
    const excess = this.buckets.size - Math.floor(this.maxKeys / 2);
    if (excess > 0) for (const k of [...this.buckets.keys()].slice(0, excess)) this.buckets.delete(k);
  }

  get keys(): number {
    return this.buckets.size;
  }
}
