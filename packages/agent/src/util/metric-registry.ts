// The agent's metrics in Prometheus' text format (0.0.4), without prom-client. The agent has a
// dozen families with a few series each; prom-client's registry, label objects and default
// collectors cost it about 1 MB of private memory and a 10 Hz event-loop delay timer
// (docs/benchmarks-history.md, "Wakeups and the metrics registry"). Each series keeps its label text rendered
// once, when it is first set, so a scrape only joins strings.
import { escapeHelp, escapeLabelValue, formatValue } from '@lbha/shared';

export type MetricType = 'counter' | 'gauge' | 'histogram';
export type Labels = Readonly<Record<string, string>>;

/** A counter or gauge family. */
export interface ScalarFamily {
  set(labels: Labels, value: number): void;
  inc(labels?: Labels, by?: number): void;
  remove(labels: Labels): void;
}

export interface HistogramFamily {
  observe(labels: Labels, value: number): void;
}

interface Series {
  readonly labelText: string;
  value: number;
}

interface HistogramSeries {
  readonly labelPrefix: string;
  readonly counts: number[];
  sum: number;
  count: number;
}

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  render(out: string[]): void;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** `{a="x",b="y"}` for the given names in order; '' without labels. */
function labelText(names: readonly string[], labels: Labels, extra = ''): string {
  const parts: string[] = [];
  for (const n of names) {
    const v = labels[n];
    if (v === undefined) throw new Error(`label ${n} missing`);
    parts.push(`${n}="${escapeLabelValue(v)}"`);
  }
  if (extra) parts.push(extra);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function seriesKey(names: readonly string[], labels: Labels): string {
  let key = '';
  for (const n of names) key += `${labels[n] ?? ''}\u0000`;
  return key;
}

class Scalar implements ScalarFamily, Family {
  private readonly series = new Map<string, Series>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge',
    private readonly labelNames: readonly string[],
  ) {
    // A family without labels has its one series from the start, at 0 (as Prometheus clients do).
    if (labelNames.length === 0) this.get({});
  }

  private get(labels: Labels): Series {
    const key = seriesKey(this.labelNames, labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labelText: labelText(this.labelNames, labels), value: 0 };
      this.series.set(key, s);
    }
    return s;
  }

  set(labels: Labels, value: number): void {
    this.get(labels).value = value;
  }

  inc(labels: Labels = {}, by = 1): void {
    if (this.type === 'counter' && by < 0) throw new Error(`${this.name}: a counter does not go down`);
    this.get(labels).value += by;
  }

  remove(labels: Labels): void {
    this.series.delete(seriesKey(this.labelNames, labels));
  }

  render(out: string[]): void {
    for (const s of this.series.values()) out.push(`${this.name}${s.labelText} ${formatValue(s.value)}\n`);
  }
}

class Histogram implements HistogramFamily, Family {
  readonly type = 'histogram';
  private readonly series = new Map<string, HistogramSeries>();
  private readonly les: readonly string[];
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    private readonly buckets: readonly number[],
  ) {
    this.les = buckets.map((b) => `le="${formatValue(b)}"`);
  }

  observe(labels: Labels, value: number): void {
    const key = seriesKey(this.labelNames, labels);
    let s = this.series.get(key);
    if (!s) {
      const prefix = labelText(this.labelNames, labels);
      s = { labelPrefix: prefix === '' ? '' : `${prefix.slice(1, -1)},`, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    // Counted in the first bucket that holds the value; the rendering sums them up.
    const i = this.buckets.findIndex((b) => value <= b);
    if (i >= 0) s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += value;
    s.count++;
  }

  render(out: string[]): void {
    for (const s of this.series.values()) {
      let cumulative = 0;
      for (let i = 0; i < this.les.length; i++) {
        cumulative += s.counts[i] ?? 0;
        out.push(`${this.name}_bucket{${s.labelPrefix}${this.les[i]}} ${cumulative}\n`);
      }
      out.push(`${this.name}_bucket{${s.labelPrefix}le="+Inf"} ${s.count}\n`);
      const plain = s.labelPrefix === '' ? '' : `{${s.labelPrefix.slice(0, -1)}}`;
      out.push(`${this.name}_sum${plain} ${formatValue(s.sum)}\n${this.name}_count${plain} ${s.count}\n`);
    }
  }
}

export class MetricRegistry {
  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8';
  private readonly families = new Map<string, Family>();
  private readonly collectors: (() => void | Promise<void>)[] = [];

  counter(name: string, help: string, labelNames: readonly string[] = []): ScalarFamily {
    return this.add(new Scalar(name, help, 'counter', this.check(name, labelNames)));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): ScalarFamily {
    return this.add(new Scalar(name, help, 'gauge', this.check(name, labelNames)));
  }

  histogram(name: string, help: string, labelNames: readonly string[], buckets: readonly number[]): HistogramFamily {
    if (buckets.length === 0 || buckets.some((b, i) => i > 0 && b <= (buckets[i - 1] as number))) throw new Error(`${name}: buckets must increase`);
    return this.add(new Histogram(name, help, this.check(name, labelNames), buckets));
  }

  /** Runs before every render, to set what is read at scrape time (process figures). */
  onCollect(fn: () => void | Promise<void>): void {
    this.collectors.push(fn);
  }

  async render(): Promise<string> {
    for (const c of this.collectors) await c();
    const out: string[] = [];
    for (const f of this.families.values()) {
      out.push(`# HELP ${f.name} ${escapeHelp(f.help)}\n# TYPE ${f.name} ${f.type}\n`);
      f.render(out);
    }
    return out.join('');
  }

  private check(name: string, labelNames: readonly string[]): readonly string[] {
    if (!NAME.test(name)) throw new Error(`invalid metric name ${JSON.stringify(name)}`);
    if (this.families.has(name)) throw new Error(`metric ${name} registered twice`);
    for (const l of labelNames) if (!LABEL.test(l) || l === 'le') throw new Error(`${name}: invalid label name ${JSON.stringify(l)}`);
    return labelNames;
  }

  private add<F extends Family>(f: F): F {
    this.families.set(f.name, f);
    return f;
  }
}
