// The process's own figures, read when scraped (nothing runs between scrapes). The names are
// prom-client's default ones under the agent's prefix, for the figures an operator of a host
// reads: CPU, memory (with the private memory, which is what the agent costs its host), file
// descriptors, start time, heap, event-loop lag. prom-client's other defaults (heap spaces,
// GC durations, active handles) are not kept: the GC histogram needs a performance observer on
// every collection and the lag percentiles a 10 Hz timer of their own.
import { readdirSync, readFileSync } from 'node:fs';
import type { MetricRegistry } from './metric-registry.js';

/** Private_Clean + Private_Dirty of a smaps_rollup text, in bytes; undefined when absent. */
export function privateBytes(smapsRollup: string): number | undefined {
  let kb = 0;
  let seen = false;
  for (const line of smapsRollup.split('\n')) {
    if (!line.startsWith('Private_Clean:') && !line.startsWith('Private_Dirty:')) continue;
    kb += Number.parseInt(line.slice(14), 10) || 0;
    seen = true;
  }
  return seen ? kb * 1024 : undefined;
}

/** "Max open files" (the soft limit) of a /proc/PID/limits text. */
export function maxOpenFiles(limits: string): number | undefined {
  const line = limits.split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
  const n = Number(soft);
  return soft !== undefined && Number.isFinite(n) ? n : undefined;
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export interface ProcessMetricsOptions {
  readonly prefix: string;
  /** The longest the event loop was late for a timer since the previous call, in ms (util/tick-scheduler.ts). */
  readonly takeMaxLateMs: () => number;
}

/** Adds the process families to `registry`; their values are read at each render. */
export function registerProcessMetrics(registry: MetricRegistry, o: ProcessMetricsOptions): void {
  const p = o.prefix;
  const cpuUser = registry.counter(`${p}process_cpu_user_seconds_total`, 'Total user CPU time spent in seconds.');
  const cpuSystem = registry.counter(`${p}process_cpu_system_seconds_total`, 'Total system CPU time spent in seconds.');
  const cpu = registry.counter(`${p}process_cpu_seconds_total`, 'Total user and system CPU time spent in seconds.');
  const start = registry.gauge(`${p}process_start_time_seconds`, 'Start time of the process since unix epoch in seconds.');
  const rss = registry.gauge(`${p}process_resident_memory_bytes`, 'Resident memory size in bytes.');
  const priv = registry.gauge(`${p}process_private_memory_bytes`, 'Memory private to the process (Private_Clean + Private_Dirty of smaps_rollup) in bytes.');
  const openFds = registry.gauge(`${p}process_open_fds`, 'Number of open file descriptors.');
  const maxFds = registry.gauge(`${p}process_max_fds`, 'Maximum number of open file descriptors.');
  const heapTotal = registry.gauge(`${p}nodejs_heap_size_total_bytes`, 'Process heap size from Node.js in bytes.');
  const heapUsed = registry.gauge(`${p}nodejs_heap_size_used_bytes`, 'Process heap size used from Node.js in bytes.');
  const external = registry.gauge(`${p}nodejs_external_memory_bytes`, 'Node.js external memory size in bytes.');
  const lag = registry.gauge(`${p}nodejs_eventloop_lag_seconds`, 'Lag of event loop in seconds (a setImmediate at scrape time).');
  const lagMax = registry.gauge(`${p}nodejs_eventloop_lag_max_seconds`, 'The longest a periodic timer of the agent ran late since the previous scrape, in seconds.');
  const version = registry.gauge(`${p}nodejs_version_info`, 'Node.js version info.', ['version', 'major', 'minor', 'patch']);
  const [major = '', minor = '', patch = ''] = process.version.slice(1).split('.');
  version.set({ version: process.version, major, minor, patch }, 1);
  start.set({}, Math.round(Date.now() / 1000 - process.uptime()));

  registry.onCollect(async () => {
    const u = process.cpuUsage();
    cpuUser.set({}, u.user / 1e6);
    cpuSystem.set({}, u.system / 1e6);
    cpu.set({}, (u.user + u.system) / 1e6);
    const m = process.memoryUsage();
    rss.set({}, m.rss);
    heapTotal.set({}, m.heapTotal);
    heapUsed.set({}, m.heapUsed);
    external.set({}, m.external);
    const private_ = privateBytes(readOr('/proc/self/smaps_rollup'));
    if (private_ !== undefined) priv.set({}, private_);
    try {
      // The directory's own descriptor, open while it is read, is not counted.
      openFds.set({}, readdirSync('/proc/self/fd').length - 1);
    } catch {
      // Not Linux: left out.
    }
    const max = maxOpenFiles(readOr('/proc/self/limits'));
    if (max !== undefined) maxFds.set({}, max);
    lagMax.set({}, o.takeMaxLateMs() / 1000);
    const t0 = process.hrtime.bigint();
    await new Promise<void>((resolve) => setImmediate(resolve));
    lag.set({}, Number(process.hrtime.bigint() - t0) / 1e9);
  });
}
