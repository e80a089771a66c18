// The coordinator's front processes (grpc.fronts; docs/design/fronts.md). The coordinator binds
// each TCP address of grpc.listen itself and hands the bound socket to every front, which
// listens on it with the coordinator's backlog; the kernel gives each new connection to one of
// the fronts, and the coordinator never accepts on it. The fronts relay agent streams to the
// coordinator over a unix socket in a directory of its own in stateDir (mode 0700): only the coordinator's
// user can connect to it, so what arrives there is taken as a front's. A front that exits while
// the coordinator runs is started again; its agents reconnect to the others meanwhile. Node 20
// has no SO_REUSEPORT, and a net.Server that listens also accepts: the socket is bound with
// node's own `net._createServerHandle` (what its cluster module does for a shared handle), which
// binds without listening, and the fronts listen on it.
import { fork, type ChildProcess } from 'node:child_process';
import { lookup } from 'node:dns/promises';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import * as net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Logger, TlsConfig } from '@lbha/shared';
import { parseListenAddress } from '../limits/grpc-listener.js';
import type { ConnectionStats } from '../limits/connection-limiter.js';
import type { HandshakeQueueStats } from '../limits/handshake-queue.js';
import type { LimitsConfig } from '../limits/limits-config.js';
import type { HandshakeTotals } from '../metrics/handshake-timings.js';
import type { FromFront, FrontCounts, FrontStart, ToFront } from './front-wire.js';

/** The fronts' socket directory in stateDir: `fronts-` and six random characters (mkdtemp, mode 0700). */
const SOCKET_DIR_PREFIX = 'fronts-';

const FRONT_SCRIPT = fileURLToPath(new URL('./front-main.js', import.meta.url));

/** A front that does not say it listens within this long after it was started is stopped and started again. */
const START_TIMEOUT_MS = 15_000;
/** A front that exits is started again after this long, doubled (up to the max) while it keeps dying within a minute. */
const RESTART_MS = 200;
const RESTART_MAX_MS = 10_000;

interface RawHandle {
  getsockname(out: { port?: number }): number;
  close(): void;
}

type CreateServerHandle = (address: string, port: number, addressType: number) => RawHandle | number;

/** Binds host:port without listening (see the head of this file). */
async function bindOnly(host: string, port: number): Promise<{ handle: RawHandle; port: number }> {
  const { address, family } = await lookup(host);
  const create = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;
  const handle = create(address, port, family);
  if (typeof handle === 'number') throw new Error(`grpc.listen: cannot bind ${host}:${port}: ${getSystemErrorName(handle)}`);
  const out: { port?: number } = {};
  handle.getsockname(out);
  return { handle, port: out.port ?? port };
}

export interface FrontPoolOptions {
  readonly count: number;
  /** The coordinator's stateDir: the fronts' socket directory is made there. */
  readonly stateDir: string;
  /** The coordinator's id: the fronts are `<id>/front-<n>`. */
  readonly id: string;
  readonly tls: TlsConfig;
  readonly limits: LimitsConfig;
  readonly maxMessageBytes: number;
  readonly livenessIntervalMs: number;
  readonly deadConnectionMs: number;
  readonly logLevel: string;
  readonly logger: Logger;
  /** Adds the services the fronts reach (AgentService, ControlService, health, reflection) to the fronts' server: every call on it is a front's. */
  readonly serve: (server: Server) => void;
  /** node's flags for the fronts (default: the coordinator's own V8 and OpenSSL flags). */
  readonly execArgv?: readonly string[];
  /** Told the handshakes the fronts counted since their previous counts (the coordinator's metrics add them to its own). */
  readonly onHandshakes?: (more: HandshakeTotals) => void;
}

/** What the fronts' listeners count, together: connections and handshakes now (the fronts running), and so far (every front since the pool started). */
export interface FrontsStats {
  readonly connections: ConnectionStats;
  readonly handshakes: HandshakeQueueStats;
}

interface Slot {
  readonly n: number;
  child: ChildProcess | undefined;
  startedAt: number;
  delayMs: number;
  timer: NodeJS.Timeout | undefined;
  /** The running front's last counts (undefined: none yet). */
  counts: FrontCounts | undefined;
}

/**
 * The flags of this process a front runs with too: V8's heap setting, the OpenSSL configuration,
 * and the CPU profiler's (a coordinator run with --cpu-prof profiles its fronts too, each into a
 * file of its own: the names carry the process id).
 */
function inheritedFlags(): string[] {
  const inherited = ['--heap-growing-percent', '--openssl-config', '--max-old-space-size', '--cpu-prof'];
  return process.execArgv.filter((a) => inherited.some((f) => a.startsWith(f)));
}

export class FrontPool {
  private dir: string | undefined;
  private readonly inner: Server;
  private readonly bound: { address: string; handle: RawHandle }[] = [];
  private readonly slots: Slot[] = [];
  private stopping = false;
  /** Fronts started again after they exited. */
  restarts = 0;
  /** The fronts' counters so far, every front's since the pool started (a front's own start at 0). */
  private readonly counted = { refusedTotal: 0, refusedPerAddress: 0, started: 0, slotsTimedOut: 0 };

  constructor(private readonly opts: FrontPoolOptions) {
    this.inner = new Server({
      'grpc.max_receive_message_length': opts.maxMessageBytes,
      // A front puts at most this many agent streams on one connection here, as a follower does towards its leader.
      'grpc.max_concurrent_streams': opts.limits.streamsPerConnection,
      // A front's connections PING every 5 s (etcd/agent-relay.ts), as a follower's to its leader.
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 5_000,
      'grpc.enable_channelz': 0,
    });
  }

  /** The private directory of the fronts' unix socket (undefined before start). */
  get directory(): string | undefined {
    return this.dir;
  }

  /**
   * The fronts' connections and handshakes: the gauges summed over the fronts running (as of
   * their last counts, at most COUNTS_INTERVAL_MS old), the counters over every front so far.
   */
  stats(): FrontsStats {
    let open = 0;
    let inFlight = 0;
    let queued = 0;
    for (const s of this.slots) {
      open += s.counts?.connections.open ?? 0;
      inFlight += s.counts?.handshakes.inFlight ?? 0;
      queued += s.counts?.handshakes.queued ?? 0;
    }
    const c = this.counted;
    return {
      connections: { open, refused: { total: c.refusedTotal, perAddress: c.refusedPerAddress } },
      handshakes: { inFlight, queued, started: c.started, slotsTimedOut: c.slotsTimedOut },
    };
  }

  /** Takes a front's counts: what its counters moved since its previous counts is added to the fronts' (and the handshakes to the coordinator's). */
  private count(slot: Slot, now: FrontCounts): void {
    const before = slot.counts;
    slot.counts = now;
    const c = this.counted;
    c.refusedTotal += now.connections.refused.total - (before?.connections.refused.total ?? 0);
    c.refusedPerAddress += now.connections.refused.perAddress - (before?.connections.refused.perAddress ?? 0);
    c.started += now.handshakes.started - (before?.handshakes.started ?? 0);
    c.slotsTimedOut += now.handshakes.slotsTimedOut - (before?.handshakes.slotsTimedOut ?? 0);
    const was = before?.outcomes;
    const failed: Record<string, number> = {};
    for (const [reason, n] of Object.entries(now.outcomes.failed)) failed[reason] = n - (was?.failed[reason] ?? 0);
    this.opts.onHandshakes?.({
      completed: now.outcomes.completed - (was?.completed ?? 0),
      failed,
      buckets: now.outcomes.buckets.map((n, i) => n - (was?.buckets[i] ?? 0)),
      sum: now.outcomes.sum - (was?.sum ?? 0),
    });
  }

  /** Process ids of the fronts running now. */
  pids(): number[] {
    return this.slots.flatMap((s) => (s.child?.pid !== undefined && s.child.exitCode === null ? [s.child.pid] : []));
  }

  /**
   * Binds the TCP addresses of `addresses` (host:port), starts the fronts and waits until each
   * accepts on each of them. Resolves with the addresses, ports resolved.
   */
  async start(addresses: readonly string[]): Promise<string[]> {
    // Under stateDir, the coordinator's own: one a killed coordinator left is removed here.
    await mkdir(this.opts.stateDir, { recursive: true, mode: 0o700 });
    for (const old of await readdir(this.opts.stateDir)) {
      if (old.startsWith(SOCKET_DIR_PREFIX)) await rm(join(this.opts.stateDir, old), { recursive: true, force: true });
    }
    this.dir = await mkdtemp(join(this.opts.stateDir, SOCKET_DIR_PREFIX));
    const mode = (await stat(this.dir)).mode & 0o777;
    if (mode !== 0o700) throw new Error(`grpc.fronts: ${this.dir} has mode ${mode.toString(8)}, not 700`);
    const socket = join(this.dir, 'coordinator.sock');
    this.opts.serve(this.inner);
    await new Promise<void>((resolve, reject) => this.inner.bindAsync(`unix:${socket}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
    const out: string[] = [];
    for (const address of addresses) {
      const where = parseListenAddress(address);
      if ('path' in where) throw new Error(`grpc.fronts: ${address} is a unix socket; the fronts take TCP addresses`);
      const { handle, port } = await bindOnly(where.host, where.port);
      const resolved = address.replace(/:\d+$/, `:${port}`);
      this.bound.push({ address: resolved, handle });
      out.push(resolved);
    }
    for (let n = 1; n <= this.opts.count; n++) this.slots.push({ n, child: undefined, startedAt: 0, delayMs: RESTART_MS, timer: undefined, counts: undefined });
    await Promise.all(this.slots.map((s) => this.launch(s, `unix:${socket}`)));
    return out;
  }

  /** Starts the front of `slot`; resolves once it listens on every address (rejects if it exits first). */
  private launch(slot: Slot, coordinator: string): Promise<void> {
    const { opts } = this;
    const start: FrontStart = {
      type: 'start',
      id: `${opts.id}/front-${slot.n}`,
      coordinator,
      tls: opts.tls,
      connections: Math.ceil(opts.limits.connections / opts.count),
      connectionsPerAddress: opts.limits.connectionsPerAddress,
      handshakes: Math.ceil(opts.limits.tlsHandshakes / opts.count),
      streamsPerConnection: opts.limits.streamsPerConnection,
      maxMessageBytes: opts.maxMessageBytes,
      livenessIntervalMs: opts.livenessIntervalMs,
      deadConnectionMs: opts.deadConnectionMs,
      logLevel: opts.logLevel,
    };
    const child = fork(FRONT_SCRIPT, [], { execArgv: [...(opts.execArgv ?? inheritedFlags())], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    slot.child = child;
    slot.startedAt = Date.now();
    // A new front counts from 0; what the one before it counted is in the fronts' counters already.
    slot.counts = undefined;
    const send = (msg: ToFront, handle?: RawHandle) => child.send(msg, handle as net.Server | undefined, (err) => err && opts.logger.warn({ event: 'front.send_failed', front: slot.n, err: err.message }, 'could not reach a front'));
    send(start);
    for (const b of this.bound) send({ type: 'listen', address: b.address }, b.handle);
    return new Promise<void>((resolve, reject) => {
      let listening = 0;
      const timer = setTimeout(() => {
        opts.logger.warn({ event: 'front.start_timeout', front: slot.n }, 'a front did not start in time; starting it again');
        child.kill('SIGKILL');
      }, START_TIMEOUT_MS);
      child.on('message', (m: FromFront) => {
        if (m.type === 'counts') {
          if (slot.child === child) this.count(slot, m);
        } else if (m.type === 'listening' && ++listening === this.bound.length) {
          clearTimeout(timer);
          opts.logger.info({ event: 'front.started', front: slot.n, pid: child.pid }, 'front accepting agent connections');
          resolve();
        } else if (m.type === 'failed') {
          opts.logger.error({ event: 'front.failed', front: slot.n, reason: m.reason }, 'a front could not start');
          child.kill('SIGKILL');
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (slot.child === child) {
          slot.child = undefined;
          // Its connections are closed, its handshakes over: it no longer counts as open or running.
          slot.counts = undefined;
        }
        if (listening < this.bound.length) reject(new Error(`grpc.fronts: front ${slot.n} exited (${signal ?? code}) before it listened`));
        if (this.stopping) return;
        // Within a minute of its start: it may keep dying (a bad file, no memory); wait longer each time.
        slot.delayMs = Date.now() - slot.startedAt < 60_000 ? Math.min(RESTART_MAX_MS, slot.delayMs * 2) : RESTART_MS;
        opts.logger.warn({ event: 'front.exited', front: slot.n, pid: child.pid, code, signal, restartInMs: slot.delayMs }, 'a front exited; its agents reconnect to the others; starting it again');
        slot.timer = setTimeout(() => {
          slot.timer = undefined;
          if (this.stopping) return;
          this.restarts++;
          this.launch(slot, coordinator).catch(() => undefined);
        }, slot.delayMs);
      });
    });
  }

  /** Stops the fronts (their agents' streams end; the agents reconnect elsewhere or later) and closes the sockets. */
  async stop(graceMs = 2000): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.slots.map(async (s) => {
        clearTimeout(s.timer);
        const child = s.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        if (child.connected) child.send({ type: 'stop' } satisfies ToFront, () => undefined);
        else child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }),
    );
    for (const b of this.bound.splice(0)) b.handle.close();
    this.inner.forceShutdown();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}
