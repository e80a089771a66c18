// Loaded into the agents by bench:agent --gc-pauses (`node --import gc-probe.js lbha-agent ...`):
// every collection V8 reports as a `gc` performance entry (scavenges, full collections, the
// agent's own forced ones), appended once a second as JSON lines to $LBHA_GC_PROBE_DIR/PID.jsonl:
// when it started (ms since the epoch), how long it held the main thread (the agent runs with
// --single-threaded-gc: all of a collection's work is on that thread, and an entry's duration is
// the pause the event loop saw), its kind and whether it was forced (the agent's own collection,
// util/old-space-trim.ts). The probe costs a performance entry per collection and one write a
// second.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

export interface GcEntry {
  /** Start, ms since the epoch. */
  readonly at: number;
  readonly ms: number;
  readonly kind: 'minor' | 'major' | 'incremental' | 'weakcb' | 'other';
  readonly forced: boolean;
}

const KINDS: Readonly<Record<number, GcEntry['kind']>> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

const dir = process.env['LBHA_GC_PROBE_DIR'];
if (dir !== undefined && dir !== '') {
  const file = join(dir, `${process.pid}.jsonl`);
  let lines: string[] = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number; flags?: number } })[]) {
      const entry: GcEntry = {
        at: Math.round((performance.timeOrigin + e.startTime) * 10) / 10,
        ms: Math.round(e.duration * 1000) / 1000,
        kind: KINDS[e.detail?.kind ?? -1] ?? 'other',
        forced: ((e.detail?.flags ?? 0) & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0,
      };
      lines.push(JSON.stringify(entry));
    }
  }).observe({ entryTypes: ['gc'] });
  const flush = (): void => {
    if (lines.length === 0) return;
    appendFileSync(file, `${lines.join('\n')}\n`);
    lines = [];
  };
  setInterval(flush, 1000).unref();
  process.on('exit', flush);
}
