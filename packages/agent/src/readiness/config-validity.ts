// The proxy's config test (`nginx -t`, `haproxy -c`) shared by the readiness probes of every VIP:
// one run serves all probes for `maxAgeMs`, and probes that ask while it runs wait for it. With a
// fingerprint of the config files, a passed test is not run again while the fingerprint stays
// the same, except every `backstopMs` (a file the fingerprint does not cover may have changed);
// a failed one runs again every `maxAgeMs`, so a fix is seen at once wherever it was made.
import type { ValidationResult } from '../services/service-driver.js';

export interface ConfigChanges {
  /** Changes whenever a config file changes (readiness/config-fingerprint.ts); never rejects. */
  readonly fingerprint: () => Promise<string>;
  /** A passed test is run again after this long even when the fingerprint stayed the same. */
  readonly backstopMs: number;
}

export class ConfigValidity {
  private last: { readonly atMs: number; readonly fingerprint: string | undefined; readonly result: ValidationResult } | undefined;
  private running: Promise<ValidationResult> | undefined;

  constructor(
    private readonly validate: () => Promise<ValidationResult>,
    private readonly maxAgeMs: number,
    private readonly now: () => number,
    private readonly changes?: ConfigChanges,
  ) {}

  /** The config test's result, no older than maxAgeMs (or than backstopMs, for unchanged files). */
  current(): Promise<ValidationResult> {
    const last = this.last;
    const age = last ? this.now() - last.atMs : Infinity;
    if (last && age < this.maxAgeMs) return Promise.resolve(last.result);
    // Callers that come while the files are read or the test runs share the answer.
    this.running ??= this.look(last, age).finally(() => (this.running = undefined));
    return this.running;
  }

  private async look(last: ConfigValidity['last'], age: number): Promise<ValidationResult> {
    // Read before the test: a change while it runs makes the next look run it again.
    const fingerprint = await this.changes?.fingerprint();
    if (last?.result.ok && fingerprint !== undefined && fingerprint === last.fingerprint && age < (this.changes?.backstopMs ?? 0)) return last.result;
    const started = this.now();
    const result = await this.validate().catch((err: unknown): ValidationResult => ({ ok: false, output: `the config test could not run: ${(err as Error).message}` }));
    this.last = { atMs: started, fingerprint, result };
    return result;
  }
}
