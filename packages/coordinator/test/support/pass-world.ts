// A cluster as the pure reconcile pass sees it, driven by hand with a fake clock: which agents
// are connected, what they report (health, penalties, VIPs held, desired-state versions
// applied) and the node modes. pass() runs passCluster and carries its memory and the desired
// state versions from pass to pass, as the reconcile loop does. No server, no timers.
import { readFileSync } from 'node:fs';
import { CAPABILITY_HANDOVER, type BackendReport, type CheckKind, type DesiredInstance, type DesiredState, type ForeignRouter, type NodeLink, type NodeMode, type ReadinessReport, type UnplannedTransition } from '@lbha/shared';
import { EMPTY_MEMORY, type ClusterMemory, type DesiredEntry } from '../../src/cluster-memory.js';
import { desiredBackends } from '../../src/backends/desired-backends.js';
import { passCluster, type ClusterPassInput, type ClusterPassResult } from '../../src/cluster-pass.js';
import type { EventInput } from '../../src/event-log.js';
import type { NodeObservation } from '../../src/node-observation.js';
import type { VipPin } from '../../src/placement.js';
import type { ClusterSpec } from '../../src/spec/cluster-spec.js';
import type { BackendIntents } from '../../src/store/coordinator-state.js';
import { parseSpec } from '../../src/spec/parse-spec.js';
import { check, instance, service, snapshot } from './fake-fleet.js';

export const SEED1_YAML = readFileSync(new URL('../../../test/fixtures/seed-nginx-active-active.yaml', import.meta.url), 'utf8');
export const LB1 = 'nginx-lb01';
export const LB2 = 'nginx-lb02';
export const T0 = 1_700_000_000_000;
export const SETTLE_MS = 2000;

export function seed1(edit: (yaml: string) => string = (y) => y): ClusterSpec {
  const r = parseSpec(edit(SEED1_YAML));
  if (!r.ok) throw new Error(`seed 1 does not parse: ${r.issues.map((i) => i.message).join('; ')}`);
  return r.value.clusters[0] as ClusterSpec;
}

/** One node's agent as the world has it. */
export interface WorldNode {
  link: NodeLink;
  /** Reported at least once (a snapshot exists). */
  reported: boolean;
  healthy: boolean;
  /** When its fault check started failing (its agent's clock), while it is unhealthy. */
  failingSince: number;
  /** The kind its failing check reports (process: never held back; http, tcp: held until decided). */
  failingKind: CheckKind;
  /** Its agent's recent push-to-acknowledgement round trip; undefined: none measured. */
  ackLatencyMs: number | undefined;
  /** Sum of failing penalty checks. */
  penalty: number;
  /** VIPs it reports holding (MASTER with the address). */
  holds: Set<string>;
  /** Desired-state version its agent runs. */
  applied: number;
  capable: boolean;
  /** The cluster its agent says it is in. */
  cluster: string;
  session: number;
  /** Per VIP: the last announcement request it carried out. */
  announced: Map<string, number>;
  /** Per VIP: the routers that are not nodes it sees advertising the VRID. */
  foreign: Map<string, ForeignRouter[]>;
  /** Per VIP: the transitions nobody asked for it reports. */
  unplanned: Map<string, UnplannedTransition[]>;
  /** keepalived's restarts by the agent, and why the last one. */
  keepalived: { restarts: number; lastError: string };
  /** Per VIP: why its proxy would not serve it (standby readiness); a VIP missing here is ready. */
  notReady: Map<string, string>;
  /** What its backend report says of its proxy's readmission (BackendReport.readmitMs); undefined: it sends no backend report. */
  readmitMs: number | undefined;
}

export class PassWorld {
  now = T0;
  memory: ClusterMemory = EMPTY_MEMORY;
  readonly modes = new Map<string, NodeMode>();
  /** Where an operator moved or pinned each VIP. */
  readonly pins = new Map<string, VipPin>();
  /** What is wanted of the backend servers (lbha backend drain ...): told to every node. */
  backendIntents: BackendIntents | undefined;
  readonly nodes = new Map<string, WorldNode>();
  /** Versions given to desired states (a new one for each new entry), as the loop numbers them. */
  readonly versions = new Map<string, { entry: DesiredEntry; version: number }>();
  private nextVersion = 1;
  last: ClusterPassResult | undefined;
  /** Every event drafted so far, in order. */
  readonly events: EventInput[] = [];

  constructor(readonly cluster: ClusterSpec = seed1()) {
    for (const n of cluster.nodes) {
      this.nodes.set(n.name, { link: 'connected', reported: true, healthy: true, failingSince: 1, failingKind: 'process', ackLatencyMs: undefined, penalty: 0, holds: new Set(), applied: 0, capable: true, cluster: cluster.name, session: 1, announced: new Map(), foreign: new Map(), unplanned: new Map(), keepalived: { restarts: 0, lastError: '' }, notReady: new Map(), readmitMs: undefined });
    }
  }

  node(name: string): WorldNode {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /** The node reports holding exactly these VIPs. */
  holds(name: string, ...vips: string[]): this {
    this.node(name).holds = new Set(vips);
    return this;
  }

  private observation(name: string, n: WorldNode): NodeObservation {
    const instances = this.cluster.vips.map((v) => {
      const held = n.holds.has(v.name);
      return instance(v.name, held ? 'master' : 'backup', 1, { vrid: v.vrid, interface: v.interface, vip: v.cidr, vipPresent: held, announced: n.announced.get(v.name) ?? 0, foreignRouters: n.foreign.get(v.name) ?? [], unplanned: n.unplanned.get(v.name) ?? [] });
    });
    const checks = [check('nginx', n.healthy ? {} : { kind: n.failingKind, result: { kind: 'unhealthy', reason: 'nginx is not running' }, sinceMs: n.failingSince })];
    if (n.penalty > 0) checks.push(check('down-file', { kind: 'maintenance_file', effect: 'penalty', penalty: n.penalty, result: { kind: 'unhealthy', reason: 'down file present' } }));
    return {
      link: n.link,
      snapshot: n.reported ? snapshot(instances, { healthy: n.healthy, checks, appliedVersion: n.applied, services: [service('keepalived', 'keepalived', n.keepalived), service('nginx', 'nginx')], readiness: this.readiness(n), ...this.backendReport(n) }) : undefined,
      cluster: n.cluster,
      capabilities: n.capable ? [CAPABILITY_HANDOVER] : [],
      appliedVersion: n.applied,
      session: n.link === 'disconnected' ? undefined : `${name}-${n.session}`,
      ...(n.ackLatencyMs !== undefined ? { ackLatencyMs: n.ackLatencyMs } : {}),
    };
  }

  private backendReport(n: WorldNode): { backends?: BackendReport } {
    if (n.readmitMs === undefined) return {};
    return { backends: { service: this.cluster.service, servers: [], appliedVersion: 0, error: '', errorVersion: 0, configDigest: '', filesDigest: '', configFiles: [], observeError: '', observedMs: T0, readmitMs: n.readmitMs } };
  }

  private readiness(n: WorldNode): ReadinessReport {
    return {
      vips: this.cluster.vips.map((v) => {
        const why = n.notReady.get(v.name);
        return { vip: v.name, result: why === undefined ? { kind: 'healthy' } : { kind: 'unhealthy', reason: why }, sinceMs: T0, durationMs: 2 };
      }),
    };
  }

  /** What a pass over the world as it is now is given (the observations built anew). */
  passInput(): ClusterPassInput {
    const nodes = new Map<string, NodeObservation>();
    for (const [name, n] of this.nodes) nodes.set(name, this.observation(name, n));
    const versions = new Map([...this.versions].map(([n, v]) => [n, v.version]));
    return { cluster: this.cluster, nodes, modes: this.modes, versions, settleMs: SETTLE_MS, backends: desiredBackends(this.cluster, this.backendIntents), pins: this.pins };
  }

  /** Runs one pass at `now` (advanced by `afterMs` first). */
  pass(afterMs = 0): ClusterPassResult {
    this.now += afterMs;
    const r = passCluster(this.passInput(), this.memory, this.now);
    this.memory = r.memory;
    for (const [n, d] of r.desired) {
      if (this.versions.get(n)?.entry !== d) this.versions.set(n, { entry: d, version: this.nextVersion++ });
    }
    this.events.push(...r.events);
    this.last = r;
    return r;
  }

  /** Every connected agent applies the desired state it was given. */
  applyAll(): this {
    for (const [name, n] of this.nodes) if (n.link !== 'disconnected') n.applied = this.versions.get(name)?.version ?? n.applied;
    return this;
  }

  /** Every agent carries out the announcements its desired state asks for, of the VIPs it holds. */
  announceAll(): this {
    for (const [name, n] of this.nodes) {
      if (n.link === 'disconnected' || !this.last?.desired.has(name)) continue;
      for (const i of this.desired(name).instances) if (i.announce !== undefined && n.holds.has(i.name)) n.announced.set(i.name, i.announce);
    }
    return this;
  }

  /** keepalived follows the desired holders: each VIP is reported by its desired holder alone. */
  follow(): this {
    for (const n of this.nodes.values()) n.holds = new Set();
    for (const [vip, node] of Object.entries(this.holders())) this.node(node).holds.add(vip);
    return this;
  }

  /** Seed 1 at rest: each VIP on its home node, every agent running its desired state. */
  settle(): ClusterPassResult {
    for (const v of this.cluster.vips) if (v.home) this.node(v.home).holds.add(v.name);
    this.pass();
    this.applyAll();
    return this.pass();
  }

  desired(node: string): DesiredState {
    const d = this.last?.desired.get(node);
    const v = this.versions.get(node);
    if (!d || !v) throw new Error(`no desired state for ${node}`);
    return { ...d.content, version: v.version };
  }

  instance(node: string, vip: string): DesiredInstance {
    const i = this.desired(node).instances.find((x) => x.name === vip);
    if (!i) throw new Error(`no instance ${vip} for ${node}`);
    return i;
  }

  /** Desired holder per VIP as the last pass decided it. */
  holders(): Record<string, string> {
    return Object.fromEntries((this.last?.placement.vips ?? []).map((v) => [v.vip, v.holder]));
  }

  /** Types of the events the last pass drafted. */
  lastEvents(): string[] {
    return (this.last?.events ?? []).map((e) => e.type);
  }
}
