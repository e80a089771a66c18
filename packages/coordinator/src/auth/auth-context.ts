// A call's TLS peer, read safely. grpc-js's getAuthContext() reads the socket's peer
// certificate, and a socket closed meanwhile has none: `getPeerCertificate()` returns null and
// grpc-js throws a TypeError reading `.raw` of it. A Hello that arrives just as its connection
// closes (an agent giving up, a reconnect storm) meets exactly that.
import { ConnectionClosedError } from '../errors.js';

export interface AuthContext {
  readonly sslPeerCertificate?: { readonly raw?: Buffer } | undefined;
}

/** The call's auth context (null: none); throws ConnectionClosedError when its connection is gone. */
export function authContextOf(call: { getAuthContext?(): AuthContext | null }): AuthContext | null {
  try {
    return call.getAuthContext?.() ?? null;
  } catch (cause) {
    if (!(cause instanceof TypeError)) throw cause;
    throw new ConnectionClosedError('the connection closed before its peer certificate could be read', { cause });
  }
}
