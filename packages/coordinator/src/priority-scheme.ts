// How a placement rank becomes a keepalived priority weight (written by the agent to the
// instance's weight-1 placement track file). The reasoning is in docs/design/placement.md;
// keepalived's own limits are in @lbha/shared (keepalived-priority.ts).
import { MAX_PRIORITY, MIN_PRIORITY } from '@lbha/shared';

/** Added for rank 0: the node that should hold the VIP. */
export const HOLDER_WEIGHT = 50;

/** Rank k >= 1 of an eligible node gets BACKUP_WEIGHT - k (never below 0). */
export const BACKUP_WEIGHT = 25;

/** Gap between the holder and the first backup: a local penalty larger than this moves the VIP on its own. */
export const HOLDER_GAP = HOLDER_WEIGHT - (BACKUP_WEIGHT - 1);

/** Highest base priority that keeps base + HOLDER_WEIGHT within keepalived's range. */
export const MAX_BASE_PRIORITY = MAX_PRIORITY - HOLDER_WEIGHT;

/**
 * Placement weight for a node at `rank` of a VIP's ranking.
 * `eligible` is false for a node that must not hold the VIP while another node can
 * (unhealthy, draining, drained, maintenance): it is pushed down to priority 1, below any
 * eligible node whatever penalties that node carries.
 */
export function placementWeight(rank: number, eligible: boolean, basePriority: number): number {
  if (!eligible) return MIN_PRIORITY - basePriority;
  if (rank === 0) return HOLDER_WEIGHT;
  return Math.max(0, BACKUP_WEIGHT - rank);
}
