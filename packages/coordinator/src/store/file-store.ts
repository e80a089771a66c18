// The embedded default store: the whole state in one JSON file, replaced atomically on every
// transaction (write a temporary file, fsync it, rename it over the old one, fsync the
// directory). A crash at any point leaves either the old file or the new one, never a mix;
// a torn temporary file is ignored and removed at the next open.
//
// The logs (events, audit) are appended to one JSON-lines file each (<path>.<log>.jsonl),
// fsynced before an append counts; a trim rewrites the file the same atomic way. A line torn
// by a crash is the end of its file: it never counted, and the next open drops it.
import { mkdir, open, readFile, rename, rm, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StoreError } from '../errors.js';
import { MemoryStore, type MemoryStoreState } from './memory-store.js';
import type { LogName } from './store.js';

const LOGS: readonly LogName[] = ['events', 'audit'];

export interface FileStoreOptions {
  /** fsync file and directory on every write (default true; tests may turn it off for speed). */
  readonly fsync?: boolean;
}

function isState(v: unknown): v is MemoryStoreState {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as { format?: unknown; revision?: unknown; entries?: unknown };
  return (
    s.format === 1 &&
    typeof s.revision === 'number' &&
    Array.isArray(s.entries) &&
    s.entries.every((e: unknown) => typeof e === 'object' && e !== null && typeof (e as { key?: unknown }).key === 'string' && typeof (e as { revision?: unknown }).revision === 'number')
  );
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class FileStore extends MemoryStore {
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fsync: boolean,
    initial: MemoryStoreState | undefined,
  ) {
    super(initial);
  }

  /**
   * Opens (or creates) the store at `path`. Throws StoreError when the file is unreadable or
   * not a store file (it is never silently replaced), or when another live process holds it.
   */
  static async open(path: string, options: FileStoreOptions = {}): Promise<FileStore> {
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    } catch (cause) {
      throw new StoreError(`cannot create the directory of ${path}: ${(cause as Error).message}`, { cause });
    }
    await FileStore.lock(path);
    // A temporary file is only ever complete once renamed; whatever is left is a torn write.
    await rm(`${path}.tmp`, { force: true });
    let text: string | undefined;
    try {
      text = await readFile(path, 'utf8');
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw new StoreError(`cannot read ${path}: ${(cause as Error).message}`, { cause });
    }
    let initial: MemoryStoreState | undefined;
    if (text !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (cause) {
        throw new StoreError(`${path} is not a valid store file (${(cause as Error).message}); refusing to start over it`, { cause });
      }
      if (!isState(parsed)) throw new StoreError(`${path} is not a store file of this version; refusing to start over it`);
      initial = parsed;
    }
    const store = new FileStore(path, options.fsync ?? true, initial);
    for (const log of LOGS) await store.loadLog(log);
    return store;
  }

  private logPath(log: LogName): string {
    return `${this.path}.${log}.jsonl`;
  }

  /** Reads a log file; drops a torn last line (and anything out of sequence after it). */
  private async loadLog(log: LogName): Promise<void> {
    const file = this.logPath(log);
    await rm(`${file}.tmp`, { force: true });
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new StoreError(`cannot read ${file}: ${(cause as Error).message}`, { cause });
    }
    const l = this.log(log);
    let good = 0;
    for (const line of text.split('\n')) {
      if (line === '') break;
      let rec: { seq?: unknown; value?: unknown };
      try {
        rec = JSON.parse(line) as { seq?: unknown; value?: unknown };
      } catch {
        break;
      }
      const last = l.seqs.at(-1) ?? 0;
      if (typeof rec.seq !== 'number' || rec.seq <= last || !('value' in rec)) break;
      l.seqs.push(rec.seq);
      l.json.push(JSON.stringify(rec.value));
      good += Buffer.byteLength(line) + 1;
    }
    if (good < Buffer.byteLength(text)) await truncate(file, good);
  }

  /** One process per store file: a second coordinator on the same state dir would corrupt intent. */
  private static async lock(path: string): Promise<void> {
    const lockPath = `${path}.lock`;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(lockPath, 'wx', 0o600);
        await fh.writeFile(`${process.pid}\n`);
        await fh.close();
        return;
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw new StoreError(`cannot lock ${path}: ${(cause as Error).message}`, { cause });
      }
      const pid = Number((await readFile(lockPath, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
        throw new StoreError(`${path} is in use by process ${pid} (lock file ${lockPath})`);
      }
      // Left behind by a process that is gone (or by this one before a simulated crash).
      await rm(lockPath, { force: true });
    }
    throw new StoreError(`cannot lock ${path}: lock file ${lockPath} keeps reappearing`);
  }

  protected override async persist(): Promise<void> {
    await this.replaceFile(this.path, this.serialize());
  }

  protected override async persistLog(log: LogName, seqs: readonly number[], json: readonly string[]): Promise<void> {
    if (this.closed) throw new StoreError(`store ${this.path} is closed`);
    const file = this.logPath(log);
    const lines = seqs.map((seq, i) => `{"seq":${seq},"value":${json[i]}}\n`).join('');
    try {
      const fh = await open(file, 'a', 0o600);
      const size = (await fh.stat()).size;
      try {
        await fh.writeFile(lines);
        if (this.fsync) await fh.sync();
      } catch (err) {
        // A part of the batch may be on disk (a full disk): take it back, or the next append
        // would follow a torn line and the next open would drop both.
        await fh.truncate(size).catch(() => undefined);
        throw err;
      } finally {
        await fh.close();
      }
    } catch (cause) {
      throw new StoreError(`cannot append to ${file}: ${(cause as Error).message}`, { cause });
    }
  }

  protected override async persistTrim(log: LogName): Promise<void> {
    const l = this.log(log);
    const lines = l.seqs.map((seq, i) => `{"seq":${seq},"value":${l.json[i]}}\n`).join('');
    await this.replaceFile(this.logPath(log), lines);
  }

  /** Writes `text` to `file` atomically: temporary file, fsync, rename, fsync of the directory. */
  private async replaceFile(file: string, text: string): Promise<void> {
    if (this.closed) throw new StoreError(`store ${this.path} is closed`);
    const tmp = `${file}.tmp`;
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(text);
        if (this.fsync) await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, file);
      if (this.fsync) {
        const dir = await open(dirname(file), 'r');
        try {
          await dir.sync();
        } finally {
          await dir.close();
        }
      }
    } catch (cause) {
      throw new StoreError(`cannot write ${file}: ${(cause as Error).message}`, { cause });
    }
  }

  override async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await rm(`${this.path}.lock`, { force: true });
  }
}
