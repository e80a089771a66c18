// Who may open an agent stream: with TLS, only a certificate of role agent whose name is the
// node the Hello claims. Tokens are never accepted here. With plaintext (an explicit opt-in)
// there is nothing to check.
import type { AgentHello } from '@lbha/shared';
import { authContextOf, type AuthContext } from './auth-context.js';
import { clientAddress } from './auth-throttle.js';
import type { AuthOutcome, Credentials } from './authenticator.js';

export interface AgentCallPeer {
  getAuthContext(): AuthContext | null;
  getPeer(): string;
}

/**
 * The identity of the TLS connection a call came in on (Authenticator.connection): 'none' when
 * the connection has no verified client certificate; undefined when the call's own connection
 * does not say who the agent is (a stream another coordinator relays, a unix socket), and its
 * auth context decides.
 */
export type ConnectionIdentity = (call: AgentCallPeer) => AuthOutcome | 'none' | undefined;

const NEED_CERTIFICATE = 'agent streams need a client certificate of role agent';

export function agentAuthorizer(authenticate: (c: Credentials, address: string) => AuthOutcome, tls: boolean, connectionIdentity?: ConnectionIdentity) {
  return (call: AgentCallPeer, hello: AgentHello): string | undefined => {
    if (!tls) return undefined;
    // Both throw ConnectionClosedError when the connection is gone (the stream is refused as UNAVAILABLE).
    const byConnection = connectionIdentity?.(call);
    if (byConnection === 'none') return NEED_CERTIFICATE;
    let auth = byConnection;
    if (auth === undefined) {
      const raw = authContextOf(call)?.sslPeerCertificate?.raw;
      if (!raw) return NEED_CERTIFICATE;
      auth = authenticate({ peerCertificate: raw }, clientAddress(call.getPeer()));
    }
    if (!auth.ok) return auth.reason;
    const who = auth.identity;
    if (who.role !== 'agent') return `${who.actor} has the ${who.role} role: only agent certificates can open an agent stream`;
    if (who.name !== hello.node) return `certificate is for node ${who.name}, but the agent claims to be ${hello.node}`;
    return undefined;
  };
}
