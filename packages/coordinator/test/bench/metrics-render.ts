// /metrics at scale, in one process: a registry of N agents (two-node clusters, two VIPs each,
// three checks and two services per node) whose every report changes once a second (spread over
// the second, as deltas arrive), scraped through gzip as the HTTP API does. A changed report
// carries a new duration of its first check and new active connections of its proxy (the
// values of a report that change most often); --churn same replaces each report with an equal
// one instead (what the benchmark did before 2026-12-05; the render rebuilds a node's lines for
// any new report, so the two cost it the same, but a render that compared would not). Prints, per scrape,
// how long the event loop was held: the longest slice of the render (its own clock) and the
// longest gap between the ticks of a 1 ms interval timer during the scrape (churn and garbage
// collection included), with the gaps' p99, each gap split into the time the thread ran and the
// time it waited for the core (@lbha/test-support's LoopGapMonitor, which bench:scale uses in
// the coordinator too). The thread's own figure comes from schedstat, which the kernel brings up
// to date only every scheduler tick (4 ms here) or switch; "the process ran in one gap" is the
// process's CPU time in the gap (getrusage, exact), which pinned to one core is the part of the
// gap this process held the core: the figure to read for what the code controls. The timer runs for 20 ms before each scrape starts. The registry
// carries the process metrics as the coordinator's does (prom-client's collection is part of
// every scrape). Not a test: timings on a shared machine are noisy, so nothing is asserted here.
//   node packages/coordinator/dist/test/bench/metrics-render.js [agents=2000,10000] [scrapes=10] [--one-shot]
// (run it as docs/benchmarks.md does: `taskset -c 0 node --heap-growing-percent=50 --v8-pool-size=1 …`,
// pinned to one core and with the flags the coordinator ships with, COORDINATOR_NODE_FLAGS)
// --slice-ms N sets the sliced render's pause interval (default: the coordinator's).
// --baseline first measures 1 s windows without a scrape: what the churn alone holds the loop.
// --one-shot renders without pausing (sliceMs = Infinity): the loop block of a render in one go,
// for comparison in the same run; --sliced-only leaves the render in one go out.
// --warmup N scrapes (default 1) before the measured ones, left out of the figures.
// --sockets N keeps N loopback sockets open in the process (default: one per agent, as the
// coordinator holds; N/2 connections, both ends here): prom-client's process metrics list the
// open descriptors and the active handles on every scrape, work that grows with them.
// --trace prints, per measured scrape, the gap in which the thread ran longest and what ran in
// it: the chunks the writer handed to gzip then (a slice's text goes out when it ends; the
// families of its first and last lines), the churn's batches and the garbage collections, each
// with its time on performance.now()'s clock (GC kinds: 1 scavenge, 4 mark-compact, 8
// incremental marking, 16 weak callbacks).
// Per scrape also the process's CPU time (every thread: zlib's included, and the churn's share
// of the scrape's wall time), from process.cpuUsage().
// --threads: every millisecond, every other thread's CPU time (/proc/self/task/TID/schedstat);
// per scrape, which threads ran in the gap where the process ran longest: V8's platform threads
// (node 20 starts six before any JavaScript: four workers that run the collector's concurrent
// and parallel tasks, a delayed-task thread and the inspector's signal thread; the lowest
// thread ids after the main thread), libuv's pool (started later: gzip, fs) and the main thread,
// as the process's CPU time in the gap less the others'. Pinned to one core, a thread that does
// not run while the main thread reads is switched out, so its figure is exact; the main thread's
// own schedstat is as of the last tick (see LoopGapMonitor), hence the difference. The sampler's
// ticks follow the monitor's but are its own timer's: the split is close, not exact (in a traced
// gap the others' sum came out 4.5 ms over the process's, the main thread then 0).
// --alloc N: after the timed scrapes, with the churn stopped, N scrapes each after every report
// was replaced once: what one scrape allocates on the JS heap (the young generation's growth
// during it, in MB; a scrape in which a collection ran is left out and counted). Run it with a
// young generation large enough for a scrape (`--max-semi-space-size=256
// --min-semi-space-size=256`) and with --sliced-only --warmup 0 and few timed scrapes.
import { openSync, readdirSync, readSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { getHeapSpaceStatistics } from 'node:v8';
import type { NodeSnapshot } from '@lbha/shared';
import { LoopGapMonitor, summarizeGaps, type LoopGap } from '@lbha/test-support';
import { CoordinatorMetrics } from '../../src/metrics/coordinator-metrics.js';
import { metricsGzip } from '../../src/metrics/metrics-gzip.js';
import { DEFAULT_SLICE_MS } from '../../src/metrics/stream-exposition.js';
import { buildFleet } from '../support/fake-fleet.js';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const sizes = (args[0] ?? '2000,10000').split(',').map(Number);
const scrapes = Number(args[1] ?? 10);
const sliceArg = process.argv.indexOf('--slice-ms');
const sliceMsArg = sliceArg > 0 ? Number(process.argv[sliceArg + 1]) : DEFAULT_SLICE_MS;
/** A mode that does not scrape: the same 1 s windows with only the churn (and its garbage). */
const NO_SCRAPE = -1;
const modes = [
  ...(process.argv.includes('--baseline') ? [NO_SCRAPE] : []),
  ...(process.argv.includes('--one-shot') ? [Infinity] : process.argv.includes('--sliced-only') ? [sliceMsArg] : [sliceMsArg, Infinity]),
];
const churnArg = process.argv.indexOf('--churn');
const CHURN = churnArg > 0 ? process.argv[churnArg + 1] : 'values';
if (CHURN !== 'values' && CHURN !== 'same') throw new Error(`--churn must be values or same, not ${String(CHURN)}`);

/** The i-th report of a node: its last one with the values that change most often changed. */
function churned(snap: NodeSnapshot, i: number): NodeSnapshot {
  if (CHURN === 'same') return { ...snap, appliedVersion: i };
  return {
    ...snap,
    appliedVersion: i,
    checks: snap.checks.map((c, k) => (k === 0 ? { ...c, durationMs: 1 + (i % 9) } : c)),
    services: snap.services.map((svc) => (svc.stats ? { ...svc, stats: { ...svc.stats, activeConnections: i % 50 } } : svc)),
  };
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] as number;
};
const r1 = (x: number): number => Math.round(x * 10) / 10;

const TRACE = process.argv.includes('--trace');
const THREADS = process.argv.includes('--threads');

/** Threads node starts before any JavaScript runs, besides the main thread (see --threads). */
const PLATFORM_THREADS = 6;

/**
 * Every thread's CPU time but the main thread's at each tick of its own 1 ms timer (see
 * --threads). Its ticks fall right after the loop monitor's in the same timer phase, so a gap of
 * the monitor is the span between the two ticks of this sampler that follow its ends.
 */
class ThreadSampler {
  private files: Array<{ readonly tid: number; readonly fd: number }> = [];
  private readonly buf = Buffer.alloc(128);
  private ticks: Array<{ readonly atMs: number; readonly runMs: Float64Array }> = [];
  private timer: NodeJS.Timeout | undefined;

  start(): void {
    // Threads appear once (the pool's at the first use): listed anew at each start.
    const known = new Set(this.files.map((f) => f.tid));
    for (const tid of readdirSync('/proc/self/task').map(Number)) {
      if (tid !== process.pid && !known.has(tid)) this.files.push({ tid, fd: openSync(`/proc/self/task/${tid}/schedstat`, 'r') });
    }
    this.files.sort((a, b) => a.tid - b.tid);
    this.ticks = [];
    this.timer = setInterval(() => this.sample(), 1);
  }

  private sample(): void {
    const runMs = new Float64Array(this.files.length);
    for (let i = 0; i < this.files.length; i++) {
      try {
        const n = readSync((this.files[i] as { fd: number }).fd, this.buf, 0, this.buf.length, 0);
        runMs[i] = Number(this.buf.toString('latin1', 0, n).split(' ')[0]) / 1e6;
      } catch {
        runMs[i] = NaN;
      }
    }
    this.ticks.push({ atMs: performance.now(), runMs });
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Each other thread's CPU ms from the first tick at or after `fromMs` to the first at or after `toMs`. */
  private deltas(fromMs: number, toMs: number): Array<{ tid: number; group: 'v8' | 'pool'; ms: number }> | undefined {
    const a = this.ticks.find((t) => t.atMs >= fromMs);
    const b = this.ticks.find((t) => t.atMs >= toMs);
    if (!a || !b || a === b) return undefined;
    return this.files.map((f, i) => ({ tid: f.tid, group: i < PLATFORM_THREADS ? 'v8' : 'pool', ms: ((b.runMs[i] ?? 0) - (a.runMs[i] ?? 0)) || 0 }));
  }

  /** CPU ms per group in a gap in which the process ran `processMs`. */
  split(fromMs: number, toMs: number, processMs: number): Record<'main' | 'v8' | 'pool', number> | undefined {
    const d = this.deltas(fromMs, toMs);
    if (!d) return undefined;
    const out = { main: 0, v8: 0, pool: 0 };
    for (const x of d) out[x.group] += x.ms;
    out.main = Math.max(0, processMs - out.v8 - out.pool);
    return out;
  }

  /** The other threads that ran in that span, with their CPU ms (for --trace). */
  perThread(fromMs: number, toMs: number): string {
    return (this.deltas(fromMs, toMs) ?? [])
      .filter((x) => x.ms > 0.05)
      .map((x) => `${x.group} ${x.tid} ${x.ms.toFixed(2)}`)
      .join(', ');
  }
}
const threadSampler = THREADS ? new ThreadSampler() : undefined;
/** What ran when, for --trace: [start ms, end ms, what]. */
let timeline: Array<[number, number, string]> = [];
/** The metric names of a chunk's first and last sample lines. */
function chunkFamilies(chunk: Buffer): string {
  const text = chunk.toString('latin1');
  const name = (line: string) => line.slice(0, line.search(/[{ ]/));
  const lines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  if (lines.length === 0) return 'headers only';
  const first = name(lines[0] as string);
  const last = name(lines[lines.length - 1] as string);
  return first === last ? first : `${first} .. ${last}`;
}

// Garbage collection pauses hold the loop too: the longest one per scrape is printed apart.
let gcMax = 0;
let gcCount = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gcCount++;
    gcMax = Math.max(gcMax, e.duration);
    const kind = (e as unknown as { detail: { kind: number } }).detail.kind;
    if (TRACE) timeline.push([e.startTime, e.startTime + e.duration, `gc kind ${kind}`]);
    if (process.env['GC_TRACE']) process.stderr.write(`gc kind ${(e as unknown as { detail: { kind: number } }).detail.kind} ${e.duration.toFixed(1)} ms\n`);
  }
}).observe({ entryTypes: ['gc'] });

const socketsArg = process.argv.indexOf('--sockets');
const warmupArg = process.argv.indexOf('--warmup');
/** Scrapes left out of the figures at the start of each mode (the render's code compiled and optimised). */
const WARMUP = warmupArg > 0 ? Number(process.argv[warmupArg + 1]) : 1;

/** `n` open sockets in this process: n/2 loopback connections, both ends kept. */
async function openSockets(n: number): Promise<() => void> {
  const server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const clients: Socket[] = [];
  for (let i = 0; i < Math.floor(n / 2); i++) clients.push(await new Promise<Socket>((resolve) => { const c = connect(port, '127.0.0.1', () => resolve(c)); }));
  return () => {
    for (const c of clients) c.destroy();
    server.close();
  };
}

/** The gap in which the thread ran longest, and what the timeline has in it (a millisecond either side). */
function printLongestRun(gaps: readonly LoopGap[], events: ReadonlyArray<[number, number, string]>): void {
  let worst: LoopGap | undefined;
  for (const g of gaps) if (worst === undefined || g.processRanMs > worst.processRanMs) worst = g;
  if (!worst) return;
  const from = worst.atMs - worst.gapMs;
  const lines = events
    .filter(([a, b]) => b >= from - 1 && a <= worst.atMs + 1)
    .sort((x, y) => x[0] - y[0])
    .map(([a, b, what]) => `    ${(a - from).toFixed(2).padStart(7)} +${(b - a).toFixed(2).padStart(6)} ms  ${what}`);
  const threads = threadSampler ? `\n    other threads (CPU ms): ${threadSampler.perThread(from, worst.atMs) || 'none'}` : '';
  process.stdout.write(`  longest run: gap ${worst.gapMs.toFixed(2)} ms at ${worst.atMs.toFixed(1)}, the process ran ${worst.processRanMs.toFixed(2)} ms, the thread ${worst.ranMs.toFixed(2)} ms, waited ${worst.waitedMs.toFixed(2)} ms${threads}\n${lines.join('\n')}\n`);
}

const allocArg = process.argv.indexOf('--alloc');
const ALLOC = allocArg > 0 ? Number(process.argv[allocArg + 1]) : 0;

/** The young generation's objects now (new space and its large objects), in bytes. */
function youngBytes(): number {
  let sum = 0;
  for (const s of getHeapSpaceStatistics()) if (s.space_name === 'new_space' || s.space_name === 'new_large_object_space') sum += s.space_used_size;
  return sum;
}

/** What a scrape allocates on the JS heap with every report changed since the last (see --alloc). */
async function measureAllocation(agents: number, metrics: CoordinatorMetrics, fleet: ReturnType<typeof buildFleet>): Promise<void> {
  const recs = fleet.registry.list();
  const mb: number[] = [];
  let withGc = 0;
  for (let s = 0; s < ALLOC; s++) {
    for (let k = 0; k < recs.length; k++) {
      const rec = recs[k];
      if (rec?.snapshot && rec.session) fleet.registry.setSnapshot(rec.name, rec.session.id, churned(rec.snapshot, 1_000_000 + s * recs.length + k));
    }
    await sleep(50);
    const gz = metricsGzip();
    gz.resume();
    const ended = new Promise((resolve) => gz.on('end', resolve));
    const gcs = gcCount;
    const before = youngBytes();
    await metrics.stream((chunk) => (gz.write(chunk) ? undefined : new Promise<void>((resolve) => gz.once('drain', () => resolve()))));
    const after = youngBytes();
    gz.end();
    await ended;
    await sleep(20);
    if (gcCount !== gcs) withGc++;
    else mb.push((after - before) / 1e6);
  }
  const fig = { scenario: 'metrics-scrape-allocation', agents, scrapes: mb.length, scrapes_with_gc_left_out: withGc, js_heap_mb_per_scrape_p50: mb.length ? Math.round(pct(mb, 0.5) * 100) / 100 : null, js_heap_mb_per_scrape_max: mb.length ? Math.round(Math.max(...mb) * 100) / 100 : null };
  process.stdout.write(`${String(agents).padStart(6)} agents  one scrape allocates ${fig.js_heap_mb_per_scrape_p50} MB on the JS heap (p50 of ${mb.length}, max ${fig.js_heap_mb_per_scrape_max}; ${withGc} left out with a collection in them)\n${JSON.stringify(fig)}\n`);
}

for (const agents of sizes) {
  const closeSockets = await openSockets(socketsArg > 0 ? Number(process.argv[socketsArg + 1]) : agents);
  const fleet = buildFleet(Math.ceil(agents / 2));
  const metrics = new CoordinatorMetrics({ registry: fleet.registry, placementView: () => fleet.placement, processMetrics: true });
  const recs = fleet.registry.list();
  // Churn: every report replaced once a second, in batches every 10 ms.
  let churning = true;
  const churn = (async () => {
    let i = 0;
    const perTick = Math.ceil(recs.length / 100);
    while (churning) {
      const t0 = performance.now();
      for (let k = 0; k < perTick; k++, i++) {
        const rec = recs[i % recs.length];
        if (rec?.snapshot && rec.session) fleet.registry.setSnapshot(rec.name, rec.session.id, churned(rec.snapshot, i));
      }
      if (TRACE) timeline.push([t0, performance.now(), `churn ${perTick} reports`]);
      await sleep(10);
    }
  })();
  await sleep(1000);
  for (const sliceMs of modes) {
    const longest: number[] = [];
    const loopMax: number[] = [];
    const loopP99: number[] = [];
    const ranMax: number[] = [];
    const processRanMax: number[] = [];
    const waitedInMax: number[] = [];
    const wall: number[] = [];
    const busy: number[] = [];
    const gc: number[] = [];
    const cpu: number[] = [];
    /** Per scrape, each group's CPU ms in the gap where the process ran longest (--threads). */
    const inLongest = { main: [] as number[], v8: [] as number[], pool: [] as number[] };
    let bytes = 0;
    let gzBytes = 0;
    for (let s = -WARMUP; s < scrapes; s++) {
      gcMax = 0;
      const monitor = new LoopGapMonitor();
      monitor.start();
      threadSampler?.start();
      await sleep(20);
      monitor.take();
      timeline = [];
      const gz = metricsGzip();
      let zipped = 0;
      gz.on('data', (b: Buffer) => (zipped += b.length));
      const ended = new Promise((resolve) => gz.on('end', resolve));
      let raw = 0;
      const cpuBefore = process.cpuUsage();
      const t = performance.now();
      if (sliceMs === NO_SCRAPE) await sleep(1000);
      else {
        await metrics.stream(
          (chunk) => {
            raw += chunk.length;
            if (TRACE) {
              const at = performance.now();
              timeline.push([at, at, `chunk ${chunk.length} B: ${chunkFamilies(chunk)}`]);
            }
            return gz.write(chunk) ? undefined : new Promise<void>((resolve) => gz.once('drain', () => resolve()));
          },
          undefined,
          sliceMs,
        );
      }
      gz.end();
      await ended;
      const wallMs = performance.now() - t;
      const used = process.cpuUsage(cpuBefore);
      await sleep(2);
      const taken = monitor.take();
      const gaps = summarizeGaps(taken);
      monitor.stop();
      threadSampler?.stop();
      if (TRACE && s >= 0) process.stdout.write(`scrape ${s}: ${t.toFixed(1)} to ${(t + wallMs).toFixed(1)} on performance.now()\n`);
      let worstRun: LoopGap | undefined;
      for (const g of taken) if (worstRun === undefined || g.processRanMs > worstRun.processRanMs) worstRun = g;
      const split = worstRun && threadSampler?.split(worstRun.atMs - worstRun.gapMs, worstRun.atMs, worstRun.processRanMs);
      if (split && s >= 0) for (const k of ['main', 'v8', 'pool'] as const) inLongest[k].push(split[k]);
      if (TRACE && s >= 0) printLongestRun(taken, timeline);
      if (s < 0) {
        await sleep(500);
        continue;
      }
      wall.push(wallMs);
      cpu.push((used.user + used.system) / 1000);
      gc.push(gcMax);
      longest.push(sliceMs === NO_SCRAPE ? 0 : metrics.lastLongestSliceMs());
      busy.push(sliceMs === NO_SCRAPE ? 0 : metrics.lastRenderDurationMs());
      loopMax.push(gaps.maxMs);
      waitedInMax.push(gaps.waitedInMaxMs);
      ranMax.push(gaps.ranMaxMs);
      processRanMax.push(gaps.processRanMaxMs);
      loopP99.push(gaps.p99Ms);
      bytes = raw;
      gzBytes = zipped;
      await sleep(500);
    }
    const label = sliceMs === NO_SCRAPE ? 'no scrape' : sliceMs === Infinity ? 'one go' : `sliced ${sliceMs} ms`;
    const fig = {
      scenario: 'metrics-scrape',
      agents,
      render: label,
      churn: CHURN,
      sockets: socketsArg > 0 ? Number(process.argv[socketsArg + 1]) : agents,
      scrapes,
      mb: Math.round(bytes / 1e4) / 100,
      gzip_kb: Math.round(gzBytes / 1e3),
      longest_slice_ms_p50: r1(pct(longest, 0.5)),
      longest_slice_ms_max: r1(Math.max(...longest)),
      tick_gap_max_ms_p50: r1(pct(loopMax, 0.5)),
      tick_gap_max_ms_max: r1(Math.max(...loopMax)),
      tick_gap_p99_ms_p50: r1(pct(loopP99, 0.5)),
      waited_for_core_in_longest_gap_ms_p50: r1(pct(waitedInMax, 0.5)),
      ran_in_one_gap_ms_p50: r1(pct(ranMax, 0.5)),
      ran_in_one_gap_ms_max: r1(Math.max(...ranMax)),
      process_ran_in_one_gap_ms_p50: r1(pct(processRanMax, 0.5)),
      process_ran_in_one_gap_ms_max: r1(Math.max(...processRanMax)),
      ...(THREADS
        ? Object.fromEntries((['main', 'v8', 'pool'] as const).flatMap((k) => [[`longest_run_${k}_ms_p50`, r1(pct(inLongest[k], 0.5))], [`longest_run_${k}_ms_max`, r1(Math.max(...inLongest[k]))]]))
        : {}),
      gc_pause_max_ms_p50: r1(pct(gc, 0.5)),
      gc_pause_max_ms_max: r1(Math.max(...gc)),
      render_cpu_ms_p50: r1(pct(busy, 0.5)),
      scrape_wall_ms_p50: r1(pct(wall, 0.5)),
      scrape_cpu_ms_p50: r1(pct(cpu, 0.5)),
    };
    process.stdout.write(
      `${String(agents).padStart(6)} agents  ${label.padEnd(14)} ${fig.mb} MB (${fig.gzip_kb} kB gz)  longest slice p50 ${fig.longest_slice_ms_p50} max ${fig.longest_slice_ms_max} ms  ` +
        `tick gap max p50 ${fig.tick_gap_max_ms_p50} max ${fig.tick_gap_max_ms_max} ms (waiting for the core ${fig.waited_for_core_in_longest_gap_ms_p50}), p99 ${fig.tick_gap_p99_ms_p50} ms  ran in one gap p50 ${fig.ran_in_one_gap_ms_p50} max ${fig.ran_in_one_gap_ms_max} ms (the process: p50 ${fig.process_ran_in_one_gap_ms_p50} max ${fig.process_ran_in_one_gap_ms_max} ms)  gc pause max p50 ${fig.gc_pause_max_ms_p50} max ${fig.gc_pause_max_ms_max} ms  render ${fig.render_cpu_ms_p50} ms, wall ${fig.scrape_wall_ms_p50} ms, process CPU ${fig.scrape_cpu_ms_p50} ms\n`,
    );
    if (THREADS) {
      const g = (k: 'main' | 'v8' | 'pool') => `${k} p50 ${r1(pct(inLongest[k], 0.5))} max ${r1(Math.max(...inLongest[k]))}`;
      process.stdout.write(`        in the gap where the process ran longest, CPU ms by thread: ${g('main')}, ${g('v8')}, ${g('pool')}\n`);
    }
    process.stdout.write(`${JSON.stringify(fig)}\n`);
  }
  churning = false;
  await churn;
  if (ALLOC > 0) await measureAllocation(agents, metrics, fleet);
  metrics.close();
  closeSockets();
}
