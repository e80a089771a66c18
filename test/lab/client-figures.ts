// What a failover cost the clients, from their own records: the figures the failover benchmark
// and the end-to-end tests report and assert, the same for every client kind.
import { summarizeProbe, type ProbeRecord } from './probe-records.js';

export interface ClientFigures {
  readonly requests: number;
  /** Requests that never reached a server (refused, or the SYN went unanswered until the timeout). */
  readonly failed: number;
  /**
   * Requests a server had accepted that then died with it: the connections of the dead or hung
   * proxy, which no failover can save. Counted apart from `failed`.
   */
  readonly lost: number;
  /** Successful requests that took longer than `slowMs`. */
  readonly slow: number;
  /** Longest time between two successful responses. */
  readonly longestGapMs: number;
  /** From the fault to the first successful response through the new holder (undefined: none). */
  readonly newHolderMs: number | undefined;
  readonly errors: Readonly<Record<string, number>>;
}

export interface FigureOptions {
  /** When the fault was injected (epoch ms). */
  readonly faultMs: number;
  /** The node expected to serve after the failover (its x-lbha-node name). */
  readonly newHolder?: string;
  /** Default 100 ms. */
  readonly slowMs?: number;
  /** Only records sent in [fromMs, toMs). */
  readonly fromMs?: number;
  readonly toMs?: number;
}

export function clientFigures(all: readonly ProbeRecord[], o: FigureOptions): ClientFigures {
  const records = all.filter((r) => (o.fromMs === undefined || r.t >= o.fromMs) && (o.toMs === undefined || r.t < o.toMs));
  const s = summarizeProbe(records);
  const slowMs = o.slowMs ?? 100;
  const firstNew = records
    .filter((r) => r.ok && r.t >= o.faultMs && (o.newHolder === undefined || r.lb === o.newHolder))
    .map((r) => r.t + r.ms)
    .sort((a, b) => a - b)[0];
  return {
    requests: records.length,
    failed: records.filter((r) => !r.ok && r.connected !== true).length,
    lost: records.filter((r) => !r.ok && r.connected === true).length,
    slow: records.filter((r) => r.ok && r.ms > slowMs).length,
    longestGapMs: s.longestGapMs,
    newHolderMs: firstNew === undefined ? undefined : Math.round((firstNew - o.faultMs) * 10) / 10,
    errors: s.errors,
  };
}

/** One line for a person. */
export function describeFigures(label: string, f: ClientFigures): string {
  const errors = Object.entries(f.errors)
    .map(([e, n]) => `${e} x${n}`)
    .join(', ');
  return (
    `${label}: ${f.requests} requests, ${f.failed} failed, ${f.lost} lost with the old proxy, ${f.slow} slower than 100 ms, ` +
    `longest gap ${f.longestGapMs.toFixed(0)} ms, new holder answered after ${f.newHolderMs === undefined ? '-' : `${f.newHolderMs.toFixed(0)} ms`}` +
    (errors ? ` (${errors})` : '')
  );
}
