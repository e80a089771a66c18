// Reads the probe's JSON lines and turns them into what a person or a benchmark wants to know:
// how long the client saw no successful response, how many requests failed, how fast the rest were.
import { readFile } from 'node:fs/promises';

/** One request the probe sent. `t` is the send time (epoch ms), `ms` the time to completion. */
export interface ProbeRecord {
  readonly seq: number;
  readonly t: number;
  readonly ms: number;
  readonly ok: boolean;
  readonly status?: number;
  /** Body of the response (the web node's page), trimmed. */
  readonly page?: string;
  /** The LB node that proxied the request (the x-lbha-node response header). */
  readonly lb?: string;
  readonly error?: string;
  /** Failures only: the TCP connection had been established (a server had accepted it). */
  readonly connected?: boolean;
  /** --retry-reset: the error of the first attempt on a reused connection, retried on a new one. */
  readonly retriedAfter?: string;
}

export interface LatencySummary {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

/** A stretch with no successful response, longer than the outage threshold. */
export interface OutageWindow {
  /** Completion time of the last success before the gap (or the first send when none). */
  readonly fromMs: number;
  /** Completion time of the first success after the gap. */
  readonly toMs: number;
  readonly durationMs: number;
  readonly failedRequests: number;
}

export interface ProbeSummary {
  readonly requests: number;
  readonly succeeded: number;
  readonly failed: number;
  /** Longest time between two consecutive successful responses (by completion time). */
  readonly longestGapMs: number;
  readonly windows: readonly OutageWindow[];
  readonly latency: LatencySummary;
  /** Successful responses per page body and per LB node. */
  readonly byPage: Readonly<Record<string, number>>;
  readonly byLb: Readonly<Record<string, number>>;
  readonly errors: Readonly<Record<string, number>>;
  readonly firstT: number;
  readonly lastT: number;
}

export interface SummaryOptions {
  /** Gaps longer than this count as outage windows; default 3 probe intervals of 10 ms. */
  readonly thresholdMs?: number;
  /** Only records sent in [fromMs, toMs). */
  readonly fromMs?: number;
  readonly toMs?: number;
}

function isRecord(value: unknown): value is ProbeRecord {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return typeof v.seq === 'number' && typeof v.t === 'number' && typeof v.ms === 'number' && typeof v.ok === 'boolean';
}

/** Parses probe output; start/end marker lines and partial lines (a probe killed mid-write) are skipped. */
export function parseProbeOutput(text: string): ProbeRecord[] {
  const records: ProbeRecord[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue;
    }
    if (isRecord(parsed)) records.push(parsed);
  }
  return records.sort((a, b) => a.seq - b.seq);
}

export async function readProbeFile(path: string): Promise<ProbeRecord[]> {
  try {
    return parseProbeOutput(await readFile(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** Nearest-rank percentile of an ascending array; 0 for an empty one. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

const countBy = (values: readonly (string | undefined)[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const v of values) {
    if (v === undefined) continue;
    out[v] = (out[v] ?? 0) + 1;
  }
  return out;
};

export function summarizeProbe(all: readonly ProbeRecord[], options: SummaryOptions = {}): ProbeSummary {
  const threshold = options.thresholdMs ?? 30;
  const records = all.filter(
    (r) => (options.fromMs === undefined || r.t >= options.fromMs) && (options.toMs === undefined || r.t < options.toMs),
  );
  const successes = records.filter((r) => r.ok);
  const failures = records.filter((r) => !r.ok);
  const done = (r: ProbeRecord): number => r.t + r.ms;
  const completions = successes.map(done).sort((a, b) => a - b);

  const windows: OutageWindow[] = [];
  let longestGapMs = 0;
  // Failures are placed by send time: a request sent inside a gap failed because of it.
  const failedBetween = (from: number, to: number): number => failures.filter((r) => r.t >= from && r.t < to).length;
  const firstT = records[0]?.t ?? 0;
  const lastT = records.length > 0 ? Math.max(...records.map(done)) : 0;
  if (records.length > 0 && completions.length === 0) {
    longestGapMs = lastT - firstT;
    windows.push({ fromMs: firstT, toMs: lastT, durationMs: longestGapMs, failedRequests: failures.length });
  }
  // A run that starts with failures has an outage from its first request to its first success.
  const leading = completions[0];
  const firstSuccessSent = Math.min(...successes.map((r) => r.t));
  if (leading !== undefined && leading - firstT > threshold && failures.some((r) => r.t < firstSuccessSent)) {
    longestGapMs = Math.max(longestGapMs, leading - firstT);
    windows.push({ fromMs: firstT, toMs: leading, durationMs: leading - firstT, failedRequests: failedBetween(-Infinity, leading) });
  }
  for (let i = 1; i < completions.length; i++) {
    const from = completions[i - 1] as number;
    const to = completions[i] as number;
    const gap = to - from;
    if (gap > longestGapMs) longestGapMs = gap;
    if (gap > threshold) windows.push({ fromMs: from, toMs: to, durationMs: gap, failedRequests: failedBetween(from, to) });
  }
  // A run that ends in failures (sent after the last success) has an outage that has not ended.
  const trailing = completions[completions.length - 1];
  const lastSuccessSent = Math.max(...successes.map((r) => r.t));
  if (trailing !== undefined && failures.some((r) => r.t > lastSuccessSent)) {
    const gap = lastT - trailing;
    longestGapMs = Math.max(longestGapMs, gap);
    windows.push({ fromMs: trailing, toMs: lastT, durationMs: gap, failedRequests: failures.filter((r) => r.t > lastSuccessSent).length });
  }

  const latencies = successes.map((r) => r.ms).sort((a, b) => a - b);
  return {
    requests: records.length,
    succeeded: successes.length,
    failed: failures.length,
    longestGapMs: Math.round(longestGapMs * 10) / 10,
    windows,
    latency: {
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1] ?? 0,
    },
    byPage: countBy(successes.map((r) => r.page)),
    byLb: countBy(successes.map((r) => r.lb)),
    errors: countBy(failures.map((r) => r.error ?? 'unknown')),
    firstT,
    lastT,
  };
}

/** One line for a person: "1234 requests, 3 failed, longest gap 85 ms, p99 4.1 ms". */
export function describeSummary(summary: ProbeSummary): string {
  const errors = Object.entries(summary.errors)
    .map(([error, n]) => `${error} x${n}`)
    .join(', ');
  return (
    `${summary.requests} requests, ${summary.failed} failed${errors ? ` (${errors})` : ''}, ` +
    `longest gap between successes ${summary.longestGapMs.toFixed(0)} ms, ` +
    `latency p50 ${summary.latency.p50.toFixed(1)} ms p99 ${summary.latency.p99.toFixed(1)} ms`
  );
}
