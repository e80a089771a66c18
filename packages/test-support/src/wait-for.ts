// Waiting for a condition in tests: poll until it holds or a deadline passes. Tests wait for
// conditions, never for a fixed time.

/**
 * The default bound of a wait. It only tells a hang from a slow machine, so it is generous: a
 * wait ends as soon as its condition holds, and the bound costs nothing then. On the shared
 * two-core test machine at a load of 27, a coordinator took 21 to 28 s from spawn to its
 * `coordinator.started` line (0.5 s idle) and `lbha --version` up to 9.7 s (0.2 s idle).
 */
export const WAIT_BOUND_MS = 120_000;

export interface WaitOptions {
  /** Give up after this long (default WAIT_BOUND_MS). */
  readonly timeoutMs?: number;
  /** Pause between two probes (default 20 ms). */
  readonly intervalMs?: number;
}

/** One look at the condition: done with a value, or not yet, with what was seen instead. */
export type Observation<T> = { readonly done: true; readonly value: T } | { readonly done: false; readonly observed: string };

/** Thrown when a condition does not hold before its deadline; names it and the last observation. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
    readonly lastObservation: string,
  ) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}${lastObservation ? ` (last seen: ${lastObservation})` : ''}`);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function options(o: number | WaitOptions | undefined): Required<WaitOptions> {
  const given = typeof o === 'number' ? { timeoutMs: o } : (o ?? {});
  return { timeoutMs: given.timeoutMs ?? WAIT_BOUND_MS, intervalMs: given.intervalMs ?? 20 };
}

/**
 * Calls `probe` until it returns `{ done: true, value }` and resolves with the value; throws
 * WaitTimeoutError with the last observation once `timeoutMs` has passed. The probe runs at
 * least once, also with a timeout of 0.
 */
export async function waitFor<T>(what: string, probe: () => Observation<T> | Promise<Observation<T>>, opts?: number | WaitOptions): Promise<T> {
  const { timeoutMs, intervalMs } = options(opts);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await probe();
    if (result.done) return result.value;
    if (Date.now() >= deadline) throw new WaitTimeoutError(what, timeoutMs, result.observed);
    await sleep(intervalMs);
  }
}

/**
 * Resolves with the first truthy value `probe` returns. A probe that throws counts as not yet;
 * its last error is named when the wait times out, with `what` (default: the probe's source).
 */
export function eventually<T>(probe: () => T | Promise<T>, opts?: number | WaitOptions): Promise<NonNullable<T>>;
export function eventually<T>(probe: () => T | Promise<T>, what: string, opts?: number | WaitOptions): Promise<NonNullable<T>>;
export function eventually<T>(probe: () => T | Promise<T>, whatOrOpts?: string | number | WaitOptions, opts?: number | WaitOptions): Promise<NonNullable<T>> {
  const what = typeof whatOrOpts === 'string' ? whatOrOpts : probe.toString().replace(/\s+/g, ' ');
  return waitFor(
    what,
    async (): Promise<Observation<NonNullable<T>>> => {
      try {
        const v = await probe();
        return v ? { done: true, value: v as NonNullable<T> } : { done: false, observed: '' };
      } catch (err) {
        return { done: false, observed: err instanceof Error ? err.message : String(err) };
      }
    },
    typeof whatOrOpts === 'string' ? opts : whatOrOpts,
  );
}
