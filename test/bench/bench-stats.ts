// Figures of a benchmark: distributions over runs, a table for a person, one JSON line per
// scenario for a machine (so results can be compared over time).
import { percentile } from '../lab/index.js';

export interface Distribution {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
  readonly min: number;
}

/** Nearest-rank percentiles (the lab's), rounded to 0.1. */
export function distribution(values: readonly number[]): Distribution {
  const sorted = [...values].sort((a, b) => a - b);
  const r = (v: number): number => Math.round(v * 10) / 10;
  return {
    p50: r(percentile(sorted, 50)),
    p95: r(percentile(sorted, 95)),
    p99: r(percentile(sorted, 99)),
    max: r(sorted[sorted.length - 1] ?? 0),
    min: r(sorted[0] ?? 0),
  };
}

export function median(values: readonly number[]): number {
  return distribution(values).p50;
}

/** A plain-text table with right-aligned numbers. */
export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [header, ...rows].map((row) => row.map((c) => (typeof c === 'number' ? formatNumber(c) : c)));
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]): string =>
    row.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(cells[0] ?? []), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** One JSON line, keys in insertion order. */
export function jsonLine(record: Readonly<Record<string, unknown>>): string {
  return JSON.stringify(record);
}

/** Reads an integer option from `--name N` on the command line, then the environment, then the default. */
export function intOption(argv: readonly string[], flag: string, env: string, fallback: number): number {
  const i = argv.indexOf(flag);
  const raw = i >= 0 ? argv[i + 1] : process.env[env];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} / ${env}: expected a whole number, got ${JSON.stringify(raw)}`);
  return n;
}

/** Reads a string option from `--name VALUE`, then the environment, then the default. */
export function stringOption(argv: readonly string[], flag: string, env: string, fallback: string): string {
  const i = argv.indexOf(flag);
  const raw = i >= 0 ? argv[i + 1] : process.env[env];
  return raw === undefined || raw === '' ? fallback : raw;
}

export function hasFlag(argv: readonly string[], flag: string): boolean {
  return argv.includes(flag);
}
