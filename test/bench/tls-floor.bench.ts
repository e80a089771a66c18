// node test/dist/bench/tls-floor.bench.js — the memory floor under the coordinator's memory per
// agent: a bare Node HTTP/2 server with mutual TLS (tls-floor-server.ts; no gRPC, no lbha) on
// core 0, holding N connections of one open stream each from clients on the other cores
// (tls-floor-client.ts), each stream sending 64 bytes a second. Per variant (malloc settings,
// an allocator, V8 flags, HTTP/2 settings), the server's memory idle and with the N connections,
// both after two full collections, split by where it lives (/proc/PID/smaps): the V8 heap in use,
// external (Buffers), the C heap ([heap]: glibc's main arena), anonymous maps (V8's heap pages,
// glibc's other arenas, jemalloc's), per connection, and the server's CPU while the streams send
// (% of a core: a malloc setting may trade CPU for memory). The variants run alternated, round after
// round, so that a loaded machine weighs on all of them alike; the figures are medians. Two
// variants split the floor: mutual TLS without HTTP/2 (tls-only), HTTP/2 without TLS (h2c-only).
//
// Options: --connections N (2000); --rounds R (2); --variants a,b,... (every variant by default);
// --out FILE (JSON lines).
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sleep } from '@lbha/test-support';
import { benchLog, Children, devCertificates, fail, pinnedCommand, runDir } from './bench-process.js';
import { intOption, jsonLine, stringOption, table } from './bench-stats.js';
import { memoryRollup, privateBreakdown, processTimes } from './process-sampler.js';

const argv = process.argv.slice(2);
const CONNECTIONS = intOption(argv, '--connections', 'LBHA_BENCH_CONNECTIONS', 2000);
const ROUNDS = intOption(argv, '--rounds', 'LBHA_BENCH_ROUNDS', 2);
const OUT = stringOption(argv, '--out', 'LBHA_BENCH_OUT', '');
const SERVER = fileURLToPath(new URL('./tls-floor-server.js', import.meta.url));
const CLIENT = fileURLToPath(new URL('./tls-floor-client.js', import.meta.url));
const JEMALLOC = '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2';

interface Variant {
  readonly name: string;
  readonly env: Readonly<Record<string, string>>;
  readonly flags: readonly string[];
  readonly options: Readonly<Record<string, unknown>>;
  /** What the server terminates (tls-floor-server.ts); HTTP/2 over mutual TLS unless said. */
  readonly mode?: 'tls' | 'h2c';
}

const ALL: readonly Variant[] = [
  { name: 'default', env: {}, flags: [], options: {} },
  { name: 'arena-max-2', env: { MALLOC_ARENA_MAX: '2' }, flags: [], options: {} },
  { name: 'mmap-threshold', env: { MALLOC_MMAP_THRESHOLD_: '131072' }, flags: [], options: {} },
  // Node's TLS layer reads each connection into a 64 KB buffer it keeps for the connection's life
  // (libuv's read size), OpenSSL's record buffers are about 17 KB and nghttp2's output buffer 16 KB:
  // at or above the threshold, glibc gives each its own mapping, of which only the pages written
  // are resident, and returns it whole when freed.
  { name: 'mmap-64k', env: { MALLOC_MMAP_THRESHOLD_: '65536' }, flags: [], options: {} },
  { name: 'mmap-16k', env: { MALLOC_MMAP_THRESHOLD_: '16384' }, flags: [], options: {} },
  { name: 'trim-threshold', env: { MALLOC_TRIM_THRESHOLD_: '131072', MALLOC_ARENA_MAX: '2' }, flags: [], options: {} },
  ...(existsSync(JEMALLOC) ? [{ name: 'jemalloc', env: { LD_PRELOAD: JEMALLOC }, flags: [], options: {} }] : []),
  { name: 'h2-settings', env: {}, flags: [], options: { settings: { headerTableSize: 0, initialWindowSize: 16384 }, maxDeflateDynamicTableSize: 0 } },
  { name: 'semi-space-1', env: {}, flags: ['--max-semi-space-size=1'], options: {} },
  { name: 'tls12', env: {}, flags: [], options: { maxVersion: 'TLSv1.2' } },
  // The floor split: mutual TLS without HTTP/2, HTTP/2 without TLS.
  { name: 'tls-only', env: {}, flags: [], options: {}, mode: 'tls' },
  { name: 'h2c-only', env: {}, flags: [], options: {}, mode: 'h2c' },
];
const wanted = stringOption(argv, '--variants', 'LBHA_BENCH_VARIANTS', '');
const VARIANTS = wanted === '' ? ALL : wanted.split(',').map((n) => ALL.find((v) => v.name === n) ?? fail(`--variants: no variant ${n} (${ALL.map((v) => v.name).join(', ')})`));


const log = benchLog;
const cores = availableParallelism();
const pinned = (cpus: string, args: readonly string[]): [string, string[]] => pinnedCommand(cpus, process.execPath, args);

interface Memory {
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly cHeap: number;
  readonly anonymous: number;
}

/** Lines of a child's stdout, one at a time. */
function lines(proc: ChildProcess): () => Promise<string> {
  const queue: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    const w = waiting.shift();
    if (w) w(line);
    else queue.push(line);
  });
  return () => {
    const line = queue.shift();
    return line !== undefined ? Promise.resolve(line) : new Promise((resolve) => waiting.push(resolve));
  };
}

async function memory(server: ChildProcess, next: () => Promise<string>): Promise<Memory> {
  server.stdin?.write('mem\n');
  const m = JSON.parse(await next()) as { rss: number; heapUsed: number; external: number };
  const parts = privateBreakdown(server.pid as number) ?? {};
  return {
    rss: memoryRollup(server.pid as number)?.rssBytes ?? m.rss,
    heapUsed: m.heapUsed,
    external: m.external,
    cHeap: parts['C heap [heap]'] ?? 0,
    anonymous: parts['anonymous (V8 heap, JIT code, large mallocs)'] ?? 0,
  };
}

/** KB per connection of each part of Memory; cpu: the server's CPU during the streams' traffic, % of a core. */
type PerConnection = Record<keyof Memory | 'cpu', number>;

/** Children alive now: killed on Ctrl-C or SIGTERM, with the temp dir removed. */
const children = new Children();
const track = (proc: ChildProcess): ChildProcess => children.track(proc);

async function measure(variant: Variant, tlsDir: string): Promise<PerConnection> {
  const [cmd, args] = pinned('0', ['--expose-gc', ...variant.flags, SERVER, '--tls-dir', tlsDir, '--mode', variant.mode ?? 'h2-tls', '--options', JSON.stringify(variant.options)]);
  const server = track(spawn(cmd, args, { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...variant.env } }));
  let client: ChildProcess | undefined;
  try {
    const next = lines(server);
    const port = Number(/^listening (\d+)$/.exec(await next())?.[1] ?? fail('the server did not listen'));
    await sleep(500);
    const idle = await memory(server, next);
    const [ccmd, cargs] = pinned(cores > 1 ? `1-${cores - 1}` : '0', [CLIENT, '--port', String(port), '--count', String(CONNECTIONS), '--tls-dir', tlsDir, '--mode', variant.mode ?? 'h2-tls']);
    client = track(spawn(ccmd, cargs, { stdio: ['pipe', 'pipe', 'inherit'] }));
    const ready = await lines(client)();
    if (!ready.startsWith(`ready ${CONNECTIONS} `)) throw new Error(`clients: ${ready}`);
    // Several seconds of the streams' traffic, so that buffers that come and go with it show
    // (and what the traffic costs the server: a malloc setting may trade CPU for memory).
    const t0 = processTimes(server.pid as number);
    await sleep(5000);
    const t1 = processTimes(server.pid as number);
    const cpu = t0 && t1 ? Math.round(((t1.cpuSeconds - t0.cpuSeconds) / ((t1.atMs - t0.atMs) / 1000)) * 1000) / 10 : NaN;
    const loaded = await memory(server, next);
    const per = (k: keyof Memory): number => Math.round(((loaded[k] - idle[k]) / 1024 / CONNECTIONS) * 10) / 10;
    return { rss: per('rss'), heapUsed: per('heapUsed'), external: per('external'), cHeap: per('cHeap'), anonymous: per('anonymous'), cpu };
  } finally {
    client?.kill('SIGKILL');
    server.kill('SIGKILL');
  }
}

const dir = runDir('lbha-tls-floor-', children);
try {
  const tlsDir = devCertificates(dir);
  const results = new Map<string, PerConnection[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const variant of VARIANTS) {
      const load = (await import('node:os')).loadavg()[0]?.toFixed(1);
      const r = await measure(variant, tlsDir);
      log(`round ${round}, ${variant.name} (load ${load}): ${JSON.stringify(r)}`);
      results.set(variant.name, [...(results.get(variant.name) ?? []), r]);
    }
  }
  const rows: (string | number)[][] = [];
  for (const variant of VARIANTS) {
    const runs = results.get(variant.name) ?? [];
    // The median of each figure over the rounds (of two: their mean).
    const med = (k: keyof PerConnection): number => {
      const v = runs.map((r) => r[k]).sort((a, b) => a - b);
      const mid = Math.floor(v.length / 2);
      return v.length % 2 === 1 ? (v[mid] ?? 0) : Math.round((((v[mid - 1] ?? 0) + (v[mid] ?? 0)) / 2) * 10) / 10;
    };
    rows.push([variant.name, med('rss'), runs.map((r) => r.rss).join(' / '), med('heapUsed'), med('external'), med('cHeap'), med('anonymous'), med('cpu')]);
    const line = jsonLine({
      bench: 'tls-floor',
      variant: variant.name,
      mode: variant.mode ?? 'h2-tls',
      env: variant.env,
      flags: variant.flags,
      options: variant.options,
      connections: CONNECTIONS,
      runs: runs.length,
      kb_per_connection_rss: med('rss'),
      kb_per_connection_rss_runs: runs.map((r) => r.rss),
      kb_per_connection_js_heap: med('heapUsed'),
      kb_per_connection_external: med('external'),
      kb_per_connection_c_heap: med('cHeap'),
      kb_per_connection_anonymous: med('anonymous'),
      cpu_percent_core_with_traffic: med('cpu'),
    });
    process.stdout.write(`${line}\n`);
    if (OUT !== '') appendFileSync(OUT, `${line}\n`);
  }
  process.stdout.write(`\nKB per connection, ${CONNECTIONS} connections, median of ${ROUNDS} rounds (after two full collections)\n`);
  process.stdout.write(`${table(['variant', 'RSS', '(each round)', 'JS heap', 'external', 'C heap [heap]', 'anonymous', 'CPU % (traffic)'], rows)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
