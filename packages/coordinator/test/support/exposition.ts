// Parses the Prometheus text format well enough for assertions on /metrics output.
import type { CoordinatorMetrics } from '../../src/metrics/coordinator-metrics.js';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1] as string] = (l[2] as string).replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
    const raw = m[3] as string;
    out.push({ name: m[1] as string, labels, value: raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw) });
  }
  return out;
}

/** Samples of `name` whose labels include every pair of `match`. */
export function find(samples: readonly Sample[], name: string, match: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

/** The value of the one sample of `name` matching `match`; throws when there is not exactly one. */
export function value(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  const found = find(samples, name, match);
  if (found.length !== 1) throw new Error(`expected one ${name}${JSON.stringify(match)}, found ${found.length}`);
  return (found[0] as Sample).value;
}

/** A scrape held at its first chunk: what it wrote so far, and a way to let it finish. */
export interface HeldScrape {
  /** The chunks written, the first (held) one and, once released, the rest. */
  readonly chunks: Buffer[];
  release(): void;
  /** The scrape's end, once released. */
  readonly done: Promise<void>;
}

/**
 * Starts a scrape of `metrics` that stops after writing its first chunk (its first pass over the
 * nodes done) until released, for tests of a scrape that runs while another is in flight.
 */
export async function holdScrapeAtFirstChunk(metrics: Pick<CoordinatorMetrics, 'stream'>): Promise<HeldScrape> {
  let release: () => void = () => undefined;
  const chunks: Buffer[] = [];
  const done = metrics.stream(
    (c) => {
      chunks.push(c);
      return chunks.length === 1 ? new Promise<void>((resolve) => (release = resolve)) : undefined;
    },
    undefined,
    Infinity,
  );
  await new Promise((r) => setTimeout(r, 10));
  if (chunks.length !== 1) throw new Error(`the held scrape wrote ${chunks.length} chunks, not 1`);
  return { chunks, release: () => release(), done };
}
