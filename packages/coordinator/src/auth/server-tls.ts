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

/**
 * How a handshake ended. completed: the connection is secure (whether the client's certificate
 * verified is judged afterwards, by the call's authentication); timeout: not finished within
 * the handshake timeout; certificate: a certificate was refused during the handshake (the
 * client's alert names one, e.g. an unknown CA, or OpenSSL could not use the client's); protocol:
 * anything else OpenSSL refused (not TLS, no common version, cipher or ALPN protocol); closed: the
 * connection closed first (the client left, or reset it).
 */
export type HandshakeOutcome = 'completed' | HandshakeFailure;
export type HandshakeFailure = 'timeout' | 'certificate' | 'protocol' | 'closed';
export const HANDSHAKE_FAILURES: readonly HandshakeFailure[] = ['timeout', 'certificate', 'protocol', 'closed'];

/** The failure a handshake error stands for, by its code (Node's, or OpenSSL's as Node names it). */
export function handshakeFailureOf(err: { readonly code?: string | undefined }): HandshakeFailure {
  const code = err.code ?? '';
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return 'timeout';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'closed';
  // OpenSSL's alerts (ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE, ERR_SSL_TLSV1_ALERT_UNKNOWN_CA,
  // ..._CERTIFICATE_EXPIRED, ..._CERTIFICATE_REQUIRED) and its own checks (ERR_SSL_BAD_SIGNATURE).
  if (/CERTIFICATE|UNKNOWN_CA|BAD_SIGNATURE/.test(code)) return 'certificate';
  return 'protocol';
}

interface Pending {
  readonly done: (outcome: HandshakeOutcome) => void;
  readonly secure: (socket: TLSSocket) => void;
}

/** The accepted socket Node keeps as `_parent` of the TLS socket it wraps. */
function parentOf(socket: TLSSocket): Socket | undefined {
  return (socket as unknown as { _parent?: Socket })._parent;
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
      const raw = parentOf(socket);
      const p = raw ? this.pending.get(raw) : undefined;
      if (!p || !raw) {
        socket.destroy();
        return;
      }
      this.pending.delete(raw);
      p.done('completed');
      p.secure(socket);
    });
    // A failed handshake closes its socket; the error (the client's) says why. A client that
    // closes first is seen by handshake() before its ECONNRESET comes here.
    this.engine.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      const raw = parentOf(socket);
      if (raw) this.pending.get(raw)?.done(handshakeFailureOf(err));
    });
  }

  /**
   * Runs the server side of a handshake on an accepted connection: `done` is called once, with
   * how it ended (completed, failed, or the connection closed); `secure` gets the TLS connection
   * when it completed.
   */
  handshake(socket: Socket, done: (outcome: HandshakeOutcome) => void, secure: (socket: TLSSocket) => void): void {
    let finished = false;
    const finish = (outcome: HandshakeOutcome) => {
      if (finished) return;
      finished = true;
      this.pending.delete(socket);
      done(outcome);
    };
    this.pending.set(socket, { done: finish, secure });
    socket.once('close', () => finish('closed'));
    this.engine.emit('connection', socket);
  }

  close(): void {
    this.unsubscribe();
  }
}
