// The embedded default store, in files beside `path` (stateDir/state.json):
//
//   state.json                 a snapshot of the key-value state: {"format":2,"revision":R,
//                              "trimmed":{"events":T,"audit":T},"entries":[{"key","revision","value"}...]}
//   state.json.wal.<n>.jsonl   what happened after it, one JSON line each, appended and fsynced
//                              before it counts: a transaction {"rev":R,"ops":[{"put":key,"value":V}
//                              | {"del":key}...]} or a log's trim {"trim":"events","through":T}
//   state.json.<log>.jsonl     a log's newest records (events, audit), one line each {"seq":S,"value":V}
//   state.json.<log>.<S>.jsonl a log's older records, from seq S on (sealed once the newest file
//                              reached 2 MiB)
//
// A transaction appends one line instead of rewriting the whole state (about 1 MB at 10,000
// agents, for every batch of holders). Once the wal is larger than max(4 MiB, twice the
// snapshot), the state is compacted: the snapshot is taken in memory right after a
// transaction's line is durable, further lines go to the next wal segment, and the snapshot is
// written beside them (temporary file, fsync, rename, fsync of the directory); only then are the
// older segments deleted. A log's trim appends its point to the wal and deletes the sealed files
// wholly before it, instead of rewriting the log (about 14 MB at 50,000 events).
//
// Each wal segment and each log's newest file keeps its descriptor open between appends
// (append-file.ts). A failed compaction is logged, counted and retried after a back-off (1 s,
// doubling up to a minute): on a full disk it would otherwise serialize and write the whole
// state again after every transaction.
//
// After a crash: a line counts once it is fsynced whole; a torn last line (no newline, or not
// JSON) never counted, and the next open drops it. A crash mid-compaction leaves the old
// snapshot with every segment (and a torn temporary file, removed at open), or the new snapshot
// with segments whose transactions it holds already (skipped by revision). The open replays the
// wal and compacts, so the previous layout (format 1, no wal) is migrated on start; the previous
// version refuses a format 2 snapshot rather than start without the wal.
import { mkdir, open, readdir, readFile, rename, rm, truncate } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from '@lbha/shared';
import { StoreError } from '../errors.js';
import { AppendFile } from './append-file.js';
import { firstAfter, MemoryStore, type MemoryStoreState } from './memory-store.js';
import type { LogName, StoreObserver, StoreOp } from './store.js';

const LOGS: readonly LogName[] = ['events', 'audit'];
const MIB = 1024 * 1024;
/** The wait before a compaction is tried again after one failed, doubling per failure up to the maximum. */
const COMPACTION_RETRY_MS = 1000;
const COMPACTION_RETRY_MAX_MS = 60_000;

/**
 * Points of a compaction, a log's rotation and a trim, and a transaction's line made durable on
 * the wal segment's open descriptor (the crash tests stop the process there).
 */
export type FileStoreStep = 'compaction-written' | 'compaction-renamed' | 'compaction-segment-removed' | 'log-rotated' | 'trim-recorded' | 'transaction-appended';

/** What the file store reports to the coordinator's metrics. */
export interface FileStoreObserver extends StoreObserver {
  /** A compaction's snapshot written and the wal segments it holds deleted, in `seconds`. */
  compacted(seconds: number): void;
  compactionFailed(): void;
}

export interface FileStoreOptions {
  /** fsync file and directory on every write (default true; tests may turn it off for speed). */
  readonly fsync?: boolean;
  /** Compact once the wal holds this many bytes (default: max(4 MiB, twice the snapshot)). */
  readonly compactBytes?: number;
  /** Seal a log's newest file once it holds this many bytes (default 2 MiB). */
  readonly logSegmentBytes?: number;
  /** Called at each FileStoreStep. */
  readonly onStep?: (step: FileStoreStep) => void;
  readonly observer?: FileStoreObserver;
  /** Where a failed compaction is logged. */
  readonly logger?: Logger;
  /** Monotonic milliseconds, for durations and the compaction's back-off (default performance.now). */
  readonly clock?: () => number;
}

interface Snapshot extends MemoryStoreState {
  readonly format: 1 | 2;
  readonly trimmed?: Partial<Record<LogName, number>>;
}

/** A log's files: the newest one, and the sealed ones by the seq each starts at. */
interface LogFiles {
  size: number;
  /** Seq of the newest file's first record (0: the file is empty or absent). */
  first: number;
  sealed: number[];
}

type WalLine =
  | { readonly rev: number; readonly ops: ReadonlyArray<{ readonly put: string; readonly value: unknown } | { readonly del: string }> }
  | { readonly trim: LogName; readonly through: number };

function isSnapshot(v: unknown): v is Snapshot {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as { format?: unknown; revision?: unknown; entries?: unknown; trimmed?: unknown };
  return (
    (s.format === 1 || s.format === 2) &&
    typeof s.revision === 'number' &&
    (s.trimmed === undefined || (typeof s.trimmed === 'object' && s.trimmed !== null)) &&
    Array.isArray(s.entries) &&
    s.entries.every((e: unknown) => typeof e === 'object' && e !== null && typeof (e as { key?: unknown }).key === 'string' && typeof (e as { revision?: unknown }).revision === 'number')
  );
}

function isWalLine(v: unknown): v is WalLine {
  if (typeof v !== 'object' || v === null) return false;
  const l = v as { rev?: unknown; ops?: unknown; trim?: unknown; through?: unknown };
  if (typeof l.rev === 'number') {
    return Array.isArray(l.ops) && l.ops.every((o: unknown) => typeof o === 'object' && o !== null && (typeof (o as { del?: unknown }).del === 'string' || (typeof (o as { put?: unknown }).put === 'string' && 'value' in o)));
  }
  return LOGS.includes(l.trim as LogName) && typeof l.through === 'number';
}

/**
 * The whole lines of a file's text that `accept` takes, in order: stops at the first line that is
 * torn (no newline), not JSON or not accepted. `end` is the byte length of what was taken,
 * `rest` the text after it.
 */
function wholeLines<T>(text: string, accept: (v: unknown) => v is T): { readonly lines: T[]; readonly end: number; readonly rest: string } {
  const lines: T[] = [];
  let end = 0;
  let at = 0;
  for (;;) {
    const nl = text.indexOf('\n', at);
    if (nl < 0) break;
    let v: unknown;
    try {
      v = JSON.parse(text.slice(at, nl));
    } catch {
      break;
    }
    if (!accept(v)) break;
    lines.push(v);
    end += Buffer.byteLength(text.slice(at, nl)) + 1;
    at = nl + 1;
  }
  return { lines, end, rest: text.slice(at) };
}

/** Files in `dir` named `<prefix><number><suffix>`, by number. */
async function numbered(dir: string, prefix: string, suffix: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir(dir)) {
    if (!name.startsWith(prefix) || !name.endsWith(suffix)) continue;
    const n = name.slice(prefix.length, name.length - suffix.length);
    if (/^\d+$/.test(n)) out.push(Number(n));
  }
  return out.sort((a, b) => a - b);
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
  /** Set when a failed append could not be taken back: the files may hold a write that failed. */
  private broken: Error | undefined;
  private readonly dir: string;
  private readonly base: string;
  /** The wal segment appended to, and the oldest one not yet deleted. */
  private walGen = 1;
  private walFirstGen = 1;
  /** The current segment, opened by its first append. */
  private wal: AppendFile | undefined;
  /** Bytes of the wal segments the snapshot on disk does not hold yet. */
  private walBytes = 0;
  private snapshotBytes = 0;
  /** Wal lines are appended one at a time (transactions and trims come from different queues). */
  private walChain: Promise<unknown> = Promise.resolve();
  private compacting: Promise<void> | undefined;
  /** Compactions that failed in a row, and the clock's time before which none is tried again. */
  private compactionFailures = 0;
  private compactAfterMs = 0;
  private readonly clock: () => number;
  private readonly trimmed: Record<LogName, number> = { events: 0, audit: 0 };
  private readonly logFiles: Record<LogName, LogFiles> = { events: { size: 0, first: 0, sealed: [] }, audit: { size: 0, first: 0, sealed: [] } };
  /** Each log's newest file, opened by its first append. */
  private readonly logAppends: Record<LogName, AppendFile>;

  private constructor(
    readonly path: string,
    private readonly options: FileStoreOptions,
    initial: MemoryStoreState | undefined,
  ) {
    super(initial);
    this.dir = dirname(path);
    this.base = basename(path);
    this.clock = options.clock ?? (() => performance.now());
    this.logAppends = { events: this.appendFile(this.logFile('events')), audit: this.appendFile(this.logFile('audit')) };
  }

  private appendFile(file: string): AppendFile {
    return new AppendFile(file, { fsync: this.fsync, syncDir: () => this.syncDir(), onUntakenBack: (cause) => (this.broken = cause) });
  }

  private get fsync(): boolean {
    return this.options.fsync ?? true;
  }

  /**
   * Opens (or creates) the store at `path`. Throws StoreError when a file is unreadable or not a
   * store file (it is never silently replaced), or when another live process holds it.
   */
  static async open(path: string, options: FileStoreOptions = {}): Promise<FileStore> {
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    } catch (cause) {
      throw new StoreError(`cannot create the directory of ${path}: ${(cause as Error).message}`, { cause });
    }
    await FileStore.lock(path);
    try {
      // A temporary file is only ever complete once renamed; whatever is left is a torn write.
      await rm(`${path}.tmp`, { force: true });
      let text: string | undefined;
      try {
        text = await readFile(path, 'utf8');
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw new StoreError(`cannot read ${path}: ${(cause as Error).message}`, { cause });
      }
      let initial: Snapshot | undefined;
      if (text !== undefined) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch (cause) {
          throw new StoreError(`${path} is not a valid store file (${(cause as Error).message}); refusing to start over it`, { cause });
        }
        if (!isSnapshot(parsed)) throw new StoreError(`${path} is not a store file of this version; refusing to start over it`);
        initial = parsed;
      }
      const store = new FileStore(path, options, initial);
      for (const log of LOGS) store.trimmed[log] = initial?.trimmed?.[log] ?? 0;
      const segments = await store.replayWal();
      for (const log of LOGS) await store.loadLog(log);
      // Migrates the previous layout, and starts with one snapshot and an empty wal.
      store.snapshotBytes = text === undefined ? 0 : Buffer.byteLength(text);
      if (initial?.format !== 2 || segments.length > 0) {
        store.walGen = store.walFirstGen = (segments.at(-1) ?? 0) + 1;
        await store.writeSnapshot(store.serialize(), segments);
      }
      return store;
    } catch (err) {
      await rm(`${path}.lock`, { force: true });
      throw err;
    }
  }

  private walFile(gen: number): string {
    return join(this.dir, `${this.base}.wal.${gen}.jsonl`);
  }

  private logFile(log: LogName, first?: number): string {
    return join(this.dir, first === undefined ? `${this.base}.${log}.jsonl` : `${this.base}.${log}.${first}.jsonl`);
  }

  /** Applies the wal segments' lines after the snapshot; returns the segments found. */
  private async replayWal(): Promise<number[]> {
    const segments = await numbered(this.dir, `${this.base}.wal.`, '.jsonl');
    for (const [i, gen] of segments.entries()) {
      const file = this.walFile(gen);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (cause) {
        throw new StoreError(`cannot read ${file}: ${(cause as Error).message}`, { cause });
      }
      const { lines, end, rest } = wholeLines(text, isWalLine);
      if (rest !== '') {
        // Only the last line of the last segment can be torn by a crash: a line is fsynced before
        // the next one is written, and a segment before the next one is used.
        const newline = rest.indexOf('\n');
        if (i !== segments.length - 1 || (newline >= 0 && newline !== rest.length - 1)) {
          throw new StoreError(`${file} is damaged at byte ${end}, before its last line; refusing to start over it`);
        }
        await truncate(file, end);
      }
      for (const line of lines) {
        if ('trim' in line) {
          this.trimmed[line.trim] = Math.max(this.trimmed[line.trim], line.through);
          continue;
        }
        if (line.rev <= this.revision) continue;
        if (line.rev !== this.revision + 1) throw new StoreError(`${file}: revision ${line.rev} does not follow ${this.revision}; refusing to start over a gap`);
        for (const op of line.ops) {
          if ('del' in op) this.entries.delete(op.del);
          else this.entries.set(op.put, { json: JSON.stringify(op.value), revision: line.rev });
        }
        this.revision = line.rev;
      }
    }
    return segments;
  }

  /** Reads a log's files, oldest first; drops a torn line (and what follows it in its file) and what was trimmed. */
  private async loadLog(log: LogName): Promise<void> {
    const files = this.logFiles[log];
    await rm(`${this.logFile(log)}.tmp`, { force: true });
    files.sealed = await numbered(this.dir, `${this.base}.${log}.`, '.jsonl');
    const l = this.log(log);
    for (const first of [...files.sealed, undefined]) {
      const file = this.logFile(log, first);
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (cause) {
        if ((cause as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw new StoreError(`cannot read ${file}: ${(cause as Error).message}`, { cause });
      }
      const inOrder = (v: unknown): v is { seq: number; value: unknown } =>
        typeof v === 'object' && v !== null && typeof (v as { seq?: unknown }).seq === 'number' && (v as { seq: number }).seq > (l.seqs.at(-1) ?? 0) && 'value' in v;
      const { lines, end } = wholeLines(text, (v): v is { seq: number; value: unknown } => {
        if (!inOrder(v)) return false;
        l.seqs.push(v.seq);
        return true;
      });
      for (const rec of lines) l.json.push(JSON.stringify(rec.value));
      if (end < Buffer.byteLength(text)) await truncate(file, end);
      if (first === undefined) {
        files.size = end;
        files.first = lines[0]?.seq ?? 0;
      }
    }
    // What a trim dropped (the last record stays: it carries the sequence).
    const drop = Math.min(firstAfter(l.seqs, this.trimmed[log]), l.seqs.length - 1);
    if (drop > 0) {
      l.seqs.splice(0, drop);
      l.json.splice(0, drop);
    }
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

  protected override async persist(ops: readonly StoreOp[], json: ReadonlyArray<string | undefined>): Promise<void> {
    const parts = ops.map((op, i) => (op.kind === 'put' ? `{"put":${JSON.stringify(op.key)},"value":${json[i] as string}}` : `{"del":${JSON.stringify(op.key)}}`));
    await this.walAppend(`{"rev":${this.revision},"ops":[${parts.join(',')}]}\n`, true);
  }

  /**
   * Appends a line to the wal, durably. After a transaction's line (`mayCompact`: the state in
   * memory is then exactly what the wal holds), starts a compaction when the wal is large enough.
   */
  private walAppend(line: string, mayCompact: boolean): Promise<void> {
    const run = this.walChain.then(async () => {
      const wal = (this.wal ??= this.appendFile(this.walFile(this.walGen)));
      const started = this.clock();
      this.walBytes += await this.appendDurably(wal, line);
      if (!mayCompact) return;
      this.options.observer?.transactionDurable((this.clock() - started) / 1000);
      this.options.onStep?.('transaction-appended');
      if (!this.compacting && this.walBytes >= (this.options.compactBytes ?? Math.max(4 * MIB, 2 * this.snapshotBytes)) && this.clock() >= this.compactAfterMs) {
        await this.startCompaction(wal);
      }
    });
    this.walChain = run.catch(() => undefined);
    return run;
  }

  /**
   * Takes the snapshot (memory holds exactly what the wal does), moves later lines to the next
   * segment and writes the snapshot in the background. A failure leaves the old segments (the
   * next compaction takes them too), is logged and counted, and the next try waits.
   */
  private async startCompaction(wal: AppendFile): Promise<void> {
    const started = this.clock();
    const text = this.serialize();
    const done = Array.from({ length: this.walGen + 1 - this.walFirstGen }, (_, i) => this.walFirstGen + i);
    const doneBytes = this.walBytes;
    this.walGen++;
    this.walBytes = 0;
    this.wal = undefined;
    this.compacting = this.writeSnapshot(text, done)
      .then(
        () => {
          this.walFirstGen = (done.at(-1) as number) + 1;
          this.compactionFailures = 0;
          this.compactAfterMs = 0;
          this.options.observer?.compacted((this.clock() - started) / 1000);
        },
        (err: unknown) => {
          this.walBytes += doneBytes;
          this.compactionFailed(err);
        },
      )
      .finally(() => (this.compacting = undefined));
    // The lines after the snapshot go to the next segment: the old one is written no more.
    await wal.close().catch(() => undefined);
  }

  private compactionFailed(err: unknown): void {
    const retryInMs = Math.min(COMPACTION_RETRY_MAX_MS, COMPACTION_RETRY_MS * 2 ** this.compactionFailures);
    this.compactionFailures++;
    this.compactAfterMs = this.clock() + retryInMs;
    this.options.observer?.compactionFailed();
    this.options.logger?.error(
      { event: 'store.compaction_failed', err, path: this.path, failures: this.compactionFailures, retryInMs },
      'the file store could not write its snapshot; the wal keeps every write, and the compaction is tried again later',
    );
  }

  /** Writes a snapshot, then deletes the wal segments `done` (whose lines it holds). */
  private async writeSnapshot(text: string, done: readonly number[]): Promise<void> {
    await this.replaceFile(this.path, text);
    this.snapshotBytes = Buffer.byteLength(text);
    for (const gen of done) {
      await rm(this.walFile(gen), { force: true });
      this.options.onStep?.('compaction-segment-removed');
    }
  }

  protected override async persistLog(log: LogName, seqs: readonly number[], json: readonly string[]): Promise<void> {
    const files = this.logFiles[log];
    const segmentBytes = this.options.logSegmentBytes ?? 2 * MIB;
    if (files.size >= segmentBytes && files.first > 0) {
      this.checkWritable();
      // Sealed under the seq it starts at; the next append creates the newest file again (and
      // fsyncs the directory, which makes the rename durable too).
      try {
        await this.logAppends[log].close();
        await rename(this.logFile(log), this.logFile(log, files.first));
      } catch (cause) {
        throw new StoreError(`cannot seal ${this.logFile(log)}: ${(cause as Error).message}`, { cause });
      }
      files.sealed.push(files.first);
      files.size = 0;
      files.first = 0;
      this.options.onStep?.('log-rotated');
    }
    const lines = seqs.map((seq, i) => `{"seq":${seq},"value":${json[i]}}\n`).join('');
    files.size += await this.appendDurably(this.logAppends[log], lines);
    if (files.first === 0) files.first = seqs[0] ?? 0;
  }

  protected override async persistTrim(log: LogName): Promise<void> {
    const l = this.log(log);
    const through = (l.seqs[0] ?? 1) - 1;
    if (through <= this.trimmed[log]) return;
    this.trimmed[log] = through;
    await this.walAppend(`{"trim":"${log}","through":${through}}\n`, false);
    this.options.onStep?.('trim-recorded');
    // The sealed files wholly at or before the trim point are no longer needed: a file ends where
    // the next one starts.
    const files = this.logFiles[log];
    const ends = [...files.sealed.slice(1), files.first > 0 ? files.first : Infinity];
    while (files.sealed.length > 0 && (ends[0] as number) - 1 <= through) {
      await rm(this.logFile(log, files.sealed[0]), { force: true });
      files.sealed.shift();
      ends.shift();
    }
  }

  private checkWritable(): void {
    if (this.closed) throw new StoreError(`store ${this.path} is closed`);
    if (this.broken) throw new StoreError(`store ${this.path} refuses writes until a restart: a failed write could not be taken back (${this.broken.message})`);
  }

  /** Appends `text` to `file` durably (append-file.ts); resolves to the bytes appended. */
  private async appendDurably(file: AppendFile, text: string): Promise<number> {
    this.checkWritable();
    try {
      return await file.append(text);
    } catch (cause) {
      throw new StoreError(`cannot append to ${file.path}: ${(cause as Error).message}`, { cause });
    }
  }

  private async syncDir(): Promise<void> {
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  /** Writes `text` to `file` atomically: temporary file, fsync, rename, fsync of the directory. */
  private async replaceFile(file: string, text: string): Promise<void> {
    const tmp = `${file}.tmp`;
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        await fh.writeFile(text);
        if (this.fsync) await fh.sync();
      } finally {
        await fh.close();
      }
      this.options.onStep?.('compaction-written');
      await rename(tmp, file);
      this.options.onStep?.('compaction-renamed');
      if (this.fsync) await this.syncDir();
    } catch (cause) {
      throw new StoreError(`cannot write ${file}: ${(cause as Error).message}`, { cause });
    }
  }

  /** The snapshot (format 2): the state, built without re-parsing values, and the logs' trim points. */
  private serialize(): string {
    const parts: string[] = [];
    for (const [key, s] of this.entries) parts.push(`{"key":${JSON.stringify(key)},"revision":${s.revision},"value":${s.json}}`);
    return `{"format":2,"revision":${this.revision},"trimmed":${JSON.stringify(this.trimmed)},"entries":[\n${parts.join(',\n')}\n]}\n`;
  }

  /**
   * Waits for the writes in progress, refuses later ones, and compacts what the wal holds, so that
   * after a clean stop the snapshot alone has the whole state.
   */
  override async close(): Promise<void> {
    if (this.closed) return;
    for (let chain = this.walChain; ; chain = this.walChain) {
      await chain;
      await this.compacting;
      if (chain === this.walChain && !this.compacting) break;
    }
    this.closed = true;
    await Promise.all([this.wal?.close(), ...LOGS.map((log) => this.logAppends[log].close())].map((p) => p?.catch(() => undefined)));
    this.wal = undefined;
    if (this.walBytes > 0 || this.walFirstGen < this.walGen) {
      const done = Array.from({ length: this.walGen + 1 - this.walFirstGen }, (_, i) => this.walFirstGen + i);
      const started = this.clock();
      // The wal keeps everything if this fails.
      await this.writeSnapshot(this.serialize(), done).then(
        () => this.options.observer?.compacted((this.clock() - started) / 1000),
        (err: unknown) => this.compactionFailed(err),
      );
    }
    await rm(`${this.path}.lock`, { force: true });
  }
}
