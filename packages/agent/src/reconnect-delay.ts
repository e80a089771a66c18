// How long the agent waits before reconnecting to the coordinator: exponential backoff with
// "full jitter" (a uniform draw between zero and the ceiling), and a lower ceiling when the
// coordinator could not be reached than when it answered and refused. Pure: the caller passes
// the attempt number and the random source.
//
// Why two ceilings: an attempt against a coordinator that is down (restarting) costs it nothing
// (a refused SYN), and every second an agent sleeps after the coordinator is back is a second
// that node is unmanaged; an attempt that the coordinator answers and refuses (authentication,
// limits, protocol) costs it a TLS handshake, so those back off to the configured maximum.
// Full jitter spreads a fleet's attempts evenly over the ceiling instead of in waves, so the
// reconnect storm after a coordinator restart is bounded: with N agents and a ceiling of C,
// about N / C connections a second arrive once the coordinator listens again.

/** Why the last stream (or attempt) ended, as far as the backoff is concerned. */
export type StreamEnding =
  /** No connection to the coordinator, or a stream it had welcomed ended (restart, network fault). */
  | 'unreachable'
  /** The coordinator answered and refused the stream (authentication, limits, protocol version). */
  | 'refused';

export interface BackoffPolicy {
  /** Ceiling of the first attempt's delay; doubles per attempt. */
  readonly initialMs: number;
  /** Largest ceiling after a refusal. */
  readonly maxMs: number;
  /** Largest ceiling while the coordinator is unreachable (at most maxMs). */
  readonly maxUnreachableMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 200, maxMs: 10_000, maxUnreachableMs: 2_000 };

/** The ceiling of attempt `attempt` (0 for the first retry): the delay is drawn below it. */
export function backoffCeilingMs(policy: BackoffPolicy, ending: StreamEnding, attempt: number): number {
  const cap = ending === 'unreachable' ? Math.min(policy.maxMs, policy.maxUnreachableMs) : policy.maxMs;
  return Math.min(cap, policy.initialMs * 2 ** Math.min(Math.max(0, attempt), 30));
}

/** The delay before attempt `attempt + 1`: uniform between 0 and the ceiling (`random` in [0, 1)). */
export function reconnectDelayMs(policy: BackoffPolicy, ending: StreamEnding, attempt: number, random: () => number): number {
  return Math.round(backoffCeilingMs(policy, ending, attempt) * random());
}
