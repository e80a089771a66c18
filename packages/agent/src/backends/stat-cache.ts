// Values computed from files that rarely change (digests, parsed configurations), computed again
// only when a file's metadata changes (size, modification time, inode): the backend report looks
// at them every interval.
import { readFile, stat } from 'node:fs/promises';

/** A file's identity for change detection; '' when it cannot be read. */
export async function statKey(path: string): Promise<string> {
  try {
    const s = await stat(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch {
    return '';
  }
}

/** The identity of a set of files (and the directories holding them, so new files show). */
export async function statKeyOf(paths: Iterable<string>): Promise<string> {
  const all = new Set<string>();
  for (const p of paths) {
    all.add(p);
    all.add(p.slice(0, p.lastIndexOf('/')) || '/');
  }
  const keys = await Promise.all([...all].sort().map(async (p) => `${p}=${await statKey(p)}`));
  return keys.join('\n');
}

/** What is computed from each file, computed again only when the file's metadata changed. */
export class StatCache<T> {
  private readonly cache = new Map<string, { readonly key: string; readonly value: T | undefined }>();

  constructor(private readonly compute: (text: string) => T) {}

  /** The value for the file; undefined when it cannot be read. */
  async read(path: string): Promise<T | undefined> {
    const key = await statKey(path);
    const hit = this.cache.get(path);
    if (hit && hit.key === key && key !== '') return hit.value;
    const text = await readFile(path, 'utf8').catch(() => undefined);
    const value = text === undefined ? undefined : this.compute(text);
    this.cache.set(path, { key, value });
    return value;
  }

  /** Forgets files no longer asked for. */
  keep(paths: ReadonlySet<string>): void {
    for (const p of [...this.cache.keys()]) if (!paths.has(p)) this.cache.delete(p);
  }
}
