import { printable } from './terminal-text.js';

/** Renders rows as an aligned plain-text table with a header; cells show control characters escaped. */
export function table(header: readonly string[], cellRows: ReadonlyArray<readonly string[]>): string {
  const rows = cellRows.map((r) => r.map(printable));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** The time of day of `ms` in UTC, HH:MM:SS. */
export function utcClock(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

export function ago(ms: number, now = Date.now()): string {
  if (!ms) return '-';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  return `${Math.round(s / 3600)}h ago`;
}
