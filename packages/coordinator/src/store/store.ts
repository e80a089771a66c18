// The coordinator's own state sits behind this port: a small key-value store with revisions,
// shaped like etcd's so that both the embedded file store and an etcd store implement it
// directly. Every write is a transaction that succeeds only if the compared keys are still at
// the revisions the caller read (compare-and-swap), so two writers never both apply a change.

/** One stored value. `revision` changes on every write of the key and never repeats. */
export interface StoreEntry<T = unknown> {
  readonly key: string;
  readonly value: T;
  readonly revision: number;
}

/** Holds when `key` is at `revision`; revision 0 means the key must not exist. */
export interface StoreCompare {
  readonly key: string;
  readonly revision: number;
}

export type StoreOp =
  | { readonly kind: 'put'; readonly key: string; readonly value: unknown }
  | { readonly kind: 'delete'; readonly key: string };

/** Applied (with the store revision it produced), or refused because a compare failed. */
export type TxnResult = { readonly ok: true; readonly revision: number } | { readonly ok: false; readonly conflicts: readonly string[] };

/**
 * The append-only logs beside the key-value state: `events` (every transition and operation)
 * and `audit` (every mutating API call), kept apart so that one cannot evict the other.
 */
export type LogName = 'events' | 'audit';

/** One record of a log: numbered 1, 2, 3... without gaps by its only writer, the leader. */
export interface LogRecord<T = unknown> {
  readonly seq: number;
  readonly value: T;
}

/** The first and last seq a log holds (both 0 when it is empty). */
export interface LogBounds {
  readonly first: number;
  readonly last: number;
}

/** Told how long each transaction took to become durable (the coordinator's metrics). */
export interface StoreObserver {
  /** A transaction's write, from its start (after the transactions before it) until durable. */
  transactionDurable(seconds: number): void;
}

export interface Store {
  /**
   * Bytes one transaction may write at most (etcd: its --max-request-bytes); Infinity when the
   * store has no such limit. Larger records are split by their writer (spec-storage.ts).
   */
  readonly valueLimit: number;
  get<T = unknown>(key: string): Promise<StoreEntry<T> | undefined>;
  /** Every entry whose key starts with `prefix`, sorted by key. */
  list<T = unknown>(prefix: string): Promise<Array<StoreEntry<T>>>;
  /**
   * If every compare holds, applies every op atomically and durably before resolving.
   * Values must be JSON data. Throws StoreError when the store cannot be written.
   */
  txn(compares: readonly StoreCompare[], ops: readonly StoreOp[]): Promise<TxnResult>;
  /**
   * Appends records to a log, durably and atomically, before resolving. The first record's
   * seq must be the log's last seq + 1 (or anything above 0 for an empty log) and the rest
   * must follow it; otherwise (another writer appended meanwhile) it throws StoreError and
   * appends nothing.
   */
  append(log: LogName, records: readonly LogRecord[]): Promise<void>;
  /** Records with seq greater than `afterSeq`, oldest first, at most `limit`. */
  read<T = unknown>(log: LogName, afterSeq: number, limit: number): Promise<Array<LogRecord<T>>>;
  bounds(log: LogName): Promise<LogBounds>;
  /** Drops the records with seq up to `throughSeq` (retention). */
  trim(log: LogName, throughSeq: number): Promise<void>;
  close(): Promise<void>;
}

/** Why an append cannot go after a log's last record; undefined when it can. */
export function appendProblem(log: LogName, last: number, records: readonly LogRecord[]): string | undefined {
  const first = records[0]?.seq ?? 0;
  if (first <= last || (last > 0 && first !== last + 1)) return `${log} log: seq ${first} does not follow the last seq ${last} (another writer appended)`;
  for (let i = 1; i < records.length; i++) if (records[i]?.seq !== first + i) return `${log} log: seqs of one append must follow each other`;
  return undefined;
}

export function put(key: string, value: unknown): StoreOp {
  return { kind: 'put', key, value };
}

export function del(key: string): StoreOp {
  return { kind: 'delete', key };
}

/** Each op's value as JSON (undefined for a delete); a value that is not JSON data is refused. */
export function opsJson(ops: readonly StoreOp[]): Array<string | undefined> {
  return ops.map((op) => {
    if (op.kind === 'delete') return undefined;
    const json = JSON.stringify(op.value);
    if (json === undefined) throw new TypeError(`store value for ${op.key} is not JSON data`);
    return json;
  });
}

/** Bytes a transaction writes: its keys and the JSON of its values (`json`: opsJson's, when the caller has it). */
export function txnBytes(ops: readonly StoreOp[], json?: ReadonlyArray<string | undefined>): number {
  let n = 0;
  for (const [i, op] of ops.entries()) n += Buffer.byteLength(op.key) + (op.kind === 'put' ? Buffer.byteLength((json ? json[i] : JSON.stringify(op.value)) ?? '') : 0);
  return n;
}

/** Why a transaction of `bytes` is refused by a store taking at most `limit`; undefined when it is not. */
export function oversizeProblem(bytes: number, limit: number): string | undefined {
  if (bytes <= limit) return undefined;
  const mib = (n: number) => `${(n / 1048576).toFixed(2)} MiB`;
  return `a transaction of ${bytes} bytes (${mib(bytes)}) is over the store's limit of ${limit} bytes (${mib(limit)}); nothing was written`;
}
