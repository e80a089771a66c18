// Reads what loop-probe.ts wrote in the coordinator (one JSON line a second) and sums a window
// of whole seconds: percentiles of every gap between the 1 ms ticks, the longest gap and its
// split into time run and time waiting for the core, and the most the thread ran in one gap.
import { existsSync, readFileSync } from 'node:fs';
import type { LoopGapSummary } from '@lbha/test-support';

/** Bytes, from process.memoryUsage() in the coordinator. */
export interface ProbeMemory {
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly rss: number;
}

type ProbeSecond = LoopGapSummary & { readonly at: number; readonly hist: Readonly<Record<string, number>>; readonly memory?: ProbeMemory; readonly gcMs?: number; readonly allocatedBytes?: number };

export interface LoopWindow extends Omit<LoopGapSummary, 'count'> {
  /** Whole seconds in the window. */
  readonly seconds: number;
  readonly ticks: number;
  /** Median over the window's seconds of each second's longest gap. */
  readonly secondMaxP50Ms: number;
  /** The memory of the window's last second. */
  readonly memory: ProbeMemory | undefined;
  /** Milliseconds V8's collections held the main thread, summed over the window. */
  readonly gcMs: number;
  /** Bytes the JavaScript heap allocated in the window; null when the probe did not count them. */
  readonly allocatedBytes: number | null;
}

/** The memory the probe saw in its last second before `atMs` (undefined: no such second). */
export function probeMemory(file: string, atMs: number): ProbeMemory | undefined {
  if (!existsSync(file)) return undefined;
  let last: ProbeMemory | undefined;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    const s = JSON.parse(line) as ProbeSecond;
    if (s.at <= atMs && s.memory) last = s.memory;
  }
  return last;
}

const r1 = (x: number): number => Math.round(x * 10) / 10;

/** The probe's seconds that ended within (fromMs + 1 s, toMs]; undefined when there are none. */
export function loopWindow(file: string, fromMs: number, toMs: number): LoopWindow | undefined {
  if (!existsSync(file)) return undefined;
  const seconds: ProbeSecond[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    const s = JSON.parse(line) as ProbeSecond;
    if (s.at > fromMs + 1000 && s.at <= toMs) seconds.push(s);
  }
  if (seconds.length === 0) return undefined;
  const hist = new Map<number, number>();
  let ticks = 0;
  for (const s of seconds) {
    for (const [k, n] of Object.entries(s.hist)) hist.set(Number(k), (hist.get(Number(k)) ?? 0) + n);
    ticks += s.count;
  }
  const keys = [...hist.keys()].sort((a, b) => a - b);
  const rank = (p: number): number => {
    const want = Math.min(ticks - 1, Math.floor(p * ticks));
    let seen = 0;
    for (const k of keys) {
      seen += hist.get(k) ?? 0;
      if (seen > want) return k;
    }
    return keys[keys.length - 1] ?? 0;
  };
  const worst = seconds.reduce((a, b) => (b.maxMs > a.maxMs ? b : a));
  const maxes = seconds.map((s) => s.maxMs).sort((a, b) => a - b);
  return {
    seconds: seconds.length,
    ticks,
    p50Ms: rank(0.5),
    p99Ms: rank(0.99),
    maxMs: r1(worst.maxMs),
    ranInMaxMs: r1(worst.ranInMaxMs),
    waitedInMaxMs: r1(worst.waitedInMaxMs),
    ranMaxMs: r1(Math.max(...seconds.map((s) => s.ranMaxMs))),
    processRanMaxMs: r1(Math.max(...seconds.map((s) => s.processRanMaxMs))),
    secondMaxP50Ms: r1(maxes[Math.floor(maxes.length / 2)] ?? 0),
    memory: seconds[seconds.length - 1]?.memory,
    gcMs: r1(seconds.reduce((sum, s) => sum + (s.gcMs ?? 0), 0)),
    allocatedBytes: seconds.every((s) => s.allocatedBytes !== undefined) ? seconds.reduce((sum, s) => sum + (s.allocatedBytes ?? 0), 0) : null,
  };
}
