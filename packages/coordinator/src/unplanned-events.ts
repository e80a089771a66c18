// Events for the VRRP transitions nobody asked for, as the agents report them with their cause
// (InstanceStatus.unplanned, the last few per instance, numbered): one event each, a flap as
// `vip.flap`, every other as `vrrp.unplanned`. The coordinator remembers the last number it
// reported per node; a coordinator that has just started reports only what comes after. Pure.
import type { UnplannedTransition } from '@lbha/shared';
import type { EventInput } from './event-log.js';
import type { NodeObservation } from './node-observation.js';
import type { ClusterSpec } from './spec/cluster-spec.js';

export interface UnplannedResult {
  /** Per node: the highest transition number seen. */
  readonly seen: ReadonlyMap<string, number>;
  readonly events: readonly EventInput[];
}

function message(node: string, vip: string, t: UnplannedTransition): string {
  if (t.kind === 'flap') return `${node} was MASTER of ${vip} for ${t.masterMs ?? 0} ms: ${t.cause}`;
  return `${node}: ${vip} ${t.from.toUpperCase()} -> ${t.to.toUpperCase()}: ${t.cause}`;
}

/**
 * `seen` is `before` itself when no node's highest number changed (most passes: a report of
 * health or an applied version lists no new transition), so a pass copies nothing.
 */
export function unplannedEvents(c: ClusterSpec, reporting: (node: string) => NodeObservation | undefined, before: ReadonlyMap<string, number>): UnplannedResult {
  let seen: Map<string, number> | undefined;
  const events: EventInput[] = [];
  for (const n of c.nodes) {
    const snapshot = reporting(n.name)?.snapshot;
    if (!snapshot) continue;
    const last = before.get(n.name);
    let highest = last ?? 0;
    let newer = false;
    for (const i of snapshot.instances) {
      for (const t of i.unplanned ?? []) {
        highest = Math.max(highest, t.seq);
        if (last !== undefined && t.seq > last) newer = true;
      }
    }
    if (!before.has(n.name) || !Object.is(last, highest)) (seen ??= new Map(before)).set(n.name, highest);
    // The first report of a node since this coordinator started: what it lists is history.
    if (last === undefined || !newer) continue;
    const all = snapshot.instances.flatMap((i) => (i.unplanned ?? []).map((t) => ({ vip: i.name, t })));
    for (const { vip, t } of all.filter((x) => x.t.seq > last).sort((a, b) => a.t.seq - b.t.seq)) {
      events.push({
        type: t.kind === 'flap' ? 'vip.flap' : 'vrrp.unplanned',
        cluster: c.name,
        vip,
        node: n.name,
        severity: t.kind === 'recovered' ? 'info' : 'warning',
        message: message(n.name, vip, t),
        reason: t.kind,
      });
    }
  }
  return { seen: seen ?? before, events };
}
