// Resolves the waiters of a probe session once its first probe has ended (or the prober gave up).
export class FirstResult {
  private done = false;
  private readonly waiters = new Set<() => void>();

  /** Called for each result (and when the prober ends): the first call releases every waiter. */
  seen(): void {
    if (this.done) return;
    this.done = true;
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  wait(maxMs: number): Promise<void> {
    if (this.done) return Promise.resolve();
    return new Promise((resolve) => {
      const release = () => {
        clearTimeout(timer);
        this.waiters.delete(release);
        resolve();
      };
      const timer = setTimeout(release, maxMs);
      this.waiters.add(release);
    });
  }
}
