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

export function unplannedEvents(c: ClusterSpec, reporting: (node: string) => NodeObservation | undefined, before: ReadonlyMap<string, number>): UnplannedResult {
  const seen = new Map(before);
  const events: EventInput[] = [];
  for (const n of c.nodes) {
    const snapshot = reporting(n.name)?.snapshot;
    if (!snapshot) continue;
    const all = snapshot.instances.flatMap((i) => (i.unplanned ?? []).map((t) => ({ vip: i.name, t })));
    const last = before.get(n.name);
    seen.set(n.name, Math.max(last ?? 0, ...all.map((x) => x.t.seq)));
    // The first report of a node since this coordinator started: what it lists is history.
    if (last === undefined) continue;
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
  return { seen, events };
}
