// Failed authentications, per client address: a bearer token can be guessed, so an address
// that fails more than `failuresPerMinute` times in a minute is refused any token (or
// credential-less) attempt for a while, 10 s at first and twice as long each time it goes on,
// up to 5 minutes. A verified client certificate is proof, not a guess: it is never throttled.
//
// Failures are not logged one line each (anyone can cause them): one line for the first
// failure of an address in a minute (at most 20 such lines a minute), one when an address is
// throttled, and a summary a minute of everything else.
import type { Logger } from '@lbha/shared';

export type AuthApi = 'grpc' | 'http' | 'agent';

export interface AuthThrottleStats {
  /** Failed authentications, by API. */
  readonly failures: Readonly<Record<AuthApi, number>>;
  /** Attempts refused without a look because their address was throttled. */
  readonly throttled: number;
  /** Addresses throttled right now. */
  readonly blockedAddresses: number;
}

interface Source {
  windowStart: number;
  failures: number;
  blockedUntil: number;
  /** How many times in a row the address was throttled (doubles the wait). */
  strikes: number;
}

const WINDOW_MS = 60_000;
const FIRST_BLOCK_MS = 10_000;
const MAX_BLOCK_MS = 300_000;
const LINES_PER_MINUTE = 20;

/** The address of a gRPC peer ("ipv4:10.0.0.5:4711", "ipv6:[::1]:4711", "unix:...") or an HTTP socket's remoteAddress. */
export function clientAddress(peer: string): string {
  if (peer.startsWith('unix:')) return 'unix';
  const p = peer.replace(/^ipv[46]:/, '').replace(/^http:/, '');
  const host = /^\[([^\]]+)\](?::\d+)?$/.exec(p)?.[1] ?? (p.split(':').length === 2 ? (p.split(':')[0] as string) : p);
  return host.replace(/^::ffff:/, '');
}

export class AuthThrottle {
  private readonly sources = new Map<string, Source>();
  private readonly failures: Record<AuthApi, number> = { grpc: 0, http: 0, agent: 0 };
  private throttledCount = 0;
  private minuteStart = 0;
  private linesThisMinute = 0;
  private unloggedThisMinute = 0;

  constructor(
    private readonly failuresPerMinute: number,
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
    private readonly maxAddresses = 50_000,
  ) {}

  /** How long `address` is still refused token attempts (ms); 0 when it is not. Counts a refusal. */
  blocked(address: string): number {
    const s = this.sources.get(address);
    const left = s ? s.blockedUntil - this.clock() : 0;
    if (left <= 0) return 0;
    this.throttledCount++;
    return left;
  }

  /** Counts a failed authentication from `address`; may throttle it. */
  failed(address: string, api: AuthApi, reason: string): void {
    const now = this.clock();
    this.failures[api]++;
    this.rollMinute(now);
    let s = this.sources.get(address);
    if (!s) {
      if (this.sources.size >= this.maxAddresses) this.prune(now);
      s = { windowStart: now, failures: 0, blockedUntil: 0, strikes: 0 };
      this.sources.set(address, s);
    }
    if (now - s.windowStart >= WINDOW_MS) {
      // A quiet minute forgives one strike.
      if (s.failures <= this.failuresPerMinute) s.strikes = Math.max(0, s.strikes - 1);
      s.windowStart = now;
      s.failures = 0;
    }
    s.failures++;
    if (s.failures === 1) this.line({ event: 'auth.failed', api, address, reason }, 'authentication failed (further failures from this address this minute are counted, not logged)');
    else this.unloggedThisMinute++;
    if (s.failures >= this.failuresPerMinute && s.blockedUntil <= now) {
      const waitMs = Math.min(MAX_BLOCK_MS, FIRST_BLOCK_MS * 2 ** s.strikes);
      s.strikes++;
      s.blockedUntil = now + waitMs;
      s.failures = 0;
      s.windowStart = now;
      this.logger.warn({ event: 'auth.throttled', api, address, waitMs }, `${this.failuresPerMinute} failed authentications from ${address} in a minute: its token attempts are refused for ${waitMs / 1000}s`);
    }
  }

  stats(): AuthThrottleStats {
    const now = this.clock();
    let blocked = 0;
    for (const s of this.sources.values()) if (s.blockedUntil > now) blocked++;
    return { failures: { ...this.failures }, throttled: this.throttledCount, blockedAddresses: blocked };
  }

  /** One log line, within this minute's budget. */
  private line(fields: Record<string, unknown>, message: string): void {
    if (this.linesThisMinute >= LINES_PER_MINUTE) {
      this.unloggedThisMinute++;
      return;
    }
    this.linesThisMinute++;
    this.logger.warn(fields, message);
  }

  private rollMinute(now: number): void {
    if (now - this.minuteStart < WINDOW_MS) return;
    if (this.unloggedThisMinute > 0) {
      this.logger.warn({ event: 'auth.failed_summary', unlogged: this.unloggedThisMinute, addresses: this.sources.size }, `${this.unloggedThisMinute} more failed authentications in the last minute`);
    }
    this.minuteStart = now;
    this.linesThisMinute = 0;
    this.unloggedThisMinute = 0;
  }

  /** Forgets addresses that are neither throttled nor failing this minute. */
  private prune(now: number): void {
    for (const [a, s] of this.sources) if (s.blockedUntil <= now && now - s.windowStart >= WINDOW_MS) this.sources.delete(a);
    const excess = this.sources.size - Math.floor(this.maxAddresses / 2);
    if (excess > 0) for (const a of [...this.sources.keys()].slice(0, excess)) this.sources.delete(a);
  }
}
