// npm run bench:scale — one real lbha-coordinator process (pinned to one core when taskset is
// there) against simulated agents on real gRPC streams (simulated-agents.ts, in other
// processes pinned to the other cores): 1 heartbeat per second each, random health flips. Per
// size: coordinator CPU and RSS (/proc), its event loop (loop-probe.ts, loaded into it: the gaps
// between the ticks of a 1 ms timer, split into time run and time waiting for the core), time
// from a health flip to the pushed desired state, /metrics size and fetch time, and a reconnect
// storm (the coordinator restarts; time until every agent is registered again). Also the
// placement function alone: 5,000 VIPs over 2,000 nodes, 50,000 over 10,000.
//
// Options (flag or environment): --sizes 100,500,2000 (LBHA_BENCH_SIZES), or --agents N for one
// size; --seconds 30 (LBHA_BENCH_SECONDS) measured per size; --flip-mean-s 60
// (LBHA_BENCH_FLIP_MEAN_S) mean time between health flips of one agent; --placement-repeats 25;
// --no-storm; --coordinator-node-flags "FLAGS" (e.g. --cpu-prof); --plaintext (tls: insecure; by default mutual TLS, each simulated agent with its
// own certificate, so the storm includes every TLS handshake); --no-loop-probe;
// --simulator-cores LIST (taskset list for the simulated agents; default: every core but 0);
// --out FILE.
// The coordinator is pinned to core 0 and the simulated agents to the other cores (when there
// are others), so they do not take the coordinator's core from it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { get as plainGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { availableParallelism, tmpdir } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { place } from '@lbha/coordinator';
import { freePort, sleep, waitFor } from '@lbha/test-support';
import { COORDINATOR_BIN, DEV_CA_BIN } from '../lab/repo-paths.js';

import { distribution, hasFlag, intOption, jsonLine, median, stringOption, table } from './bench-stats.js';
import { loopWindow, probeMemory, type LoopWindow, type ProbeMemory } from './loop-window.js';
import { MB, processTimes, ProcessSampler } from './process-sampler.js';
import { placementShapes } from './placement-shapes.js';
import { pairsSpec } from './scale-spec.js';

const argv = process.argv.slice(2);
const AGENTS = intOption(argv, '--agents', 'LBHA_BENCH_AGENTS', 0);
const SIZES = (AGENTS > 0 ? String(AGENTS) : stringOption(argv, '--sizes', 'LBHA_BENCH_SIZES', '100,500,2000'))
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n) && n > 0);
const SECONDS = intOption(argv, '--seconds', 'LBHA_BENCH_SECONDS', 30);
const FLIP_MEAN_S = intOption(argv, '--flip-mean-s', 'LBHA_BENCH_FLIP_MEAN_S', 60);
const PLACEMENT_REPEATS = intOption(argv, '--placement-repeats', 'LBHA_BENCH_PLACEMENT_REPEATS', 25);
const STORM = !hasFlag(argv, '--no-storm');
const TLS = !hasFlag(argv, '--plaintext');
/** Extra node flags for the coordinator, e.g. "--cpu-prof --cpu-prof-dir=DIR" to profile it. */
const COORDINATOR_FLAGS = stringOption(argv, '--coordinator-node-flags', 'LBHA_BENCH_COORDINATOR_NODE_FLAGS', '')
  .split(' ')
  .filter((f) => f !== '');
const OUT = stringOption(argv, '--out', 'LBHA_BENCH_OUT', '');
const LOOP_PROBE = !hasFlag(argv, '--no-loop-probe');
const LOOP_PROBE_SCRIPT = fileURLToPath(new URL('./loop-probe.js', import.meta.url));
const AGENTS_PER_PROCESS = 1000;
const SCRAPE_EVERY_MS = 5000;
const SIM_SCRIPT = fileURLToPath(new URL('./simulated-agents.js', import.meta.url));

const log = (line: string): void => {
  process.stderr.write(`${new Date().toISOString().slice(11, 23)} ${line}\n`);
};

const hasTaskset = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const cores = availableParallelism();
/** The coordinator's core, and the cores of the simulated agents (the others, when there are any). */
const COORDINATOR_CORES = '0';
const SIMULATOR_CORES = stringOption(argv, '--simulator-cores', 'LBHA_BENCH_SIMULATOR_CORES', cores > 1 ? `1-${cores - 1}` : '0');
/** Runs a command pinned to cores when taskset works here. */
const pinned = (cpus: string, command: string, args: readonly string[]): [string, string[]] =>
  hasTaskset ? ['taskset', ['-c', cpus, command, ...args]] : [command, [...args]];

// ------------------------------------------------------------------ placement

// ------------------------------------------------------------------ coordinator and agents

interface Coordinator {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<void>;
}

interface Run {
  readonly dir: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly configFile: string;
  coordinator: Coordinator | undefined;
  readonly sims: ChildProcess[];
  /** node -> times of its Welcomes (epoch ms). */
  readonly connects: Map<string, number[]>;
  pushes: number[];
  noPush: number;
}

const runs = new Set<Run>();

/** Where loop-probe.ts in the coordinator's `n`th process writes its seconds. */
const loopFile = (run: Run, n: number): string => join(run.dir, `loop-${n}.jsonl`);

function startCoordinator(run: Run, n: number): Coordinator {
  const logFd = openSync(join(run.dir, `coordinator-${n}.log`), 'a');
  const probe = LOOP_PROBE ? ['--import', LOOP_PROBE_SCRIPT] : [];
  const [cmd, args] = pinned(COORDINATOR_CORES, process.execPath, [...COORDINATOR_FLAGS, ...probe, COORDINATOR_BIN, '--config', run.configFile]);
  const env = { ...process.env, LBHA_LOOP_PROBE_OUT: loopFile(run, n) };
  const proc = spawn(cmd, args, { stdio: ['ignore', logFd, logFd], env });
  closeSync(logFd);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  return { proc, pid: proc.pid ?? -1, exited };
}

async function stopCoordinator(c: Coordinator | undefined, sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (c === undefined || c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill(sig);
  const timer = setTimeout(() => c.proc.kill('SIGKILL'), 10_000);
  await c.exited;
  clearTimeout(timer);
}

/** GET over the coordinator's HTTP API (HTTPS with the run's CA when TLS is on); gzip accepted. */
function httpGet(run: Run, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = `${TLS ? 'https' : 'http'}://127.0.0.1:${run.httpPort}${path}`;
    const options = { headers: { 'accept-encoding': 'gzip' }, ...(TLS ? { ca: readFileSync(join(run.dir, 'tls', 'ca.crt')) } : {}) };
    const req = (TLS ? httpsGet : plainGet)(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const body = res.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
        resolve({ status: res.statusCode ?? 0, body: body.toString('utf8') });
      });
    });
    req.on('error', reject);
  });
}

async function waitForHttp(run: Run, timeoutMs = 60_000): Promise<void> {
  await waitFor('the coordinator to answer /healthz', async () => {
    if (run.coordinator !== undefined && run.coordinator.proc.exitCode !== null) {
      throw new Error(`the coordinator exited: ${readFileSync(join(run.dir, 'coordinator-1.log'), 'utf8').slice(-2000)}`);
    }
    try {
      const res = await httpGet(run, '/healthz');
      return res.status === 200 ? { done: true, value: undefined } : { done: false, observed: `HTTP ${res.status}` };
    } catch (error) {
      return { done: false, observed: (error as Error).message };
    }
  }, { timeoutMs, intervalMs: 50 });
}

function startSimulators(run: Run, size: number): void {
  for (let first = 0; first < size; first += AGENTS_PER_PROCESS) {
    const count = Math.min(AGENTS_PER_PROCESS, size - first);
    const args = [
      '--no-deprecation', // grpc-js sets an IP address as the TLS server name
      SIM_SCRIPT,
      '--address', `127.0.0.1:${run.grpcPort}`,
      '--nodes', String(size),
      '--first', String(first),
      '--count', String(count),
      '--flip-mean-s', String(FLIP_MEAN_S),
      ...(TLS ? ['--tls-dir', join(run.dir, 'tls')] : []),
    ];
    const [cmd, cmdArgs] = pinned(SIMULATOR_CORES, process.execPath, args);
    const proc = spawn(cmd, cmdArgs, { stdio: ['pipe', 'pipe', 'inherit'] });
    run.sims.push(proc);
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let m: { t?: string; node?: string; at?: number; ms?: number };
      try {
        m = JSON.parse(line) as typeof m;
      } catch {
        return;
      }
      if (m.t === 'connected' && m.node !== undefined && m.at !== undefined) {
        const list = run.connects.get(m.node);
        if (list) list.push(m.at);
        else run.connects.set(m.node, [m.at]);
      } else if (m.t === 'push' && m.ms !== undefined) run.pushes.push(m.ms);
      else if (m.t === 'nopush') run.noPush++;
    });
  }
}

function tellSimulators(run: Run, command: string): void {
  for (const s of run.sims) s.stdin?.write(`${command}\n`);
}

async function stopSimulators(run: Run): Promise<void> {
  await Promise.all(
    run.sims.map(async (s) => {
      if (s.exitCode !== null || s.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => s.once('exit', () => resolve()));
      s.stdin?.write('stop\n');
      const timer = setTimeout(() => s.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }),
  );
}

/** Nodes whose latest Welcome is at or after `sinceMs`. */
function connectedSince(run: Run, sinceMs: number): { count: number; lastMs: number } {
  let count = 0;
  let lastMs = 0;
  for (const times of run.connects.values()) {
    const t = times.find((x) => x >= sinceMs);
    if (t !== undefined) {
      count++;
      lastMs = Math.max(lastMs, t);
    }
  }
  return { count, lastMs };
}

async function waitForConnected(run: Run, size: number, sinceMs: number, timeoutMs: number): Promise<number> {
  return waitFor(`${size} agents to be registered`, async () => {
    const c = connectedSince(run, sinceMs);
    return c.count >= size ? { done: true, value: c.lastMs } : { done: false, observed: `${c.count} of ${size}` };
  }, { timeoutMs, intervalMs: 50 });
}

interface Scrape {
  readonly renderMs: number;
  readonly bytes: number;
  readonly serverRenderMs: number | undefined;
  readonly connected: number;
}

function metricValue(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

async function scrape(run: Run): Promise<Scrape> {
  const t = performance.now();
  const { body } = await httpGet(run, '/metrics');
  const renderMs = performance.now() - t;
  const server = metricValue(body, 'lbha_metrics_render_duration_seconds');
  const connected = (body.match(/^lbha_node_connected\{[^}]*\} 1$/gm) ?? []).length;
  return {
    renderMs,
    bytes: Buffer.byteLength(body),
    serverRenderMs: server === undefined ? undefined : server * 1000,
    connected,
  };
}

// ------------------------------------------------------------------ one size

interface PerAgentSplit {
  /** The V8 heap in use (JS objects). */
  readonly jsHeap: number;
  /** Memory outside the V8 heap held by JS objects (Buffers, ArrayBuffers). */
  readonly external: number;
  /** RSS growth not in either: native memory (OpenSSL, nghttp2, malloc) and heap slack. */
  readonly other: number;
}

function perAgentSplit(idle: ProbeMemory | undefined, loaded: ProbeMemory | undefined, agents: number): PerAgentSplit | undefined {
  if (!idle || !loaded) return undefined;
  const kb = (bytes: number): number => Math.round((bytes / 1024 / agents) * 10) / 10;
  const heap = loaded.heapUsed - idle.heapUsed;
  const external = loaded.external - idle.external;
  return { jsHeap: kb(heap), external: kb(external), other: kb(loaded.rss - idle.rss - heap - external) };
}

interface SizeFigures {
  readonly agents: number;
  readonly seconds: number;
  readonly connectAllMs: number;
  readonly cpuPercent: number;
  readonly rssMb: number;
  /** The coordinator's event loop over the measured window (undefined: --no-loop-probe). */
  readonly loop: LoopWindow | undefined;
  /** The same during the reconnect storm, from the restart until every agent is back. */
  readonly stormLoop: LoopWindow | undefined;
  /** Coordinator RSS with its agents minus its RSS before the first agent, per agent. */
  readonly kbPerAgent: number;
  /** Growth per agent from idle to the window's end, by where the bytes are (loop probe). */
  readonly kbPerAgentSplit: PerAgentSplit | undefined;
  readonly pushMs: ReturnType<typeof distribution>;
  readonly pushes: number;
  readonly noPush: number;
  readonly metricsBytes: number;
  readonly metricsRenderMsP50: number;
  readonly metricsServerRenderMsP50: number;
  readonly stormAllMs: number | undefined;
  readonly stormFromKillMs: number | undefined;
  /** From the restarted coordinator answering /healthz to the last registration (agents in backoff). */
  readonly stormAfterReadyMs: number | undefined;
  readonly connectedAtCoordinator: number;
}

async function benchSize(size: number): Promise<SizeFigures> {
  const dir = mkdtempSync(join(tmpdir(), `lbha-bench-scale-${size}-`));
  const run: Run = {
    dir,
    grpcPort: await freePort(),
    httpPort: await freePort(),
    configFile: join(dir, 'coordinator.yaml'),
    coordinator: undefined,
    sims: [],
    connects: new Map(),
    pushes: [],
    noPush: 0,
  };
  runs.add(run);
  try {
    writeFileSync(join(dir, 'cluster.yaml'), pairsSpec(size, 2));
    writeFileSync(
      run.configFile,
      [
        `id: bench-${size}`,
        `grpc: { listen: ["127.0.0.1:${run.grpcPort}"] }`,
        `http: { listen: "127.0.0.1:${run.httpPort}" }`,
        TLS ? `tls: { ca: ${join(dir, 'tls', 'ca.crt')}, cert: ${join(dir, 'tls', 'coordinator.crt')}, key: ${join(dir, 'tls', 'coordinator.key')} }` : 'tls: { insecure: true }',
        // Every simulated agent connects from 127.0.0.1: the per-address cap is for real fleets.
        'limits: { connectionsPerAddress: 100000 }',
        `spec: ${join(dir, 'cluster.yaml')}`,
        `stateDir: ${join(dir, 'state')}`,
        'heartbeat: { interval: 1s, staleAfter: 3500ms }',
        'log: { level: info }',
        '',
      ].join('\n'),
    );
    if (TLS) {
      // The CA and the coordinator's certificate; the agents' are made by the simulators (bench-certs.ts).
      const ca = spawnSync(process.execPath, [DEV_CA_BIN, '--out', join(dir, 'tls')], { encoding: 'utf8' });
      if (ca.status !== 0) throw new Error(`lbha-dev-ca: ${ca.stderr}`);
    }
    log(`${size} agents: starting the coordinator${hasTaskset ? ' on core 0' : ''}, ${TLS ? 'mutual TLS' : 'plaintext'}`);
    run.coordinator = startCoordinator(run, 1);
    await waitForHttp(run);
    await sleep(2000);
    const idleRss = processTimes(run.coordinator.pid)?.rssBytes ?? 0;
    const idleMemory = probeMemory(loopFile(run, 1), Date.now());
    const startedAt = Date.now();
    startSimulators(run, size);
    const allAt = await waitForConnected(run, size, 0, 120_000 + 60 * size);
    const connectAllMs = allAt - startedAt;
    log(`${size} agents: all registered ${connectAllMs} ms after the simulators started`);
    await sleep(3000);

    const sampler = new ProcessSampler(run.coordinator.pid, 500);
    run.pushes = [];
    run.noPush = 0;
    const windowStart = Date.now();
    tellSimulators(run, 'flips on');
    const scrapes: Scrape[] = [];
    const end = Date.now() + SECONDS * 1000;
    while (Date.now() < end) {
      await sleep(Math.min(SCRAPE_EVERY_MS, Math.max(0, end - Date.now())));
      scrapes.push(await scrape(run));
    }
    tellSimulators(run, 'flips off');
    const windowEnd = Date.now();
    const usage = sampler.stop();
    const pushes = [...run.pushes];
    const noPush = run.noPush;
    await sleep(1200); // the probe's last second of the window
    const loop = loopWindow(loopFile(run, 1), windowStart, windowEnd);
    const last = scrapes[scrapes.length - 1];
    log(
      `${size} agents: CPU ${usage.cpuPercent.toFixed(1)} % of a core, RSS ${(usage.rssMaxBytes / MB).toFixed(0)} MB, ` +
        `event loop p99 ${loop?.p99Ms ?? '-'} ms, max ${loop?.maxMs ?? '-'} ms, ${pushes.length} health flips pushed (median ${median(pushes)} ms)`,
    );

    let stormAllMs: number | undefined;
    let stormFromKillMs: number | undefined;
    let stormAfterReadyMs: number | undefined;
    let stormLoop: LoopWindow | undefined;
    if (STORM) {
      await sleep(2000);
      const killedAt = Date.now();
      await stopCoordinator(run.coordinator, 'SIGTERM');
      const restartAt = Date.now();
      run.coordinator = startCoordinator(run, 2);
      await waitForHttp(run);
      const readyAt = Date.now();
      const lastAt = await waitForConnected(run, size, restartAt, 120_000 + 60 * size);
      stormAllMs = lastAt - restartAt;
      stormFromKillMs = lastAt - killedAt;
      stormAfterReadyMs = Math.max(0, lastAt - readyAt);
      await sleep(1200);
      stormLoop = loopWindow(loopFile(run, 2), restartAt - 1000, lastAt + 1000);
      log(
        `${size} agents: reconnect storm: all registered again ${stormAllMs} ms after the restart ` +
          `(${stormFromKillMs} ms after the stop; the new coordinator answered after ${readyAt - restartAt} ms)`,
      );
    }
    return {
      agents: size,
      seconds: Math.round(usage.seconds),
      connectAllMs,
      cpuPercent: Math.round(usage.cpuPercent * 10) / 10,
      rssMb: Math.round(usage.rssMaxBytes / MB),
      loop,
      stormLoop,
      kbPerAgent: Math.round((usage.rssMaxBytes - idleRss) / 1024 / size),
      kbPerAgentSplit: perAgentSplit(idleMemory, loop?.memory, size),
      pushMs: distribution(pushes),
      pushes: pushes.length,
      noPush,
      metricsBytes: last?.bytes ?? 0,
      metricsRenderMsP50: median(scrapes.map((s) => s.renderMs)),
      metricsServerRenderMsP50: median(scrapes.map((s) => s.serverRenderMs ?? 0)),
      stormAllMs,
      stormFromKillMs,
      stormAfterReadyMs,
      connectedAtCoordinator: last?.connected ?? 0,
    };
  } finally {
    await stopSimulators(run);
    await stopCoordinator(run.coordinator);
    runs.delete(run);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function cleanupAll(): Promise<void> {
  for (const run of runs) {
    for (const s of run.sims) s.kill('SIGKILL');
    run.coordinator?.proc.kill('SIGKILL');
    if (existsSync(run.dir)) rmSync(run.dir, { recursive: true, force: true });
  }
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void cleanupAll().finally(() => process.exit(130));
  });
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const lines: string[] = [];
  log('placement: 5,000 VIPs over 2,000 nodes, 50,000 VIPs over 10,000 nodes');
  const placements = placementShapes([['current', place]], PLACEMENT_REPEATS);
  const sizes: SizeFigures[] = [];
  for (const size of SIZES) sizes.push(await benchSize(size));

  const out: string[] = [];
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  out.push(
    `Coordinator on ${hasTaskset ? 'one core (taskset -c 0)' : 'any core (no taskset)'}, ${TLS ? 'mutual TLS' : 'plaintext'}, simulated agents in other processes${hasTaskset && cores > 1 ? ` (cores ${SIMULATOR_CORES})` : ''}; event loop: gaps between 1 ms ticks in the coordinator, the longest split into ran / waited for the core; ${SECONDS} s measured per size, 1 heartbeat/s per agent, a health flip every ${FLIP_MEAN_S} s per agent on average; load average at the end ${load}`,
  );
  out.push(
    table(
      ['agents', 'connect all ms', 'CPU % core', 'RSS MB', 'KB/agent', 'loop p99 ms', 'max', '(ran', 'waited)', 'ran max', 'flip->push p50 ms', 'p95', 'p99', 'flips', '/metrics KB', 'fetch ms', 'storm: all back ms', 'storm loop max'],
      sizes.map((s) => [
        s.agents,
        s.connectAllMs,
        s.cpuPercent,
        s.rssMb,
        s.kbPerAgent,
        s.loop?.p99Ms ?? '-',
        s.loop?.maxMs ?? '-',
        s.loop?.ranInMaxMs ?? '-',
        s.loop?.waitedInMaxMs ?? '-',
        s.loop?.ranMaxMs ?? '-',
        s.pushMs.p50,
        s.pushMs.p95,
        s.pushMs.p99,
        s.pushes,
        Math.round(s.metricsBytes / 1024),
        s.metricsRenderMsP50,
        s.stormAllMs ?? '-',
        s.stormLoop?.maxMs ?? '-',
      ]),
    ),
  );
  out.push('');
  out.push(`Placement (the pure function, ${PLACEMENT_REPEATS} repeats, one node's health changed before each)`);
  out.push(table(['shape', 'nodes', 'VIPs', 'first call ms', 'p50 ms', 'max ms'], placements.map((p) => [p.shape, p.nodes, p.vips, p.coldMs, p.warmMsP50, p.warmMsMax])));
  out.push('');
  for (const s of sizes) {
    lines.push(
      jsonLine({
        scenario: 'coordinator-scale',
        agents: s.agents,
        tls: TLS,
        load_average: load,
        seconds: s.seconds,
        connect_all_ms: s.connectAllMs,
        cpu_percent_core: s.cpuPercent,
        rss_mb: s.rssMb,
        // Gaps between the ticks of a 1 ms timer in the coordinator over the window (loop-probe.ts).
        eventloop_p50_ms: s.loop?.p50Ms ?? null,
        eventloop_p99_ms: s.loop?.p99Ms ?? null,
        eventloop_max_ms: s.loop?.maxMs ?? null,
        eventloop_max_ran_ms: s.loop?.ranInMaxMs ?? null,
        eventloop_max_waited_for_core_ms: s.loop?.waitedInMaxMs ?? null,
        eventloop_ran_in_one_gap_max_ms: s.loop?.ranMaxMs ?? null,
        eventloop_second_max_ms_p50: s.loop?.secondMaxP50Ms ?? null,
        kb_per_agent: s.kbPerAgent,
        kb_per_agent_js_heap: s.kbPerAgentSplit?.jsHeap ?? null,
        kb_per_agent_external: s.kbPerAgentSplit?.external ?? null,
        kb_per_agent_native_and_slack: s.kbPerAgentSplit?.other ?? null,
        flip_to_push_ms_p50: s.pushMs.p50,
        flip_to_push_ms_p95: s.pushMs.p95,
        flip_to_push_ms_p99: s.pushMs.p99,
        flip_to_push_ms_max: s.pushMs.max,
        flips: s.pushes,
        flips_without_push: s.noPush,
        metrics_bytes: s.metricsBytes,
        metrics_render_ms_p50: s.metricsRenderMsP50,
        metrics_server_render_ms_p50: s.metricsServerRenderMsP50,
        connected_at_coordinator: s.connectedAtCoordinator,
        storm_all_registered_ms: s.stormAllMs ?? null,
        storm_from_stop_ms: s.stormFromKillMs ?? null,
        storm_after_ready_ms: s.stormAfterReadyMs ?? null,
        storm_eventloop_p99_ms: s.stormLoop?.p99Ms ?? null,
        storm_eventloop_max_ms: s.stormLoop?.maxMs ?? null,
        storm_eventloop_ran_in_one_gap_max_ms: s.stormLoop?.ranMaxMs ?? null,
        target_eventloop_p99_ms: 50,
        target_eventloop_max_ms: 100,
        target_cpu_percent_core: 70,
        target_flip_to_push_ms_p99: 50,
        target_kb_per_agent: 40,
        target_storm_ms: 10_000,
      }),
    );
  }
  for (const p of placements) {
    lines.push(jsonLine({ scenario: 'placement', shape: p.shape, nodes: p.nodes, vips: p.vips, repeats: PLACEMENT_REPEATS, first_ms: p.coldMs, ms_p50: p.warmMsP50, ms_max: p.warmMsMax, target_ms: p.vips > 5000 ? 50 : 10 }));
  }
  out.push(...lines);
  process.stdout.write(`${out.join('\n')}\n`);
  if (OUT !== '') writeFileSync(OUT, `${lines.join('\n')}\n`);
}

main().catch(async (error: unknown) => {
  process.stderr.write(`bench:scale failed: ${(error as Error).stack ?? String(error)}\n`);
  await cleanupAll();
  process.exit(1);
});
