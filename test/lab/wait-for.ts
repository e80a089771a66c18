// Polls a condition until it holds or a deadline passes. Tests wait for conditions, never for time.
import { LabTimeoutError } from './errors.js';

export interface WaitOptions {
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
}

/**
 * Calls `probe` until it returns `{ done: true, value }`; throws LabTimeoutError (with the last
 * observation) when `timeoutMs` passes first.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<{ done: true; value: T } | { done: false; observed: string }>,
  options: WaitOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const intervalMs = options.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let observed = '';
  for (;;) {
    const result = await probe();
    if (result.done) return result.value;
    observed = result.observed;
    if (Date.now() >= deadline) throw new LabTimeoutError(what, timeoutMs, observed);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
