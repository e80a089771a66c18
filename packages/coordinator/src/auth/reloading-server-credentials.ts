// gRPC server credentials whose certificates follow a CertificateSource: grpc-js swaps the TLS
// context of its listening sockets when `updateSecureContextOptions` is called, so rotated
// certificates apply to new connections without a restart.
import { ServerCredentials } from '@grpc/grpc-js';
import type { CertificateSet, CertificateSource } from '@lbha/shared';
import type { SecureContextOptions } from 'node:tls';

function contextOf(set: CertificateSet): SecureContextOptions {
  // With a CRL, a listed client certificate fails verification: grpc-js then hands the call no
  // certificate at all, so it is judged as a call without one.
  return { ca: set.ca, cert: set.cert, key: set.key, ...(set.crl ? { crl: set.crl } : {}) };
}

export class ReloadingServerCredentials extends ServerCredentials {
  private readonly unsubscribe: () => void;

  constructor(source: CertificateSource) {
    // A client certificate is requested but not required (a bearer token is the alternative),
    // so an unverified one gets through the handshake: peer-identity.ts verifies it before use.
    super({ requestCert: true, rejectUnauthorized: false }, contextOf(source.current));
    this.unsubscribe = source.onChange((set) => this.updateSecureContextOptions(contextOf(set)));
  }

  close(): void {
    this.unsubscribe();
  }

  override _equals(other: ServerCredentials): boolean {
    return other === this;
  }
}
