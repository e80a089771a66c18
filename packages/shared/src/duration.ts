import { z } from 'zod';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses "250ms", "1.5s", "2m" or a bare number of milliseconds. */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(value.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * (UNITS[m[2] as string] as number));
}

/** A zod schema for a duration, yielding milliseconds. */
export function durationMs(opts: { min?: number; max?: number } = {}) {
  return z.union([z.string(), z.number()]).transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a duration (e.g. 250ms, 2s, 1m)` });
      return z.NEVER;
    }
    if (opts.min !== undefined && ms < opts.min) {
      ctx.addIssue({ code: 'custom', message: `must be at least ${opts.min}ms, got ${ms}ms` });
      return z.NEVER;
    }
    if (opts.max !== undefined && ms > opts.max) {
      ctx.addIssue({ code: 'custom', message: `must be at most ${opts.max}ms, got ${ms}ms` });
      return z.NEVER;
    }
    return ms;
  });
}
