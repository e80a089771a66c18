// The agent's decision, as one pure function: what the node observes (check verdicts, links,
// VRRP states, addresses, handovers), what it was told (desired state, local drain) and the
// time in; the status of every instance, the track file values and when to look again out.
// No timers, no I/O: the core calls it and acts on the result (docs/design/agent-data-plane.md).
import { parseCidr, type CheckStatus, type DesiredState, type ForeignRouter, type InstanceStatus, type NodeMode, type UnplannedTransition, type VrrpState } from '@lbha/shared';
import { CHECK_DEFAULTS, withDefaults } from '../checks/check-defaults.js';
import { computePriority, type Fault, type Penalty } from '../keepalived/priority.js';
import { holdsAddress, type AddressMap } from '../net/address-watcher.js';
import type { HandoverTask } from '../net/handover-task.js';
import { faultMode, type FailingFault } from './fault-mode.js';

/** A drain by command, kept across agent restarts until undrain. */
export type LocalDrain = 'draining' | 'drained';

/** An instance's VRRP state as keepalived last reported it (notify FIFO). */
export interface VrrpEntry {
  readonly state: VrrpState;
  readonly priority: number;
  readonly sinceMs: number;
}

/**
 * How long a newly failing penalty check (the maintenance file) is held back on a VIP this node
 * holds while the coordinator is connected: the coordinator moves the VIP with a connection
 * handover (docs/design/handover.md), which a local priority drop would pre-empt.
 */
export const PENALTY_DEFER_MS = 3_000;

export interface NodeView {
  readonly desired: DesiredState | undefined;
  readonly localDrain: LocalDrain | undefined;
  /** The checks that have a verdict; a check without one yet has no say. */
  readonly verdicts: readonly CheckStatus[];
  /** Tracked interfaces: up (true) or down (false). */
  readonly links: ReadonlyMap<string, boolean>;
  readonly vrrp: ReadonlyMap<string, VrrpEntry>;
  readonly addresses: AddressMap;
  readonly handovers: readonly HandoverTask[];
  /** Per instance: why the handover it was given could not start. */
  readonly handoverProblems: ReadonlyMap<string, string>;
  /** Per instance: connections an outgoing handover still serves, once the VIP has left (net/handover-connections.ts). */
  readonly handoverConnections: ReadonlyMap<string, number>;
  /** A coordinator is connected (it may move a VIP with a handover). */
  readonly coordinatorLinked: boolean;
  /** The coordinator's latest word that this node's failure is its own, and when it was applied (core/fault-mode.ts). */
  readonly ownFailure: { readonly sinceMs: number; readonly atMs: number } | undefined;
  /** Per instance: the last `announce` request carried out. */
  readonly announced: ReadonlyMap<string, number>;
  /** Routers that are not nodes of the cluster advertising a VRID on an interface (recently). */
  readonly foreign: (iface: string, vrid: number) => readonly ForeignRouter[];
  /** Per instance: when the node last announced the VIP itself. */
  readonly announcedAtMs: ReadonlyMap<string, number>;
  /** Per instance: the last VRRP transitions nobody asked for. */
  readonly unplanned: (instance: string) => readonly UnplannedTransition[];
  /** The last evaluation's `sharedFailure`. */
  readonly sharedFailure: boolean;
}

/** An announcement due now: the node holds the VIP. */
export interface AnnounceTask {
  readonly instance: string;
  readonly interface: string;
  /** The VIP's address, without prefix. */
  readonly address: string;
  /** The request it answers (DesiredInstance.announce); 0: a repeat while foreign routers are blocked. */
  readonly value: number;
}

/**
 * While a router that is not a node is known on a VRID this node holds and blocks, the VIP is
 * announced this often: a foreign router that does not accept our adverts (another VRRP
 * version, another password) announces it when it takes over and 5 s later.
 */
export const FOREIGN_ANNOUNCE_MS = 1_000;

export interface Evaluation {
  /** The node's mode as it acts on it: a local drain wins over the coordinator's mode. */
  readonly mode: NodeMode;
  readonly instances: readonly InstanceStatus[];
  /** Per instance: the value its placement track file should hold. */
  readonly placements: ReadonlyMap<string, number>;
  /** Failing fault checks that fault the node now: the health track file says FAULT while there is any. */
  readonly faults: readonly Fault[];
  /** No fault check fails (whether or not it faults the node yet). */
  readonly healthy: boolean;
  /** When a held-back penalty falls due: evaluate again then. */
  readonly wakeAtMs: number | undefined;
  /** Announcements to send now. */
  readonly announce: readonly AnnounceTask[];
  /**
   * A candidate of last resort on the coordinator's word (every other active node fails too),
   * or passing again after that and still keeping off the other nodes' VIPs (core/fault-mode.ts).
   */
  readonly sharedFailure: boolean;
}

/** Why a node that passes again keeps off a VIP it does not hold (its priority stays that of a last resort). */
const RECOVERING =
  'passes again after a failure every node shared; the other nodes may pass a moment later, so this node does not take their VIPs until the coordinator says';
/**
 * Why a node whose fault is held keeps off a VIP it does not hold. The coordinator's word that
 * every node fails reaches the nodes one at a time: the holder that hears it first drops to a last
 * resort's priority, and a peer still holding its own fault at its usual priority would take the
 * VIP from it, to give it back a moment later when it hears the same.
 */
const HELD_BACKUP =
  'its own fault is held back: every node may fail it for one shared cause, so this node does not take the VIPs of nodes that fail it too until the coordinator says';

export function evaluate(view: NodeView, now: number): Evaluation {
  const failing: FailingFault[] = [];
  const penalties: Penalty[] = [];
  const fresh: Penalty[] = [];
  let freshUntil = Infinity;
  const specs = new Map((view.desired?.checks ?? []).map((c) => [c.name, withDefaults(c)]));
  for (const s of view.verdicts) {
    if (s.result.kind === 'healthy' || s.effect === 'none') continue;
    const reason = `check ${s.name}: ${s.result.reason}`;
    if (s.effect === 'fault') {
      const timing = specs.get(s.name) ?? CHECK_DEFAULTS[s.kind];
      failing.push({ source: `check:${s.name}`, reason, kind: s.kind, sinceMs: s.sinceMs, intervalMs: timing.intervalMs, timeoutMs: timing.timeoutMs });
      continue;
    }
    const p = { source: `check:${s.name}`, penalty: s.penalty, reason };
    penalties.push(p);
    if (now - s.sinceMs < PENALTY_DEFER_MS) {
      fresh.push(p);
      freshUntil = Math.min(freshUntil, s.sinceMs + PENALTY_DEFER_MS);
    }
  }
  const holdsVip = (view.desired?.instances ?? []).some((i) => view.vrrp.get(i.name)?.state === 'master');
  // Only a node leaving a shared failure asks when its checks passed again (core/fault-mode.ts):
  // not worked out on every evaluation.
  let passing: { sinceMs: number; riseMs: number } | undefined;
  for (const s of view.sharedFailure ? view.verdicts : []) {
    if (s.effect !== 'fault' || s.result.kind !== 'healthy') continue;
    const t = specs.get(s.name) ?? CHECK_DEFAULTS[s.kind];
    const riseMs = t.rise * t.intervalMs + t.timeoutMs;
    passing = { sinceMs: Math.max(passing?.sinceMs ?? 0, s.sinceMs), riseMs: Math.max(passing?.riseMs ?? 0, riseMs) };
  }
  const fm = faultMode(
    {
      faults: failing,
      othersFailing: view.desired?.lastResort === true,
      coordinatorLinked: view.coordinatorLinked,
      holdsVip,
      advertIntMs: view.desired?.keepalived.advertIntMs ?? 1_000,
      verdicts: view.desired?.faultVerdicts === true,
      own: view.ownFailure,
      wasSharedFailure: view.sharedFailure,
      passing,
    },
    now,
  );
  const othersFailing = view.desired?.lastResort === true;
  // Only a hard fault sets the health file; held and last-resort ones are explained per instance.
  const faults = fm.kind === 'hard' ? fm.faults : [];
  const softFaults = fm.kind === 'held' || fm.kind === 'last-resort' ? fm.faults : [];
  const lastResort = fm.kind === 'last-resort' ? fm.why : undefined;
  const mode = view.localDrain ?? view.desired?.mode ?? 'active';
  const lowest = mode === 'active' ? undefined : view.localDrain ? `node is ${view.localDrain} (drain command)` : `node mode is ${mode}`;
  const placements = new Map<string, number>();
  const instances: InstanceStatus[] = [];
  const announce: AnnounceTask[] = [];
  let wakeAtMs: number | undefined = fm.kind === 'held' || fm.kind === 'recovering' ? fm.untilMs : fm.kind === 'hard' ? fm.lastResortAtMs : undefined;
  for (const inst of view.desired?.instances ?? []) {
    const tracked = [inst.interface, ...inst.trackInterfaces];
    const downInterfaces = [...new Set(tracked)].filter((i) => view.links.get(i) === false);
    const v = view.vrrp.get(inst.name);
    // On a VIP it holds, a fresh penalty waits for the coordinator's handover move (rank 0 -> 1).
    const defer = fresh.length > 0 && view.coordinatorLinked && lowest === undefined && inst.rank === 0 && v?.state === 'master';
    const foreign = view.foreign(inst.interface, inst.vrid);
    // The holder outbids routers that are not nodes: a foreign keepalived hears the highest
    // priority and stays BACKUP (its adverts are dropped here, so ours never yields to it).
    const outbid =
      view.desired?.keepalived.blockForeignRouters === true && inst.rank === 0 && v?.state === 'master' && penalties.length === 0
        ? `holds the VIP; routers that are not nodes are blocked (policy foreign_routers: block)${foreign.length > 0 ? `: ${foreign.map((r) => `${r.source} at ${r.priority}`).join(', ')}` : ''}`
        : undefined;
    const out = defer
      ? computePriority({ instance: inst, lowest, penalties: penalties.filter((p) => !fresh.includes(p)), deferred: fresh, faults, downInterfaces })
      : computePriority({
          instance: inst,
          lowest,
          penalties,
          faults,
          downInterfaces,
          softFaults,
          ...(lastResort ? { lastResort } : {}),
          ...(outbid ? { outbid } : {}),
          ...(fm.kind === 'recovering' && v?.state !== 'master' ? { recovering: RECOVERING } : {}),
          ...(fm.kind === 'held' && v?.state !== 'master' ? { heldBackup: HELD_BACKUP } : {}),
        });
    if (defer) wakeAtMs = Math.min(wakeAtMs ?? Infinity, freshUntil);
    placements.set(inst.name, out.placementValue);
    const cidr = parseCidr(inst.vip);
    const vipAddr = typeof cidr === 'string' ? inst.vip : cidr.address;
    const handover = view.handovers.find((h) => h.instance === inst.name);
    const handoverError = view.handoverProblems.get(inst.name);
    const handoverConnections = handover?.role === 'outgoing' ? view.handoverConnections.get(inst.name) : undefined;
    const vipPresent = holdsAddress(view.addresses, inst.interface, vipAddr);
    const announced = view.announced.get(inst.name) ?? 0;
    const unplanned = view.unplanned(inst.name);
    // Only a holder can announce; a request that reaches another node waits (or is replaced).
    if (inst.announce !== undefined && inst.announce > announced && vipPresent) {
      announce.push({ instance: inst.name, interface: inst.interface, address: vipAddr, value: inst.announce });
    } else if (outbid !== undefined && foreign.length > 0 && vipPresent) {
      const due = (view.announcedAtMs.get(inst.name) ?? 0) + FOREIGN_ANNOUNCE_MS;
      if (due <= now) announce.push({ instance: inst.name, interface: inst.interface, address: vipAddr, value: 0 });
      wakeAtMs = Math.min(wakeAtMs ?? Infinity, due > now ? due : now + FOREIGN_ANNOUNCE_MS);
    }
    instances.push({
      name: inst.name,
      vrid: inst.vrid,
      vip: inst.vip,
      interface: inst.interface,
      state: v?.state ?? 'unknown',
      basePriority: inst.basePriority,
      effectivePriority: out.effectivePriority,
      vipPresent,
      sinceMs: v?.sinceMs ?? 0,
      priorityTerms: out.terms,
      faultedByHealth: faults.length > 0,
      ...(handover ? { handover: { role: handover.role, peer: handover.peer, untilMs: handover.untilMs } } : {}),
      ...(handoverError ? { handoverError } : {}),
      ...(handoverConnections !== undefined ? { handoverConnections } : {}),
      ...(announced > 0 ? { announced } : {}),
      ...(foreign.length > 0 ? { foreignRouters: foreign } : {}),
      ...(unplanned.length > 0 ? { unplanned } : {}),
    });
  }
  const sharedFailure = (fm.kind === 'last-resort' && othersFailing) || fm.kind === 'recovering';
  return { mode, instances, placements, faults, healthy: failing.length === 0, wakeAtMs, announce, sharedFailure };
}

/** The instances whose VIP this node holds, or would hold as keepalived sees it. */
export function heldInstances(e: Evaluation): string[] {
  return e.instances.filter((i) => i.state === 'master' || i.vipPresent).map((i) => i.name);
}
