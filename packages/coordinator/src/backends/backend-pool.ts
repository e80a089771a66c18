// The coordinator's side of the backend pool: what is wanted of each server (kept in the store,
// told to the agents with their desired state), and the views the API, metrics and operations
// read from the agents' reports: the pool as one thing, and whether the LB nodes' configurations
// differ.
import type { DesiredBackends } from '@lbha/shared';
import type { EventLog } from '../event-log.js';
import type { Registry } from '../registry.js';
import type { ClusterSpec, Spec } from '../spec/cluster-spec.js';
import type { BackendIntentRecord, BackendIntents, CoordinatorState } from '../store/coordinator-state.js';
import { backendPoolView, type BackendPoolView } from './backend-pool-view.js';
import { configDrift, type DriftView } from './config-drift.js';
import { desiredBackends } from './desired-backends.js';
import { nodeReports, type NodeReport } from './node-reports.js';

export interface BackendPoolOptions {
  readonly state: Pick<CoordinatorState, 'write'>;
  readonly events: Pick<EventLog, 'record'>;
  readonly registry: Pick<Registry, 'get'>;
  readonly spec: () => Spec;
  /** Recompute the cluster's desired states (the wanted server states changed). */
  readonly schedule: (cluster: string) => void;
  readonly clock: () => number;
}

const NONE: BackendIntents = Object.freeze({});

export class BackendPool {
  private readonly intents = new Map<string, BackendIntents>();
  /**
   * Per cluster: what its agents were last told, and from which spec and intents. A pass asks
   * for it every time; the same object while neither changed lets the pass see that by identity.
   */
  private readonly told = new Map<string, { readonly spec: ClusterSpec; readonly intents: BackendIntents | undefined; readonly desired: DesiredBackends }>();

  constructor(private readonly o: BackendPoolOptions) {}

  load(stored: ReadonlyMap<string, BackendIntents>): void {
    for (const [cluster, i] of stored) this.intents.set(cluster, i);
  }

  /** What the agents of `cluster` are told of its pool. */
  desiredOf(cluster: ClusterSpec): DesiredBackends {
    const intents = this.intents.get(cluster.name);
    const last = this.told.get(cluster.name);
    if (last?.spec === cluster && last.intents === intents) return last.desired;
    const desired = desiredBackends(cluster, intents);
    this.told.set(cluster.name, { spec: cluster, intents, desired });
    return desired;
  }

  intentsOf(cluster: string): BackendIntents {
    return this.intents.get(cluster) ?? NONE;
  }

  /**
   * Makes `records` what is wanted of their servers (stored first), records an event per server
   * whose state changes, and has the cluster's desired states rebuilt. Returns what changed.
   */
  async set(cluster: string, records: readonly BackendIntentRecord[]): Promise<string[]> {
    const before = this.intentsOf(cluster);
    const next: Record<string, BackendIntentRecord> = { ...before };
    const changes: Array<{ readonly record: BackendIntentRecord; readonly message: string }> = [];
    for (const r of records) {
      const key = `${r.pool}/${r.server}`;
      const old = before[key];
      next[key] = r;
      const from = `${old?.admin ?? 'ready'}${old?.weight === null || old === undefined ? '' : ` weight ${old.weight}`}`;
      const to = `${r.admin}${r.weight === null ? '' : ` weight ${r.weight}`}`;
      if (from !== to) changes.push({ record: r, message: `${key}: ${from} -> ${to}` });
    }
    await this.o.state.write({ backends: [[cluster, next]] });
    this.intents.set(cluster, next);
    for (const { record: r, message } of changes) {
      this.o.events.record({ type: 'backend.state_changed', cluster, actor: r.actor, reason: r.reason, operationId: r.operationId, message });
    }
    this.o.schedule(cluster);
    return changes.map((c) => c.message);
  }

  reports(cluster: ClusterSpec): NodeReport[] {
    return nodeReports(cluster, (n) => this.o.registry.get(n));
  }

  view(cluster: ClusterSpec): BackendPoolView {
    return backendPoolView(cluster, this.intentsOf(cluster.name), this.reports(cluster));
  }

  drift(cluster: ClusterSpec): DriftView {
    return configDrift(cluster.name, this.reports(cluster));
  }

  /** Per node: how its configuration differs from its cluster's other LB nodes (nodes that do not differ are absent). */
  driftByNode(): Map<string, string> {
    const out = new Map<string, string>();
    for (const c of this.o.spec().clusters) for (const n of this.drift(c).nodes) if (n.differs) out.set(n.node, n.differs);
    return out;
  }
}
