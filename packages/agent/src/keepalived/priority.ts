// Explains and computes each instance's priority. Pure: inputs in, the placement track file
// value and the explanation out. keepalived computes base + file value (limits in
// @lbha/shared keepalived-priority); the health track file (weight 0) overrides everything
// with FAULT.
import {
  limitPriority,
  limitTrackFileValue,
  MAX_PRIORITY,
  MIN_PRIORITY,
  TRACK_FILE_MAX,
  TRACK_FILE_MIN,
  type DesiredInstance,
  type PriorityTerm,
} from '@lbha/shared';

export interface Penalty {
  readonly source: string;
  readonly penalty: number;
  readonly reason: string;
}

export interface Fault {
  readonly source: string;
  readonly reason: string;
}

export interface PriorityInputs {
  readonly instance: DesiredInstance;
  /** Why this node must give up every VIP (draining, drained, maintenance), or undefined. */
  readonly lowest: string | undefined;
  readonly penalties: readonly Penalty[];
  /** Failing penalty checks held back for a moment (explained, not applied). */
  readonly deferred?: readonly Penalty[];
  /** Failing fault checks and down services: FAULT for every instance (health file). */
  readonly faults: readonly Fault[];
  /** Interfaces keepalived tracks for this instance (track_interface) that are down. */
  readonly downInterfaces: readonly string[];
  /** Why this node advertises the highest priority (it holds the VIP and foreign routers are blocked). */
  readonly outbid?: string;
  /**
   * Failing fault checks that do not fault the instance: held back for a moment (explained,
   * not applied), or the node is a candidate of last resort (`lastResort` says why).
   */
  readonly softFaults?: readonly Fault[];
  readonly lastResort?: string;
  /** Why the node, healthy again, keeps a last resort's priority on this VIP (it does not hold it). */
  readonly recovering?: string;
  /** Why the node, its fault held back, keeps a last resort's priority on this VIP (it does not hold it). */
  readonly heldBackup?: string;
}

/** A candidate of last resort ranks below every healthy node: priorities 2..26, the best rank highest. */
export const LAST_RESORT_TOP = 26;

export function lastResortPriority(rank: number): number {
  return Math.max(MIN_PRIORITY + 1, LAST_RESORT_TOP - rank);
}

export interface PriorityOutcome {
  /** Written to the instance's placement track file. */
  readonly placementValue: number;
  readonly effectivePriority: number;
  readonly faulted: boolean;
  readonly terms: readonly PriorityTerm[];
}

export function computePriority(i: PriorityInputs): PriorityOutcome {
  const inst = i.instance;
  const terms: PriorityTerm[] = [
    { source: 'base', delta: inst.basePriority, reason: 'base priority' },
    { source: 'placement', delta: inst.placementWeight, reason: `placement rank ${inst.rank} from the coordinator` },
  ];
  let value = inst.placementWeight;
  for (const p of i.penalties) {
    terms.push({ source: p.source, delta: -p.penalty, reason: p.reason });
    value -= p.penalty;
  }
  for (const p of i.deferred ?? []) {
    terms.push({ source: p.source, delta: 0, reason: `${p.reason}; held back while the coordinator moves the VIP with a connection handover` });
  }
  const lowest = inst.stepDown ? 'step down requested by the coordinator (split brain)' : i.lowest;
  for (const f of i.lastResort === undefined ? (i.softFaults ?? []) : []) {
    terms.push({ source: f.source, delta: 0, reason: `${f.reason}; held back: every node may fail it for one shared cause (the coordinator is asked)` });
  }
  const keptOff = i.recovering ?? i.heldBackup;
  if (lowest === undefined && i.lastResort === undefined && keptOff !== undefined) {
    const soft = lastResortPriority(inst.rank);
    terms.push({ source: i.recovering !== undefined ? 'shared_recovery' : 'held_backup', delta: soft - (inst.basePriority + value), reason: keptOff });
    value = soft - inst.basePriority;
  } else if (lowest === undefined && i.lastResort !== undefined) {
    const soft = lastResortPriority(inst.rank);
    const [first, ...rest] = i.softFaults ?? [];
    terms.push({ source: first?.source ?? 'last_resort', delta: soft - (inst.basePriority + value), reason: `${first?.reason ?? 'failing'}; candidate of last resort: ${i.lastResort}` });
    for (const f of rest) terms.push({ source: f.source, delta: 0, reason: f.reason });
    value = soft - inst.basePriority;
  } else if (lowest !== undefined) {
    // The file gets the lowest value keepalived accepts; the explanation lands on MIN_PRIORITY.
    terms.push({ source: inst.stepDown ? 'step_down' : 'mode', delta: MIN_PRIORITY - (inst.basePriority + value), reason: lowest });
    value = TRACK_FILE_MIN;
  } else if (i.outbid !== undefined && inst.basePriority + value < MAX_PRIORITY) {
    terms.push({ source: 'foreign_routers', delta: MAX_PRIORITY - (inst.basePriority + value), reason: i.outbid });
    value = MAX_PRIORITY - inst.basePriority;
  } else if (limitTrackFileValue(value) !== value) {
    const limited = limitTrackFileValue(value);
    terms.push({ source: 'limit', delta: limited - value, reason: `track file value limited to ${TRACK_FILE_MIN}..${TRACK_FILE_MAX}` });
    value = limited;
  }
  const raw = inst.basePriority + value;
  const priority = limitPriority(raw);
  if (priority !== raw && lowest === undefined) terms.push({ source: 'limit', delta: priority - raw, reason: `keepalived limits priority to ${MIN_PRIORITY}..${MAX_PRIORITY}` });
  const faults = [...i.faults, ...i.downInterfaces.map((ifname) => ({ source: `interface:${ifname}`, reason: `tracked interface ${ifname} is down` }))];
  if (faults.length > 0) {
    for (const [n, f] of faults.entries()) terms.push({ source: f.source, delta: n === 0 ? -priority : 0, reason: `FAULT: ${f.reason}` });
    return { placementValue: value, effectivePriority: 0, faulted: true, terms };
  }
  return { placementValue: value, effectivePriority: priority, faulted: false, terms };
}
