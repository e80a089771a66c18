// CPU and memory of a process from /proc: what a benchmark reports for the coordinator and the
// agent without instrumenting them.
import { readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS = 100; // USER_HZ on Linux

export interface ProcessTimes {
  /** utime + stime, in seconds. */
  readonly cpuSeconds: number;
  readonly rssBytes: number;
  readonly atMs: number;
}

/** CPU time and RSS of a process now; undefined when it is gone. */
export function processTimes(pid: number): ProcessTimes | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at state (field 3).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    return { cpuSeconds: (utime + stime) / CLOCK_TICKS, rssBytes: rssKb * 1024, atMs: performance.now() };
  } catch {
    return undefined;
  }
}

function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return [readFileSync(`/proc/${pid}/comm`, 'utf8').trim(), ...stat.slice(stat.lastIndexOf(')') + 2).split(' ')];
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds of a process, of its children it has reaped (cutime, cstime: short-lived helpers
 * such as `ip` or `nginx -t`) and of its live children, except those named in `exclude` (the
 * daemons it supervises, which are measured on their own).
 */
export function treeCpuSeconds(pid: number, exclude: readonly string[] = []): number | undefined {
  const own = statFields(pid);
  if (own === undefined) return undefined;
  // After the comm entry: state=1, ppid=2, ..., utime=12, stime=13, cutime=14, cstime=15.
  const cpu = (f: string[]): number => (Number(f[12]) + Number(f[13]) + Number(f[14]) + Number(f[15])) / CLOCK_TICKS;
  let total = cpu(own);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (f === undefined || Number(f[2]) !== pid || exclude.includes(f[0] ?? '')) continue;
    total += cpu(f);
  }
  return total;
}

/** Live children of a process (by /proc/PID/stat's ppid). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = statFields(Number(entry));
    if (f !== undefined && Number(f[2]) === pid) out.push(Number(entry));
  }
  return out;
}

export interface UsageSummary {
  /** Share of one core over the window, in percent. */
  readonly cpuPercent: number;
  readonly rssMaxBytes: number;
  readonly rssLastBytes: number;
  /** Private memory (smaps_rollup), peak and last sample; 0 when unreadable. */
  readonly privateMaxBytes: number;
  readonly privateLastBytes: number;
  readonly pssLastBytes: number;
  readonly seconds: number;
}

/** Samples a process every `intervalMs` until stopped; reports CPU over the window and peak RSS. */
export class ProcessSampler {
  private readonly first: ProcessTimes | undefined;
  private last: ProcessTimes | undefined;
  private rssMax = 0;
  private privateMax = 0;
  private lastRollup: MemoryRollup | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly pid: number,
    intervalMs = 500,
  ) {
    this.first = processTimes(pid);
    this.last = this.first;
    this.rssMax = this.first?.rssBytes ?? 0;
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.timer.unref();
  }

  private sample(): void {
    const now = processTimes(this.pid);
    if (now === undefined) return;
    this.last = now;
    if (now.rssBytes > this.rssMax) this.rssMax = now.rssBytes;
    const rollup = memoryRollup(this.pid);
    if (rollup) {
      this.lastRollup = rollup;
      if (rollup.privateBytes > this.privateMax) this.privateMax = rollup.privateBytes;
    }
  }

  /** Usage so far (keeps sampling). */
  usage(): UsageSummary {
    this.sample();
    const first = this.first;
    const last = this.last;
    if (first === undefined || last === undefined) return { cpuPercent: 0, rssMaxBytes: 0, rssLastBytes: 0, privateMaxBytes: 0, privateLastBytes: 0, pssLastBytes: 0, seconds: 0 };
    const seconds = (last.atMs - first.atMs) / 1000;
    return {
      cpuPercent: seconds > 0 ? ((last.cpuSeconds - first.cpuSeconds) / seconds) * 100 : 0,
      rssMaxBytes: this.rssMax,
      rssLastBytes: last.rssBytes,
      privateMaxBytes: this.privateMax,
      privateLastBytes: this.lastRollup?.privateBytes ?? 0,
      pssLastBytes: this.lastRollup?.pssBytes ?? 0,
      seconds,
    };
  }

  stop(): UsageSummary {
    const u = this.usage();
    clearInterval(this.timer);
    return u;
  }
}

export const MB = 1024 * 1024;

export interface MemoryRollup {
  /** Pages only this process maps (Private_Clean + Private_Dirty): what it costs the machine. */
  readonly privateBytes: number;
  /** Proportional set size: private pages plus its share of pages it shares. */
  readonly pssBytes: number;
  readonly rssBytes: number;
}

/** /proc/PID/smaps_rollup; undefined when the process is gone or the file unreadable. */
export function memoryRollup(pid: number): MemoryRollup | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
    return { privateBytes: kb('Private_Clean') + kb('Private_Dirty'), pssBytes: kb('Pss'), rssBytes: kb('Rss') };
  } catch {
    return undefined;
  }
}

/**
 * Private memory by what it is, from /proc/PID/smaps: the node binary's own pages (relocated
 * data), shared libraries, the C heap (`[heap]`: malloc, OpenSSL, zlib, ICU), anonymous maps (the
 * V8 heap, JIT code, thread stacks, large mallocs), stacks, and other files.
 */
export function privateBreakdown(pid: number): Record<string, number> | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return undefined;
  }
  const out: Record<string, number> = {};
  let kind = 'anonymous';
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const path = (head[1] ?? '').trim();
      kind =
        path === ''
          ? 'anonymous (V8 heap, JIT code, large mallocs)'
          : path === '[heap]'
            ? 'C heap [heap]'
            : path.startsWith('[stack')
              ? 'stacks'
              : /\/node$|\/nodejs$/.test(path)
                ? 'node binary'
                : /\.so(\.|$)/.test(path)
                  ? 'shared libraries'
                  : path.startsWith('[')
                    ? 'kernel maps'
                    : 'other files';
      continue;
    }
    const m = /^Private_(?:Clean|Dirty):\s+(\d+) kB/.exec(line);
    if (m) out[kind] = (out[kind] ?? 0) + Number(m[1]) * 1024;
  }
  return out;
}
