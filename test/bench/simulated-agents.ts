// Simulated agents for the coordinator scale benchmark (a child process of scale.bench.ts):
// each runs the agent's real StreamClient (Hello, Snapshot, Deltas, Heartbeats or only HTTP/2
// PINGs as the coordinator's Welcome says, ACKs, the real reconnect backoff) on its own gRPC connection, with a simulated node behind it: an nginx that
// is healthy or not, and VRRP instances that follow the pushed ranks.
//
// Usage: node simulated-agents.js --address HOST:PORT[,HOST:PORT...] --nodes N --first I --count K [--flip-mean-s S] [--ping-ms MS]
//   Several addresses (several coordinators): each agent gets them all, the list rotated by its
//   node's index, so the agents start spread evenly over the coordinators.
//   [--tls-dir DIR]: mutual TLS, each agent with its own certificate signed by DIR/ca.key
//   (bench-certs.ts); without it, plaintext.
// stdin: "flips on" | "flips off" | "stop". stdout: one JSON line per event:
//   {"t":"connected","node":..,"at":epochMs,"liveness":"connection"|"heartbeat","coordinator":..,"address":..,"fresh":B}
//                                              a Welcome was received: B true on a new stream (first connect or
//                                              reconnect), false on a stream welcomed before (a relaying
//                                              coordinator moved it to a new leader); coordinator: the Welcome's
//   {"t":"ended","node":..,"at":epochMs,"address":..}   a welcomed stream ended (the agent reconnects)
//   {"t":"push","ms":..}                       health flip -> new desired state received
//   {"t":"nopush","node":..,"dropped":B,"via":..,"flippedAt":epochMs,"healthy":H}   no new desired state within
//                                              10 s of a flip (B: its stream was lost meanwhile; via: its coordinator; H: the flip's new health)
//   {"t":"late","ms":..}                       that new desired state, when it came after all
//   {"t":"self","cpuPercent":..,"loopP99Ms":..,"loopMaxMs":..}   at "flips off": this process's CPU
//                                              (% of a core) and event-loop delay while flips were on. A
//                                              push is timed when this loop reads it: a simulator late
//                                              on its own loop adds its delay to every flip it times.
// A node flips to unhealthy only while the other nodes of its cluster are healthy (see flip()).
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { credentials } from '@grpc/grpc-js';
import { StreamClient } from '@lbha/agent';
import {
  createLogger,
  type CheckStatus,
  type CommandResult,
  type DesiredState,
  type InstanceStatus,
  type NodeDelta,
  type NodeSnapshot,
  type ServiceStatus,
} from '@lbha/shared';
import { agentCertificates } from './bench-certs.js';
import { intOption, stringOption } from './bench-stats.js';
import { scaleNodes, type ScaleNode } from './scale-spec.js';

const argv = process.argv.slice(2);
const addresses = stringOption(argv, '--address', 'LBHA_BENCH_ADDRESS', '127.0.0.1:7400').split(',');
const total = intOption(argv, '--nodes', 'LBHA_BENCH_NODES', 100);
const first = intOption(argv, '--first', 'LBHA_BENCH_FIRST', 0);
const count = intOption(argv, '--count', 'LBHA_BENCH_COUNT', total);
const flipMeanS = intOption(argv, '--flip-mean-s', 'LBHA_BENCH_FLIP_MEAN_S', 60);
const tlsDir = stringOption(argv, '--tls-dir', 'LBHA_BENCH_TLS_DIR', '');
/** The agents' PING interval until a Welcome says otherwise (0: the StreamClient's default). */
const pingMs = intOption(argv, '--ping-ms', 'LBHA_BENCH_PING_MS', 0);
const certs = tlsDir === '' ? undefined : agentCertificates(`${tlsDir}/ca.crt`, `${tlsDir}/ca.key`);
/** An unhealthy node recovers after this long on average. */
const RECOVER_MEAN_S = 5;
const PUSH_TIMEOUT_MS = 10_000;

/**
 * Why streams ended, counted (the agents' `stream.error` warnings): a benchmark whose agents
 * churn must say why. Written to stderr when the simulator stops.
 */
const streamErrors = new Map<string, number>();
/** Each node's Welcomes (the StreamClient's `stream.connected` line, one per Welcome). */
const welcomeListeners = new Map<string, (coordinator: string) => void>();
const countingLogger = createLogger('simulated-agent', {
  level: 'info',
  destination: new Writable({
    write(chunk: Buffer, _encoding, done) {
      const m = JSON.parse(chunk.toString()) as { event?: string; code?: number; details?: string; node?: string; coordinator?: string };
      if (m.event === 'stream.error') {
        const key = `code ${m.code ?? '-'}: ${m.details ?? ''}`;
        streamErrors.set(key, (streamErrors.get(key) ?? 0) + 1);
      } else if (m.event === 'stream.connected' && m.node !== undefined) {
        welcomeListeners.get(m.node)?.(m.coordinator ?? '');
      }
      done();
    },
  }),
});

const out = (record: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(record)}\n`);
};

let flipping = false;

/** Exponentially distributed delay with the given mean. */
const expDelay = (meanMs: number): number => -Math.log(1 - Math.random()) * meanMs;

/** Nodes per cluster (all nodes of a cluster run in one simulator process). */
const clusters = new Map<string, SimulatedNode[]>();

class SimulatedNode {
  healthy = true;
  private desired: DesiredState | undefined;
  private instances: InstanceStatus[] = [];
  private readonly listeners = new Set<(d: NodeDelta) => void>();
  private flipTimer: NodeJS.Timeout | undefined;
  pending: { readonly at: number; readonly version: number; readonly timer: NodeJS.Timeout; dropped: boolean } | undefined;
  /** A flip whose push did not come within PUSH_TIMEOUT_MS, until it comes (or the next flip). */
  private overdue: { readonly at: number; readonly version: number } | undefined;
  readonly client: StreamClient;

  constructor(
    readonly spec: ScaleNode,
    index: number,
  ) {
    this.client = new StreamClient({
      addresses: addresses.map((_, i) => addresses[(index + i) % addresses.length] as string),
      credentials: certs ? credentials.createSsl(certs.caPem, certs.keyPem, certs.certFor(spec.node)) : credentials.createInsecure(),
      // Every agent on its own TCP connection, as on separate hosts (grpc-js shares one otherwise;
      // the StreamClient sets this too, but says nothing about sharing between agents).
      // The simulators share a core with many agents each: a ping answered late because the
      // simulator itself waited for its core must not end the connection (the agent's own
      // timeout is 3 s), or the benchmark measures its own starvation as a reconnect storm.
      channelOptions: { 'grpc.use_local_subchannel_pool': 1, 'grpc.keepalive_timeout_ms': 20_000 },
      node: spec.node,
      cluster: spec.cluster,
      ...(pingMs > 0 ? { heartbeatIntervalMs: pingMs } : {}),
      agentVersion: 'bench',
      bootId: `bench-${process.pid}-${spec.node}`,
      logger: countingLogger.child({ node: spec.node }),
      source: {
        snapshot: () => this.snapshot(),
        onDelta: (listener) => {
          this.listeners.add(listener);
          return () => this.listeners.delete(listener);
        },
        appliedVersion: () => this.desired?.version ?? 0,
        recentResults: () => [],
      },
      handler: {
        applyDesiredState: async (d) => {
          this.onDesired(d);
          return { accepted: true };
        },
        runCommand: (command, report) => {
          const result: CommandResult = { commandId: command.id, state: 'succeeded', message: 'done', activeConnections: 0, finishedMs: Date.now() };
          report(result);
        },
      },
    });
    // A Welcome on a new stream sets the state to connected first; one on a stream welcomed
    // before (moved to a new leader by the coordinator relaying it) changes no state.
    let fresh = false;
    let welcomedAt: string | undefined;
    this.client.onStateChange((s) => {
      if (s !== 'connected' && this.pending) this.pending.dropped = true;
      if (s === 'connected') fresh = true;
      else if (welcomedAt !== undefined) {
        out({ t: 'ended', node: spec.node, at: Date.now(), address: welcomedAt });
        welcomedAt = undefined;
      }
    });
    welcomeListeners.set(spec.node, (coordinator) => {
      welcomedAt = this.client.currentAddress;
      out({ t: 'connected', node: spec.node, at: Date.now(), liveness: this.client.liveness, coordinator, address: welcomedAt, fresh });
      fresh = false;
    });
  }

  private service(): ServiceStatus {
    return {
      name: 'nginx',
      kind: 'nginx',
      state: this.healthy ? 'running' : 'failed',
      pid: this.healthy ? 4242 : 0,
      restarts: 0,
      lastError: this.healthy ? '' : 'nginx: configuration test failed',
      stats: { activeConnections: 3, requestsTotal: 1000, currentSessions: 0, serverStates: {} },
      sinceMs: Date.now(),
      supervisor: 'direct',
    };
  }

  private checks(): CheckStatus[] {
    return [
      {
        name: 'nginx',
        kind: 'process',
        result: this.healthy ? { kind: 'healthy' } : { kind: 'unhealthy', reason: 'nginx is not running' },
        effect: 'fault',
        penalty: 0,
        sinceMs: Date.now(),
        durationMs: 1,
        streak: 1,
      },
      { name: 'down-file', kind: 'maintenance_file', result: { kind: 'healthy' }, effect: 'penalty', penalty: 50, sinceMs: 1, durationMs: 0, streak: 1 },
    ];
  }

  /** VRRP as keepalived would settle it: MASTER of the instances ranked 0, FAULT while unhealthy. */
  private computeInstances(): InstanceStatus[] {
    return (this.desired?.instances ?? []).map((i) => {
      const master = this.healthy && i.rank === 0;
      return {
        name: i.name,
        vrid: i.vrid,
        vip: i.vip,
        interface: i.interface,
        state: !this.healthy ? 'fault' : master ? 'master' : 'backup',
        basePriority: i.basePriority,
        effectivePriority: this.healthy ? Math.max(1, Math.min(254, i.basePriority + i.placementWeight)) : 0,
        vipPresent: master,
        sinceMs: Date.now(),
        priorityTerms: [],
        faultedByHealth: !this.healthy,
      };
    });
  }

  snapshot(): NodeSnapshot {
    return {
      services: [this.service()],
      checks: this.checks(),
      instances: this.instances,
      healthy: this.healthy,
      appliedVersion: this.desired?.version ?? 0,
      localMode: 'active',
    };
  }

  private emit(delta: NodeDelta): void {
    for (const l of this.listeners) l(delta);
  }

  private onDesired(d: DesiredState): void {
    this.desired = d;
    const p = this.pending;
    if (p !== undefined && d.version > p.version) {
      clearTimeout(p.timer);
      this.pending = undefined;
      out({ t: 'push', ms: Math.round((performance.now() - p.at) * 10) / 10, via: this.client.currentAddress });
    }
    const o = this.overdue;
    if (o !== undefined && d.version > o.version) {
      this.overdue = undefined;
      out({ t: 'late', ms: Math.round(performance.now() - o.at) });
    }
    // After the ACK (sent when this returns), report the applied version and the VRRP outcome.
    setImmediate(() => {
      this.instances = this.computeInstances();
      this.emit({ services: [], checks: [], instances: this.instances, removedChecks: [], removedInstances: [], appliedVersion: d.version });
    });
  }

  flip(): void {
    if (this.client.currentState !== 'connected' || this.desired === undefined || this.pending !== undefined) return;
    // One failing node per cluster at a time, and no flip while a peer's push is pending: with
    // every node of a cluster down there is nothing to move, and no push to time.
    const peers = (clusters.get(this.spec.cluster) ?? []).filter((n) => n !== this);
    if (this.healthy && peers.some((n) => !n.healthy || n.pending !== undefined)) return;
    this.healthy = !this.healthy;
    const at = performance.now();
    this.overdue = undefined;
    const timer = setTimeout(() => {
      const dropped = this.pending?.dropped ?? false;
      this.overdue = { at, version: this.pending?.version ?? 0 };
      this.pending = undefined;
      out({ t: 'nopush', node: this.spec.node, dropped, via: this.client.currentAddress, flippedAt: Date.now() - PUSH_TIMEOUT_MS, healthy: this.healthy });
    }, PUSH_TIMEOUT_MS);
    this.pending = { at, version: this.desired.version, timer, dropped: false };
    this.instances = this.computeInstances();
    this.emit({ services: [this.service()], checks: this.checks(), instances: this.instances, removedChecks: [], removedInstances: [], healthy: this.healthy });
  }

  scheduleFlips(): void {
    if (this.flipTimer) clearTimeout(this.flipTimer);
    const mean = this.healthy ? flipMeanS * 1000 : RECOVER_MEAN_S * 1000;
    this.flipTimer = setTimeout(() => {
      if (flipping) this.flip();
      this.scheduleFlips();
    }, expDelay(mean));
  }

  stopFlips(): void {
    if (this.flipTimer) clearTimeout(this.flipTimer);
    this.flipTimer = undefined;
  }
}

const nodes = scaleNodes(total)
  .slice(first, first + count)
  .map((n, i) => new SimulatedNode(n, first + i));
for (const n of nodes) {
  const list = clusters.get(n.spec.cluster);
  if (list) list.push(n);
  else clusters.set(n.spec.cluster, [n]);
}

// Spread the first connects over a second, as agents starting on many hosts would.
for (const n of nodes) setTimeout(() => n.client.start(), Math.random() * 1000);

async function stop(): Promise<void> {
  flipping = false;
  for (const n of nodes) n.stopFlips();
  await Promise.all(nodes.map((n) => n.client.stop()));
  for (const [reason, n] of streamErrors) process.stderr.write(`simulated agents ${first}-${first + count - 1}: ${n} streams ended: ${reason}\n`);
  process.exit(0);
}

/** This process's own load while flips are on (the "self" line). */
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
let selfSince: { readonly cpu: NodeJS.CpuUsage; readonly at: number } | undefined;

createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'flips on') {
    flipping = true;
    for (const n of nodes) n.scheduleFlips();
    loopDelay.reset();
    loopDelay.enable();
    selfSince = { cpu: process.cpuUsage(), at: performance.now() };
  } else if (cmd === 'flips off') {
    flipping = false;
    for (const n of nodes) n.stopFlips();
    if (selfSince) {
      loopDelay.disable();
      const cpu = process.cpuUsage(selfSince.cpu);
      const ms = (ns: number): number => Math.round(ns / 1e5) / 10;
      out({ t: 'self', cpuPercent: Math.round((cpu.user + cpu.system) / (performance.now() - selfSince.at)) / 10, loopP99Ms: ms(loopDelay.percentile(99)), loopMaxMs: ms(loopDelay.max) });
      selfSince = undefined;
    }
  } else if (cmd === 'stop') {
    void stop();
  }
});
process.on('SIGTERM', () => void stop());
