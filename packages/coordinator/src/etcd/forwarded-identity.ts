// Who made a call that another coordinator forwarded (an API call) or relayed (an agent
// stream). The follower passes the original caller along in metadata: the client certificate
// it was shown (agent streams) or the identity it authenticated (API calls). The leader honours
// that only when the call itself comes from a coordinator certificate, which the TLS handshake
// has already checked against the CA; from anyone else, or over plaintext, it is ignored and
// the call is judged by its own credentials.
import { X509Certificate } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import { uriSans } from '@lbha/shared';
import { authContextOf, type AuthContext } from '../auth/auth-context.js';
import { identity, ROLES, TRUST_DOMAIN, type Identity, type Role } from '../auth/roles.js';
import { decorate, type Caller, type ControlApi } from '../control-api.js';

export const FORWARDED_BY = 'lbha-forwarded-by';
export const FORWARDED_FOR = 'lbha-forwarded-for';
/** DER of the client certificate the follower was shown (binary metadata). */
export const FORWARDED_CERT = 'lbha-forwarded-cert-bin';
/** The identity the follower authenticated, as kind/role/name. */
export const FORWARDED_IDENTITY = 'lbha-forwarded-identity';
/**
 * On a relayed agent stream: the relaying coordinator reads the agent's connection and reports
 * its liveness (ReportRelayedLiveness), so the agent need not send Heartbeat messages.
 */
export const RELAY_LIVENESS = 'lbha-relay-liveness';

interface PeerCall {
  readonly metadata: Metadata;
  getAuthContext?(): AuthContext | null;
}

/** The TLS peer's certificate (undefined: none); throws ConnectionClosedError when the connection is gone. */
export function peerCertificate(call: PeerCall): Buffer | undefined {
  const raw = authContextOf(call)?.sslPeerCertificate?.raw;
  return raw && raw.length > 0 ? raw : undefined;
}

/** Whether `raw` (a TLS peer's certificate) is a coordinator certificate of this installation. */
function isCoordinatorCertificate(raw: Buffer | undefined): boolean {
  if (!raw) return false;
  try {
    return uriSans(new X509Certificate(raw).subjectAltName).some((u) => u.startsWith(`spiffe://${TRUST_DOMAIN}/coordinator/`));
  } catch {
    return false;
  }
}

/** Whether the call comes from a coordinator (its TLS client certificate says so). */
export function fromCoordinator(call: PeerCall): boolean {
  return isCoordinatorCertificate(peerCertificate(call));
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
 * On the receiving coordinator: when a trusted coordinator relayed the agent stream `call`,
 * make the authorisation that follows see the original agent's certificate. Returns whether
 * the call was taken as relayed. `trustedHop`: the call came over a way in only the
 * coordinator's own front processes can reach (fronts/front-pool.ts), which vouches for it
 * without a certificate.
 */
export function adoptForwardedCaller(call: PeerCall & object, trustedHop = false): boolean {
  if (first(call.metadata, FORWARDED_BY) === undefined) return false;
  if (!trustedHop && !isCoordinatorCertificate(peerCertificate(call))) {
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
  return true;
}

/**
 * On the receiving coordinator: an API call a trusted coordinator forwarded counts as its
 * original caller's (the certificate it showed and the identity the follower authenticated).
 * From anyone else, or over plaintext, the claim is dropped and the call judged by its own
 * credentials.
 */
export function forwardedCaller(caller: Caller): Caller {
  const f = caller.forwarded;
  if (!f) return caller;
  if (!isCoordinatorCertificate(caller.peerCertificate)) return { ...caller, forwarded: undefined };
  const who = f.identity === undefined ? undefined : decodeIdentity(f.identity);
  return { ...caller, peerCertificate: f.certificate, identity: who ?? caller.identity, forwarded: { ...f, verified: true } };
}

/** The operator API that takes calls forwarded by other coordinators as their original callers'. */
export function acceptForwarded(api: ControlApi): ControlApi {
  return decorate(api, {
    unary: (_method, inner) => (request, caller) => inner(request, forwardedCaller(caller)),
    streaming: (_method, inner) => (request, caller, sink) => inner(request, forwardedCaller(caller), sink),
  });
}
