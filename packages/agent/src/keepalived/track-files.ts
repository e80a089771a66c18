// Writes track files only when their value changes (keepalived re-reads on every change), by
// atomic rename so keepalived never reads half a number.
import { mkdir, readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomic-write.js';

export class TrackFiles {
  private readonly known = new Map<string, number>();

  async init(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true, mode: 0o755 });
  }

  /** The value in the file now (cached after the first read), undefined if missing. */
  async read(path: string): Promise<number | undefined> {
    const cached = this.known.get(path);
    if (cached !== undefined) return cached;
    try {
      const v = Number((await readFile(path, 'utf8')).trim());
      if (Number.isFinite(v)) {
        this.known.set(path, v);
        return v;
      }
    } catch {
      // missing
    }
    return undefined;
  }

  /** The value last read or written, without I/O; undefined when not known yet. */
  cached(path: string): number | undefined {
    return this.known.get(path);
  }

  /** Writes `value` unless the file holds it already; true when written. */
  async write(path: string, value: number): Promise<boolean> {
    if ((await this.read(path)) === value) return false;
    await writeFileAtomic(path, `${value}\n`);
    this.known.set(path, value);
    return true;
  }
}
