// The file store under the write mix of a coordinator with 10,000 agents, in one process: the
// state seeded to about the size it has then (5,000 clusters' holders, journal, operations, the
// spec), the events log full (50,000 records kept), then for --seconds: the holders written in
// batches of 50 clusters every 100 ms (as the reconcile loop persists them), events recorded at
// --events-per-s through the real DurableLog (batched every 20 ms, trimmed in steps of a tenth of
// what it keeps), and a small write every 50 ms (a journal entry or a desired-state version
// block, as a pass would wait for). Prints each kind of write's latency (call to resolve), the
// event loop's delay and the process's CPU time. fsync on, in a directory under --dir (default
// the OS's temp dir). With --sequential N, then N small transactions one after another, nothing
// else writing: the append path's own latency and CPU per transaction.
//
// Usage: node test/dist/bench/file-store.bench.js [--seconds 20] [--events-per-s 700]
//   [--clusters 5000] [--spec-kb 400] [--sequential 0] [--dir DIR] [--module PATH]
// (--module DIR: load FileStore and DurableLog from another build's dist/src of
// @lbha/coordinator, e.g. an earlier commit's, to compare the two in one sitting.)
import { mkdtemp, rm, stat, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { distribution, intOption, jsonLine, stringOption, table } from './bench-stats.js';

const argv = process.argv.slice(2);
const seconds = intOption(argv, '--seconds', 'LBHA_BENCH_SECONDS', 20);
const eventsPerS = intOption(argv, '--events-per-s', 'LBHA_BENCH_EVENTS_PER_S', 700);
const clusters = intOption(argv, '--clusters', 'LBHA_BENCH_CLUSTERS', 5000);
const specKb = intOption(argv, '--spec-kb', 'LBHA_BENCH_SPEC_KB', 400);
const baseDir = stringOption(argv, '--dir', 'LBHA_BENCH_DIR', tmpdir());
const modulePath = stringOption(argv, '--module', 'LBHA_BENCH_MODULE', '');
const sequential = intOption(argv, '--sequential', 'LBHA_BENCH_SEQUENTIAL', 0);

interface StoreLike {
  txn(compares: readonly unknown[], ops: readonly unknown[]): Promise<unknown>;
  append(log: 'events' | 'audit', records: ReadonlyArray<{ seq: number; value: unknown }>): Promise<void>;
  trim(log: 'events' | 'audit', throughSeq: number): Promise<void>;
  close(): Promise<void>;
}
interface DurableLogLike {
  add(make: (seq: number) => unknown): unknown;
  attach(store: StoreLike): Promise<void>;
  settled(timeoutMs: number): Promise<boolean>;
  detach(): Promise<void>;
}
// The compiled sources' directory (dist/src) of the build to measure.
const srcDir = modulePath ? pathToFileURL(resolve(modulePath)).href + '/' : new URL('./', import.meta.resolve('@lbha/coordinator')).href;
const mod = {
  ...((await import(new URL('store/file-store.js', srcDir).href)) as { FileStore: { open(path: string, options?: Record<string, unknown>): Promise<StoreLike> } }),
  ...((await import(new URL('store/durable-log.js', srcDir).href)) as { DurableLog: new (opts: Record<string, unknown>) => DurableLogLike }),
};

const dir = await mkdtemp(join(baseDir, 'lbha-file-store-bench-'));
const path = join(dir, 'state.json');
const put = (key: string, value: unknown) => ({ kind: 'put', key, value });
const holders = (c: number, flip: number) => ({ [`10.${(c >> 8) & 255}.${c & 255}.1`]: `lb-${c}-${flip & 1 ? 'b' : 'a'}`, [`10.${(c >> 8) & 255}.${c & 255}.2`]: `lb-${c}-b` });
const journal = (i: number) => ({
  id: `op-${i}/step-1/lb-${i % clusters}-a`,
  node: `lb-${i % clusters}-a`,
  action: 'COMMAND_ACTION_DRAIN',
  operationId: `op-${i}`,
  state: 'succeeded',
  message: 'drained: 0 connections left',
  activeConnections: 0,
  createdMs: Date.now(),
  updatedMs: Date.now(),
  deadlineMs: Date.now() + 60_000,
});
const event = (seq: number) => ({
  seq,
  timeMs: Date.now(),
  type: 'vip_moved',
  cluster: `c-${seq % clusters}`,
  node: `lb-${seq % clusters}-b`,
  vip: `10.${(seq >> 8) & 255}.${seq & 255}.1`,
  reason: 'node lb-a reported the service unhealthy (check nginx-http failed: connection refused)',
  actor: 'system',
  severity: 'warning',
  operationId: '',
  message: `VIP moved from lb-${seq % clusters}-a to lb-${seq % clusters}-b`,
});

// The log's batch timer is unref'd: keep the process alive until the figures are out.
const keepAlive = setInterval(() => undefined, 1000);
try {
  // Seed: what the store holds at 10,000 agents.
  const seedStart = performance.now();
  // What the store reports to the coordinator's metrics (a build before them ignores the option).
  const observed = { writes: [] as number[], compactions: [] as number[], compactionFailures: 0 };
  const store = await mod.FileStore.open(path, {
    observer: {
      transactionDurable: (s: number) => observed.writes.push(s * 1000),
      compacted: (s: number) => observed.compactions.push(s * 1000),
      compactionFailed: () => observed.compactionFailures++,
    },
  });
  await store.txn([], [put('spec', { version: 1, yaml: 'x'.repeat(specKb * 1024) })]);
  for (let c = 0; c < clusters; c += 500) await store.txn([], Array.from({ length: Math.min(500, clusters - c) }, (_, i) => put(`holders/c-${c + i}`, holders(c + i, 0))));
  for (let i = 0; i < 1000; i += 100) await store.txn([], Array.from({ length: 100 }, (_, k) => put(`journal/${i + k}`, journal(i + k))));
  for (let seq = 1; seq <= 50_000; seq += 100) await store.append('events', Array.from({ length: 100 }, (_, k) => ({ seq: seq + k, value: event(seq + k) })));
  const seededMs = performance.now() - seedStart;

  // Every store call timed from call to resolve, by kind.
  const times: Record<string, number[]> = { holders: [], small: [], append: [], trim: [] };
  const timed = <T>(kind: string, p: Promise<T>): Promise<T> => {
    const t0 = performance.now();
    return p.finally(() => times[kind]?.push(performance.now() - t0));
  };
  const origAppend = store.append.bind(store);
  const origTrim = store.trim.bind(store);
  store.append = (log, records) => timed('append', origAppend(log, records));
  store.trim = (log, through) => timed('trim', origTrim(log, through));

  const log = new mod.DurableLog({ name: 'events', windowSize: 10_000, retain: 50_000, flushDelayMs: 20, maxPending: 50_000, withSeq: (e: { seq: number }, seq: number) => ({ ...e, seq }) });
  await log.attach(store);

  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const cpuStart = process.cpuUsage();
  const end = performance.now() + seconds * 1000;
  let flip = 0;
  let small = 0;
  const running: Array<Promise<unknown>> = [];
  const every = (ms: number, f: () => void): NodeJS.Timeout => setInterval(() => performance.now() < end && f(), ms);
  const timers = [
    // Events at the asked rate, in 10-ms ticks.
    every(10, () => {
      for (let i = 0; i < eventsPerS / 100; i++) log.add(event);
    }),
    // The reconcile loop: one batch of 50 clusters' holders at a time, at most every 100 ms.
    (() => {
      let busy = false;
      return every(100, () => {
        if (busy) return;
        busy = true;
        const from = (flip * 50) % clusters;
        flip++;
        running.push(
          timed(
            'holders',
            store.txn([], Array.from({ length: 50 }, (_, i) => put(`holders/c-${from + i}`, holders(from + i, flip)))),
          ).finally(() => (busy = false)),
        );
      });
    })(),
    // Small writes: a command journalled, or a block of desired-state versions reserved.
    every(50, () => {
      small++;
      running.push(timed('small', store.txn([], [small % 2 ? put(`journal/${small % 1000}`, journal(small)) : put('counters/desired-version', small * 1000)])));
    }),
  ];
  await new Promise((r) => setTimeout(r, seconds * 1000));
  for (const t of timers) clearInterval(t);
  await Promise.all(running);
  await log.settled(30_000);
  loop.disable();
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = Math.round((cpu.user + cpu.system) / 1e4) / 100;
  await log.detach();

  // One transaction at a time: what each costs on its own.
  const one: number[] = [];
  const seqCpuStart = process.cpuUsage();
  for (let k = 0; k < sequential; k++) {
    const t0 = performance.now();
    await store.txn([], [put('counters/desired-version', k * 1000)]);
    one.push(performance.now() - t0);
  }
  const seqCpu = process.cpuUsage(seqCpuStart);
  const seqCpuUs = sequential > 0 ? Math.round((seqCpu.user + seqCpu.system) / sequential) : 0;
  await store.close();

  const files = await readdir(dir);
  let bytes = 0;
  for (const f of files) bytes += (await stat(join(dir, f))).size;
  const rows = Object.entries(times).map(([kind, list]) => {
    const d = distribution(list);
    return [kind, list.length, d.p50, d.p99, d.max];
  });
  console.log(`file store, ${seconds} s, ${eventsPerS} events/s, ${clusters} clusters, seeded in ${Math.round(seededMs)} ms; ${files.length} files, ${(bytes / 1048576).toFixed(1)} MiB at the end`);
  console.log(table(['write', 'count', 'p50 ms', 'p99 ms', 'max ms'], rows));
  const loopMs = (ns: number) => Math.round(ns / 1e5) / 10;
  console.log(`event loop delay: p50 ${loopMs(loop.percentile(50))} ms, p99 ${loopMs(loop.percentile(99))} ms, max ${loopMs(loop.max)} ms; CPU ${cpuSeconds} s`);
  if (observed.compactions.length > 0) {
    const c = distribution(observed.compactions);
    const w = distribution(observed.writes);
    console.log(`as the metrics see it: transaction lines appended and fsynced p50 ${w.p50} ms, p99 ${w.p99} ms; ${observed.compactions.length} compactions (the seed's included) p50 ${c.p50} ms, max ${c.max} ms, ${observed.compactionFailures} failed`);
  }
  const seq = distribution(one);
  if (sequential > 0) console.log(`${sequential} transactions one after another: p50 ${seq.p50} ms, p99 ${seq.p99} ms, CPU ${seqCpuUs} µs each`);
  console.log(
    jsonLine({
      bench: 'file-store',
      module: modulePath || '@lbha/coordinator',
      seconds,
      eventsPerS,
      clusters,
      ...Object.fromEntries(Object.entries(times).map(([kind, list]) => [kind, { count: list.length, ...distribution(list) }])),
      loopP99Ms: loopMs(loop.percentile(99)),
      loopMaxMs: loopMs(loop.max),
      cpuSeconds,
      ...(observed.compactions.length > 0 ? { observed: { writes: distribution(observed.writes), compactions: { count: observed.compactions.length, ...distribution(observed.compactions) }, compactionFailures: observed.compactionFailures } } : {}),
      ...(sequential > 0 ? { sequential: { count: sequential, ...seq, cpuUsPerTxn: seqCpuUs } } : {}),
      files: files.length,
      bytes,
    }),
  );
} finally {
  clearInterval(keepAlive);
  await rm(dir, { recursive: true, force: true });
}
