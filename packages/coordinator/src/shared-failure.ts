// A failure every node shares (docs/design/vrrp-edges.md): when no active node of a cluster is
// healthy, moving a VIP helps nobody and removing it hurts everybody, so each failing node stays
// a candidate of last resort (DesiredState.lastResort) and keepalived keeps every VIP on its best
// node. Which checks fail everywhere is reported. Pure.
import type { NodeMode } from '@lbha/shared';
import type { EventInput } from './event-log.js';
import type { NodeObservation } from './node-observation.js';
import type { ClusterSpec } from './spec/cluster-spec.js';

export interface SharedFailure {
  /** Nodes every other active node of which reports unhealthy (all of them reporting). */
  readonly lastResort: ReadonlySet<string>;
  /** Fault checks failing on every active node, when no active node is healthy; sorted. */
  readonly failingEverywhere: readonly string[];
  readonly events: readonly EventInput[];
}

/** A node's failing fault checks, from its report. */
function failingChecks(o: NodeObservation): string[] {
  return (o.snapshot?.checks ?? []).filter((c) => c.effect === 'fault' && c.result.kind !== 'healthy').map((c) => c.name);
}

/**
 * `reporting` gives the observation of a live agent that has reported (else undefined); a node
 * whose agent is not reporting may be serving, so it counts as possibly healthy.
 */
export function sharedFailure(
  c: ClusterSpec,
  modeOf: (node: string) => NodeMode,
  reporting: (node: string) => NodeObservation | undefined,
  before: readonly string[],
): SharedFailure {
  const active = c.nodes.map((n) => n.name).filter((n) => modeOf(n) === 'active');
  const unhealthy = new Map<string, string[]>();
  for (const n of active) {
    const o = reporting(n);
    if (o?.snapshot && !o.snapshot.healthy) unhealthy.set(n, failingChecks(o));
  }
  const lastResort = new Set<string>();
  for (const n of active) if (active.every((m) => m === n || unhealthy.has(m))) lastResort.add(n);
  const everyone = active.length > 0 && active.every((n) => unhealthy.has(n));
  const lists = [...unhealthy.values()];
  const failingEverywhere = everyone ? [...new Set(lists.flat())].filter((check) => lists.every((l) => l.includes(check))).sort() : [];
  const events: EventInput[] = [];
  const added = failingEverywhere.filter((x) => !before.includes(x));
  const cleared = before.filter((x) => !failingEverywhere.includes(x));
  if (added.length > 0) {
    const nodes = active.join(', ');
    events.push({
      type: 'check.failing_everywhere',
      cluster: c.name,
      severity: 'critical',
      message: `check${added.length > 1 ? 's' : ''} ${added.join(', ')} fail${added.length > 1 ? '' : 's'} on every active node (${nodes}): a shared cause; the VIPs stay on their nodes, which answer what they can`,
      reason: [...unhealthy].map(([n, l]) => `${n}: ${l.join(', ')}`).join('; '),
    });
  }
  if (cleared.length > 0) {
    events.push({ type: 'check.failing_everywhere_cleared', cluster: c.name, message: `check${cleared.length > 1 ? 's' : ''} ${cleared.join(', ')} no longer fail${cleared.length > 1 ? '' : 's'} on every active node` });
  }
  return { lastResort, failingEverywhere, events };
}
