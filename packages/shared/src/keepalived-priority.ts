// keepalived's priority arithmetic, as both the coordinator (which ranks nodes) and the agent
// (which writes track files) depend on it. keepalived 2.2.7, vrrp_instance with a weighted
// track_file: effective priority = base priority + weight x file value, limited to 1..254.
// The placement policy (how a rank becomes a weight) is the coordinator's; these are the
// daemon's limits it works within.

/** Lowest priority of a running instance: what a node drained, in maintenance or stepping down gets. */
export const MIN_PRIORITY = 1;

/** Highest priority of an instance that is not the address owner (255 ignores track files). */
export const MAX_PRIORITY = 254;

/** Lowest value a weight-1 track file may add: below it keepalived puts the instance in FAULT. */
export const TRACK_FILE_MIN = -(MAX_PRIORITY - 1);

/** Highest value a weight-1 track file may add. */
export const TRACK_FILE_MAX = MAX_PRIORITY - 1;

/** Largest penalty a check may take off: more than that is a fault, not a penalty. */
export const MAX_PENALTY = MAX_PRIORITY - 1;

/** The priority keepalived runs with for `raw` = base + track file values. */
export function limitPriority(raw: number): number {
  return Math.min(MAX_PRIORITY, Math.max(MIN_PRIORITY, raw));
}

/** A weight-1 track file value within what keepalived accepts without a FAULT. */
export function limitTrackFileValue(value: number): number {
  return Math.min(TRACK_FILE_MAX, Math.max(TRACK_FILE_MIN, value));
}

/** Why `v` cannot be a base priority (an integer in 1..254), or undefined. */
export function basePriorityProblem(v: number): string | undefined {
  if (Number.isInteger(v) && v >= MIN_PRIORITY && v <= MAX_PRIORITY) return undefined;
  return `must be ${MIN_PRIORITY}..${MAX_PRIORITY} (255 is the address owner and ignores track files), got ${v}`;
}
