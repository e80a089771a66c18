// Standby readiness as placement and operators see it (docs/design/standby-readiness.md): per VIP,
// the live nodes whose proxy would not serve it (placement does not choose them while another
// candidate would), and an event when a node stops or starts being ready. A node that stops
// reporting (agent gone, probe turned off) counts as neither, without an event; what it last
// said is kept, so that its agent or the coordinator restarting raises no event for a state
// that did not change (a restarted coordinator reads it back from its events). Pure.
import { readinessReason, readinessState, type LbhaEvent } from '@lbha/shared';
import type { EventInput } from './event-log.js';
import { vipKey, type ClusterSpec } from './spec/cluster-spec.js';
import type { VipObservation } from './vip-observation.js';

export interface ReadinessOutcome {
  /** vipKey -> the nodes that would not serve the VIP (placement's `notReady`). */
  readonly notReady: ReadonlyMap<string, ReadonlySet<string>>;
  /** Per VIP, per node: the readiness last reported ("" ready, else why not); the next pass's memory. */
  readonly seen: ReadonlyMap<string, ReadonlyMap<string, string | null>>;
  readonly events: readonly EventInput[];
}

const READY = null;

const NONE_NOT_READY: ReadonlyMap<string, ReadonlySet<string>> = new Map();
const NONE_SEEN: ReadonlyMap<string, ReadonlyMap<string, string | null>> = new Map();

/**
 * Most clusters report no readiness (no probe configured) and have none in memory: a pass then
 * builds no Map, Set or list of names, and gets the same empty ones.
 */
export function standbyReadiness(
  c: ClusterSpec,
  observations: ReadonlyMap<string, VipObservation>,
  before: ReadonlyMap<string, ReadonlyMap<string, string | null>>,
): ReadinessOutcome {
  let notReady: Map<string, Set<string>> | undefined;
  let seen: Map<string, Map<string, string | null>> | undefined;
  let nodes: Set<string> | undefined;
  const events: EventInput[] = [];
  for (const vip of c.vips) {
    let now: Map<string, string | null> | undefined;
    const last = before.get(vip.name);
    for (const p of observations.get(vip.name)?.perNode ?? []) {
      if (!p.live || !p.readiness) continue;
      const ready = readinessState(p.readiness) === 'ready';
      const reason = readinessReason(p.readiness);
      (now ??= new Map()).set(p.node, ready ? READY : reason);
      if (!ready) {
        notReady ??= new Map();
        let set = notReady.get(vipKey(c.name, vip.name));
        if (!set) notReady.set(vipKey(c.name, vip.name), (set = new Set()));
        set.add(p.node);
      }
      const was = last?.get(p.node);
      const holds = p.vipPresent ? ' (it holds the VIP now: a reload or restart would not serve it either)' : '';
      if (!ready && (was === undefined || was === READY)) {
        events.push({ type: 'standby.not_ready', cluster: c.name, vip: vip.name, node: p.node, severity: 'warning', message: `${p.node} would not serve ${vip.name} if it received it${holds}: ${reason}`, reason });
      } else if (ready && was !== undefined && was !== READY) {
        events.push({ type: 'standby.ready', cluster: c.name, vip: vip.name, node: p.node, message: `${p.node} would serve ${vip.name} again` });
      }
    }
    if (last !== undefined) {
      nodes ??= new Set(c.nodes.map((n) => n.name));
      for (const [node, was] of last) if (!now?.has(node) && nodes.has(node)) (now ??= new Map()).set(node, was);
    }
    if (now !== undefined && now.size > 0) (seen ??= new Map()).set(vip.name, now);
  }
  return { notReady: notReady ?? NONE_NOT_READY, seen: seen ?? NONE_SEEN, events };
}

/**
 * What the events say each node last reported, per cluster, per VIP, per node (null ready, else
 * why not): the memory a restarted coordinator starts from, so it does not raise them again.
 */
export function readinessFromEvents(events: Iterable<LbhaEvent>): Map<string, Map<string, Map<string, string | null>>> {
  const out = new Map<string, Map<string, Map<string, string | null>>>();
  for (const e of events) {
    if (e.type !== 'standby.not_ready' && e.type !== 'standby.ready') continue;
    let byVip = out.get(e.cluster);
    if (!byVip) out.set(e.cluster, (byVip = new Map()));
    let byNode = byVip.get(e.vip);
    if (!byNode) byVip.set(e.vip, (byNode = new Map()));
    byNode.set(e.node, e.type === 'standby.ready' ? READY : e.reason);
  }
  return out;
}
