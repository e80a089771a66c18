// What a re-read configuration changed, split into what a running daemon applies on SIGHUP and
// what only takes effect after a restart. Pure: two parsed configurations in, two lists out.

export interface ConfigChanges {
  /** Changed settings the daemon applies now (top-level keys, or `key.sub` for split sections). */
  readonly applied: readonly string[];
  /** Changed settings that keep their old value until the next restart. */
  readonly needRestart: readonly string[];
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Compares two configurations key by key. `reloadable` lists top-level keys, or `key.sub` to
 * make only part of a section reloadable (the rest of that section then needs a restart).
 */
export function configChanges(before: object, after: object, reloadable: readonly string[]): ConfigChanges {
  const applied: string[] = [];
  const needRestart: string[] = [];
  const b = before as Record<string, unknown>;
  const a = after as Record<string, unknown>;
  for (const key of [...new Set([...Object.keys(b), ...Object.keys(a)])].sort()) {
    if (same(b[key], a[key])) continue;
    if (reloadable.includes(key)) {
      applied.push(key);
      continue;
    }
    const parts = reloadable.filter((r) => r.startsWith(`${key}.`)).map((r) => r.slice(key.length + 1));
    if (parts.length === 0) {
      needRestart.push(key);
      continue;
    }
    const bs = (b[key] ?? {}) as Record<string, unknown>;
    const as = (a[key] ?? {}) as Record<string, unknown>;
    for (const sub of [...new Set([...Object.keys(bs), ...Object.keys(as)])].sort()) {
      if (same(bs[sub], as[sub])) continue;
      (parts.includes(sub) ? applied : needRestart).push(`${key}.${sub}`);
    }
  }
  return { applied, needRestart };
}

/** The configuration a daemon runs with after a reload: `before`, with the applied settings taken from `after`. */
export function withApplied<T extends object>(before: T, after: T, applied: readonly string[]): T {
  const out = structuredClone(before) as Record<string, unknown>;
  const src = after as Record<string, unknown>;
  for (const path of applied) {
    const [key, sub] = path.split('.') as [string, string | undefined];
    if (sub === undefined) out[key] = structuredClone(src[key]);
    else out[key] = { ...((out[key] ?? {}) as object), [sub]: structuredClone((src[key] as Record<string, unknown> | undefined)?.[sub]) };
  }
  return out as T;
}
