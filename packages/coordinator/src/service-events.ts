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

/** The restart counts `services` give, if `last` holds exactly them (the usual pass: nothing restarted). */
function sameCounts(last: ReadonlyMap<string, number>, services: ReadonlyArray<{ readonly name: string; readonly restarts: number }>): boolean {
  if (last.size !== services.length) return false;
  // A later entry of the same name is what a Map built from the list keeps.
  for (let i = 0; i < services.length; i++) {
    const s = services[i] as (typeof services)[number];
    if (!last.has(s.name)) return false;
    let count = s.restarts;
    for (let j = i + 1; j < services.length; j++) if ((services[j] as (typeof services)[number]).name === s.name) count = (services[j] as (typeof services)[number]).restarts;
    if (!Object.is(last.get(s.name), count)) return false;
  }
  for (const name of last.keys()) if (!services.some((s) => s.name === name)) return false;
  return true;
}

/**
 * `seen` is `before` itself, and a node's counts the same Map, when they did not change (most
 * passes), so a pass copies nothing.
 */
export function serviceEvents(c: ClusterSpec, reporting: (node: string) => NodeObservation | undefined, before: ReadonlyMap<string, ReadonlyMap<string, number>>): ServiceEventsResult {
  let seen: Map<string, ReadonlyMap<string, number>> | undefined;
  const events: EventInput[] = [];
  for (const n of c.nodes) {
    const services = reporting(n.name)?.snapshot?.services;
    if (!services) continue;
    const last = before.get(n.name);
    if (last === undefined || !sameCounts(last, services)) (seen ??= new Map(before)).set(n.name, new Map(services.map((s) => [s.name, s.restarts])));
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
  return { seen: seen ?? before, events };
}
