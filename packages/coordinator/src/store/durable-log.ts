// A log numbered 1, 2, 3... kept in the store (events, audit). Records get their seq when they
// are added and are written in batches shortly after; only the leader's store is attached, so
// only the leader writes, and a new leader (or a restarted coordinator) continues after the
// last seq the store holds. Readers are told about a record once it is durable, so a cursor
// (a seq) given to a watcher or a webhook means the same record on every coordinator.
//
// Memory is bounded: the newest `windowSize` records are kept in memory for reads (older ones
// are read from the store), and at most `maxPending` records wait while the store cannot be
// written (the oldest are dropped, counted and logged). The store keeps the newest `retain`.
import type { Logger } from '@lbha/shared';
import type { LogName, Store } from './store.js';

export interface DurableLogOptions<T> {
  readonly name: LogName;
  /** Records kept in memory for reads. */
  readonly windowSize: number;
  /** Records kept in the store; older ones are trimmed. */
  readonly retain: number;
  /** How long an added record may wait for the next batch write. */
  readonly flushDelayMs: number;
  /** Records that may wait for the store (detached, or unreachable) before the oldest are dropped. */
  readonly maxPending: number;
  /** The record with another seq (records added before a store was attached are renumbered). */
  readonly withSeq: (record: T, seq: number) => T;
  readonly logger?: Logger | undefined;
}

export interface DurableLogStats {
  readonly pending: number;
  /** Records dropped because the store could not take them in time. */
  readonly dropped: number;
  readonly lastSeq: number;
  readonly durableSeq: number;
}

const RETRY_MS = 1000;
/** Records per append: etcd refuses a transaction of more than 128 operations (its default). */
const BATCH = 100;

export class DurableLog<T extends { readonly seq: number }> {
  /** Newest records, durable and pending, in seq order. */
  private window: T[] = [];
  private pending: T[] = [];
  private seq = 0;
  private durableSeq = 0;
  /** The oldest seq the store holds (as far as this writer knows). */
  private storeFirst = 0;
  private store: Store | undefined;
  /** Set while detach() writes what it can: readers no longer count on the store. */
  private detaching = false;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private dropped = 0;
  private readonly listeners = new Set<(records: readonly T[]) => void>();
  private readonly waiters: Array<{ seq: number; resolve: (durable: boolean) => void }> = [];

  constructor(private readonly opts: DurableLogOptions<T>) {}

  /** Adds a record made for the next seq; it is written with the next batch. */
  add(make: (seq: number) => T): T {
    const record = make(++this.seq);
    this.window.push(record);
    if (this.window.length > this.opts.windowSize + Math.max(64, this.opts.windowSize >> 4)) {
      // Never drop what is not durable yet: readers of the window may still need it.
      const keepFrom = Math.min(this.window.length - this.opts.windowSize, this.window.length - this.pending.length - 1);
      if (keepFrom > 0) this.window.splice(0, keepFrom);
    }
    this.pending.push(record);
    if (this.pending.length > this.opts.maxPending) {
      const lost = this.pending.splice(0, this.pending.length - this.opts.maxPending);
      // One line for the first drop and one per thousand after it, not one per record.
      if (this.dropped % 1000 === 0) {
        this.opts.logger?.error(
          { event: 'log.dropped', log: this.opts.name, dropped: this.dropped + lost.length, attached: this.store !== undefined },
          `${this.opts.name} log: records waited for the store too long; the oldest are dropped`,
        );
      }
      this.dropped += lost.length;
    }
    this.schedule(this.opts.flushDelayMs);
    return record;
  }

  /** Told about records once they are durable, in seq order. */
  subscribe(listener: (records: readonly T[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The window holds consecutive seqs: the index of the first record after `afterSeq`. */
  private indexAfter(afterSeq: number): number {
    const first = this.window[0]?.seq ?? this.seq + 1;
    return Math.min(this.window.length, Math.max(0, afterSeq + 1 - first));
  }

  /** Every record in memory with seq > afterSeq, durable or not (for this process's own views). */
  recent(afterSeq = 0): readonly T[] {
    return this.window.slice(this.indexAfter(afterSeq));
  }

  /**
   * Durable records with seq > afterSeq, oldest first, at most `limit`: from memory when the
   * window reaches back that far, else from the store. Without a store (a coordinator that
   * does not lead), the records it made itself: they are all it has.
   */
  async read(afterSeq: number, limit: number): Promise<T[]> {
    const firstInWindow = this.window[0]?.seq ?? this.seq + 1;
    const store = this.readsStore();
    if (afterSeq + 1 >= firstInWindow || !store) {
      const out: T[] = [];
      for (let i = this.indexAfter(afterSeq); i < this.window.length && out.length < limit; i++) {
        const r = this.window[i] as T;
        if (store && r.seq > this.durableSeq) break;
        out.push(r);
      }
      return out;
    }
    try {
      const records = await store.read<T>(this.opts.name, afterSeq, Math.min(limit, firstInWindow - afterSeq - 1));
      return records.map((r) => r.value);
    } catch (err) {
      // The store is unreachable: what memory holds is better than nothing (the reader sees the gap by seq).
      this.opts.logger?.debug({ event: 'log.read_failed', log: this.opts.name, err: (err as Error).message }, 'reading older records from the store failed');
      return this.read(firstInWindow - 1, limit);
    }
  }

  /**
   * Durable records after `afterSeq` that `matches` accepts, at most `limit`, looking at no more
   * than `scan` records (so a filter that rarely matches costs a bounded amount per call).
   * `next` is the cursor after the page: the seq of the last record looked at (matching or not).
   */
  async page(afterSeq: number, limit: number, matches: (record: T) => boolean, scan: number): Promise<{ readonly records: T[]; readonly next: number }> {
    const records: T[] = [];
    let next = afterSeq;
    while (records.length < limit && next - afterSeq < scan) {
      const chunk = await this.read(next, Math.min(1000, scan - (next - afterSeq)));
      if (chunk.length === 0) break;
      for (const r of chunk) {
        next = r.seq;
        if (matches(r)) records.push(r);
        if (records.length >= limit) break;
      }
    }
    return { records, next };
  }

  /**
   * The oldest and newest durable seq, as this writer knows them (no store request: a reader
   * gets an answer while the store is unreachable).
   */
  async bounds(): Promise<{ readonly first: number; readonly last: number }> {
    const store = this.readsStore();
    const first = store && this.storeFirst > 0 ? this.storeFirst : (this.window[0]?.seq ?? 0);
    return { first, last: store ? this.durableSeq : (this.window.at(-1)?.seq ?? 0) };
  }

  /**
   * The store readers are answered from; none once this writer is being detached (it lost the
   * lead, perhaps because the store is unreachable, and its last write may hang until it times
   * out): then readers get what this coordinator recorded itself, as when it does not lead.
   */
  private readsStore(): Store | undefined {
    return this.detaching ? undefined : this.store;
  }

  get lastSeq(): number {
    return this.seq;
  }

  stats(): DurableLogStats {
    return { pending: this.pending.length, dropped: this.dropped, lastSeq: this.seq, durableSeq: this.durableSeq };
  }

  /**
   * Writes to `store` from now on: continues after the last seq it holds (records added
   * meanwhile are renumbered after it) and loads its newest records into memory.
   */
  async attach(store: Store): Promise<void> {
    await this.writing;
    const { first, last } = await store.bounds(this.opts.name);
    this.storeFirst = first;
    const tail = (await store.read<T>(this.opts.name, Math.max(0, last - this.opts.windowSize), this.opts.windowSize)).map((r) => r.value);
    let seq = last;
    this.pending = this.pending.map((r) => this.opts.withSeq(r, ++seq));
    this.window = [...tail, ...this.pending];
    this.seq = seq;
    this.durableSeq = last;
    this.store = store;
    this.schedule(0);
  }

  /** Stops writing (after one last attempt to write what is pending). */
  async detach(): Promise<void> {
    if (!this.store) return;
    this.detaching = true;
    try {
      await this.flush().catch(() => undefined);
    } finally {
      this.detaching = false;
    }
    this.store = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.waiters.splice(0)) w.resolve(false);
  }

  /** Resolves true once every record added so far is durable (false after `timeoutMs`). */
  settled(timeoutMs: number): Promise<boolean> {
    return this.durable(this.seq, timeoutMs);
  }

  /** Resolves true once `seq` is durable, false if that does not happen within `timeoutMs`. */
  durable(seq: number, timeoutMs: number): Promise<boolean> {
    if (seq <= this.durableSeq) return Promise.resolve(true);
    if (!this.store) return Promise.resolve(false);
    return new Promise((resolve) => {
      const w = { seq, resolve };
      this.waiters.push(w);
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(false);
      }, timeoutMs);
      timer.unref();
      w.resolve = (ok) => {
        clearTimeout(timer);
        resolve(ok);
      };
    });
  }

  /** Writes everything pending now; rejects with the store's error. */
  flush(): Promise<void> {
    const run = this.writing.then(async () => {
      while (this.store && this.pending.length > 0) await this.writeBatch();
    });
    this.writing = run.catch(() => undefined);
    return run;
  }

  private schedule(delayMs: number): void {
    if (!this.store || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush().catch((err: unknown) => {
        this.opts.logger?.warn({ event: 'log.write_failed', log: this.opts.name, pending: this.pending.length, err: (err as Error).message }, `${this.opts.name} log: write failed; retrying`);
        this.schedule(RETRY_MS);
      });
    }, delayMs);
    this.timer.unref();
  }

  private async writeBatch(): Promise<void> {
    const store = this.store;
    if (!store || this.pending.length === 0) return;
    const batch = this.pending.slice(0, BATCH);
    await store.append(
      this.opts.name,
      batch.map((r) => ({ seq: r.seq, value: r })),
    );
    // Only now do the records count: take them off the pending list, tell readers.
    this.pending.splice(0, batch.length);
    this.durableSeq = (batch.at(-1) as T).seq;
    for (const l of this.listeners) l(batch);
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i];
      if (w && w.seq <= this.durableSeq) {
        this.waiters.splice(i, 1);
        w.resolve(true);
      }
    }
    if (this.pending.length > 0) this.schedule(0);
    // Trim in steps of a tenth of the retention, not on every write.
    if (this.storeFirst === 0) this.storeFirst = (batch[0] as T).seq;
    const step = Math.max(1, Math.floor(this.opts.retain / 10));
    if (this.durableSeq - this.storeFirst + 1 > this.opts.retain + step) {
      const through = this.durableSeq - this.opts.retain;
      await store.trim(this.opts.name, through).then(
        () => (this.storeFirst = through + 1),
        () => undefined,
      );
    }
  }
}
