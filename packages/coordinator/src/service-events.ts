// Events for the restarts of a node's services nobody asked for (a crash, a keepalived the agent
// found frozen and ended), with the reason the agent gives (ServiceStatus.lastError). The
// coordinator remembers each service's restart count per node; the first report of a node since
// the coordinator started is history. Pure.
import type { EventInput } from './event-log.js';
import type { NodeObservation } from './node-observation.js';
import type { ClusterSpec } from './spec/cluster-spec.js';

export interface ServiceEventsResult {
  /** Per node, per service: the restart count last seen. */
  readonly seen: ReadonlyMap<string, ReadonlyMap<string, number>>;
  readonly events: readonly EventInput[];
}

export function serviceEvents(c: ClusterSpec, reporting: (node: string) => NodeObservation | undefined, before: ReadonlyMap<string, ReadonlyMap<string, number>>): ServiceEventsResult {
  const seen = new Map(before);
  const events: EventInput[] = [];
  for (const n of c.nodes) {
    const services = reporting(n.name)?.snapshot?.services;
    if (!services) continue;
    const last = before.get(n.name);
    seen.set(n.name, new Map(services.map((s) => [s.name, s.restarts])));
    if (!last) continue;
    for (const s of services) {
      const was = last.get(s.name);
      if (was === undefined || s.restarts <= was) continue;
      events.push({
        type: 'service.restarted',
        cluster: c.name,
        node: n.name,
        severity: 'warning',
        message: `${n.name}: ${s.name} restarted by its agent${s.lastError ? `: ${s.lastError}` : ''}`,
        reason: s.lastError,
      });
    }
  }
  return { seen, events };
}
