// npm run bench:scale — one real lbha-coordinator process (pinned to one core when taskset is
// there) against simulated agents on real gRPC streams (simulated-agents.ts, in other
// processes pinned to the other cores): a sign of life per second each (an HTTP/2 PING where
// the coordinator takes liveness from the connection, else a heartbeat message), random health flips. Per
// size: coordinator CPU and RSS (/proc), its event loop (loop-probe.ts, loaded into it: the gaps
// between the ticks of a 1 ms timer, split into time run and time waiting for the core), time
// from a health flip to the pushed desired state, /metrics size and fetch time, and a reconnect
// storm (the coordinator restarts; time until every agent is registered again). Also the
// placement function alone: 5,000 VIPs over 2,000 nodes, 50,000 over 10,000.
//
// Options (flag or environment): --sizes 100,500,2000 (LBHA_BENCH_SIZES), or --agents N for one
// size; --seconds 30 (LBHA_BENCH_SECONDS) measured per size; --flip-mean-s 60
// (LBHA_BENCH_FLIP_MEAN_S) mean time between health flips of one agent; --warmup-s 0
// (LBHA_BENCH_WARMUP_S): flips on for this long before the measured window, so that V8 has
// compiled the flip path before it is measured (0, the default, measures from the first flip, as
// every round before did); --placement-repeats 25;
// --fronts N (grpc.fronts: N front processes hold the agents' connections and relay their
// streams to the coordinator; its CPU and memory figures then come as the coordinator's own and
// in total, fronts included); --fronts-cores LIST (taskset list the fronts are moved to once they
// run; default: where the coordinator runs);
// --no-storm; --coordinator-node-flags "FLAGS" (e.g. --cpu-prof); --coordinator-env "K=V ..."
// (environment of the coordinator alone, e.g. a malloc setting, on top of the shipped one); --plaintext (tls: insecure; by default mutual TLS, each simulated agent with its
// own certificate, so the storm includes every TLS handshake); --no-loop-probe;
// --simulator-cores LIST (taskset list for the simulated agents; default: every core but 0);
// --coordinators N (default 1) with --store etcd: N coordinators on a real etcd
// (--etcd-members M, default 1), the agents spread over them (each lists every coordinator, in
// a rotated order), followers relaying their streams to the leader; figures per coordinator,
// and the storm stops and restarts the leader; --coordinator-cores LIST (default 0);
// --etcd-cores LIST (taskset list for the etcd members; default: the last core, never the
// coordinators' own: a deployment never runs etcd on the coordinator's core, and an etcd that
// waits for the coordinators' core answers their lease renewals late);
// --coordinator-bin PATH (another build's lbha-coordinator.js, for a before/after);
// --connect-limit-s S (default 120 + 0.06 per agent): when not every agent has connected by
// then, the size is measured with those that did and marked partial (`complete: false`);
// --lease-ttl-s S (default 10; the coordinators' store.leaseTtl on etcd); --keep-dir (keep the
// coordinators' logs); --ping-ms N and --stale-after-ms N (the coordinators' heartbeat.ping and
// heartbeat.staleAfter, and the simulated agents' PING interval before a Welcome; unset: the
// shipped defaults, heartbeat.ping derived from staleAfter); --no-shipped-flags (without the node flags the coordinator ships with,
// COORDINATOR_NODE_FLAGS and COORDINATOR_OPENSSL_FLAG: --coordinator-node-flags come after those); --out FILE.
// The coordinator is pinned to core 0 and the simulated agents to the other cores (when there
// are others), so they do not take the coordinator's core from it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { place } from '@lbha/coordinator';
import { sleep } from '@lbha/test-support';
import { COORDINATOR_BIN, DEV_CA_BIN } from '../lab/repo-paths.js';
import { EtcdCluster, etcdUnavailableReason } from '../support/etcd-cluster.js';

import { benchLog, HAS_TASKSET, pinnedCommand } from './bench-process.js';
import { distribution, hasFlag, intOption, jsonLine, median, stringOption, table } from './bench-stats.js';
import { loopWindow, probeMemory, type LoopWindow, type ProbeMemory } from './loop-window.js';
import { childPids, MB, privateBreakdown, processTimes, ProcessSampler, treeCpuSeconds } from './process-sampler.js';
import { placementShapes } from './placement-shapes.js';
import { createSlots, httpGet, labelledMetricValue, leadershipEvents, loopFile, metricValue, startCoordinator, stopCoordinator, waitForHttp, waitForLeader, type CoordinatorSlot, type LeadershipLogEvent, type SlotSettings } from './scale-coordinators.js';
import { pairsSpec } from './scale-spec.js';

const argv = process.argv.slice(2);
const AGENTS = intOption(argv, '--agents', 'LBHA_BENCH_AGENTS', 0);
const SIZES = (AGENTS > 0 ? String(AGENTS) : stringOption(argv, '--sizes', 'LBHA_BENCH_SIZES', '100,500,2000'))
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n) && n > 0);
const SECONDS = intOption(argv, '--seconds', 'LBHA_BENCH_SECONDS', 30);
const FLIP_MEAN_S = intOption(argv, '--flip-mean-s', 'LBHA_BENCH_FLIP_MEAN_S', 60);
const WARMUP_S = intOption(argv, '--warmup-s', 'LBHA_BENCH_WARMUP_S', 0);
const PLACEMENT_REPEATS = intOption(argv, '--placement-repeats', 'LBHA_BENCH_PLACEMENT_REPEATS', 25);
const STORM = !hasFlag(argv, '--no-storm');
/** grpc.fronts of the coordinator (0: it holds the agents' connections itself). */
const FRONTS = intOption(argv, '--fronts', 'LBHA_BENCH_FRONTS', 0);
/** Cores the fronts are moved to once they run (empty: they stay where the coordinator runs). */
const FRONTS_CORES = stringOption(argv, '--fronts-cores', 'LBHA_BENCH_FRONTS_CORES', '');
const TLS = !hasFlag(argv, '--plaintext');
/** Extra node flags for the coordinator, e.g. "--cpu-prof --cpu-prof-dir=DIR" to profile it. */
const COORDINATOR_FLAGS = stringOption(argv, '--coordinator-node-flags', 'LBHA_BENCH_COORDINATOR_NODE_FLAGS', '')
  .split(' ')
  .filter((f) => f !== '');
/** Extra environment for the coordinator alone ("K=V K2=V2"), e.g. MALLOC_MMAP_THRESHOLD_=65536. */
const COORDINATOR_ENV: Record<string, string> = Object.fromEntries(
  stringOption(argv, '--coordinator-env', 'LBHA_BENCH_COORDINATOR_ENV', '')
    .split(' ')
    .filter((kv) => kv !== '')
    .map((kv) => {
      const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(kv);
      if (!m) throw new Error(`--coordinator-env: ${JSON.stringify(kv)} is not NAME=VALUE`);
      return [m[1] as string, m[2] as string];
    }),
);
const OUT = stringOption(argv, '--out', 'LBHA_BENCH_OUT', '');
/** The coordinator runs with the node flags it ships with unless --no-shipped-flags (a build from before them). */
const SHIPPED_FLAGS = !hasFlag(argv, '--no-shipped-flags');
const LOOP_PROBE = !hasFlag(argv, '--no-loop-probe');
const LOOP_PROBE_SCRIPT = fileURLToPath(new URL('./loop-probe.js', import.meta.url));
const AGENTS_PER_PROCESS = 1000;
const SCRAPE_EVERY_MS = 5000;
const SIM_SCRIPT = fileURLToPath(new URL('./simulated-agents.js', import.meta.url));
/** Coordinators: one (file store), or several on etcd, followers relaying agent streams to the leader. */
const COORDINATORS = intOption(argv, '--coordinators', 'LBHA_BENCH_COORDINATORS', 1);
const STORE = stringOption(argv, '--store', 'LBHA_BENCH_STORE', COORDINATORS > 1 ? 'etcd' : 'file');
/** The coordinator build to measure: another checkout's, to compare two builds with the same benchmark. */
const COORDINATOR_SCRIPT = stringOption(argv, '--coordinator-bin', 'LBHA_BENCH_COORDINATOR_BIN', COORDINATOR_BIN);
const ETCD_MEMBERS = intOption(argv, '--etcd-members', 'LBHA_BENCH_ETCD_MEMBERS', 1);
/** How long the agents have to connect (and to come back after the storm); default 120 s + 60 ms per agent. */
const CONNECT_LIMIT_S = intOption(argv, '--connect-limit-s', 'LBHA_BENCH_CONNECT_LIMIT_S', 0);
/** The coordinators' etcd lease TTL (store.leaseTtl), seconds: what a coordinator may wait for a CPU before it loses its lease. */
const LEASE_TTL_S = intOption(argv, '--lease-ttl-s', 'LBHA_BENCH_LEASE_TTL_S', 10);
/** Keep each size's directory (coordinator logs, loop probe files) instead of removing it. */
const KEEP_DIR = hasFlag(argv, '--keep-dir');
/** heartbeat.ping of the coordinators and the agents' PING interval before a Welcome (0: the defaults). */
const PING_MS = intOption(argv, '--ping-ms', 'LBHA_BENCH_PING_MS', 0);
/** heartbeat.staleAfter of the coordinators (0: the default, 3.5 s). */
const STALE_AFTER_MS = intOption(argv, '--stale-after-ms', 'LBHA_BENCH_STALE_AFTER_MS', 0);
const connectLimitMs = (size: number): number => (CONNECT_LIMIT_S > 0 ? CONNECT_LIMIT_S * 1000 : 120_000 + 60 * size);
if (FRONTS > 0 && COORDINATORS > 1) throw new Error('--fronts: one coordinator (the file store) only');
if (STORE !== 'file' && STORE !== 'etcd') throw new Error(`--store: ${STORE} is neither file nor etcd`);
if (COORDINATORS < 1) throw new Error(`--coordinators: ${COORDINATORS} is not a number of coordinators`);
if (COORDINATORS > 1 && STORE !== 'etcd') throw new Error(`--coordinators ${COORDINATORS} needs --store etcd: the file store serves one coordinator`);
if (STORE === 'etcd' && etcdUnavailableReason()) throw new Error(`--store etcd: ${etcdUnavailableReason()}`);

const log = benchLog;
const hasTaskset = HAS_TASKSET;
const cores = availableParallelism();
/** The coordinators' core(s), and the cores of the simulated agents (the others, when there are any). */
const COORDINATOR_CORES = stringOption(argv, '--coordinator-cores', 'LBHA_BENCH_COORDINATOR_CORES', '0');
const SIMULATOR_CORES = stringOption(argv, '--simulator-cores', 'LBHA_BENCH_SIMULATOR_CORES', cores > 1 ? `1-${cores - 1}` : '0');
/** The etcd members' cores: off the coordinators' core (on a 2-core machine, beside the simulated agents). */
const ETCD_CORES = stringOption(argv, '--etcd-cores', 'LBHA_BENCH_ETCD_CORES', String(cores - 1));
/** Runs a command pinned to cores when taskset works here. */
const pinned = pinnedCommand;

// ------------------------------------------------------------------ placement

// ------------------------------------------------------------------ coordinator and agents

interface Run {
  readonly dir: string;
  readonly settings: SlotSettings;
  /** The coordinators (one, or several on etcd). */
  readonly slots: CoordinatorSlot[];
  etcd: EtcdCluster | undefined;
  readonly sims: ChildProcess[];
  /** node -> times of its Welcomes (epoch ms). */
  readonly connects: Map<string, number[]>;
  /** node -> its Welcomes: when, from which coordinator (its id), whether on a new stream. */
  readonly welcomes: Map<string, Welcomed[]>;
  /** node -> the coordinator address of its last welcomed stream. */
  readonly addressOf: Map<string, string>;
  /** node -> when its welcomed streams ended (epoch ms). */
  readonly ends: Map<string, number[]>;
  /** node -> how its last Welcome said it should show it is alive ('connection': PINGs; 'heartbeat': messages). */
  readonly liveness: Map<string, string>;
  pushes: number[];
  /** The same flips' times by the coordinator address the flipping agent was connected to. */
  pushesVia: Map<string, number[]>;
  noPush: number;
  /** Of those, flips whose agent's stream was lost before the push came. */
  noPushDropped: number;
  /** Of those, flips whose push came after all (later than 10 s), and when. */
  latePushes: number[];
  /** Each simulator process's own CPU and loop delay while flips were on (its "self" line). */
  simSelf: SimSelf[];
}

/** One Welcome an agent received. */
interface Welcomed {
  readonly at: number;
  readonly coordinator: string;
  /** On a new stream; false: on a stream welcomed before, moved to a new leader by the coordinator relaying it. */
  readonly fresh: boolean;
}

/** A simulator process's own load: a push is timed when its loop reads it. */
interface SimSelf {
  readonly cpuPercent: number;
  readonly loopP99Ms: number;
  readonly loopMaxMs: number;
}

const runs = new Set<Run>();

const start = (run: Run, slot: CoordinatorSlot): void => {
  startCoordinator(run.settings, slot, LOOP_PROBE ? LOOP_PROBE_SCRIPT : undefined);
};

function startSimulators(run: Run, size: number): void {
  for (let first = 0; first < size; first += AGENTS_PER_PROCESS) {
    const count = Math.min(AGENTS_PER_PROCESS, size - first);
    const args = [
      '--no-deprecation', // grpc-js sets an IP address as the TLS server name
      SIM_SCRIPT,
      // Every agent knows every coordinator; the simulators rotate the list, so that the agents
      // spread over the coordinators as a fleet whose hosts list them in different orders.
      '--address', run.slots.map((c) => `127.0.0.1:${c.grpcPort}`).join(','),
      '--nodes', String(size),
      '--first', String(first),
      '--count', String(count),
      '--flip-mean-s', String(FLIP_MEAN_S),
      ...(PING_MS > 0 ? ['--ping-ms', String(PING_MS)] : []),
      ...(TLS ? ['--tls-dir', join(run.dir, 'tls')] : []),
    ];
    const [cmd, cmdArgs] = pinned(SIMULATOR_CORES, process.execPath, args);
    const proc = spawn(cmd, cmdArgs, { stdio: ['pipe', 'pipe', 'inherit'] });
    run.sims.push(proc);
    createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let m: { t?: string; node?: string; at?: number; ms?: number; via?: string; dropped?: boolean; liveness?: string; flippedAt?: number; healthy?: boolean; coordinator?: string; address?: string; fresh?: boolean } & Partial<SimSelf>;
      try {
        m = JSON.parse(line) as typeof m;
      } catch {
        return;
      }
      if (m.t === 'connected' && m.node !== undefined && m.at !== undefined) {
        const list = run.connects.get(m.node);
        if (list) list.push(m.at);
        else run.connects.set(m.node, [m.at]);
        if (m.liveness !== undefined) run.liveness.set(m.node, m.liveness);
        const w: Welcomed = { at: m.at, coordinator: m.coordinator ?? '', fresh: m.fresh !== false };
        const welcomes = run.welcomes.get(m.node);
        if (welcomes) welcomes.push(w);
        else run.welcomes.set(m.node, [w]);
        if (m.address !== undefined) run.addressOf.set(m.node, m.address);
      } else if (m.t === 'ended' && m.node !== undefined && m.at !== undefined) {
        const list = run.ends.get(m.node);
        if (list) list.push(m.at);
        else run.ends.set(m.node, [m.at]);
      } else if (m.t === 'push' && m.ms !== undefined) {
        run.pushes.push(m.ms);
        if (m.via !== undefined) run.pushesVia.set(m.via, [...(run.pushesVia.get(m.via) ?? []), m.ms]);
      }
      else if (m.t === 'nopush') {
        run.noPush++;
        if (m.dropped === true) run.noPushDropped++;
        // Which agent, through which coordinator, when: to find it in the coordinators' logs (--keep-dir).
        log(`no push within 10 s: ${m.node ?? '?'} via ${m.via ?? '?'}, flipped to ${m.healthy === true ? 'healthy' : 'unhealthy'} at ${m.flippedAt === undefined ? '?' : new Date(m.flippedAt).toISOString()}${m.dropped === true ? ', its stream lost meanwhile' : ''}`);
      } else if (m.t === 'late' && m.ms !== undefined) run.latePushes.push(m.ms);
      else if (m.t === 'self' && m.cpuPercent !== undefined && m.loopP99Ms !== undefined && m.loopMaxMs !== undefined) {
        run.simSelf.push({ cpuPercent: m.cpuPercent, loopP99Ms: m.loopP99Ms, loopMaxMs: m.loopMaxMs });
      }
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

/**
 * How the storm spread over time: per second after `sinceMs`, how many nodes had their first
 * Welcome since then (a fleet whose reconnects are jittered shows a bounded, short spread).
 */
function reconnectsPerSecond(run: Run, sinceMs: number): number[] {
  const perSecond: number[] = [];
  for (const times of run.connects.values()) {
    const t = times.find((x) => x >= sinceMs);
    if (t === undefined) continue;
    const second = Math.floor((t - sinceMs) / 1000);
    for (let i = perSecond.length; i <= second; i++) perSecond.push(0);
    perSecond[second] = (perSecond[second] ?? 0) + 1;
  }
  return perSecond;
}

/** Nodes welcomed at or after `sinceMs` (by a coordinator other than `notBy`, its id, when given). */
function connectedSince(run: Run, sinceMs: number, notBy?: string): { count: number; lastMs: number } {
  let count = 0;
  let lastMs = 0;
  const lists = notBy === undefined ? run.connects.values() : [...run.welcomes.values()].map((list) => list.filter((w) => w.coordinator !== notBy).map((w) => w.at));
  for (const times of lists) {
    const t = times.find((x) => x >= sinceMs);
    if (t !== undefined) {
      count++;
      lastMs = Math.max(lastMs, t);
    }
  }
  return { count, lastMs };
}

/** How many agents were welcomed (since a time) when the wait ended; `complete` when all were. */
interface Registered {
  readonly count: number;
  /** Time of the last Welcome counted (epoch ms). */
  readonly lastMs: number;
  readonly complete: boolean;
}

/**
 * Waits until every agent has been welcomed since `sinceMs`, or the limit passes: then the run
 * goes on with the agents that did connect (its figures are theirs, marked partial) instead of
 * losing every figure. A coordinator that exits ends the run.
 */
async function waitForConnected(run: Run, size: number, sinceMs: number, timeoutMs: number, notBy?: string): Promise<Registered> {
  const giveUpAt = Date.now() + timeoutMs;
  for (;;) {
    const c = connectedSince(run, sinceMs, notBy);
    if (c.count >= size) return { ...c, complete: true };
    const exited = run.slots.find((s) => s.process !== undefined && s.process.proc.exitCode !== null);
    if (exited) throw new Error(`coordinator ${exited.id} exited while ${c.count} of ${size} agents were registered`);
    if (Date.now() >= giveUpAt) {
      log(`${size} agents: only ${c.count} of ${size} registered after ${Math.round(timeoutMs / 1000)} s; going on with those`);
      return { ...c, complete: false };
    }
    await sleep(50);
  }
}

interface Scrape {
  /** Agent streams this coordinator relays to the leader (several coordinators). */
  readonly relayed: number;
  readonly renderMs: number;
  readonly bytes: number;
  readonly serverRenderMs: number | undefined;
  readonly connected: number;
  /** lbha_coordinator_leader (etcd store; 0 otherwise). */
  readonly leader: number;
}

async function scrape(run: Run, slot: CoordinatorSlot): Promise<Scrape> {
  const t = performance.now();
  const { body } = await httpGet(run.settings, slot, '/metrics');
  const renderMs = performance.now() - t;
  const server = metricValue(body, 'lbha_metrics_render_duration_seconds');
  const connected = (body.match(/^lbha_node_connected\{[^}]*\} 1$/gm) ?? []).length;
  return {
    relayed: metricValue(body, 'lbha_relayed_agent_streams') ?? 0,
    renderMs,
    bytes: Buffer.byteLength(body),
    serverRenderMs: server === undefined ? undefined : server * 1000,
    connected,
    leader: metricValue(body, 'lbha_coordinator_leader') ?? 0,
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
  /** Of `other`: the V8 heap's pages not in use (free young-generation space, fragmentation). */
  readonly heapFree: number;
  /** Private pages of the C heap (`[heap]`: glibc's main arena), and of anonymous maps (V8's pages, other arenas). */
  readonly cHeap: number | undefined;
  readonly anonymous: number | undefined;
}

/** The private pages of a coordinator by kind (process-sampler.ts), for the per-agent split. */
type Breakdown = Record<string, number> | undefined;
const C_HEAP = 'C heap [heap]';
const ANONYMOUS = 'anonymous (V8 heap, JIT code, large mallocs)';

function perAgentSplit(idle: ProbeMemory | undefined, loaded: ProbeMemory | undefined, agents: number, maps: { idle: Breakdown; loaded: Breakdown }): PerAgentSplit | undefined {
  if (!idle || !loaded) return undefined;
  const kb = (bytes: number): number => Math.round((bytes / 1024 / agents) * 10) / 10;
  const heap = loaded.heapUsed - idle.heapUsed;
  const external = loaded.external - idle.external;
  const grown = (kind: string): number | undefined => (maps.idle && maps.loaded ? kb((maps.loaded[kind] ?? 0) - (maps.idle[kind] ?? 0)) : undefined);
  return {
    jsHeap: kb(heap),
    external: kb(external),
    other: kb(loaded.rss - idle.rss - heap - external),
    heapFree: kb(loaded.heapTotal - loaded.heapUsed - (idle.heapTotal - idle.heapUsed)),
    cHeap: grown(C_HEAP),
    anonymous: grown(ANONYMOUS),
  };
}

/** What one coordinator did over the measured window (and the storm). */
interface CoordinatorFigures {
  readonly id: string;
  /** `only` (file store), or its role on etcd when the window ended. */
  readonly role: 'only' | 'leader' | 'follower';
  /** Agent streams it terminates itself (its own TLS connections); a follower relays them to the leader. */
  readonly streams: number;
  readonly cpuPercent: number;
  readonly rssMb: number;
  /** With --fronts: the coordinator and its fronts together (CPU, peak RSS, RSS growth per agent). */
  readonly total: { readonly cpuPercent: number; readonly rssMb: number; readonly kbPerAgent: number } | undefined;
  /** The coordinator's event loop over the measured window (undefined: --no-loop-probe). */
  readonly loop: LoopWindow | undefined;
  /** The same during the reconnect storm, from the restart until every agent is back. */
  readonly stormLoop: LoopWindow | undefined;
  /** Its RSS with the agents minus its RSS before the first agent, per agent of the fleet. */
  readonly kbPerAgent: number;
  /** Growth per agent from idle to the window's end, by where the bytes are (loop probe). */
  readonly kbPerAgentSplit: PerAgentSplit | undefined;
  readonly metricsBytes: number;
  readonly metricsRenderMsP50: number;
  readonly metricsServerRenderMsP50: number;
  /** Nodes its /metrics shows connected at the last scrape. */
  readonly connectedAtCoordinator: number;
  /** Flip -> push of the agents connected to this coordinator (on a follower: relayed to the leader). */
  readonly pushMsOfItsAgents: ReturnType<typeof distribution>;
  readonly pushesOfItsAgents: number;
}

interface SizeFigures {
  readonly agents: number;
  /** Agents registered when the window started: all of them, or fewer when the connect limit passed. */
  readonly connected: number;
  /** false: not every agent connected within the limit; the figures are those of the ones that did. */
  readonly complete: boolean;
  readonly seconds: number;
  /** undefined when not every agent connected. */
  readonly connectAllMs: number | undefined;
  readonly coordinators: readonly CoordinatorFigures[];
  readonly pushMs: ReturnType<typeof distribution>;
  readonly pushes: number;
  readonly noPush: number;
  readonly noPushDropped: number;
  readonly latePushes: readonly number[];
  /** Restart (one coordinator) or stop of the leader (several) until every agent is welcomed again. */
  readonly stormAllMs: number | undefined;
  readonly stormFromKillMs: number | undefined;
  /** From the restarted coordinator answering /healthz to the last registration (agents in backoff). */
  readonly stormAfterReadyMs: number | undefined;
  /** Agents welcomed again after the storm's stop (within the connect limit). */
  readonly stormBack: number | undefined;
  /** Several coordinators: what the leader's stop ended and cost (LeaderChange). */
  readonly leaderChange: LeaderChange | undefined;
  /** Re-registrations per second of the storm (see reconnectsPerSecond). */
  readonly stormPerSecond: number[] | undefined;
  /** Agents whose last stream shows its liveness by PINGs alone (no heartbeat messages). */
  readonly pinging: number;
  /** CPU seconds the restarted coordinator had used when it answered, and when the first, 10, 50, 90 and 100 % of the agents were back. */
  readonly stormCpu: StormCpu | undefined;
  /** The simulator processes' own load while flips were on. */
  readonly simSelf: readonly SimSelf[];
  /** etcd (several coordinators): its members' CPU, and the leadership changes the coordinators logged. */
  readonly etcd: EtcdFigures | undefined;
}

interface EtcdFigures {
  /** All members' CPU over the measured window, % of one core. */
  readonly cpuPercent: number;
  /** All members' CPU seconds from the simulators' start until every agent was registered. */
  readonly registrationCpuS: number;
  /** Depositions (not resignations) while the agents registered, and in the measured window. */
  readonly depositionsRegistering: number;
  readonly depositionsInWindow: number;
  /** Elections from the coordinators' start to the window's end (the first included). */
  readonly elections: number;
  readonly events: readonly LeadershipLogEvent[];
}

/**
 * The restarted coordinator's CPU time at the storm's milestones. Wall-clock figures of a storm
 * on a shared machine are mostly the coordinator waiting for its core; the CPU it had used by
 * then is what the code costs, whatever the load.
 */
/**
 * A leader change (several coordinators on etcd): the agents' streams that ended, split by where
 * they were (the stopped leader's own, or relayed by a follower), the Welcomes that came on a
 * stream that stayed open (moved to the new leader by its follower), and the TLS handshakes the
 * coordinators completed from the stop until every agent was welcomed again.
 */
interface LeaderChange {
  readonly newLeader: string | undefined;
  readonly ownBefore: number;
  readonly ownEnded: number;
  readonly relayedBefore: number;
  readonly relayedEnded: number;
  /** Agents welcomed again on a stream that stayed open. */
  readonly moved: number;
  /** Handshakes completed by the followers (their counters' growth) and by the stopped leader since its restart. */
  readonly followerHandshakes: number | undefined;
  readonly restartedHandshakes: number | undefined;
}

interface StormCpu {
  readonly readyS: number;
  readonly firstS: number;
  readonly p10S: number;
  readonly p50S: number;
  readonly p90S: number;
  readonly allS: number;
  /** With --fronts: the coordinator's and its fronts' CPU seconds (the fronts restart with it) when all were back. */
  readonly allTotalS: number | undefined;
}

/** An epoch time (ms) on the monotonic clock in µs: the clock of the timestamps in a V8 CPU profile. */
function monotonicUs(epochMs: number): number {
  return Math.round(Number(process.hrtime.bigint() / 1000n) - (Date.now() - epochMs) * 1000);
}

/** Samples a process's CPU time every 100 ms until stopped; `at(ms)` is the CPU time of the last sample at or before then. */
function cpuTimeline(pid: number, tree = false): { stop(): void; at(epochMs: number): number } {
  const samples: Array<[number, number]> = [];
  const take = () => {
    const t = tree ? treeCpuSeconds(pid) : processTimes(pid)?.cpuSeconds;
    if (t !== undefined) samples.push([Date.now(), t]);
  };
  take();
  const timer = setInterval(take, 100);
  return {
    stop: () => {
      clearInterval(timer);
      take();
    },
    at: (epochMs) => {
      let cpu = 0;
      for (const [t, c] of samples) if (t <= epochMs) cpu = c;
      return Math.round(cpu * 100) / 100;
    },
  };
}

/**
 * Moves every front of the run's coordinators (their children) to FRONTS_CORES as soon as it
 * runs, restarted ones too, until stopped: the coordinator forks them on its own core.
 */
function pinFronts(run: Run): () => void {
  const done = new Set<number>();
  const timer = setInterval(() => {
    for (const slot of run.slots) {
      const parent = slot.process?.pid;
      if (parent === undefined) continue;
      for (const child of childPids(parent)) {
        if (done.has(child)) continue;
        done.add(child);
        spawnSync('taskset', ['-a', '-p', '-c', FRONTS_CORES, String(child)], { stdio: 'ignore' });
      }
    }
  }, 50);
  return () => clearInterval(timer);
}

async function benchSize(size: number): Promise<SizeFigures> {
  const stops = new Set<() => void>();
  const dir = mkdtempSync(join(tmpdir(), `lbha-bench-scale-${size}-`));
  const etcd = STORE === 'etcd' ? await EtcdCluster.start({ members: ETCD_MEMBERS, wrap: (command, args) => pinned(ETCD_CORES, command, args) }) : undefined;
  const etcdPids = (): number[] => (etcd?.members ?? []).map((m) => m.child?.pid).filter((p): p is number => p !== undefined);
  const etcdCpuSeconds = (): number => etcdPids().reduce((sum, p) => sum + (processTimes(p)?.cpuSeconds ?? 0), 0);
  const settings: SlotSettings = {
    dir,
    tls: TLS,
    etcdEndpoints: etcd?.endpoints ?? [],
    leaseTtlS: LEASE_TTL_S,
    bin: COORDINATOR_SCRIPT,
    nodeFlags: COORDINATOR_FLAGS,
    env: COORDINATOR_ENV,
    shippedFlags: SHIPPED_FLAGS,
    pinned: (command, args) => pinned(COORDINATOR_CORES, command, args),
    heartbeat: { pingMs: PING_MS, staleAfterMs: STALE_AFTER_MS },
    fronts: FRONTS,
  };
  const run: Run = { dir, settings, slots: [], etcd, sims: [], connects: new Map(), welcomes: new Map(), addressOf: new Map(), ends: new Map(), liveness: new Map(), pushes: [], pushesVia: new Map(), noPush: 0, noPushDropped: 0, latePushes: [], simSelf: [] };
  runs.add(run);
  try {
    writeFileSync(join(dir, 'cluster.yaml'), pairsSpec(size, 2));
    run.slots.push(...(await createSlots(settings, size, COORDINATORS)));
    if (TLS) {
      // The CA and the coordinators' certificate; the agents' are made by the simulators (bench-certs.ts).
      const ca = spawnSync(process.execPath, [DEV_CA_BIN, '--out', join(dir, 'tls')], { encoding: 'utf8' });
      if (ca.status !== 0) throw new Error(`lbha-dev-ca: ${ca.stderr}`);
    }
    log(`${size} agents: starting ${COORDINATORS === 1 ? 'the coordinator' : `${COORDINATORS} coordinators on etcd (${ETCD_MEMBERS} member${ETCD_MEMBERS === 1 ? '' : 's'}${hasTaskset ? ` on core ${ETCD_CORES}` : ''})`}${hasTaskset ? ` on core ${COORDINATOR_CORES}` : ''}, ${TLS ? 'mutual TLS' : 'plaintext'}`);
    for (const slot of run.slots) start(run, slot);
    const stopPinning = FRONTS > 0 && FRONTS_CORES !== '' ? pinFronts(run) : () => undefined;
    stops.add(stopPinning);
    for (const slot of run.slots) await waitForHttp(settings, slot);
    if (etcd) log(`${size} agents: ${(await waitForLeader(settings, run.slots)).id} leads`);
    await sleep(2000);
    const pid = (slot: CoordinatorSlot): number => slot.process?.pid ?? -1;
    // The fronts are the coordinator's children (taskset starts it: the coordinator is the one
    // process the taskset process became, so its pid is the slot's).
    const fronts = (slot: CoordinatorSlot): number[] => (FRONTS > 0 ? childPids(pid(slot)) : []);
    if (FRONTS > 0) {
      for (const slot of run.slots) log(`${size} agents: ${slot.id} runs ${fronts(slot).length} fronts${FRONTS_CORES ? ` (moved to core ${FRONTS_CORES})` : ''}`);
    }
    const rssOf = (pids: number[]): number => pids.reduce((sum, p) => sum + (processTimes(p)?.rssBytes ?? 0), 0);
    const idleRss = run.slots.map((slot) => processTimes(pid(slot))?.rssBytes ?? 0);
    const idleRssFronts = run.slots.map((slot) => rssOf(fronts(slot)));
    const idleMemory = run.slots.map((slot) => probeMemory(loopFile(dir, slot), Date.now()));
    const idleMaps = run.slots.map((slot) => privateBreakdown(pid(slot)));
    const startedAt = Date.now();
    const etcdCpuAtStart = etcdCpuSeconds();
    startSimulators(run, size);
    const registered = await waitForConnected(run, size, 0, connectLimitMs(size));
    const etcdRegistrationCpuS = etcdCpuSeconds() - etcdCpuAtStart;
    const connectAllMs = registered.complete ? registered.lastMs - startedAt : undefined;
    if (connectAllMs !== undefined) log(`${size} agents: all registered ${connectAllMs} ms after the simulators started`);
    /** Agents counted in the per-agent figures: all, or those that connected. */
    const measured = Math.max(1, registered.count);
    await sleep(3000);
    if (WARMUP_S > 0) {
      // The simulators' own figures ("self") cover the warm-up too.
      tellSimulators(run, 'flips on');
      await sleep(WARMUP_S * 1000);
    }

    const samplers = run.slots.map((slot) => new ProcessSampler(pid(slot), 500));
    const frontSamplers = run.slots.map((slot) => fronts(slot).map((p) => new ProcessSampler(p, 500)));
    const etcdSamplers = etcdPids().map((p) => new ProcessSampler(p, 500));
    run.pushes = [];
    run.pushesVia = new Map();
    run.noPush = 0;
    run.noPushDropped = 0;
    run.latePushes = [];
    const windowStart = Date.now();
    if (WARMUP_S === 0) tellSimulators(run, 'flips on');
    const scrapes: Scrape[][] = run.slots.map(() => []);
    const end = Date.now() + SECONDS * 1000;
    while (Date.now() < end) {
      await sleep(Math.min(SCRAPE_EVERY_MS, Math.max(0, end - Date.now())));
      const round = await Promise.all(run.slots.map((slot) => scrape(run, slot)));
      round.forEach((r, i) => scrapes[i]?.push(r));
    }
    tellSimulators(run, 'flips off');
    const windowEnd = Date.now();
    const usages = samplers.map((x) => x.stop());
    const frontUsages = frontSamplers.map((list) => list.map((x) => x.stop()));
    const etcdCpuPercent = Math.round(etcdSamplers.reduce((sum, x) => sum + x.stop().cpuPercent, 0) * 10) / 10;
    const totals = run.slots.map((_, i) => {
      if (FRONTS === 0) return undefined;
      const own = usages[i];
      const list = frontUsages[i] ?? [];
      const cpu = (own?.cpuPercent ?? 0) + list.reduce((sum, u) => sum + u.cpuPercent, 0);
      const rss = (own?.rssMaxBytes ?? 0) + list.reduce((sum, u) => sum + u.rssMaxBytes, 0);
      return { cpuPercent: Math.round(cpu * 10) / 10, rssMb: Math.round(rss / MB), kbPerAgent: Math.round((rss - (idleRss[i] ?? 0) - (idleRssFronts[i] ?? 0)) / 1024 / measured) };
    });
    const loadedMaps = run.slots.map((slot) => privateBreakdown(pid(slot)));
    const pushes = [...run.pushes];
    const pushesVia = new Map(run.pushesVia);
    const noPush = run.noPush;
    const noPushDropped = run.noPushDropped;
    await sleep(1200); // the probe's last second of the window (and the simulators' "self" lines)
    const simSelf = [...run.simSelf];
    if (simSelf.length > 0) {
      log(
        `${size} agents: simulated agents (${simSelf.length} processes) while flips were on: CPU ${simSelf.reduce((sum, x) => sum + x.cpuPercent, 0).toFixed(1)} % of a core in all, ` +
          `their event loops' delay p99 ${Math.max(...simSelf.map((x) => x.loopP99Ms))} ms, max ${Math.max(...simSelf.map((x) => x.loopMaxMs))} ms (the worst process; a push is timed when its simulator's loop reads it)`,
      );
    }
    const loops = run.slots.map((slot) => loopWindow(loopFile(dir, slot), windowStart, windowEnd));
    const lasts = scrapes.map((list) => list[list.length - 1]);
    const relayedSum = lasts.reduce((sum, l) => sum + (l?.relayed ?? 0), 0);
    const leaderIndex = etcd ? lasts.findIndex((l) => l?.leader === 1) : -1;
    run.slots.forEach((slot, i) => {
      const usage = usages[i];
      log(
        `${size} agents: ${slot.id}: CPU ${usage?.cpuPercent.toFixed(1)} % of a core, RSS ${((usage?.rssMaxBytes ?? 0) / MB).toFixed(0)} MB, ` +
          `event loop p99 ${loops[i]?.p99Ms ?? '-'} ms, max ${loops[i]?.maxMs ?? '-'} ms` +
          (totals[i] ? `; with its ${frontUsages[i]?.length} fronts: CPU ${totals[i]?.cpuPercent} % of a core (fronts ${frontUsages[i]?.map((u) => u.cpuPercent.toFixed(1)).join(', ')}), RSS ${totals[i]?.rssMb} MB, ${totals[i]?.kbPerAgent} KB per agent` : ''),
      );
    });
    log(`${size} agents: ${pushes.length} health flips pushed (median ${median(pushes)} ms)`);
    let etcdFigures: EtcdFigures | undefined;
    if (etcd) {
      const events = leadershipEvents(dir, run.slots).filter((e) => e.at <= windowEnd);
      const deposed = events.filter((e) => e.type === 'deposed');
      const registeredAt = registered.lastMs || windowStart;
      etcdFigures = {
        cpuPercent: etcdCpuPercent,
        registrationCpuS: Math.round(etcdRegistrationCpuS * 100) / 100,
        depositionsRegistering: deposed.filter((e) => e.at <= registeredAt).length,
        depositionsInWindow: deposed.filter((e) => e.at >= windowStart).length,
        elections: events.filter((e) => e.type === 'elected').length,
        events,
      };
      for (const e of events) log(`${size} agents: ${new Date(e.at).toISOString().slice(11, 23)} ${e.coordinator} ${e.type}${e.reason === undefined ? '' : ` (${e.reason})`}`);
      log(
        `${size} agents: etcd${hasTaskset ? ` on core ${ETCD_CORES}` : ''}: CPU ${etcdCpuPercent} % of a core in the window, ${etcdFigures.registrationCpuS} CPU s while the agents registered; ` +
          `leadership: ${etcdFigures.elections} election(s), ${etcdFigures.depositionsRegistering} deposition(s) while the agents registered, ${etcdFigures.depositionsInWindow} in the window`,
      );
    }
    log(`${size} agents: measured window, monotonic µs (--cpu-prof's clock): ${monotonicUs(windowStart)} to ${monotonicUs(windowEnd)}`);

    let stormAllMs: number | undefined;
    let stormFromKillMs: number | undefined;
    let stormAfterReadyMs: number | undefined;
    let stormBack: number | undefined;
    let stormPerSecond: number[] | undefined;
    let stormCpu: StormCpu | undefined;
    let leaderChange: LeaderChange | undefined;
    const stormLoops: Array<LoopWindow | undefined> = run.slots.map(() => undefined);
    if (STORM) {
      await sleep(2000);
      // One coordinator: it restarts. Several: the leader stops (it resigns, another takes over,
      // every relayed stream moves) and starts again as a follower.
      const victim = run.slots[Math.max(0, leaderIndex)] as CoordinatorSlot;
      const victimAddress = `127.0.0.1:${victim.grpcPort}`;
      const victimId = `bench-${size}-${victim.id}`;
      const addressBefore = new Map(run.addressOf);
      const handshakesBefore = etcd ? await Promise.all(run.slots.map(async (slot) => metricValue((await httpGet(settings, slot, '/metrics')).body, 'lbha_grpc_tls_handshakes_completed_total'))) : [];
      const killedAt = Date.now();
      await stopCoordinator(victim.process, 'SIGTERM');
      const restartAt = Date.now();
      start(run, victim);
      const cpu = cpuTimeline(pid(victim));
      const cpuTotal = FRONTS > 0 ? cpuTimeline(pid(victim), true) : undefined;
      await waitForHttp(settings, victim);
      const readyAt = Date.now();
      // Back: as many as were there before the stop (all of them, unless the run is partial).
      // Several: welcomed by another coordinator than the stopped one (the new leader, directly or relayed).
      const back = await waitForConnected(run, registered.count, etcd ? killedAt : restartAt, connectLimitMs(size), etcd ? victimId : undefined);
      stormBack = back.count;
      const lastAt = back.lastMs;
      stormAllMs = back.complete ? lastAt - (etcd ? killedAt : restartAt) : undefined;
      stormFromKillMs = back.complete ? lastAt - killedAt : undefined;
      stormAfterReadyMs = back.complete ? Math.max(0, lastAt - readyAt) : undefined;
      await sleep(1200);
      // The restarted coordinator's handshakes (its counters start at 0 with it): one completed per
      // agent is the floor; more are connections opened and not used. Slots given back by their
      // timer (limits/handshake-queue.ts) each let one more handshake run at once.
      const exposition = (await httpGet(settings, victim, '/metrics')).body;
      const slotsTimedOut = metricValue(exposition, 'lbha_grpc_tls_handshake_slots_timed_out_total');
      log(`${size} agents: reconnect storm: TLS handshake slots given back by their timer: ${slotsTimedOut ?? 'not reported'}`);
      const completed = metricValue(exposition, 'lbha_grpc_tls_handshakes_completed_total');
      if (completed !== undefined) {
        const failed = ['timeout', 'certificate', 'protocol', 'closed'].map((r) => `${r} ${labelledMetricValue(exposition, 'lbha_grpc_tls_handshakes_failed_total', `reason="${r}"`) ?? '-'}`);
        const refused = ['total', 'per_address'].reduce((sum, r) => sum + (labelledMetricValue(exposition, 'lbha_api_connections_refused_total', `api="grpc",reason="${r}"`) ?? 0), 0);
        const durationSum = metricValue(exposition, 'lbha_grpc_tls_handshake_duration_seconds_sum') ?? 0;
        log(
          `${size} agents: reconnect storm: TLS handshakes of ${victim.id} since its restart: ${metricValue(exposition, 'lbha_grpc_tls_handshakes_started_total') ?? '-'} started, ` +
            `${completed} completed (completed minus agents back: ${completed - back.count}), failed: ${failed.join(', ')}; connections refused before TLS: ${refused}; ` +
            `a completed handshake took ${completed > 0 ? ((durationSum / completed) * 1000).toFixed(1) : '-'} ms on average from its start`,
        );
      }
      run.slots.forEach((slot, i) => {
        stormLoops[i] = loopWindow(loopFile(dir, slot), (slot === victim ? restartAt : killedAt) - 1000, lastAt + 1000);
      });
      if (etcd) {
        const after = await Promise.all(run.slots.map(async (slot) => (await httpGet(settings, slot, '/metrics')).body));
        const newLeaderIndex = after.findIndex((body) => metricValue(body, 'lbha_coordinator_leader') === 1);
        const endedSince = (node: string): boolean => (run.ends.get(node) ?? []).some((t) => t >= killedAt && t <= lastAt);
        let ownBefore = 0;
        let ownEnded = 0;
        let relayedBefore = 0;
        let relayedEnded = 0;
        for (const [node, address] of addressBefore) {
          const own = address === victimAddress;
          if (own) ownBefore++;
          else relayedBefore++;
          if (endedSince(node)) {
            if (own) ownEnded++;
            else relayedEnded++;
          }
        }
        const moved = [...run.welcomes.values()].filter((list) => list.some((w) => w.at >= killedAt && w.at <= lastAt && !w.fresh)).length;
        let followerHandshakes: number | undefined = 0;
        run.slots.forEach((slot, i) => {
          if (slot === victim) return;
          const before = handshakesBefore[i];
          const now = metricValue(after[i] ?? '', 'lbha_grpc_tls_handshakes_completed_total');
          followerHandshakes = before === undefined || now === undefined || followerHandshakes === undefined ? undefined : followerHandshakes + (now - before);
        });
        const restartedHandshakes = metricValue(after[run.slots.indexOf(victim)] ?? '', 'lbha_grpc_tls_handshakes_completed_total');
        const newLeader = newLeaderIndex < 0 ? undefined : run.slots[newLeaderIndex]?.id;
        leaderChange = { newLeader, ownBefore, ownEnded, relayedBefore, relayedEnded, moved, followerHandshakes, restartedHandshakes };
        log(
          `${size} agents: leader change: streams ended: ${ownEnded} of the stopped leader's ${ownBefore} own, ${relayedEnded} of the followers' ${relayedBefore} relayed; ` +
            `welcomed again on a stream that stayed open: ${moved}; TLS handshakes completed: ${followerHandshakes ?? '-'} by the followers, ${restartedHandshakes ?? '-'} by the stopped leader since its restart; ` +
            `new leader ${newLeader ?? 'none'}, its event loop max ${newLeaderIndex < 0 ? '-' : (stormLoops[newLeaderIndex]?.maxMs ?? '-')} ms until all were back`,
        );
      }
      stormPerSecond = reconnectsPerSecond(run, etcd ? killedAt : restartAt);
      cpu.stop();
      cpuTotal?.stop();
      const backTimes = [...run.connects.values()].map((times) => times.find((x) => x >= (etcd ? killedAt : restartAt))).filter((t): t is number => t !== undefined).sort((a, b) => a - b);
      const nth = (q: number): number => backTimes[Math.min(backTimes.length - 1, Math.max(0, Math.ceil(q * backTimes.length) - 1))] ?? lastAt;
      stormCpu = { readyS: cpu.at(readyAt), firstS: cpu.at(nth(0)), p10S: cpu.at(nth(0.1)), p50S: cpu.at(nth(0.5)), p90S: cpu.at(nth(0.9)), allS: cpu.at(lastAt + 100), allTotalS: cpuTotal?.at(lastAt + 100) };
      log(`${size} agents: reconnect storm: CPU seconds of ${victim.id} since its restart: answered ${stormCpu.readyS}, first back ${stormCpu.firstS}, 10 % ${stormCpu.p10S}, 50 % ${stormCpu.p50S}, 90 % ${stormCpu.p90S}, all ${stormCpu.allS}${stormCpu.allTotalS === undefined ? '' : ` (with its fronts ${stormCpu.allTotalS})`}`);
      log(
        `${size} agents: reconnect storm: ${back.complete ? 'all' : `only ${back.count} of ${registered.count}`} registered again ${lastAt - (etcd ? killedAt : restartAt)} ms after the ${etcd ? `leader (${victim.id}) stopped` : 'restart'} ` +
          `(${lastAt - killedAt} ms after the stop, which took ${restartAt - killedAt} ms; ${victim.id} answered again after ${readyAt - restartAt} ms)`,
      );
      log(`${size} agents: reconnect storm: re-registrations per second from the ${etcd ? 'stop' : 'restart'}: ${stormPerSecond.join(' ')}`);
      // The clock of node's --cpu-prof (the monotonic clock, in µs), to cut the storm out of a profile.
      log(`${size} agents: reconnect storm, monotonic µs (--cpu-prof's clock): restart ${monotonicUs(restartAt)}, answered ${monotonicUs(readyAt)}, all back ${monotonicUs(lastAt)}`);
    }
    const pinging = [...run.liveness.values()].filter((l) => l === 'connection').length;
    log(`${size} agents: liveness of each agent's last stream: ${pinging} by PINGs on the connection, ${run.liveness.size - pinging} by heartbeat messages`);
    return {
      pinging,
      agents: size,
      connected: registered.count,
      complete: registered.complete,
      seconds: Math.round(usages[0]?.seconds ?? 0),
      connectAllMs,
      coordinators: run.slots.map((slot, i): CoordinatorFigures => {
        const usage = usages[i];
        const list = scrapes[i] ?? [];
        const last = lasts[i];
        return {
          id: slot.id,
          role: etcd ? (i === leaderIndex ? 'leader' : 'follower') : 'only',
          streams: etcd ? (i === leaderIndex ? size - relayedSum : (last?.relayed ?? 0)) : size,
          cpuPercent: Math.round((usage?.cpuPercent ?? 0) * 10) / 10,
          rssMb: Math.round((usage?.rssMaxBytes ?? 0) / MB),
          total: totals[i],
          loop: loops[i],
          stormLoop: stormLoops[i],
          kbPerAgent: Math.round(((usage?.rssMaxBytes ?? 0) - (idleRss[i] ?? 0)) / 1024 / measured),
          kbPerAgentSplit: perAgentSplit(idleMemory[i], loops[i]?.memory, measured, { idle: idleMaps[i], loaded: loadedMaps[i] }),
          metricsBytes: last?.bytes ?? 0,
          metricsRenderMsP50: median(list.map((x) => x.renderMs)),
          metricsServerRenderMsP50: median(list.map((x) => x.serverRenderMs ?? 0)),
          connectedAtCoordinator: last?.connected ?? 0,
          pushMsOfItsAgents: distribution(pushesVia.get(`127.0.0.1:${slot.grpcPort}`) ?? []),
          pushesOfItsAgents: (pushesVia.get(`127.0.0.1:${slot.grpcPort}`) ?? []).length,
        };
      }),
      pushMs: distribution(pushes),
      pushes: pushes.length,
      noPush,
      noPushDropped,
      latePushes: [...run.latePushes],
      stormAllMs,
      stormFromKillMs,
      stormAfterReadyMs,
      stormBack,
      stormPerSecond,
      stormCpu,
      leaderChange,
      simSelf,
      etcd: etcdFigures,
    };
  } finally {
    for (const stop of stops) stop();
    await stopSimulators(run);
    await Promise.all(run.slots.map((slot) => stopCoordinator(slot.process)));
    await etcd?.stop();
    runs.delete(run);
    if (KEEP_DIR) log(`${size} agents: logs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

async function cleanupAll(): Promise<void> {
  for (const run of runs) {
    for (const s of run.sims) s.kill('SIGKILL');
    for (const slot of run.slots) slot.process?.proc.kill('SIGKILL');
    await run.etcd?.stop();
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
  const where = hasTaskset ? `core ${COORDINATOR_CORES} (taskset)` : 'any core (no taskset)';
  out.push(
    `${COORDINATORS === 1 ? `Coordinator on ${where}` : `${COORDINATORS} coordinators on etcd (${ETCD_MEMBERS} member${ETCD_MEMBERS === 1 ? '' : 's'}${hasTaskset ? ` on core ${ETCD_CORES}` : ''}), the coordinators on ${where}, agents spread over them, followers relaying to the leader; per coordinator: KB/agent is its RSS growth over the fleet's agents, streams the agent connections it terminates; storm: the leader stops and restarts, time from the stop`}, ${TLS ? 'mutual TLS' : 'plaintext'}, simulated agents in other processes${hasTaskset && cores > 1 ? ` (cores ${SIMULATOR_CORES})` : ''}; event loop: gaps between 1 ms ticks in the coordinator, the longest split into ran / waited for the core; ${SECONDS} s measured per size, a sign of life per agent (PINGs every ${PING_MS > 0 ? `${PING_MS} ms` : 'heartbeat.ping (default: half of staleAfter)'} for ${sizes.map((s) => s.pinging).join('/')} of them, heartbeat messages every second for the others; staleAfter ${STALE_AFTER_MS || 3500} ms), a health flip every ${FLIP_MEAN_S} s per agent on average; load average at the end ${load}`,
  );
  const rows = sizes.flatMap((s) => s.coordinators.map((c) => ({ s, c })));
  out.push(
    table(
      ['agents', 'connected', 'coordinator', 'streams', 'connect all ms', 'CPU % core', 'RSS MB', 'KB/agent', 'loop p99 ms', 'max', '(ran', 'waited)', 'ran max', 'flip->push p50 ms', 'p95', 'p99', 'flips', 'no push', 'its agents: p50', 'p99', 'flips', '/metrics KB', 'fetch ms', 'storm: all back ms', 'storm loop max'],
      rows.map(({ s, c }) => [
        s.agents,
        s.complete ? s.connected : `${s.connected} PARTIAL`,
        c.role === 'only' ? c.id : `${c.id} ${c.role}`,
        c.streams,
        s.connectAllMs ?? '-',
        c.cpuPercent,
        c.rssMb,
        c.kbPerAgent,
        c.loop?.p99Ms ?? '-',
        c.loop?.maxMs ?? '-',
        c.loop?.ranInMaxMs ?? '-',
        c.loop?.waitedInMaxMs ?? '-',
        c.loop?.ranMaxMs ?? '-',
        s.pushMs.p50,
        s.pushMs.p95,
        s.pushMs.p99,
        s.pushes,
        s.noPush,
        c.pushMsOfItsAgents.p50,
        c.pushMsOfItsAgents.p99,
        c.pushesOfItsAgents,
        Math.round(c.metricsBytes / 1024),
        c.metricsRenderMsP50,
        s.stormAllMs ?? (s.stormBack === undefined ? '-' : `${s.stormBack} back`),
        c.stormLoop?.maxMs ?? '-',
      ]),
    ),
  );
  for (const s of sizes) {
    if (s.etcd) {
      out.push(
        `etcd at ${s.agents} agents: CPU ${s.etcd.cpuPercent} % of a core in the window, ${s.etcd.registrationCpuS} CPU s while the agents registered; ` +
          `${s.etcd.elections} election(s), ${s.etcd.depositionsRegistering} deposition(s) while the agents registered, ${s.etcd.depositionsInWindow} in the window`,
      );
    }
  }
  for (const s of sizes.filter((x) => !x.complete)) {
    out.push(`PARTIAL at ${s.agents} agents: only ${s.connected} connected within ${Math.round(connectLimitMs(s.agents) / 1000)} s; every figure of that size is for those ${s.connected} (KB/agent divides by them), "connect all" is not measured.`);
  }
  out.push('');
  out.push(`Placement (the pure function, ${PLACEMENT_REPEATS} repeats, one node's health changed before each)`);
  out.push(table(['shape', 'nodes', 'VIPs', 'first call ms', 'p50 ms', 'max ms'], placements.map((p) => [p.shape, p.nodes, p.vips, p.coldMs, p.warmMsP50, p.warmMsMax])));
  out.push('');
  for (const { s, c } of rows) {
    lines.push(
      jsonLine({
        scenario: 'coordinator-scale',
        agents: s.agents,
        agents_pinging: s.pinging,
        ping_ms: PING_MS || null,
        stale_after_ms: STALE_AFTER_MS || 3500,
        tls: TLS,
        ...(Object.keys(COORDINATOR_ENV).length > 0 ? { coordinator_env: COORDINATOR_ENV } : {}),
        store: STORE,
        coordinators: COORDINATORS,
        coordinator: c.id,
        role: c.role,
        streams: c.streams,
        load_average: load,
        seconds: s.seconds,
        warmup_s: WARMUP_S,
        // false: not every agent connected within the limit; every figure is for the agents that did.
        complete: s.complete,
        agents_connected: s.connected,
        connect_all_ms: s.connectAllMs ?? null,
        fronts: FRONTS,
        coordinator_cores: hasTaskset ? COORDINATOR_CORES : null,
        etcd_cores: s.etcd && hasTaskset ? ETCD_CORES : null,
        etcd_cpu_percent_core: s.etcd?.cpuPercent ?? null,
        etcd_cpu_s_registration: s.etcd?.registrationCpuS ?? null,
        // Leadership changes the coordinators logged up to the window's end (resignations left out).
        elections: s.etcd?.elections ?? null,
        depositions_registering: s.etcd?.depositionsRegistering ?? null,
        depositions_in_window: s.etcd?.depositionsInWindow ?? null,
        fronts_cores: FRONTS > 0 ? FRONTS_CORES || COORDINATOR_CORES : null,
        cpu_percent_core: c.cpuPercent,
        rss_mb: c.rssMb,
        // With fronts: the coordinator and its fronts together (cpu_percent_core and rss_mb are the coordinator's own).
        cpu_percent_core_total: c.total?.cpuPercent ?? null,
        rss_mb_total: c.total?.rssMb ?? null,
        kb_per_agent_total: c.total?.kbPerAgent ?? null,
        // Gaps between the ticks of a 1 ms timer in the coordinator over the window (loop-probe.ts).
        eventloop_p50_ms: c.loop?.p50Ms ?? null,
        eventloop_p99_ms: c.loop?.p99Ms ?? null,
        eventloop_max_ms: c.loop?.maxMs ?? null,
        eventloop_max_ran_ms: c.loop?.ranInMaxMs ?? null,
        eventloop_max_waited_for_core_ms: c.loop?.waitedInMaxMs ?? null,
        eventloop_ran_in_one_gap_max_ms: c.loop?.ranMaxMs ?? null,
        eventloop_second_max_ms_p50: c.loop?.secondMaxP50Ms ?? null,
        kb_per_agent: c.kbPerAgent,
        kb_per_agent_js_heap: c.kbPerAgentSplit?.jsHeap ?? null,
        kb_per_agent_external: c.kbPerAgentSplit?.external ?? null,
        kb_per_agent_native_and_slack: c.kbPerAgentSplit?.other ?? null,
        // Of native_and_slack: the V8 heap's free pages; and the private pages of glibc's main
        // arena ([heap]) and of anonymous maps (V8's heap, other arenas), from /proc/PID/smaps.
        kb_per_agent_v8_heap_free: c.kbPerAgentSplit?.heapFree ?? null,
        kb_per_agent_c_heap: c.kbPerAgentSplit?.cHeap ?? null,
        kb_per_agent_anonymous: c.kbPerAgentSplit?.anonymous ?? null,
        // Time V8's collections held the main thread in the window, as a share of the window and
        // of the CPU the process used (its other threads included).
        gc_percent_of_window: c.loop ? Math.round((c.loop.gcMs / (c.loop.seconds * 1000)) * 1000) / 10 : null,
        gc_percent_of_cpu: c.loop && c.cpuPercent > 0 ? Math.round((c.loop.gcMs / (c.loop.seconds * 10 * c.cpuPercent)) * 1000) / 10 : null,
        // What its JavaScript heap allocated in the window, per second (the probe's count).
        allocated_mb_per_s: c.loop?.allocatedBytes == null ? null : Math.round((c.loop.allocatedBytes / c.loop.seconds / MB) * 10) / 10,
        flip_to_push_ms_p50: s.pushMs.p50,
        flip_to_push_ms_p95: s.pushMs.p95,
        flip_to_push_ms_p99: s.pushMs.p99,
        flip_to_push_ms_max: s.pushMs.max,
        flips: s.pushes,
        flips_without_push: s.noPush,
        flips_without_push_stream_lost: s.noPushDropped,
        // Pushes that came later than 10 s after their flip, up to when the figures are taken (a
        // flip of the last 10 s of the window may be among them, though not among the unpushed).
        flips_without_push_pushed_later: s.latePushes.length,
        flips_without_push_pushed_later_ms_max: s.latePushes.length === 0 ? null : Math.max(...s.latePushes),
        // The simulator processes while flips were on: their CPU in all (% of one core), and the
        // worst one's event-loop delay, which every flip it times includes.
        simulators_cpu_percent: s.simSelf.length === 0 ? null : Math.round(s.simSelf.reduce((sum, x) => sum + x.cpuPercent, 0) * 10) / 10,
        simulators_loop_p99_ms_max: s.simSelf.length === 0 ? null : Math.max(...s.simSelf.map((x) => x.loopP99Ms)),
        simulators_loop_max_ms: s.simSelf.length === 0 ? null : Math.max(...s.simSelf.map((x) => x.loopMaxMs)),
        // Flips of the agents connected to this coordinator (relayed to the leader when it follows).
        flips_of_its_agents: c.pushesOfItsAgents,
        flip_to_push_ms_p50_its_agents: c.pushMsOfItsAgents.p50,
        flip_to_push_ms_p99_its_agents: c.pushMsOfItsAgents.p99,
        metrics_bytes: c.metricsBytes,
        metrics_render_ms_p50: c.metricsRenderMsP50,
        metrics_server_render_ms_p50: c.metricsServerRenderMsP50,
        connected_at_coordinator: c.connectedAtCoordinator,
        storm_all_registered_ms: s.stormAllMs ?? null,
        storm_from_stop_ms: s.stormFromKillMs ?? null,
        storm_after_ready_ms: s.stormAfterReadyMs ?? null,
        storm_agents_back: s.stormBack ?? null,
        // Several coordinators: the streams the leader's stop ended (its own agents', the agents
        // relayed by followers), the agents welcomed again on a stream that stayed open, the TLS
        // handshakes completed until all were back, and which coordinator leads after.
        storm_new_leader: s.leaderChange?.newLeader ?? null,
        storm_own_streams_before: s.leaderChange?.ownBefore ?? null,
        storm_own_streams_ended: s.leaderChange?.ownEnded ?? null,
        storm_relayed_streams_before: s.leaderChange?.relayedBefore ?? null,
        storm_relayed_streams_ended: s.leaderChange?.relayedEnded ?? null,
        storm_moved_streams: s.leaderChange?.moved ?? null,
        storm_follower_tls_handshakes: s.leaderChange?.followerHandshakes ?? null,
        storm_restarted_tls_handshakes: s.leaderChange?.restartedHandshakes ?? null,
        storm_reconnects_per_second: s.stormPerSecond ?? null,
        // CPU seconds of the restarted coordinator (all its threads) at the storm's milestones.
        storm_cpu_s_answered: s.stormCpu?.readyS ?? null,
        storm_cpu_s_first_back: s.stormCpu?.firstS ?? null,
        storm_cpu_s_10pct_back: s.stormCpu?.p10S ?? null,
        storm_cpu_s_50pct_back: s.stormCpu?.p50S ?? null,
        storm_cpu_s_90pct_back: s.stormCpu?.p90S ?? null,
        storm_cpu_s_all_back: s.stormCpu?.allS ?? null,
        storm_cpu_s_all_back_total: s.stormCpu?.allTotalS ?? null,
        storm_eventloop_p99_ms: c.stormLoop?.p99Ms ?? null,
        storm_eventloop_max_ms: c.stormLoop?.maxMs ?? null,
        storm_eventloop_ran_in_one_gap_max_ms: c.stormLoop?.ranMaxMs ?? null,
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
