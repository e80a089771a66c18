// The reconcile loop under the scale benchmark's health flips, in one process and without gRPC:
// the real ReconcileLoop, Registry, AgentOutbox, EventLog and FleetView over the scale spec
// (two-node clusters of 5 VIPs), agents that ACK each desired state and then report the applied
// version and the VRRP states it gives (as simulated-agents.ts does), a flip per node every
// --flip-mean-s on average (back after 5 s on average), heartbeats every second. Prints how many
// cluster passes ran, per second and per pushed flip, the process's CPU and flip -> push.
//
// A flip with no push within 10 s (as simulated-agents.ts times out) counts as unpushed.
//
// Usage: node test/dist/bench/reconcile-replay.bench.js [--agents 2000] [--seconds 15] [--flip-mean-s 60] [--debounce-ms 0] [--vips 5] [--heap-profile FILE]
// (--vips: VIPs per two-node cluster; bench:scale uses 2, and at most 20,000 VIPs in all.
// --heap-profile: V8's sampling heap profile of the measured window, objects the GC already
// collected included, so it shows what is allocated, not what is kept; what the coordinator's
// own functions allocated is also printed per cluster pass.)
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import {
  AgentOutbox,
  CoordinatorState,
  desiredBackends,
  EventLog,
  FleetView,
  MemoryStore,
  parseSpec,
  ReconcileLoop,
  Registry,
  type AgentSession,
} from '@lbha/coordinator';
import { CAPABILITY_HANDOVER, silentLogger, type DesiredState, type InstanceStatus, type NodeDelta, type NodeSnapshot } from '@lbha/shared';
import { distribution, intOption, jsonLine, stringOption } from './bench-stats.js';
import { pairsSpec, scaleNodes, type ScaleNode } from './scale-spec.js';

const argv = process.argv.slice(2);
const agents = intOption(argv, '--agents', 'LBHA_BENCH_AGENTS', 2000);
const seconds = intOption(argv, '--seconds', 'LBHA_BENCH_SECONDS', 15);
const flipMeanS = intOption(argv, '--flip-mean-s', 'LBHA_BENCH_FLIP_MEAN_S', 60);
const debounceMs = intOption(argv, '--debounce-ms', 'LBHA_BENCH_DEBOUNCE_MS', 0);
const vipsPerCluster = intOption(argv, '--vips', 'LBHA_BENCH_VIPS', 5);
const heapProfile = stringOption(argv, '--heap-profile', 'LBHA_BENCH_HEAP_PROFILE', '');
const RECOVER_MEAN_S = 5;
const PUSH_TIMEOUT_MS = 10_000;

const parsed = parseSpec(pairsSpec(agents, vipsPerCluster));
if (!parsed.ok) throw new Error(`the scale spec does not parse: ${parsed.issues.map((i) => i.message).join('; ')}`);
const registry = new Registry(3500);
let passes = 0;
const loop = new ReconcileLoop({
  registry,
  outbox: new AgentOutbox((n) => registry.get(n)?.session),
  view: new FleetView(),
  events: new EventLog(10_000),
  state: new CoordinatorState(new MemoryStore()),
  logger: silentLogger(),
  modeOf: () => 'active',
  // Asked once per cluster pass: the count of passes.
  backendsOf: (c) => (passes++, desiredBackends(c, undefined)),
  debounceMs,
});
const latencies: number[] = [];
let unpushed = 0;
const expDelay = (meanMs: number): number => -Math.log(1 - Math.random()) * meanMs;

class ReplayNode {
  healthy = true;
  desired: DesiredState | undefined;
  instances: InstanceStatus[] = [];
  pending: { readonly at: number; readonly version: number } | undefined;
  peers: ReplayNode[] = [];
  readonly session: AgentSession;

  constructor(readonly spec: ScaleNode) {
    this.session = { id: `s-${spec.node}`, peer: spec.node, sendDesiredState: (d) => setImmediate(() => this.onDesired(d)), sendCommand: () => {}, close: () => {} };
  }

  connect(): void {
    registry.attach({ node: this.spec.node, cluster: this.spec.cluster, agentVersion: 'bench', bootId: `b-${this.spec.node}`, protocol: 1, appliedVersion: 0, recentResults: [], capabilities: [CAPABILITY_HANDOVER] }, this.session);
    registry.setSnapshot(this.spec.node, this.session.id, this.snapshot());
  }

  snapshot(): NodeSnapshot {
    const s = this.healthy ? 'running' : 'failed';
    return {
      services: [{ name: 'nginx', kind: 'nginx', state: s, pid: this.healthy ? 4242 : 0, restarts: 0, lastError: '', stats: undefined, sinceMs: Date.now(), supervisor: 'direct' }],
      checks: [{ name: 'nginx', kind: 'process', result: this.healthy ? { kind: 'healthy' } : { kind: 'unhealthy', reason: 'nginx is not running' }, effect: 'fault', penalty: 0, sinceMs: Date.now(), durationMs: 1, streak: 1 }],
      instances: this.instances,
      healthy: this.healthy,
      appliedVersion: this.desired?.version ?? 0,
      localMode: 'active',
    };
  }

  /** VRRP as keepalived would settle it: MASTER of the instances ranked 0, FAULT while unhealthy. */
  vrrp(): InstanceStatus[] {
    return (this.desired?.instances ?? []).map((i) => {
      const master = this.healthy && i.rank === 0;
      const state = !this.healthy ? 'fault' : master ? 'master' : 'backup';
      return { name: i.name, vrid: i.vrid, vip: i.vip, interface: i.interface, state, basePriority: i.basePriority, effectivePriority: this.healthy ? i.basePriority : 0, vipPresent: master, sinceMs: Date.now(), priorityTerms: [], faultedByHealth: !this.healthy };
    });
  }

  report(delta: Partial<NodeDelta>): void {
    registry.applyDelta(this.spec.node, this.session.id, { services: [], checks: [], instances: this.instances, removedChecks: [], removedInstances: [], ...delta });
  }

  onDesired(d: DesiredState): void {
    this.desired = d;
    if (this.pending && d.version > this.pending.version) {
      latencies.push(performance.now() - this.pending.at);
      this.pending = undefined;
    }
    registry.recordAck(this.spec.node, this.session.id, d.version, true, '');
    setImmediate(() => {
      this.instances = this.vrrp();
      this.report({ appliedVersion: d.version });
    });
  }

  flip(): void {
    if (!this.desired || this.pending) return;
    // One failing node per cluster at a time, as the scale benchmark's simulated agents do.
    if (this.healthy && this.peers.some((n) => !n.healthy || n.pending)) return;
    this.healthy = !this.healthy;
    const pending = { at: performance.now(), version: this.desired.version };
    this.pending = pending;
    setTimeout(() => {
      if (this.pending !== pending) return;
      this.pending = undefined;
      unpushed++;
    }, PUSH_TIMEOUT_MS).unref();
    this.instances = this.vrrp();
    const s = this.snapshot();
    this.report({ services: s.services, checks: s.checks, healthy: this.healthy });
  }
}

const nodes = scaleNodes(agents).map((n) => new ReplayNode(n));
for (const n of nodes) n.peers = nodes.filter((m) => m.spec.cluster === n.spec.cluster && m !== n);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
loop.setSpec(parsed.value);
loop.start();
for (const n of nodes) n.connect();
await sleep(3000);
const heartbeats = setInterval(() => {
  for (const n of nodes) registry.touch(n.spec.node, n.session.id);
}, 1000);
let flipping = true;
const scheduleFlip = (n: ReplayNode): void => {
  setTimeout(
    () => {
      if (!flipping) return;
      n.flip();
      scheduleFlip(n);
    },
    expDelay((n.healthy ? flipMeanS : RECOVER_MEAN_S) * 1000),
  );
};
for (const n of nodes) scheduleFlip(n);
await sleep(5000);
passes = 0;
latencies.length = 0;
unpushed = 0;
const inspector = heapProfile === '' ? undefined : new Session();
if (inspector) {
  inspector.connect();
  await inspector.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
}
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await sleep(seconds * 1000);
const cpu = process.cpuUsage(cpu0);
let allocatedBytes: number | null = null;
if (inspector) {
  const { profile } = await inspector.post('HeapProfiler.stopSampling');
  writeFileSync(heapProfile, JSON.stringify(profile));
  // Allocated by the coordinator's code (the frame that allocated is in its packages), not the replay's agents.
  const walk = (n: (typeof profile)['head']): number => (/packages\/(coordinator|shared)\//.test(n.callFrame.url) ? n.selfSize : 0) + n.children.reduce((sum, c) => sum + walk(c), 0);
  allocatedBytes = walk(profile.head);
  inspector.disconnect();
}
const wallMs = performance.now() - t0;
flipping = false;
clearInterval(heartbeats);
await loop.stop();
const d = distribution(latencies);
const record = {
  scenario: 'reconcile-replay',
  agents,
  vips_per_cluster: vipsPerCluster,
  seconds,
  debounce_ms: debounceMs,
  cpu_percent: Math.round((1000 * (cpu.user + cpu.system)) / 1000 / wallMs) / 10,
  cluster_passes_per_s: Math.round((10 * passes) / seconds) / 10,
  flips_pushed: latencies.length,
  flips_without_push: unpushed,
  passes_per_flip: latencies.length === 0 ? null : Math.round((100 * passes) / latencies.length) / 100,
  flip_to_push_ms_p50: d.p50,
  flip_to_push_ms_p99: d.p99,
  flip_to_push_ms_max: d.max,
  coordinator_allocated_kb_per_cluster_pass: allocatedBytes === null || passes === 0 ? null : Math.round(allocatedBytes / passes / 102.4) / 10,
};
process.stdout.write(`cluster passes ${record.cluster_passes_per_s}/s, ${record.passes_per_flip} per pushed flip; CPU ${record.cpu_percent} % (the agents' side included); flip -> push p50 ${d.p50} ms, p99 ${d.p99} ms, max ${d.max} ms; ${unpushed} flips unpushed in ${PUSH_TIMEOUT_MS / 1000} s\n`);
process.stdout.write(`${jsonLine(record)}\n`);
process.exit(0);
