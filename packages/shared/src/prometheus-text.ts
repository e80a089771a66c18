// Pieces of the Prometheus text format (version 0.0.4) that the coordinator's exposition writer
// and the agent's metrics registry both write: label values and HELP text escaped, sample
// values spelled as Prometheus reads them.

const NEEDS_ESCAPE = /[\\"\n]/;

/** A label value with backslash, double quote and newline escaped. */
export function escapeLabelValue(v: string): string {
  return NEEDS_ESCAPE.test(v) ? v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') : v;
}

/** HELP text with backslash and newline escaped (a double quote stays). */
export function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A sample's value as Prometheus reads it (NaN, +Inf, -Inf spelled out). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}
