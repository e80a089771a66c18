// What every client of a coordinator (agents, the CLI, other coordinators) checks of the server
// it reached: the host name, as TLS always does, and the role. A certificate from the same CA
// that is not a coordinator's (an agent's, an operator's, or a server certificate issued for
// something else by a shared CA) is refused before anything is sent, tokens included.
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { uriSans } from './uri-sans.js';

export const COORDINATOR_URI_PREFIX = 'spiffe://lbha/coordinator/';

/** A TLS `checkServerIdentity` that also wants a spiffe://lbha/coordinator/<name> URI SAN. */
export function checkCoordinatorIdentity(host: string, cert: PeerCertificate): Error | undefined {
  const hostProblem = checkServerIdentity(host, cert);
  if (hostProblem) return hostProblem;
  const uris = uriSans(cert.subjectaltname);
  if (uris.some((u) => u.startsWith(COORDINATOR_URI_PREFIX) && u.length > COORDINATOR_URI_PREFIX.length)) return undefined;
  const shown = uris.length > 0 ? uris.join(', ') : 'none';
  return new Error(`the server at ${host} is not an lbha coordinator: its certificate has no ${COORDINATOR_URI_PREFIX}<name> identity (URI names: ${shown})`);
}
