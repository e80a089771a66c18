// Defaults for fields the coordinator leaves at 0, chosen for fast, flap-free failover:
// event-driven checks (process, interface, maintenance file) react at once and poll slowly
// as a safety net; network probes run at 5 Hz and need three misses in a row to fail, so one
// lost packet never moves a VIP while a hung proxy is caught in about 0.6 s.
import type { CheckKind, CheckSpec } from '@lbha/shared';

export interface CheckTiming {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly fall: number;
  readonly rise: number;
}

export const CHECK_DEFAULTS: Readonly<Record<CheckKind, CheckTiming>> = {
  process: { intervalMs: 1000, timeoutMs: 500, fall: 1, rise: 1 },
  http: { intervalMs: 200, timeoutMs: 500, fall: 3, rise: 2 },
  tcp: { intervalMs: 200, timeoutMs: 500, fall: 3, rise: 2 },
  interface: { intervalMs: 1000, timeoutMs: 500, fall: 1, rise: 2 },
  maintenance_file: { intervalMs: 1000, timeoutMs: 500, fall: 1, rise: 1 },
  config: { intervalMs: 30_000, timeoutMs: 10_000, fall: 1, rise: 1 },
};

/** Lowest interval accepted, so a typo cannot turn a check into a busy loop. */
export const MIN_INTERVAL_MS = 20;

/** A check spec with every timing field filled in. */
export function withDefaults(spec: CheckSpec): CheckSpec {
  const d = CHECK_DEFAULTS[spec.params.kind];
  const intervalMs = spec.intervalMs > 0 ? Math.max(MIN_INTERVAL_MS, spec.intervalMs) : d.intervalMs;
  return {
    ...spec,
    intervalMs,
    timeoutMs: spec.timeoutMs > 0 ? spec.timeoutMs : d.timeoutMs,
    fall: spec.fall > 0 ? spec.fall : d.fall,
    rise: spec.rise > 0 ? spec.rise : d.rise,
  };
}
