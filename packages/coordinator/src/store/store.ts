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

export interface Store {
  get<T = unknown>(key: string): Promise<StoreEntry<T> | undefined>;
  /** Every entry whose key starts with `prefix`, sorted by key. */
  list<T = unknown>(prefix: string): Promise<Array<StoreEntry<T>>>;
  /**
   * If every compare holds, applies every op atomically and durably before resolving.
   * Values must be JSON data. Throws StoreError when the store cannot be written.
   */
  txn(compares: readonly StoreCompare[], ops: readonly StoreOp[]): Promise<TxnResult>;
  close(): Promise<void>;
}

export function put(key: string, value: unknown): StoreOp {
  return { kind: 'put', key, value };
}

export function del(key: string): StoreOp {
  return { kind: 'delete', key };
}
