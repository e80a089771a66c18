// Everything the coordinator needs for authentication in one object: its TLS material
// (reloaded on SIGHUP or when the files change), TLS for the gRPC port, the identity
// checks for agent streams and control calls, and the HTTP API's view of the same.
import { CertificateSource, isInsecure, type Logger, type TlsConfig } from '@lbha/shared';
import type { AuditLog } from '../audit-log.js';
import type { ControlApi } from '../control-api.js';
import type { EventLog } from '../event-log.js';
import { DEFAULT_LIMITS, type LimitsConfig } from '../limits/limits-config.js';
import { RateLimiter } from '../limits/rate-limiter.js';
import { agentAuthorizer, type AgentCallPeer } from './agent-authorization.js';
import type { AuthConfig } from './auth-config.js';
import { AuthThrottle, clientAddress, type AuthApi } from './auth-throttle.js';
import { Authenticator, type AuthOutcome, type Credentials, type PeerConnection } from './authenticator.js';
import { authorizeControl } from './control-authorization.js';
import { ServerTls } from './server-tls.js';

export interface CoordinatorAuthOptions {
  readonly tls: TlsConfig;
  readonly auth: AuthConfig;
  readonly events: EventLog;
  readonly audit?: AuditLog;
  readonly logger: Logger;
  /** How often certificate files are checked for changes; 0: only on SIGHUP / reload(). */
  readonly watchIntervalMs?: number;
  /** Failed-authentication throttling and request rates (limits section); default DEFAULT_LIMITS. */
  readonly limits?: LimitsConfig;
}

/** An authentication refused without a look, because the address failed too often. */
export type ThrottledOutcome = AuthOutcome | { readonly ok: false; readonly reason: string; readonly retryAfterMs: number };

/** Control API calls that cost more than one request: they make the coordinator work harder. */
const REQUEST_COST: Readonly<Record<string, number>> = { validateSpec: 10, applySpec: 10, watchEvents: 5, listEvents: 5, listAudit: 5 };

export class CoordinatorAuth {
  /** Undefined with plaintext. */
  readonly certificates: CertificateSource | undefined;
  readonly authenticator: Authenticator;
  readonly authorizeAgent: ReturnType<typeof agentAuthorizer>;
  /** Failed authentications per address (auth-throttle.ts). */
  readonly throttle: AuthThrottle;
  /** API calls per caller. */
  private readonly requests: RateLimiter;
  private rateLimited = 0;
  private grpcTls: ServerTls | undefined;
  private readonly onHangup = () => this.reload('SIGHUP');

  constructor(private readonly opts: CoordinatorAuthOptions) {
    const { tls, logger } = opts;
    this.certificates = isInsecure(tls)
      ? undefined
      : new CertificateSource(tls, { logger, watchIntervalMs: opts.watchIntervalMs ?? 1000 });
    this.authenticator = new Authenticator(opts.auth, this.certificates);
    const limits = opts.limits ?? DEFAULT_LIMITS;
    this.throttle = new AuthThrottle(limits.failedAuthPerMinute, logger);
    this.requests = new RateLimiter(limits.requestsPerSecond, limits.requestsPerSecond * 2);
    this.authorizeAgent = agentAuthorizer((c, address) => this.authenticateFrom(c, address, 'agent'), this.certificates !== undefined);
  }

  /**
   * Authenticates what a caller at `address` presented. Token and credential-less attempts
   * from an address that failed too often are refused without a look (a verified client
   * certificate is never throttled); every failure is counted there.
   */
  authenticateFrom(c: Credentials, address: string, api: AuthApi): ThrottledOutcome {
    const certificateOnly = c.authorization === undefined && c.peerCertificate !== undefined && c.peerCertificate.length > 0;
    if (!certificateOnly) {
      const left = this.throttle.blocked(address);
      if (left > 0) return { ok: false, reason: `too many failed authentications from ${address}; retry in ${Math.ceil(left / 1000)}s`, retryAfterMs: left };
    }
    const r = this.authenticator.authenticate(c);
    if (!r.ok) this.throttle.failed(address, api, r.reason);
    return r;
  }

  /**
   * Who may open agent streams, judged on the TLS connection a stream came in on when
   * `connectionOf` knows it (the certificate verified once per connection, on the TLS layer's
   * parse of it), else on the call's auth context, as `authorizeAgent` does.
   */
  agentAuthorizerOn(connectionOf: (call: AgentCallPeer) => PeerConnection | undefined): ReturnType<typeof agentAuthorizer> {
    return agentAuthorizer((c, address) => this.authenticateFrom(c, address, 'agent'), this.certificates !== undefined, (call) => {
      const conn = connectionOf(call);
      if (!conn) return undefined;
      const r = this.authenticator.connection(conn);
      if (r === undefined) return 'none';
      if (!r.ok) this.throttle.failed(clientAddress(call.getPeer()), 'agent', r.reason);
      return r;
    });
  }

  /**
   * Takes one call of `method` from the caller's budget (requestsPerSecond, bursts of twice
   * that; spec checks and event reads cost more): 0 when granted, else the wait in ms.
   */
  takeRequest(caller: string, method: string): number {
    const wait = this.requests.take(caller, REQUEST_COST[method] ?? 1);
    if (wait > 0) this.rateLimited++;
    return wait;
  }

  /** Calls refused for going over the request rate so far. */
  get rateLimitedCalls(): number {
    return this.rateLimited;
  }

  get tls(): boolean {
    return this.certificates !== undefined;
  }

  /** Logs what is open; listens for SIGHUP. Call once when the servers start. */
  start(): void {
    const { logger, auth } = this.opts;
    if (auth.anonymous !== 'none') {
      logger.warn({ event: 'auth.anonymous', role: auth.anonymous }, `callers without credentials get the ${auth.anonymous} role (auth.anonymous)`);
    }
    if (!this.tls) logger.warn({ event: 'auth.agents_unauthenticated' }, 'plaintext: agent identities are not checked');
    process.on('SIGHUP', this.onHangup);
  }

  stop(): void {
    process.off('SIGHUP', this.onHangup);
    this.grpcTls?.close();
    this.certificates?.close();
  }

  /** Re-reads the certificate files now (SIGHUP does this). */
  reload(why = 'reload requested'): void {
    this.certificates?.reload(why);
  }

  /** TLS for the gRPC port, following the certificate files; undefined with plaintext. */
  serverTls(): ServerTls | undefined {
    if (!this.certificates) return undefined;
    this.grpcTls ??= new ServerTls(this.certificates);
    return this.grpcTls;
  }

  /** The operator API with authentication, roles, request checks and audit around it. */
  wrapControl(api: ControlApi): ControlApi {
    return authorizeControl(api, {
      authenticate: (c, address) => this.authenticateFrom(c, address, 'grpc'),
      takeRequest: (caller, method) => this.takeRequest(caller, method),
      events: this.opts.events,
      ...(this.opts.audit ? { audit: this.opts.audit } : {}),
      logger: this.opts.logger,
    });
  }
}
