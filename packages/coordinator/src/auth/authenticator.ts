// Turns what a caller presented (a bearer token, a client certificate, or nothing) into an
// identity. One place for the gRPC control API, the agent streams and the HTTP API.
import { timingSafeEqual } from 'node:crypto';
import type { CertificateSource } from '@lbha/shared';
import { hashToken, type AuthConfig } from './auth-config.js';
import { peerIdentity } from './peer-identity.js';
import { identity, type Identity } from './roles.js';

export type AuthOutcome = { readonly ok: true; readonly identity: Identity } | { readonly ok: false; readonly reason: string };

export interface Credentials {
  /** The `authorization` header or metadata value, if any. */
  readonly authorization?: string | undefined;
  /** DER of the client certificate the TLS layer saw, if any. */
  readonly peerCertificate?: Buffer | undefined;
}

const MAX_TOKEN = 4096;

export class Authenticator {
  private tokens: ReadonlyArray<{ name: string; role: 'operator' | 'read-only'; hash: Buffer }>;

  constructor(
    private config: AuthConfig,
    /** The coordinator's TLS material; undefined with plaintext (no client certificates). */
    private readonly certificates: CertificateSource | undefined,
    private readonly clock: () => number = Date.now,
  ) {
    this.tokens = config.tokens.map((t) => ({ name: t.name, role: t.role, hash: Buffer.from(t.sha256, 'hex') }));
  }

  /** Takes new tokens and a new anonymous role (a configuration reload); applies to the next call. */
  replace(config: AuthConfig): void {
    this.tokens = config.tokens.map((t) => ({ name: t.name, role: t.role, hash: Buffer.from(t.sha256, 'hex') }));
    this.config = config;
  }

  authenticate(c: Credentials): AuthOutcome {
    if (c.authorization !== undefined) return this.bearer(c.authorization);
    if (c.peerCertificate && c.peerCertificate.length > 0) {
      if (!this.certificates) return { ok: false, reason: 'client certificates are not accepted without TLS' };
      return peerIdentity(c.peerCertificate, this.certificates.current.authorities, this.clock());
    }
    if (this.config.anonymous !== 'none') return { ok: true, identity: identity('anonymous', 'anonymous', this.config.anonymous) };
    return { ok: false, reason: 'credentials required: a bearer token (authorization: Bearer TOKEN) or a client certificate (or auth.anonymous in the coordinator configuration)' };
  }

  private bearer(header: string): AuthOutcome {
    const m = /^Bearer ([\x21-\x7e]+)$/i.exec(header.trim());
    if (!m || header.length > MAX_TOKEN) return { ok: false, reason: 'authorization must be "Bearer TOKEN"' };
    const hash = Buffer.from(hashToken(m[1] as string), 'hex');
    // Compare with every entry so the time taken does not tell which one matched.
    let found: (typeof this.tokens)[number] | undefined;
    for (const t of this.tokens) if (timingSafeEqual(t.hash, hash) && !found) found = t;
    if (!found) return { ok: false, reason: 'unknown bearer token' };
    return { ok: true, identity: identity('token', found.name, found.role) };
  }
}
