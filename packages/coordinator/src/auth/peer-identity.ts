// Identity from a client certificate. The TLS servers request a client certificate but do not
// require one (a bearer token is the alternative), so the TLS layer does not reject unknown
// issuers. grpc-js hands handlers only certificates the handshake verified; the HTTP server sees
// any. Either way the certificate is verified here, against the current CA bundle, before its
// identity is believed. Certificates must be issued directly by a CA in the bundle.
import { X509Certificate } from 'node:crypto';
import { nameProblem, uriSans } from '@lbha/shared';
import { identity, ROLES, TRUST_DOMAIN, type Identity, type Role } from './roles.js';

export type PeerOutcome =
  | {
      readonly ok: true;
      readonly identity: Identity;
      /** The verdict holds until then: the certificate's or its CA's expiry, whichever is first. */
      readonly validUntilMs: number;
    }
  | { readonly ok: false; readonly reason: string };

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const URI_PREFIX = `spiffe://${TRUST_DOMAIN}/`;

/** Parses `spiffe://lbha/<role>/<name>`; undefined when it is not one of ours. */
export function parseIdentityUri(uri: string): { role: Role; name: string } | undefined {
  if (!uri.startsWith(URI_PREFIX)) return undefined;
  const parts = uri.slice(URI_PREFIX.length).split('/');
  if (parts.length !== 2) return undefined;
  const [role, name] = parts as [string, string];
  if (!(ROLES as readonly string[]).includes(role) || nameProblem(name)) return undefined;
  return { role: role as Role, name };
}

/**
 * Verifies a DER client certificate against `authorities` at time `nowMs` and reads its role
 * and name from its one lbha identity URI.
 */
export function peerIdentity(raw: Buffer, authorities: readonly X509Certificate[], nowMs: number): PeerOutcome {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(raw);
  } catch {
    return { ok: false, reason: 'client certificate cannot be parsed' };
  }
  return certificateIdentity(cert, authorities, nowMs);
}

/**
 * The same checks on a certificate already parsed: the one a TLS connection holds
 * (`TLSSocket.getPeerX509Certificate()`, no second parse of its DER).
 */
export function certificateIdentity(cert: X509Certificate, authorities: readonly X509Certificate[], nowMs: number): PeerOutcome {
  const issuer = authorities.find((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey));
  if (!issuer) return { ok: false, reason: 'client certificate is not issued by a trusted CA' };
  if (nowMs < Date.parse(cert.validFrom)) return { ok: false, reason: 'client certificate is not valid yet' };
  if (nowMs > Date.parse(cert.validTo)) return { ok: false, reason: 'client certificate has expired' };
  if (Date.parse(issuer.validTo) < nowMs) return { ok: false, reason: 'the CA of the client certificate has expired' };
  if (cert.ca) return { ok: false, reason: 'a CA certificate cannot be used as a client certificate' };
  if (cert.keyUsage && !cert.keyUsage.includes(CLIENT_AUTH)) return { ok: false, reason: 'client certificate is not for client authentication' };
  const ours = uriSans(cert.subjectAltName).filter((u) => u.startsWith(URI_PREFIX));
  if (ours.length !== 1) {
    return { ok: false, reason: `client certificate must carry exactly one identity URI ${URI_PREFIX}<role>/<name> (found ${ours.length})` };
  }
  const parsed = parseIdentityUri(ours[0] as string);
  if (!parsed) return { ok: false, reason: `client certificate identity ${JSON.stringify(ours[0])} is not ${URI_PREFIX}<agent|operator|read-only>/<name>` };
  return { ok: true, identity: identity('cert', parsed.name, parsed.role), validUntilMs: Math.min(Date.parse(cert.validTo), Date.parse(issuer.validTo)) };
}
