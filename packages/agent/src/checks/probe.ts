import type { CheckResult } from '@lbha/shared';

/** Emits a result pushed by an OS event; `definitive` skips fall/rise (an exited process). */
export type ProbeEmit = (result: CheckResult, definitive: boolean) => void;

/** One kind of check: an active probe, and optionally an event source. */
export interface Probe {
  /**
   * Runs one probe; must stop promptly when `signal` aborts (the runner's timeout).
   * Resolves to undefined when there is no new information (the verdict holds).
   */
  probe(signal: AbortSignal): Promise<CheckResult | undefined>;
  /** Subscribes to OS events that change the result; returns an unsubscribe function. */
  watch?(emit: ProbeEmit): () => void;
}
