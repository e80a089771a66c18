// What goes to the coordinator stream: remembers what was last sent and publishes only what
// changed since (services, instances, checks, the node's own fields, removals). The snapshot
// after a (re)connect is sent by the stream client; deltas follow it.
import type { BackendReport, CheckStatus, InstanceStatus, NodeDelta, NodeSnapshot, ReadinessReport, ServiceStatus } from '@lbha/shared';

/** The node's own fields, sent when one of them changes. */
export type NodeFields = Pick<NodeSnapshot, 'healthy' | 'appliedVersion' | 'localMode'>;

/** The node's state as of now, for comparison with what was sent. */
export interface PublishInput {
  readonly services: readonly ServiceStatus[];
  readonly instances: readonly InstanceStatus[];
  readonly node: NodeFields;
  /** The current status of a check (those marked changed are looked up). */
  readonly checkStatus: (name: string) => CheckStatus | undefined;
  /** The latest backend report (a new object whenever it changed). */
  readonly backends?: BackendReport;
  /** The latest standby readiness report (a new object whenever it changed). */
  readonly readiness?: ReadinessReport;
}

export class DeltaTracker {
  private readonly listeners = new Set<(d: NodeDelta) => void>();
  private readonly sentServices = new Map<string, string>();
  private readonly sentInstances = new Map<string, string>();
  private sentNode = '';
  private readonly changedChecks = new Set<string>();
  private readonly removedChecks = new Set<string>();
  private readonly removedInstances = new Set<string>();
  private sentBackends: BackendReport | undefined;
  private sentReadiness: ReadinessReport | undefined;

  onDelta(listener: (delta: NodeDelta) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  checkChanged(name: string): void {
    this.changedChecks.add(name);
  }

  checkAdded(name: string): void {
    this.removedChecks.delete(name);
  }

  checkRemoved(name: string): void {
    this.removedChecks.add(name);
  }

  instanceRemoved(name: string): void {
    this.removedInstances.add(name);
  }

  /** Sends what changed since the last delta to every listener; returns it (undefined: nothing changed). */
  publish(now: PublishInput): NodeDelta | undefined {
    const services: ServiceStatus[] = [];
    for (const s of now.services) {
      // Stats change all the time; they ride along with real state changes and the snapshot.
      const key = JSON.stringify({ ...s, stats: undefined });
      if (this.sentServices.get(s.name) !== key) {
        this.sentServices.set(s.name, key);
        services.push(s);
      }
    }
    const instances: InstanceStatus[] = [];
    for (const i of now.instances) {
      const key = JSON.stringify(i);
      if (this.sentInstances.get(i.name) !== key) {
        this.sentInstances.set(i.name, key);
        instances.push(i);
      }
    }
    for (const name of this.removedInstances) this.sentInstances.delete(name);
    const checks = [...this.changedChecks].map((n) => now.checkStatus(n)).filter((c): c is CheckStatus => c !== undefined);
    this.changedChecks.clear();
    const nodeKey = JSON.stringify(now.node);
    const nodeChanged = nodeKey !== this.sentNode;
    this.sentNode = nodeKey;
    const backends = now.backends !== this.sentBackends ? now.backends : undefined;
    this.sentBackends = now.backends;
    const readiness = now.readiness !== this.sentReadiness ? (now.readiness ?? { vips: [] }) : undefined;
    this.sentReadiness = now.readiness;
    if (services.length + instances.length + checks.length + this.removedChecks.size + this.removedInstances.size === 0 && !nodeChanged && !backends && !readiness) return undefined;
    const delta: NodeDelta = {
      services,
      checks,
      instances,
      removedChecks: [...this.removedChecks],
      removedInstances: [...this.removedInstances],
      ...(nodeChanged ? now.node : {}),
      ...(backends ? { backends } : {}),
      ...(readiness ? { readiness } : {}),
    };
    this.removedChecks.clear();
    this.removedInstances.clear();
    for (const l of this.listeners) l(delta);
    return delta;
  }
}
