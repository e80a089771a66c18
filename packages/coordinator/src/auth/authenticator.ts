// Turns what a caller presented (a bearer token, a client certificate, or nothing) into an
// identity. One place for the gRPC control API, the agent streams and the HTTP API.
import { timingSafeEqual, type X509Certificate } from 'node:crypto';
import type { CertificateSource } from '@lbha/shared';
import { hashToken, type AuthConfig } from './auth-config.js';
import { ConnectionClosedError } from '../errors.js';
import { certificateIdentity, peerIdentity } from './peer-identity.js';
import { identity, type Identity } from './roles.js';

export type AuthOutcome = { readonly ok: true; readonly identity: Identity } | { readonly ok: false; readonly reason: string };

export interface Credentials {
  /** The `authorization` header or metadata value, if any. */
  readonly authorization?: string | undefined;
  /** DER of the client certificate the TLS layer saw, if any. */
  readonly peerCertificate?: Buffer | undefined;
}

/**
 * A TLS connection as far as its client certificate goes (node:tls's TLSSocket): whether the
 * handshake verified the certificate against the CA bundle (and the CRL), and the certificate
 * as the TLS layer parsed it.
 */
export interface PeerConnection {
  readonly authorized: boolean;
  readonly destroyed: boolean;
  getPeerX509Certificate(): X509Certificate | undefined;
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
  /** The verdict on each open TLS connection's certificate (gone with the connection). */
  private readonly connections = new WeakMap<PeerConnection, Verified>();

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

  /**
   * The identity of a TLS connection's client certificate, with the same checks as a
   * certificate presented as DER (peer-identity.ts), done once per connection on the
   * certificate the TLS layer already parsed: after a coordinator restart every agent comes
   * back on a new connection with a certificate seen by nobody yet, and parsing its DER again
   * was most of the cost of its Hello. Undefined when the connection has no certificate the
   * handshake verified (none, an unknown CA, one the CRL lists), as grpc-js's auth context
   * then has none. The verdict is taken again when the CAs change or its time runs out.
   * Throws ConnectionClosedError when the connection is gone.
   */
  connection(conn: PeerConnection): AuthOutcome | undefined {
    if (!conn.authorized) return undefined;
    if (!this.certificates) return { ok: false, reason: 'client certificates are not accepted without TLS' };
    const authorities = this.certificates.current.authorities;
    const now = this.clock();
    const hit = this.connections.get(conn);
    if (hit && hit.authorities === authorities && now >= hit.validFromMs && now <= hit.validUntilMs) return hit.outcome;
    const cert = conn.getPeerX509Certificate();
    if (!cert) {
      if (conn.destroyed) throw new ConnectionClosedError('the connection closed before its peer certificate could be read');
      return undefined;
    }
    const out = certificateIdentity(cert, authorities, now);
    if (!out.ok) return out;
    const outcome: AuthOutcome = { ok: true, identity: out.identity };
    this.connections.set(conn, { authorities, validFromMs: now, validUntilMs: out.validUntilMs, outcome });
    return outcome;
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
