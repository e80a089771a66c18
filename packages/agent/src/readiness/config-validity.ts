// The proxy's config test (`nginx -t`, `haproxy -c`) shared by the readiness probes of every VIP:
// one run serves all probes for `maxAgeMs`, and probes that ask while it runs wait for it.
import type { ValidationResult } from '../services/service-driver.js';

export class ConfigValidity {
  private last: { readonly atMs: number; readonly result: ValidationResult } | undefined;
  private running: Promise<ValidationResult> | undefined;

  constructor(
    private readonly validate: () => Promise<ValidationResult>,
    private readonly maxAgeMs: number,
    private readonly now: () => number,
  ) {}

  /** The config test's result, no older than maxAgeMs. */
  current(): Promise<ValidationResult> {
    if (this.last && this.now() - this.last.atMs < this.maxAgeMs) return Promise.resolve(this.last.result);
    if (this.running) return this.running;
    const started = this.now();
    this.running = this.validate()
      .catch((err: unknown): ValidationResult => ({ ok: false, output: `the config test could not run: ${(err as Error).message}` }))
      .then((result) => {
        this.last = { atMs: started, result };
        this.running = undefined;
        return result;
      });
    return this.running;
  }
}
