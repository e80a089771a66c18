// Everything the coordinator needs for authentication in one object: its TLS material
// (reloaded on SIGHUP or when the files change), the gRPC server credentials, the identity
// checks for agent streams and control calls, and the HTTP API's view of the same.
import { ServerCredentials } from '@grpc/grpc-js';
import { CertificateSource, isInsecure, type Logger, type TlsConfig } from '@lbha/shared';
import type { AuditLog } from '../audit-log.js';
import type { ControlApi } from '../control-api.js';
import type { EventLog } from '../event-log.js';
import { agentAuthorizer } from './agent-authorization.js';
import type { AuthConfig } from './auth-config.js';
import { Authenticator } from './authenticator.js';
import { authorizeControl } from './control-authorization.js';
import { ReloadingServerCredentials } from './reloading-server-credentials.js';

export interface CoordinatorAuthOptions {
  readonly tls: TlsConfig;
  readonly auth: AuthConfig;
  readonly events: EventLog;
  readonly audit?: AuditLog;
  readonly logger: Logger;
  /** How often certificate files are checked for changes; 0: only on SIGHUP / reload(). */
  readonly watchIntervalMs?: number;
}

export class CoordinatorAuth {
  /** Undefined with plaintext. */
  readonly certificates: CertificateSource | undefined;
  readonly authenticator: Authenticator;
  readonly authorizeAgent: ReturnType<typeof agentAuthorizer>;
  private grpcCredentials: ReloadingServerCredentials | undefined;
  private readonly onHangup = () => this.reload('SIGHUP');

  constructor(private readonly opts: CoordinatorAuthOptions) {
    const { tls, logger } = opts;
    this.certificates = isInsecure(tls)
      ? undefined
      : new CertificateSource(tls, { logger, watchIntervalMs: opts.watchIntervalMs ?? 1000 });
    this.authenticator = new Authenticator(opts.auth, this.certificates);
    this.authorizeAgent = agentAuthorizer(this.authenticator, this.certificates !== undefined);
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
    this.grpcCredentials?.close();
    this.certificates?.close();
  }

  /** Re-reads the certificate files now (SIGHUP does this). */
  reload(why = 'reload requested'): void {
    this.certificates?.reload(why);
  }

  serverCredentials(): ServerCredentials {
    if (!this.certificates) return ServerCredentials.createInsecure();
    this.grpcCredentials ??= new ReloadingServerCredentials(this.certificates);
    return this.grpcCredentials;
  }

  /** The operator API with authentication, roles, request checks and audit around it. */
  wrapControl(api: ControlApi): ControlApi {
    return authorizeControl(api, { authenticator: this.authenticator, events: this.opts.events, ...(this.opts.audit ? { audit: this.opts.audit } : {}), logger: this.opts.logger });
  }
}
