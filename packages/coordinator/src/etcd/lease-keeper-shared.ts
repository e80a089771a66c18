// The memory the lease keeper's worker thread and the coordinator's main thread share
// (lease-keeper.ts): 64-bit cells read and written with Atomics, times on the monotonic clock
// both threads read (process.hrtime), in microseconds.

/** Incremented before and after each renewal report: odd while one is being written. */
export const SEQ = 0;
/** When the main thread's event loop last ran a timer. */
export const BEAT_US = 1;
/** The lease to keep alive (0: none). */
export const LEASE = 2;
/** The last renewal etcd answered: for which lease, when it was sent, the TTL granted (s). */
export const RENEWED_LEASE = 3;
export const RENEWED_SENT_US = 4;
export const RENEWED_TTL_S = 5;
export const CELLS = 6;

/** Monotonic microseconds, the same clock in every thread of the process (and running while it is stopped). */
export function monotonicUs(): bigint {
  return process.hrtime.bigint() / 1000n;
}

export interface LeaseKeeperWorkerData {
  readonly shared: SharedArrayBuffer;
  readonly endpoints: readonly string[];
  readonly tls: { readonly ca: string; readonly cert?: string; readonly key?: string } | undefined;
  readonly requestTimeoutMs: number;
  readonly leaseTtlMs: number;
  readonly renewEveryMs: number;
  /** No renewal once the main thread's loop has not run a timer for this long. */
  readonly stallLimitMs: number;
}
