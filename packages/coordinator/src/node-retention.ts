// Which node records to drop: the registry keeps a record for every name an agent ever
// connected with, so names that are not in the spec (typos, retired nodes, or invented ones)
// would pile up, with their metrics series. A record is dropped once its agent is gone and the
// spec does not name it: after a grace period, or at once when there are too many of them.

export interface RetentionInput {
  readonly name: string;
  readonly connected: boolean;
  /** When the agent was last heard from. */
  readonly lastSeenMs: number;
}

export interface RetentionPolicy {
  /** How long a gone node outside the spec stays listed (default 10 minutes). */
  readonly graceMs: number;
  /** Gone nodes outside the spec kept at most (the oldest go first, default 1,000). */
  readonly maxGone: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { graceMs: 10 * 60_000, maxGone: 1000 };

/** The names to forget now. Pure: records, the spec's node names and the time in, names out. */
export function nodesToForget(records: readonly RetentionInput[], inSpec: (name: string) => boolean, nowMs: number, policy: RetentionPolicy = DEFAULT_RETENTION): string[] {
  const gone = records.filter((r) => !r.connected && !inSpec(r.name)).sort((a, b) => a.lastSeenMs - b.lastSeenMs || a.name.localeCompare(b.name));
  const excess = Math.max(0, gone.length - policy.maxGone);
  return gone.filter((r, i) => i < excess || nowMs - r.lastSeenMs >= policy.graceMs).map((r) => r.name);
}
