// The server side of TLS on the gRPC port, run by the coordinator rather than by grpc-js, so
// that the listener (limits/grpc-listener.ts) decides when each accepted connection's handshake
// starts and learns when it ends; the gRPC server gets only finished TLS connections. A
// tls.Server that never listens runs the handshakes: Node's own code then sets what grpc-js
// reads afterwards (`authorized`, so a certificate a CRL lists is not handed to a call), the
// handshake timeout and ALPN. The certificates follow a CertificateSource, so rotated ones apply
// to new connections without a restart.
import type { Socket } from 'node:net';
import { createServer, type SecureContextOptions, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { CertificateSet, CertificateSource } from '@lbha/shared';

function contextOf(set: CertificateSet): SecureContextOptions {
  // With a CRL, a listed client certificate fails verification: grpc-js then hands the call no
  // certificate at all, so it is judged as a call without one.
  return { ca: set.ca, cert: set.cert, key: set.key, ...(set.crl ? { crl: set.crl } : {}) };
}

/**
 * A handshake that has not finished this long after it started is abandoned (its connection
 * closed). It counts from the start of the handshake, not from the wait in the queue: a
 * connection waits for its turn as long as its client keeps it open (the agents set no connect
 * deadline), and with few handshakes in progress each one finishes in milliseconds.
 */
export const HANDSHAKE_TIMEOUT_MS = 20_000;

interface Pending {
  readonly done: () => void;
  readonly secure: (socket: TLSSocket) => void;
}

export class ServerTls {
  private readonly engine: TlsServer;
  private readonly pending = new WeakMap<Socket, Pending>();
  private readonly unsubscribe: () => void;

  constructor(source: CertificateSource, handshakeTimeoutMs = HANDSHAKE_TIMEOUT_MS) {
    // A client certificate is requested but not required (a bearer token is the alternative),
    // so an unverified one gets through the handshake: peer-identity.ts verifies it before use.
    // No session tickets are issued (the process's OpenSSL configuration, node-flags.ts): every
    // connection is a full handshake, its certificate verified against the CAs and CRL of then.
    this.engine = createServer({ ...contextOf(source.current), requestCert: true, rejectUnauthorized: false, ALPNProtocols: ['h2'], handshakeTimeout: handshakeTimeoutMs });
    this.unsubscribe = source.onChange((set) => this.engine.setSecureContext(contextOf(set)));
    this.engine.on('secureConnection', (socket: TLSSocket) => {
      // As grpc-js does for its own TLS connections: errors after the handshake are the session's.
      socket.on('error', () => undefined);
      // Node keeps the accepted socket as `_parent` of the TLS socket it wraps.
      const raw = (socket as unknown as { _parent?: Socket })._parent;
      const p = raw ? this.pending.get(raw) : undefined;
      if (!p || !raw) {
        socket.destroy();
        return;
      }
      this.pending.delete(raw);
      p.done();
      p.secure(socket);
    });
    // A failed handshake closes its socket (seen by handshake()); the error is the client's.
    this.engine.on('tlsClientError', () => undefined);
  }

  /**
   * Runs the server side of a handshake on an accepted connection: `done` is called once, when
   * it completes or fails or the connection closes; `secure` gets the TLS connection when it
   * completed.
   */
  handshake(socket: Socket, done: () => void, secure: (socket: TLSSocket) => void): void {
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      this.pending.delete(socket);
      done();
    };
    this.pending.set(socket, { done: finish, secure });
    socket.once('close', finish);
    this.engine.emit('connection', socket);
  }

  close(): void {
    this.unsubscribe();
  }
}
