// The coordinator processes of the scale benchmark: one with the file store, or several on a
// real etcd (test/support/etcd-cluster.ts) as a deployment runs them, each with its own ports,
// configuration, state dir, log and loop-probe file, pinned to the coordinator's cores.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { get as plainGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { COORDINATOR_NODE_FLAGS, COORDINATOR_OPENSSL_FLAG } from '@lbha/coordinator';
import { freePort, waitFor } from '@lbha/test-support';

export interface CoordinatorProcess {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<void>;
}

/** One coordinator of the run: its addresses and files, and the process running it now. */
export interface CoordinatorSlot {
  readonly id: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly configFile: string;
  /** Processes started so far (1 after the first start, 2 after a restart...). */
  starts: number;
  process: CoordinatorProcess | undefined;
}

export interface SlotSettings {
  readonly dir: string;
  readonly tls: boolean;
  /** etcd client URLs; empty: the file store (one coordinator). */
  readonly etcdEndpoints: readonly string[];
  /** store.leaseTtl of each coordinator on etcd, seconds (requests get a third of it, at most 3 s). */
  readonly leaseTtlS: number;
  /** The coordinator's script (this checkout's build, or another's to compare). */
  readonly bin: string;
  /** The node binary's flags before the script (profilers, the loop probe), after the shipped ones. */
  readonly nodeFlags: readonly string[];
  /** Extra environment of the coordinators (on top of the shipped one). */
  readonly env: Readonly<Record<string, string>>;
  /** Start the coordinator with the node flags it ships with (COORDINATOR_NODE_FLAGS and its OpenSSL configuration) first; off to compare with a build that had none. */
  readonly shippedFlags: boolean;
  /** Runs a command pinned to the coordinator's cores. */
  readonly pinned: (command: string, args: readonly string[]) => [string, string[]];
  /** heartbeat.ping and heartbeat.staleAfter, ms (0: the coordinator's defaults). */
  readonly heartbeat?: { readonly pingMs: number; readonly staleAfterMs: number };
  /** grpc.fronts: front processes holding the agents' connections (0: none). */
  readonly fronts?: number;
}

/** Where loop-probe.ts in a coordinator's `n`th process writes its seconds. */
export function loopFile(dir: string, slot: CoordinatorSlot, n = slot.starts): string {
  return join(dir, `loop-${slot.id}-${n}.jsonl`);
}

export async function createSlots(settings: SlotSettings, size: number, count: number): Promise<CoordinatorSlot[]> {
  const { dir, tls, etcdEndpoints, leaseTtlS } = settings;
  const slots: CoordinatorSlot[] = [];
  for (let i = 1; i <= count; i++) {
    const slot: CoordinatorSlot = { id: `c${i}`, grpcPort: await freePort(), httpPort: await freePort(), configFile: join(dir, `coordinator-c${i}.yaml`), starts: 0, process: undefined };
    const store =
      etcdEndpoints.length === 0
        ? []
        : [
            // Longer than the defaults (5 s, 1 s): on a machine loaded by the benchmark itself, a
            // slow etcd answer must not make leadership change hands in the middle of a window.
            `store: { kind: etcd, endpoints: [${etcdEndpoints.map((e) => `"${e}"`).join(', ')}], prefix: /lbha-bench/, leaseTtl: ${leaseTtlS}s, requestTimeout: ${Math.min(3000, Math.floor((leaseTtlS * 1000) / 3))}ms }`,
          ];
    writeFileSync(
      slot.configFile,
      [
        `id: bench-${size}-${slot.id}`,
        `grpc: { listen: ["127.0.0.1:${slot.grpcPort}"], fronts: ${settings.fronts ?? 0} }`,
        `http: { listen: "127.0.0.1:${slot.httpPort}" }`,
        tls ? `tls: { ca: ${join(dir, 'tls', 'ca.crt')}, cert: ${join(dir, 'tls', 'coordinator.crt')}, key: ${join(dir, 'tls', 'coordinator.key')} }` : 'tls: { insecure: true }',
        // Every simulated agent (and every relaying coordinator) connects from 127.0.0.1: the per-address cap is for real fleets.
        'limits: { connectionsPerAddress: 100000 }',
        `spec: ${join(dir, 'cluster.yaml')}`,
        `stateDir: ${join(dir, `state-${slot.id}`)}`,
        `heartbeat: { interval: 1s, staleAfter: ${settings.heartbeat?.staleAfterMs || 3500}ms${settings.heartbeat?.pingMs ? `, ping: ${settings.heartbeat.pingMs}ms` : ''} }`,
        'log: { level: info }',
        ...store,
        '',
      ].join('\n'),
    );
    slots.push(slot);
  }
  return slots;
}

export function startCoordinator(settings: SlotSettings, slot: CoordinatorSlot, probeScript: string | undefined): CoordinatorProcess {
  slot.starts++;
  const logFd = openSync(logFile(settings.dir, slot), 'a');
  const probe = probeScript === undefined ? [] : ['--import', probeScript];
  const shipped = settings.shippedFlags ? [...COORDINATOR_NODE_FLAGS, COORDINATOR_OPENSSL_FLAG] : [];
  const [cmd, args] = settings.pinned(process.execPath, [...shipped, ...settings.nodeFlags, ...probe, settings.bin, '--config', slot.configFile]);
  const env = { ...process.env, ...settings.env, LBHA_LOOP_PROBE_OUT: loopFile(settings.dir, slot) };
  const proc = spawn(cmd, args, { stdio: ['ignore', logFd, logFd], env });
  closeSync(logFd);
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  slot.process = { proc, pid: proc.pid ?? -1, exited };
  return slot.process;
}

export function logFile(dir: string, slot: CoordinatorSlot, n = slot.starts): string {
  return join(dir, `coordinator-${slot.id}-${n}.log`);
}

export async function stopCoordinator(c: CoordinatorProcess | undefined, sig: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (c === undefined || c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill(sig);
  const timer = setTimeout(() => c.proc.kill('SIGKILL'), 10_000);
  await c.exited;
  clearTimeout(timer);
}

/** GET over a coordinator's HTTP API (HTTPS with the run's CA when TLS is on); gzip accepted. */
export function httpGet(settings: Pick<SlotSettings, 'dir' | 'tls'>, slot: CoordinatorSlot, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = `${settings.tls ? 'https' : 'http'}://127.0.0.1:${slot.httpPort}${path}`;
    const options = { headers: { 'accept-encoding': 'gzip' }, ...(settings.tls ? { ca: readFileSync(join(settings.dir, 'tls', 'ca.crt')) } : {}) };
    const req = (settings.tls ? httpsGet : plainGet)(url, options, (res) => {
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

export async function waitForHttp(settings: SlotSettings, slot: CoordinatorSlot, timeoutMs = 60_000): Promise<void> {
  await waitFor(`coordinator ${slot.id} to answer /healthz`, async () => {
    if (slot.process !== undefined && slot.process.proc.exitCode !== null) {
      throw new Error(`coordinator ${slot.id} exited: ${readFileSync(logFile(settings.dir, slot), 'utf8').slice(-2000)}`);
    }
    try {
      const res = await httpGet(settings, slot, '/healthz');
      return res.status === 200 ? { done: true, value: undefined } : { done: false, observed: `HTTP ${res.status}` };
    } catch (error) {
      return { done: false, observed: (error as Error).message };
    }
  }, { timeoutMs, intervalMs: 50 });
}

/** A sample's value in a Prometheus exposition (the first series of that name). */
export function metricValue(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/** The value of one labelled sample (`labels` as the exposition writes them, e.g. `reason="timeout"`), undefined when absent. */
export function labelledMetricValue(text: string, name: string, labels: string): number | undefined {
  const head = `\n${name}{${labels}} `;
  const at = text.indexOf(head);
  if (at < 0) return undefined;
  const end = text.indexOf('\n', at + head.length);
  return Number(text.slice(at + head.length, end < 0 ? undefined : end));
}

/** The coordinator that says it leads (lbha_coordinator_leader 1); waits for exactly one. */
export async function waitForLeader(settings: SlotSettings, slots: readonly CoordinatorSlot[], timeoutMs = 60_000): Promise<CoordinatorSlot> {
  return waitFor('exactly one coordinator to lead', async () => {
    const flags = await Promise.all(
      slots.map(async (s) => {
        try {
          return metricValue((await httpGet(settings, s, '/metrics')).body, 'lbha_coordinator_leader') ?? 0;
        } catch {
          return 0;
        }
      }),
    );
    const leaders = slots.filter((_, i) => flags[i] === 1);
    return leaders.length === 1 ? { done: true, value: leaders[0] as CoordinatorSlot } : { done: false, observed: `${leaders.length} leaders` };
  }, { timeoutMs, intervalMs: 250 });
}

/** A leadership change a coordinator logged (election.elected / election.deposed). */
export interface LeadershipLogEvent {
  readonly at: number;
  readonly coordinator: string;
  readonly type: 'elected' | 'deposed';
  readonly reason: string | undefined;
}

/**
 * Every election and deposition the run's coordinators logged, all their processes, in time
 * order. A deposition of a coordinator that was stopping (the storm's) is left out: it resigned.
 */
export function leadershipEvents(dir: string, slots: readonly CoordinatorSlot[]): LeadershipLogEvent[] {
  const events: LeadershipLogEvent[] = [];
  for (const slot of slots) {
    for (let n = 1; n <= slot.starts; n++) {
      let text: string;
      try {
        text = readFileSync(logFile(dir, slot, n), 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n')) {
        if (!line.includes('"event":"election.elected"') && !line.includes('"event":"election.deposed"')) continue;
        let e: { time?: string; event?: string; reason?: string };
        try {
          e = JSON.parse(line) as typeof e;
        } catch {
          continue;
        }
        if (e.event === 'election.deposed' && e.reason === 'coordinator stopping') continue;
        events.push({ at: Date.parse(e.time ?? ''), coordinator: slot.id, type: e.event === 'election.elected' ? 'elected' : 'deposed', reason: e.reason });
      }
    }
  }
  return events.sort((a, b) => a.at - b.at);
}
