// Who may open an agent stream: with TLS, only a certificate of role agent whose name is the
// node the Hello claims. Tokens are never accepted here. With plaintext (an explicit opt-in)
// there is nothing to check.
import type { AgentHello } from '@lbha/shared';
import { authContextOf, type AuthContext } from './auth-context.js';
import { clientAddress } from './auth-throttle.js';
import type { AuthOutcome, Credentials } from './authenticator.js';

export function agentAuthorizer(authenticate: (c: Credentials, address: string) => AuthOutcome, tls: boolean) {
  return (call: { getAuthContext(): AuthContext | null; getPeer(): string }, hello: AgentHello): string | undefined => {
    if (!tls) return undefined;
    // Throws ConnectionClosedError when the connection is gone (the stream is refused as UNAVAILABLE).
    const raw = authContextOf(call)?.sslPeerCertificate?.raw;
    if (!raw) return 'agent streams need a client certificate of role agent';
    const auth = authenticate({ peerCertificate: raw }, clientAddress(call.getPeer()));
    if (!auth.ok) return auth.reason;
    const who = auth.identity;
    if (who.role !== 'agent') return `${who.actor} has the ${who.role} role: only agent certificates can open an agent stream`;
    if (who.name !== hello.node) return `certificate is for node ${who.name}, but the agent claims to be ${hello.node}`;
    return undefined;
  };
}
