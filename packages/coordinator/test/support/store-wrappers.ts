// Stores that behave like another store except for their transactions: to watch each write of
// a multi-step writer, or to stop it part-way as a crash would.
import { StoreError } from '../../src/errors.js';
import type { Store } from '../../src/store/store.js';

/** `inner` with its transactions run by `txn`. */
export function withTxn(inner: Store, txn: Store['txn']): Store {
  return {
    valueLimit: inner.valueLimit,
    get: (key) => inner.get(key),
    list: (prefix) => inner.list(prefix),
    append: (log, records) => inner.append(log, records),
    read: (log, afterSeq, limit) => inner.read(log, afterSeq, limit),
    bounds: (log) => inner.bounds(log),
    trim: (log, through) => inner.trim(log, through),
    close: () => inner.close(),
    txn,
  };
}

/** A store whose process "dies" after `allowed` transactions: later ones throw StoreError('crashed') and change nothing. */
export function crashing(inner: Store, allowed: number): Store {
  let left = allowed;
  return withTxn(inner, (compares, ops) => (left-- <= 0 ? Promise.reject(new StoreError('crashed')) : inner.txn(compares, ops)));
}
