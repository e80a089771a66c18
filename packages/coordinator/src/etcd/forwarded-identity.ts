// Who made a call that another coordinator forwarded (an API call) or relayed (an agent
// stream). The follower passes the original caller along in metadata: the client certificate
// it was shown (agent streams) or the identity it authenticated (API calls). The leader honours
// that only when the call itself comes from a coordinator certificate, which the TLS handshake
// has already checked against the CA; from anyone else, or over plaintext, it is ignored and
// the call is judged by its own credentials.
import { X509Certificate } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import { actAs } from '../auth/control-authorization.js';
import { uriSans } from '../auth/peer-identity.js';
import { identity, ROLES, TRUST_DOMAIN, type Identity, type Role } from '../auth/roles.js';

export const FORWARDED_BY = 'lbha-forwarded-by';
export const FORWARDED_FOR = 'lbha-forwarded-for';
/** DER of the client certificate the follower was shown (binary metadata). */
export const FORWARDED_CERT = 'lbha-forwarded-cert-bin';
/** The identity the follower authenticated, as kind/role/name. */
export const FORWARDED_IDENTITY = 'lbha-forwarded-identity';

interface PeerCall {
  readonly metadata: Metadata;
  getAuthContext?(): { sslPeerCertificate?: { raw?: Buffer } } | null;
}

export function peerCertificate(call: PeerCall): Buffer | undefined {
  const raw = call.getAuthContext?.()?.sslPeerCertificate?.raw;
  return raw && raw.length > 0 ? raw : undefined;
}

/** Whether the TLS peer of `call` holds a coordinator certificate of this installation. */
export function fromCoordinator(call: PeerCall): boolean {
  const raw = peerCertificate(call);
  if (!raw) return false;
  try {
    return uriSans(new X509Certificate(raw).subjectAltName).some((u) => u.startsWith(`spiffe://${TRUST_DOMAIN}/coordinator/`));
  } catch {
    return false;
  }
}

export function encodeIdentity(who: Identity): string {
  return `${who.kind}/${who.role}/${who.name}`;
}

function decodeIdentity(v: string): Identity | undefined {
  const [kind, role, ...rest] = v.split('/');
  const name = rest.join('/');
  if ((kind !== 'cert' && kind !== 'token' && kind !== 'anonymous') || !ROLES.includes(role as Role) || !name) return undefined;
  return identity(kind, name, role as Role);
}

function first(md: Metadata, key: string): string | Buffer | undefined {
  return md.get(key)[0];
}

/**
 * On the receiving coordinator: when a trusted coordinator forwarded `call`, make the
 * authorisation that follows see the original caller (its certificate; for API calls, the
 * identity the follower authenticated). Returns whether the call was taken as forwarded.
 */
export function adoptForwardedCaller(call: PeerCall & object, kind: 'agent' | 'control'): boolean {
  if (first(call.metadata, FORWARDED_BY) === undefined) return false;
  if (!fromCoordinator(call)) {
    // Plaintext, or a caller that is not a coordinator: the claim carries no weight.
    for (const k of [FORWARDED_CERT, FORWARDED_IDENTITY]) call.metadata.remove(k);
    return false;
  }
  const cert = first(call.metadata, FORWARDED_CERT);
  const original = call.getAuthContext?.bind(call);
  (call as { getAuthContext: () => unknown }).getAuthContext = () => ({
    ...(original?.() ?? {}),
    sslPeerCertificate: Buffer.isBuffer(cert) ? { raw: cert } : undefined,
  });
  if (kind === 'control') {
    const v = first(call.metadata, FORWARDED_IDENTITY);
    const who = typeof v === 'string' ? decodeIdentity(v) : undefined;
    if (who) actAs(call, who);
  }
  return true;
}
