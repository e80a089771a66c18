// What the reconcile pass of one cluster remembers from one pass to the next. Immutable: a
// pass returns a new memory, and the loop keeps the latest.
import type { DesiredInputs } from './desired-inputs.js';
import type { DesiredContent } from './desired-state-builder.js';
import { NO_HANDOVERS, type HandoverEntry, type HandoverMemory } from './handover-plan.js';
import type { HealthMemory } from './node-condition.js';
import type { FailureSeen, SharedRecovery } from './shared-failure.js';
import type { VipTrack } from './vip-tracking.js';

/**
 * What a node's agent should run, without its version (the loop numbers it). A pass keeps the
 * previous entry (the same object) when the content is equal, so the loop tells a changed
 * desired state by identity first.
 */
export interface DesiredEntry {
  readonly content: DesiredContent;
}

export interface ClusterMemory {
  /** Per VIP: the node last decided to hold it. Persisted, so a restart moves nothing. */
  readonly holders: ReadonlyMap<string, string>;
  /** Per node: its last health and since when it is healthy (hold-down failback). */
  readonly health: ReadonlyMap<string, HealthMemory>;
  /** Per VIP: its status, since when, and what was last reported. */
  readonly tracks: ReadonlyMap<string, VipTrack>;
  /** Per node: the VIPs it was told to step down from (split-brain arbitration). */
  readonly stepDown: ReadonlyMap<string, ReadonlySet<string>>;
  /** Per node whose agent claims another cluster: the session that was reported. */
  readonly mismatched: ReadonlyMap<string, string>;
  readonly handovers: HandoverMemory;
  /** Per node: its desired state as last built. */
  readonly desired: ReadonlyMap<string, DesiredEntry>;
  /**
   * What the desired states were last built from. Unchanged inputs skip the rebuild: at
   * thousands of nodes, rebuilding every cluster on every agent delta would hog the event loop.
   */
  readonly built: DesiredInputs | undefined;
  /** How the LB nodes' proxy configurations differed at the last pass; '' when they did not. */
  readonly drift: string;
  /** Fault checks failing on every active node, as last reported. */
  readonly failingEverywhere: readonly string[];
  /** Per failing node: its failure as first seen (whose failure it is waits on the others' reports). */
  readonly failuresSeen: ReadonlyMap<string, FailureSeen>;
  /** A failure every active node shared that is ending: the nodes still failing wait to pass again. */
  readonly sharedRecovery: SharedRecovery | undefined;
  /** Per node: the highest number of the unplanned VRRP transitions already reported. */
  readonly transitionsSeen: ReadonlyMap<string, number>;
  /** Per node, per service: the restart count last seen. */
  readonly restartsSeen: ReadonlyMap<string, ReadonlyMap<string, number>>;
  /** Per VIP, per live node: its standby readiness as last reported (null ready, else why not). */
  readonly readiness: ReadonlyMap<string, ReadonlyMap<string, string | null>>;
}

export const EMPTY_MEMORY: ClusterMemory = Object.freeze({
  holders: new Map(),
  health: new Map(),
  tracks: new Map(),
  stepDown: new Map(),
  mismatched: new Map(),
  handovers: NO_HANDOVERS,
  desired: new Map(),
  built: undefined,
  drift: '',
  failingEverywhere: [],
  failuresSeen: new Map(),
  sharedRecovery: undefined,
  transitionsSeen: new Map(),
  restartsSeen: new Map(),
  readiness: new Map(),
});

/**
 * A fresh memory that knows only what a previous run stored: the desired holders, the
 * handovers in progress (their agents keep running them; ending them would reset connections)
 * and the standby readiness its events last reported (raised again, they would say nothing new).
 */
export function restoredMemory(
  holders: Readonly<Record<string, string>>,
  handovers: readonly HandoverEntry[] = [],
  readiness: ClusterMemory['readiness'] = new Map(),
): ClusterMemory {
  return { ...EMPTY_MEMORY, holders: new Map(Object.entries(holders)), handovers: { ...NO_HANDOVERS, entries: new Map(handovers.map((e) => [e.vip, e])) }, readiness };
}
