// Turns what a caller presented (a bearer token, a client certificate, or nothing) into an
// identity. One place for the gRPC control API, the agent streams and the HTTP API.
import { timingSafeEqual, type X509Certificate } from 'node:crypto';
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
/** Verified client certificates kept (one per agent, operators and spares). */
const MAX_VERIFIED = 50_000;

interface Verified {
  /** The trusted CAs the certificate was verified against: a CA reload invalidates the entry. */
  readonly authorities: readonly X509Certificate[];
  readonly validFromMs: number;
  readonly validUntilMs: number;
  readonly outcome: AuthOutcome;
}

export class Authenticator {
  private tokens: ReadonlyArray<{ name: string; role: 'operator' | 'read-only'; hash: Buffer }>;
  /**
   * Client certificates already verified, by their DER bytes. Parsing and verifying one costs
   * about a millisecond; after a coordinator restart every agent presents its certificate again
   * within seconds, and each stream of an agent presents the same one.
   */
  private readonly verified = new Map<string, Verified>();

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
      return this.certificate(c.peerCertificate, this.certificates.current.authorities);
    }
    if (this.config.anonymous !== 'none') return { ok: true, identity: identity('anonymous', 'anonymous', this.config.anonymous) };
    return { ok: false, reason: 'credentials required: a bearer token (authorization: Bearer TOKEN) or a client certificate (or auth.anonymous in the coordinator configuration)' };
  }

  private certificate(raw: Buffer, authorities: readonly X509Certificate[]): AuthOutcome {
    const now = this.clock();
    const key = raw.toString('base64');
    const hit = this.verified.get(key);
    if (hit && hit.authorities === authorities && now >= hit.validFromMs && now <= hit.validUntilMs) return hit.outcome;
    const out = peerIdentity(raw, authorities, now);
    if (!out.ok) {
      this.verified.delete(key);
      return out;
    }
    if (this.verified.size >= MAX_VERIFIED) this.verified.clear();
    const outcome: AuthOutcome = { ok: true, identity: out.identity };
    this.verified.set(key, { authorities, validFromMs: now, validUntilMs: out.validUntilMs, outcome });
    return outcome;
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
