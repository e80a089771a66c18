// Loaded into the coordinator by bench:scale (`node --import loop-probe.js lbha-coordinator ...`):
// measures the coordinator's own event loop with @lbha/test-support's LoopGapMonitor (the gaps
// between the ticks of a 1 ms timer, each split by the main thread's schedstat into time run and
// time waiting for the core) and appends, once a second, one JSON line to the file named by
// LBHA_LOOP_PROBE_OUT: the time, the second's summary, and a histogram of its gaps in 0.1 ms
// steps, so the benchmark can take exact percentiles over any window of whole seconds; and the
// process's memory split (V8 heap in use, memory outside it held by JS objects, RSS), so a
// figure per agent can say where the bytes are; and the time V8's collections held the main
// thread in that second (`gcMs`, from the `gc` performance entries; concurrent marking on V8's
// helper threads is not in it); and the bytes the JavaScript heap allocated in that second
// (`allocatedBytes`: what the heap holds now less what it held a second ago, plus what each
// collection freed, from V8's GCProfiler: each collection's heap statistics before and after).
// The probe costs the coordinator a timer callback and a /proc read per millisecond (about
// 0.8 % of a core in a perf profile at 3,000 agents, 2.1 % while it opened the file for every
// read); bench:scale --no-loop-probe leaves it out.
import { appendFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { GCProfiler, getHeapStatistics } from 'node:v8';
import { isMainThread } from 'node:worker_threads';
import { LoopGapMonitor, summarizeGaps } from '@lbha/test-support';

// `--import` loads the probe into every worker thread too (the coordinator validates specs in
// one): only the main thread's loop is measured.
const out = process.env['LBHA_LOOP_PROBE_OUT'];
if (isMainThread && out !== undefined && out !== '') {
  const monitor = new LoopGapMonitor();
  monitor.start();
  let gcMs = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  }).observe({ entryTypes: ['gc'] });
  let collections = new GCProfiler();
  collections.start();
  let heapUsed = getHeapStatistics().used_heap_size;
  const report = setInterval(() => {
    const seen = collections.stop();
    collections = new GCProfiler();
    collections.start();
    const used = getHeapStatistics().used_heap_size;
    let freed = 0;
    for (const c of seen.statistics) freed += c.beforeGC.heapStatistics.usedHeapSize - c.afterGC.heapStatistics.usedHeapSize;
    const allocatedBytes = used - heapUsed + freed;
    heapUsed = used;
    const gaps = monitor.take();
    const hist: Record<string, number> = {};
    for (const g of gaps) {
      const key = (Math.round(g.gapMs * 10) / 10).toFixed(1);
      hist[key] = (hist[key] ?? 0) + 1;
    }
    const m = process.memoryUsage();
    const memory = { heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, rss: m.rss };
    appendFileSync(out, `${JSON.stringify({ at: Date.now(), ...summarizeGaps(gaps), hist, memory, gcMs: Math.round(gcMs * 100) / 100, allocatedBytes })}\n`);
    gcMs = 0;
  }, 1000);
  // Neither timer keeps the coordinator alive when it shuts down.
  report.unref();
  monitor.unref();
}
