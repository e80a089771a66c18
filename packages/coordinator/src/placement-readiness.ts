// What standby readiness changes in placement (placement.ts): which nodes would not serve a VIP
// group, and the backup order with those nodes after the ones that would. Pure.

/** Ring positions of the nodes that would not serve any VIP of a placement item. */
export function unreadyPositions(
  holderKeys: readonly string[],
  notReady: ReadonlyMap<string, ReadonlySet<string>> | undefined,
  position: ReadonlyMap<string, number>,
): ReadonlySet<number> {
  if (!notReady || notReady.size === 0) return EMPTY;
  let out: Set<number> | undefined;
  for (const k of holderKeys) {
    for (const node of notReady.get(k) ?? []) {
      const p = position.get(node);
      if (p === undefined) continue;
      (out ??= new Set()).add(p);
    }
  }
  return out ?? EMPTY;
}

const EMPTY: ReadonlySet<number> = new Set();

/**
 * The backup order after the holder: eligible nodes that would serve the VIP first, then
 * eligible ones that would not, then the rest as they were. Stable: otherwise the order is kept.
 */
export function readyFirst(backups: readonly number[], unready: ReadonlySet<number>, eligible: (pos: number) => boolean): number[] {
  if (unready.size === 0) return [...backups];
  const key = (p: number): number => (!eligible(p) ? 2 : unready.has(p) ? 1 : 0);
  return [...backups].sort((a, b) => key(a) - key(b));
}
