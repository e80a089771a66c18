import { StoreError } from '../errors.js';
import { appendProblem, oversizeProblem, txnBytes, type LogBounds, type LogName, type LogRecord, type Store, type StoreCompare, type StoreEntry, type StoreOp, type TxnResult } from './store.js';

interface Stored {
  /** JSON text, so callers can never alias or mutate what is stored. */
  readonly json: string;
  readonly revision: number;
}

export interface MemoryStoreState {
  readonly revision: number;
  readonly entries: ReadonlyArray<{ readonly key: string; readonly value: unknown; readonly revision: number }>;
}

/** A log in memory: records as JSON text, in seq order (so a read can binary-search). */
export interface StoredLog {
  readonly seqs: number[];
  readonly json: string[];
}

/** The index of the first record with seq greater than `afterSeq`. */
export function firstAfter(seqs: readonly number[], afterSeq: number): number {
  let lo = 0;
  let hi = seqs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((seqs[mid] as number) <= afterSeq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The store semantics (revisions, compare-and-swap transactions) in memory. Used directly in
 * tests and as the core of the file store, which persists each transaction before it resolves.
 */
export class MemoryStore implements Store {
  protected readonly entries = new Map<string, Stored>();
  protected readonly logs = new Map<LogName, StoredLog>();
  protected revision = 0;
  /**
   * Transactions run one at a time, so a failed persist can be undone without losing another's
   * write; so do the appends and trims of each log. The three queues are apart: a transaction
   * does not wait for a log's write, nor one log for the other.
   */
  private readonly queues = new Map<'state' | LogName, Promise<unknown>>();

  readonly valueLimit: number;

  /** `valueLimit`: refuse transactions writing more bytes than this, as etcd would (tests of what splits its writes). */
  constructor(initial?: MemoryStoreState, opts: { readonly valueLimit?: number } = {}) {
    this.valueLimit = opts.valueLimit ?? Infinity;
    if (initial) {
      this.revision = initial.revision;
      for (const e of initial.entries) this.entries.set(e.key, { json: JSON.stringify(e.value), revision: e.revision });
    }
  }

  async get<T = unknown>(key: string): Promise<StoreEntry<T> | undefined> {
    const s = this.entries.get(key);
    return s ? { key, value: JSON.parse(s.json) as T, revision: s.revision } : undefined;
  }

  async list<T = unknown>(prefix: string): Promise<Array<StoreEntry<T>>> {
    const out: Array<StoreEntry<T>> = [];
    for (const [key, s] of this.entries) if (key.startsWith(prefix)) out.push({ key, value: JSON.parse(s.json) as T, revision: s.revision });
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  txn(compares: readonly StoreCompare[], ops: readonly StoreOp[]): Promise<TxnResult> {
    return this.enqueue('state', () => this.runTxn(compares, ops));
  }

  /** Runs `work` after everything queued on `queue` before it. */
  private enqueue<T>(queue: 'state' | LogName, work: () => Promise<T>): Promise<T> {
    const run = (this.queues.get(queue) ?? Promise.resolve()).then(work);
    this.queues.set(
      queue,
      run.catch(() => undefined),
    );
    return run;
  }

  private async runTxn(compares: readonly StoreCompare[], ops: readonly StoreOp[]): Promise<TxnResult> {
    const oversize = this.valueLimit === Infinity ? undefined : oversizeProblem(txnBytes(ops), this.valueLimit);
    if (oversize) throw new StoreError(oversize);
    const conflicts = this.conflicts(compares);
    if (conflicts.length > 0) return { ok: false, conflicts };
    const { undo, json } = this.apply(ops);
    try {
      await this.persist(ops, json);
    } catch (err) {
      undo();
      throw err;
    }
    return { ok: true, revision: this.revision };
  }

  append(log: LogName, records: readonly LogRecord[]): Promise<void> {
    return this.enqueue(log, async () => {
      if (records.length === 0) return;
      const l = this.log(log);
      const problem = appendProblem(log, l.seqs.at(-1) ?? 0, records);
      if (problem) throw new StoreError(problem);
      const json = records.map((r) => {
        const text = JSON.stringify(r.value);
        if (text === undefined) throw new TypeError(`${log} record ${r.seq} is not JSON data`);
        return text;
      });
      await this.persistLog(log, records.map((r) => r.seq), json);
      for (const [i, r] of records.entries()) {
        l.seqs.push(r.seq);
        l.json.push(json[i] as string);
      }
    });
  }

  async read<T = unknown>(log: LogName, afterSeq: number, limit: number): Promise<Array<LogRecord<T>>> {
    const l = this.log(log);
    const from = firstAfter(l.seqs, afterSeq);
    const out: Array<LogRecord<T>> = [];
    for (let i = from; i < l.seqs.length && out.length < limit; i++) out.push({ seq: l.seqs[i] as number, value: JSON.parse(l.json[i] as string) as T });
    return out;
  }

  async bounds(log: LogName): Promise<LogBounds> {
    const l = this.log(log);
    return { first: l.seqs[0] ?? 0, last: l.seqs.at(-1) ?? 0 };
  }

  trim(log: LogName, throughSeq: number): Promise<void> {
    return this.enqueue(log, async () => {
      const l = this.log(log);
      // The last record always stays: it carries the log's sequence across restarts.
      const drop = Math.min(firstAfter(l.seqs, throughSeq), l.seqs.length - 1);
      if (drop <= 0) return;
      l.seqs.splice(0, drop);
      l.json.splice(0, drop);
      await this.persistTrim(log);
    });
  }

  protected log(name: LogName): StoredLog {
    let l = this.logs.get(name);
    if (!l) this.logs.set(name, (l = { seqs: [], json: [] }));
    return l;
  }

  async close(): Promise<void> {}

  /**
   * Makes a transaction durable; its ops are applied in memory already, the revision is the one
   * it produced, and `json[i]` is the JSON text of op i's value (for puts). The memory store has
   * nothing to do.
   */
  protected async persist(_ops: readonly StoreOp[], _json: ReadonlyArray<string | undefined>): Promise<void> {}

  /** Makes appended log records durable before they count; the memory store has nothing to do. */
  protected async persistLog(_log: LogName, _seqs: readonly number[], _json: readonly string[]): Promise<void> {}

  /** Makes a trim durable; the memory store has nothing to do. */
  protected async persistTrim(_log: LogName): Promise<void> {}

  protected conflicts(compares: readonly StoreCompare[]): string[] {
    return compares.filter((c) => (this.entries.get(c.key)?.revision ?? 0) !== c.revision).map((c) => c.key);
  }

  /**
   * Applies ops in memory; returns a function that restores the previous state, and the JSON
   * text of each op's value (undefined for deletes).
   */
  protected apply(ops: readonly StoreOp[]): { readonly undo: () => void; readonly json: Array<string | undefined> } {
    const before = new Map<string, Stored | undefined>();
    const prevRevision = this.revision;
    const next = this.revision + 1;
    const texts: Array<string | undefined> = [];
    for (const op of ops) {
      if (!before.has(op.key)) before.set(op.key, this.entries.get(op.key));
      if (op.kind === 'put') {
        const json = JSON.stringify(op.value);
        if (json === undefined) {
          for (const [k, v] of before) {
            if (v) this.entries.set(k, v);
            else this.entries.delete(k);
          }
          throw new TypeError(`store value for ${op.key} is not JSON data`);
        }
        this.entries.set(op.key, { json, revision: next });
        texts.push(json);
      } else {
        this.entries.delete(op.key);
        texts.push(undefined);
      }
    }
    this.revision = next;
    const undo = () => {
      for (const [k, v] of before) {
        if (v) this.entries.set(k, v);
        else this.entries.delete(k);
      }
      this.revision = prevRevision;
    };
    return { undo, json: texts };
  }
}
