// One reconcile pass over one cluster, as a pure function: the spec, what the agents report,
// the node modes, the memory of the previous pass and the time in; placement, each node's
// desired state, step-downs, handover holds, event drafts and the next wake-up out. No
// registry, log, store or clock: the reconcile loop observes, calls this, then pushes and
// records (docs/design/reconcile.md).
import { isDeepStrictEqual } from 'node:util';
import { CAPABILITY_HANDOVER, isLive, type DesiredBackends, type NodeMode } from '@lbha/shared';
import { configDrift, driftEvents } from './backends/config-drift.js';
import { nodeReports } from './backends/node-reports.js';
import type { ClusterMemory, DesiredEntry } from './cluster-memory.js';
import { sameDesiredInputs, type DesiredInputs } from './desired-inputs.js';
import { buildDesiredState } from './desired-state-builder.js';
import type { EventInput } from './event-log.js';
import { handoverOf, planHandovers, type HandoverEntry, type PlanResult } from './handover-plan.js';
import { nodeCondition, type HealthMemory } from './node-condition.js';
import type { NodeObservation } from './node-observation.js';
import { place, type ClusterPlacement, type NodeCondition, type VipPin } from './placement.js';
import { vipKey, type ClusterSpec } from './spec/cluster-spec.js';
import { observeCluster, type VipObservation } from './vip-observation.js';
import { serviceEvents } from './service-events.js';
import { sharedFailure, type SharedFailure } from './shared-failure.js';
import { standbyReadiness } from './standby-readiness.js';
import { unplannedEvents } from './unplanned-events.js';
import { trackVip, type VipTrack } from './vip-tracking.js';

export interface ClusterPassInput {
  readonly cluster: ClusterSpec;
  /** What is seen of each node whose agent ever connected; a node missing here never did. */
  readonly nodes: ReadonlyMap<string, NodeObservation>;
  /** Coordinator-owned modes; a node missing here is active. */
  readonly modes: ReadonlyMap<string, NodeMode>;
  /** Version the loop gave each node's current desired state (after the previous pass). */
  readonly versions: ReadonlyMap<string, number>;
  /** A VIP problem must last this long before it is reported and acted on. */
  readonly settleMs: number;
  /** The cluster's backend pool as its agents are told it (spec and wanted server states). */
  readonly backends: DesiredBackends;
  /** Per VIP: where an operator moved or pinned it (`lbha move`); missing: none. */
  readonly pins?: ReadonlyMap<string, VipPin>;
}

export interface ClusterPassResult {
  readonly memory: ClusterMemory;
  /** Where each VIP should live now (what the API shows; a handover hold may push an older one). */
  readonly placement: ClusterPlacement;
  readonly conditions: ReadonlyMap<string, NodeCondition>;
  /** Per VIP: who holds it, as the agents report. */
  readonly observations: ReadonlyMap<string, VipObservation>;
  /** vipKey -> the holder placement started from (reported, else last decided). */
  readonly presumedHolders: ReadonlyMap<string, string>;
  /** Per node of the cluster: what its agent should run. */
  readonly desired: ReadonlyMap<string, DesiredEntry>;
  /** Nodes whose agent claims another cluster: they are sent nothing. */
  readonly withheld: ReadonlySet<string>;
  /** Events to record, in order. */
  readonly events: readonly EventInput[];
  /** When the outcome may change with no new input (hold-down, settle time, handover); null if never. */
  readonly wakeAt: number | null;
  /** The desired holders changed and should be stored. */
  readonly holdersChanged: boolean;
  /** vipKey -> the live nodes whose proxy would not serve the VIP (standby readiness). */
  readonly notReady: ReadonlyMap<string, ReadonlySet<string>>;
  /**
   * Moves (not sticky pins) whose node can no longer hold the VIP, with why: they have done
   * their part, and the spec's rules (home, failback) apply again. The loop removes them.
   */
  readonly lapsedPins: ReadonlyMap<string, string>;
}

const NO_STEP_DOWN: ReadonlySet<string> = new Set();
// Shared empty results: most passes have no pins, step-downs, announcements or mismatched
// agents, and built a Map or Set for each of them anyway. Nothing writes to a pass's results.
const NO_PINS: ReadonlyMap<string, VipPin> = new Map();
const NO_LAPSED: ReadonlyMap<string, string> = new Map();
const NO_STEP_DOWNS: ReadonlyMap<string, ReadonlySet<string>> = new Map();
const NO_ANNOUNCE: ReadonlyMap<string, { readonly node: string; readonly request: number }> = new Map();
const NO_WITHHELD: ReadonlySet<string> = new Set();
const NO_MISMATCHED: ReadonlyMap<string, string> = new Map();

function earliest(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}

export function passCluster(input: ClusterPassInput, memory: ClusterMemory, now: number): ClusterPassResult {
  const c = input.cluster;
  const events: EventInput[] = [];
  const modeOf = (n: string): NodeMode => input.modes.get(n) ?? 'active';
  const reporting = (n: string): NodeObservation | undefined => {
    const o = input.nodes.get(n);
    return o !== undefined && isLive(o.link) && o.snapshot !== undefined ? o : undefined;
  };

  // Observe: each node's condition, each VIP's holders.
  const shared = sharedFailure(c, modeOf, reporting, memory.failingEverywhere, memory.failuresSeen, now, memory.sharedRecovery);
  const conditions = new Map<string, NodeCondition>();
  const health = new Map<string, HealthMemory>();
  for (const n of c.nodes) {
    const r = nodeCondition(n.name, input.nodes.get(n.name), modeOf(n.name), memory.health.get(n.name), now);
    // A failure held back until the other nodes' reports say whose it is moves nothing yet: the
    // node's agent keeps its VIPs meanwhile, and so does placement (shared-failure.ts). Nor does
    // a failure every node shared while it may still pass again on this node as on another.
    const condition = shared.held.has(n.name) ? { ...r.condition, health: 'healthy' as const, healthySinceMs: r.memory.healthySinceMs } : r.condition;
    conditions.set(n.name, shared.recovering.has(n.name) ? { ...condition, recovering: true } : condition);
    health.set(n.name, r.memory);
    if (r.event) events.push(r.event);
  }
  events.push(...shared.events);
  const unplanned = unplannedEvents(c, reporting, memory.transitionsSeen);
  events.push(...unplanned.events);
  const restarts = serviceEvents(c, reporting, memory.restartsSeen);
  events.push(...restarts.events);
  const observations = observeCluster(c, (name) => {
    const o = input.nodes.get(name);
    return { live: o !== undefined && isLive(o.link), snapshot: o?.snapshot };
  });
  const presumedHolders = new Map<string, string>();
  for (const [vip, o] of observations) {
    const h = presumedHolder(o.holders, memory.holders.get(vip), memory.handovers.entries.get(vip));
    if (h !== undefined) presumedHolders.set(vipKey(c.name, vip), h);
  }

  // Decide: placement, VIP status, split-brain step-downs.
  let pins: Map<string, VipPin> | undefined;
  let lapsedPins: Map<string, string> | undefined;
  for (const [vip, pin] of input.pins ?? []) {
    const known = c.vips.some((v) => v.name === vip) && c.nodes.some((n) => n.name === pin.node);
    if (known) (pins ??= new Map()).set(vipKey(c.name, vip), pin);
    else (lapsedPins ??= new Map()).set(vip, `${vip} or ${pin.node} is no longer in the spec`);
  }
  const readiness = standbyReadiness(c, observations, memory.readiness);
  events.push(...readiness.events);
  const placed = place({ spec: { clusters: [c] }, nodes: conditions, holders: presumedHolders, nowMs: now, pins: pins ?? NO_PINS, notReady: readiness.notReady });
  const placement = placed.clusters.get(c.name) as ClusterPlacement;
  for (const [vip, pin] of input.pins ?? []) {
    const cls = placement.classes.get(pin.node);
    // `unknown` (its agent is away) says nothing about whether the node could hold the VIP.
    if (pin.sticky || cls === undefined || cls === 'unknown' || cls === 'preferred') continue;
    if (cls === 'degraded' && !placement.vips.some((v) => v.vip === vip && v.holder !== pin.node)) continue;
    (lapsedPins ??= new Map()).set(vip, `${pin.node} is ${cls}`);
  }
  // Decide: planned moves go in two pushes (handover first). Planned before the VIPs are
  // tracked, which need to know what the agents are told; its events come after theirs.
  const plan = planHandovers(
    c,
    placement,
    {
      now,
      live: (n) => reporting(n) !== undefined,
      healthy: (n) => conditions.get(n)?.health === 'healthy',
      capable: (n) => input.nodes.get(n)?.capabilities.includes(CAPABILITY_HANDOVER) ?? false,
      applied: (n) => input.nodes.get(n)?.appliedVersion ?? 0,
      ackLatencyMs: (n) => input.nodes.get(n)?.ackLatencyMs,
      versionOf: (n) => input.versions.get(n),
      actualHolders: (vip) => observations.get(vip)?.holders ?? [],
      mode: modeOf,
      reported: (vip) => (observations.get(vip)?.perNode ?? []).flatMap((p) => (p.handover ? [{ node: p.node, handover: p.handover }] : [])),
      connections: (node, vip) => {
        const p = observations.get(vip)?.perNode.find((x) => x.node === node);
        return p?.live && p.handover?.role === 'outgoing' ? p.handoverConnections : undefined;
      },
    },
    memory.handovers,
  );
  let wakeAt = placed.nextChangeMs;
  const holders = new Map<string, string>();
  const tracks = new Map<string, VipTrack>();
  let stepDown: Map<string, Set<string>> | undefined;
  let holdersChanged = false;
  // The holder the agents are told per VIP (a handover's prepare holds a move back): the plan
  // lists the VIPs as placement does, found by name otherwise.
  const toldVips = plan.placement.vips;
  for (const [i, vp] of placement.vips.entries()) {
    const last = memory.holders.get(vp.vip);
    if (last !== vp.holder) {
      if (last !== undefined) {
        events.push({ type: 'placement.changed', cluster: c.name, vip: vp.vip, node: vp.holder, message: `${vp.vip} should now be held by ${vp.holder} (was ${last})`, reason: vp.reason });
      }
      holdersChanged = true;
    }
    holders.set(vp.vip, vp.holder);
    const o = observations.get(vp.vip) as VipObservation;
    const t = trackVip(c.name, vp, o, memory.tracks.get(vp.vip), now, input.settleMs, (toldVips[i]?.vip === vp.vip ? toldVips[i] : toldVips.find((v) => v.vip === vp.vip))?.holder ?? vp.holder);
    tracks.set(vp.vip, t.track);
    events.push(...t.events);
    wakeAt = earliest(wakeAt, t.wakeAt);
    if (t.track.status === 'healing') {
      // The nodes told to step down stay so until the holder has announced the VIP.
      for (const [node, vips] of memory.stepDown) {
        if (!vips.has(vp.vip) || o.holders.includes(node)) continue;
        stepDown ??= new Map();
        let set = stepDown.get(node);
        if (!set) stepDown.set(node, (set = new Set()));
        set.add(vp.vip);
      }
      continue;
    }
    if (!t.settledSplit) continue;
    // Keep the desired holder, or the best-ranked of the holders; the rest step down.
    const keep = o.holders.includes(vp.holder) ? vp.holder : [...o.holders].sort((a, b) => vp.ranking.indexOf(a) - vp.ranking.indexOf(b))[0];
    for (const h of o.holders) {
      if (h === keep) continue;
      stepDown ??= new Map();
      let set = stepDown.get(h);
      if (!set) stepDown.set(h, (set = new Set()));
      set.add(vp.vip);
      if (!memory.stepDown.get(h)?.has(vp.vip)) {
        events.push({ type: 'vip.step_down', cluster: c.name, vip: vp.vip, node: h, severity: 'warning', message: `told ${h} to step down from ${vp.vip}; ${keep} keeps it` });
      }
    }
  }

  events.push(...handoverEvents(c.name, plan));
  wakeAt = earliest(earliest(wakeAt, plan.wakeAt), shared.wakeAt);

  // Observe: whether the nodes run the same proxy configuration.
  const drift = configDrift(c.name, nodeReports(c, (n) => input.nodes.get(n)));
  events.push(...driftEvents(drift, memory.drift));

  // Decide: what each node's agent should run.
  let announce: Map<string, { readonly node: string; readonly request: number }> | undefined;
  for (const [vip, t] of tracks) if (t.announce) (announce ??= new Map()).set(vip, t.announce);
  const desired = desiredStates(c, plan, stepDown ?? NO_STEP_DOWNS, announce ?? NO_ANNOUNCE, shared, memory, input.backends);
  let withheld: Set<string> | undefined;
  let mismatched: Map<string, string> | undefined;
  for (const n of c.nodes) {
    const o = input.nodes.get(n.name);
    // Only an agent that could be sent something now: connected and reporting.
    if (!o?.session || o.link === 'disconnected' || !o.snapshot || o.cluster === c.name) continue;
    (withheld ??= new Set()).add(n.name);
    (mismatched ??= new Map()).set(n.name, o.session);
    if (memory.mismatched.get(n.name) !== o.session) {
      events.push({ type: 'node.cluster_mismatch', cluster: o.cluster, node: n.name, severity: 'critical', message: `agent of ${n.name} says cluster ${o.cluster}, the spec says ${c.name}; not pushing desired state` });
    }
  }

  return {
    memory: { holders, health, tracks, stepDown: stepDown ?? NO_STEP_DOWNS, mismatched: mismatched ?? NO_MISMATCHED, handovers: plan.memory, desired: desired.entries, built: desired.built, drift: drift.drift ? drift.message : '', failingEverywhere: shared.failingEverywhere, failuresSeen: shared.seen, sharedRecovery: shared.recovery, transitionsSeen: unplanned.seen, restartsSeen: restarts.seen, readiness: readiness.seen },
    placement,
    conditions,
    observations,
    presumedHolders,
    desired: desired.entries,
    withheld: withheld ?? NO_WITHHELD,
    events,
    wakeAt,
    holdersChanged,
    notReady: readiness.notReady,
    lapsedPins: lapsedPins ?? NO_LAPSED,
  };
}

/**
 * Who placement starts from: who reports the VIP (the one last decided, if it is among them),
 * else who was last told to hold it. During a planned move to the last decided holder, the old
 * holder reporting the VIP is letting go, not taking over: its agent reports the address a
 * moment after the new holder's agent went away (restarting), and taking that for a failover
 * would end the handover and push the VIP back.
 */
function presumedHolder(reporters: readonly string[], last: string | undefined, moving: HandoverEntry | undefined): string | undefined {
  const seen = moving !== undefined && moving.to === last ? reporters.filter((n) => n !== moving.from) : reporters;
  if (seen.length === 0) return last;
  return last !== undefined && seen.includes(last) ? last : seen[0];
}

function handoverEvents(cluster: string, plan: PlanResult): EventInput[] {
  const out: EventInput[] = [];
  for (const e of plan.started) {
    const secs = Math.round((e.untilMs - e.startedMs) / 1000);
    out.push({ type: 'handover.started', cluster, vip: e.vip, node: e.to, message: `${e.vip} moves from ${e.from} to ${e.to}; ${e.from} keeps answering its open connections until they end (a window of ${secs}s, extended while some are open)` });
  }
  for (const { entry: e, reason } of plan.ended) {
    out.push({ type: 'handover.ended', cluster, vip: e.vip, node: e.from, message: `handover of ${e.vip} from ${e.from} to ${e.to} ended: ${reason}` });
  }
  if (plan.unconfirmed.length > 0) {
    out.push({ type: 'handover.unconfirmed', cluster, severity: 'warning', message: `agents of ${plan.unconfirmed.join(', ')} did not confirm the handover in time; VIPs move without waiting` });
  }
  return out;
}

/** Each node's desired state, rebuilt only when what it is built from changed. */
function desiredStates(
  c: ClusterSpec,
  plan: PlanResult,
  stepDown: ReadonlyMap<string, ReadonlySet<string>>,
  announce: ReadonlyMap<string, { readonly node: string; readonly request: number }>,
  shared: Pick<SharedFailure, 'lastResort' | 'own'>,
  memory: ClusterMemory,
  backends: DesiredBackends,
): { entries: ReadonlyMap<string, DesiredEntry>; built: DesiredInputs } {
  const cp = plan.placement;
  const built: DesiredInputs = {
    spec: c,
    anyEligible: cp.anyEligible,
    rankings: cp.vips.map((v) => v.ranking),
    nodes: c.nodes.map((n) => [cp.classes.get(n.name), plan.modeOf(n.name), stepDown.get(n.name) ?? NO_STEP_DOWN, shared.lastResort.has(n.name), shared.own.get(n.name) ?? 0] as const),
    hold: plan.memory.hold !== undefined,
    handovers: plan.memory.entries,
    announce,
    backends,
  };
  if (memory.built?.spec === c && c.nodes.every((n) => memory.desired.has(n.name)) && sameDesiredInputs(memory.built, built)) return { entries: memory.desired, built: memory.built };
  const entries = new Map<string, DesiredEntry>();
  for (const n of c.nodes) {
    const content = buildDesiredState(c, cp, n, plan.modeOf(n.name), stepDown.get(n.name) ?? NO_STEP_DOWN, {
      handoverOf: (vip) => handoverOf(plan.memory, vip, n.name),
      announceOf: (vip) => (announce.get(vip)?.node === n.name ? announce.get(vip)?.request : undefined),
      lastResort: shared.lastResort.has(n.name),
      ownFailureSinceMs: shared.own.get(n.name) ?? 0,
    }, backends);
    // The same entry for the same content: the loop gives a node a new version only for a new entry.
    const before = memory.desired.get(n.name);
    entries.set(n.name, before !== undefined && isDeepStrictEqual(before.content, content) ? before : { content });
  }
  return { entries, built };
}
