// A minimal writer of the Prometheus text format (version 0.0.4) for the families whose size
// grows with nodes and VIPs. prom-client spends a few microseconds per sample building label
// objects; at 2,000 nodes (tens of thousands of samples) that alone breaks the 50 ms render
// target, so these families are written straight into strings from pre-built label pairs.
import { escapeLabelValue, formatValue } from '@lbha/shared';
import type { MetricDefinition } from './metric-definitions.js';

/** `name="value"`, escaped; join several with ','. */
export function pair(name: string, value: string): string {
  return `${name}="${escapeLabelValue(value)}"`;
}

/** Milliseconds as seconds with millisecond precision (keeps the exposition short). */
export function msToSeconds(ms: number): number {
  return Math.round(ms) / 1000;
}

/** The samples of one metric family, written together under one HELP and TYPE. */
export class Family {
  private readonly parts: string[];
  private readonly open: string;

  /** `withHeader` false: bare samples, continuing a family already started. */
  constructor(
    readonly def: MetricDefinition,
    withHeader = true,
  ) {
    this.parts = withHeader ? [`# HELP ${def.name} ${def.help}\n# TYPE ${def.name} ${def.type}\n`] : [];
    this.open = `${def.name}{`;
  }

  /** `labels` is a comma-joined list of pairs (see `pair`), in the definition's label order. */
  add(labels: string, value: number): void {
    if (labels === '') this.parts.push(this.def.name, ' ', formatValue(value), '\n');
    else this.parts.push(this.open, labels, '} ', formatValue(value), '\n');
  }

  /** Raw sample lines (used by histograms for their _bucket/_sum/_count samples). */
  addLine(line: string): void {
    this.parts.push(line);
  }

  text(): string {
    return this.parts.join('');
  }
}

/** A counter family keyed by its label string; `ensure` creates a series at 0. */
export class CounterSeries {
  private readonly values = new Map<string, number>();
  /** The exposition, kept until a value changes. */
  private cached: string | undefined;

  constructor(readonly def: MetricDefinition) {}

  ensure(labels: string): void {
    if (this.values.has(labels)) return;
    this.values.set(labels, 0);
    this.cached = undefined;
  }

  inc(labels: string, by = 1): void {
    this.values.set(labels, (this.values.get(labels) ?? 0) + by);
    this.cached = undefined;
  }

  get(labels: string): number {
    return this.values.get(labels) ?? 0;
  }

  /** Removes the series whose labels match (e.g. those of a node that is gone). */
  drop(match: (labels: string) => boolean): void {
    for (const labels of this.values.keys()) {
      if (!match(labels)) continue;
      this.values.delete(labels);
      this.cached = undefined;
    }
  }

  text(): string {
    if (this.cached === undefined) {
      const f = new Family(this.def);
      for (const [labels, v] of this.values) f.add(labels, v);
      this.cached = f.text();
    }
    return this.cached;
  }
}

interface HistogramState {
  readonly counts: number[];
  sum: number;
  count: number;
}

/** A histogram family keyed by its label string; `ensure` creates a series with empty buckets. */
export class HistogramSeries {
  private readonly series = new Map<string, HistogramState>();
  private readonly bounds: readonly number[];
  private readonly les: readonly string[];
  private cached: string | undefined;

  constructor(readonly def: MetricDefinition) {
    this.bounds = def.buckets ?? [];
    this.les = this.bounds.map(formatValue);
  }

  ensure(labels: string): HistogramState {
    let s = this.series.get(labels);
    if (!s) {
      s = { counts: this.bounds.map(() => 0), sum: 0, count: 0 };
      this.series.set(labels, s);
      this.cached = undefined;
    }
    return s;
  }

  observe(labels: string, value: number): void {
    const s = this.ensure(labels);
    for (let i = 0; i < this.bounds.length; i++) if (value <= (this.bounds[i] as number)) (s.counts[i] as number)++;
    s.sum += value;
    s.count++;
    this.cached = undefined;
  }

  /** Adds what another process observed (its buckets' counts as `counts` holds them, cumulative per bound). */
  add(labels: string, counts: readonly number[], sum: number, count: number): void {
    if (count === 0) return;
    const s = this.ensure(labels);
    for (let i = 0; i < s.counts.length; i++) (s.counts[i] as number) += counts[i] ?? 0;
    s.sum += sum;
    s.count += count;
    this.cached = undefined;
  }

  /** The buckets' counts so far (cumulative per bound) for one label string. */
  buckets(labels: string): number[] {
    return [...(this.series.get(labels)?.counts ?? this.bounds.map(() => 0))];
  }

  /** Observations so far for one label string (for tests and the CLI). */
  snapshot(labels: string): { readonly count: number; readonly sum: number } {
    const s = this.series.get(labels);
    return { count: s?.count ?? 0, sum: s?.sum ?? 0 };
  }

  text(): string {
    if (this.cached !== undefined) return this.cached;
    const f = new Family(this.def);
    const name = this.def.name;
    for (const [labels, s] of this.series) {
      const sep = labels === '' ? '' : `${labels},`;
      let lines = '';
      for (let i = 0; i < this.les.length; i++) lines += `${name}_bucket{${sep}le="${this.les[i]}"} ${s.counts[i]}\n`;
      lines += `${name}_bucket{${sep}le="+Inf"} ${s.count}\n`;
      const braces = labels === '' ? '' : `{${labels}}`;
      lines += `${name}_sum${braces} ${formatValue(Math.round(s.sum * 1e6) / 1e6)}\n${name}_count${braces} ${s.count}\n`;
      f.addLine(lines);
    }
    this.cached = f.text();
    return this.cached;
  }
}
