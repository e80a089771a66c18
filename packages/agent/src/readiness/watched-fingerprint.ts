// The config fingerprint (config-fingerprint.ts), read again only when inotify says something
// changed in the directories it covers. The readiness probes ask for it every round (every 2 s in
// the lab spec); reading it stats every file next to and below the config file through libuv's
// thread pool, a dozen thread hand-offs and as many wakeups of the agent each time for files
// that almost never change (docs/benchmarks.md, Agent). Now an unchanged configuration costs
// nothing: the directories are watched (fs.watch), any event there marks the fingerprint stale,
// and it is read again at the next ask. The watches are placed before each read, so a change
// during the read is not lost; a directory that cannot be watched, or a watch that fails, turns
// the cache off (every ask reads, as before), and the cache is read again after `maxAgeMs` in
// any case.
import { watch, type FSWatcher } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { configFingerprint } from './config-fingerprint.js';

export interface WatchedFingerprintOptions {
  readonly now: () => number;
  /** Read again after this long even without an event. */
  readonly maxAgeMs: number;
  /** The reader; configFingerprint by default. */
  readonly read?: (configFile: string) => Promise<string>;
  /** Watches a directory; fs.watch by default (replaceable in tests). */
  readonly watchDir?: (dir: string, onEvent: () => void) => FSWatcher;
}

export class WatchedFingerprint {
  private cached: { readonly value: string; readonly atMs: number } | undefined;
  private stale = true;
  /** Some directory could not be watched: every ask reads. */
  private blind = false;
  private closed = false;
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly read: (configFile: string) => Promise<string>;
  private readonly watchDir: (dir: string, onEvent: () => void) => FSWatcher;
  private readonly onEvent = (): void => {
    this.stale = true;
  };

  constructor(
    private readonly configFile: string,
    private readonly o: WatchedFingerprintOptions,
  ) {
    this.read = o.read ?? configFingerprint;
    this.watchDir = o.watchDir ?? ((dir, onEvent) => watch(dir, { persistent: false }, onEvent));
  }

  /** The fingerprint; from the cache while no watched directory changed. Never rejects. */
  async fingerprint(): Promise<string> {
    const c = this.cached;
    if (c && !this.stale && !this.blind && this.o.now() - c.atMs < this.o.maxAgeMs) return c.value;
    this.stale = false;
    const atMs = this.o.now();
    await this.watchDirectories();
    const value = await this.read(this.configFile);
    // An event during the read leaves it stale: the next ask reads again.
    this.cached = this.closed ? undefined : { value, atMs };
    return value;
  }

  close(): void {
    this.closed = true;
    this.cached = undefined;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  /** The config file's directory and the directories right below it (what the fingerprint covers). */
  private async watchDirectories(): Promise<void> {
    if (this.closed) return;
    const top = dirname(this.configFile);
    const dirs = new Set([top]);
    try {
      for (const e of await readdir(top, { withFileTypes: true })) if (e.isDirectory()) dirs.add(join(top, e.name));
    } catch {
      // A missing directory: its parent is not watched, so look each time until it exists.
      this.blind = true;
      return;
    }
    if (this.closed) return;
    for (const [dir, w] of this.watchers) {
      if (dirs.has(dir)) continue;
      w.close();
      this.watchers.delete(dir);
    }
    let blind = false;
    for (const dir of dirs) {
      if (this.watchers.has(dir)) continue;
      try {
        const w = this.watchDir(dir, this.onEvent);
        w.on('error', () => {
          w.close();
          if (this.watchers.get(dir) === w) this.watchers.delete(dir);
          this.stale = true;
        });
        this.watchers.set(dir, w);
      } catch {
        blind = true;
      }
    }
    this.blind = blind;
  }
}
