// TLS settings shared by every binary: mutual TLS from PEM files, or plaintext as an explicit opt-in.
// The schema is in tls-schema.ts, apart, so a binary that parses its configuration in another
// process (lbha-agent) does not load zod with these helpers.
import { readFileSync } from 'node:fs';
import { credentials as grpcCredentials, ServerCredentials, type ChannelCredentials } from '@grpc/grpc-js';
import { checkCoordinatorIdentity } from './coordinator-identity.js';
import type { TlsConfig } from './tls-schema.js';

export function isInsecure(tls: TlsConfig): tls is { insecure: true; allowNonLoopback?: boolean | undefined } {
  return 'insecure' in tls;
}

export interface TlsFiles {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export function readTlsFiles(tls: Exclude<TlsConfig, { insecure: true }>): TlsFiles {
  return { ca: readFileSync(tls.ca), cert: readFileSync(tls.cert), key: readFileSync(tls.key) };
}

/** Server credentials: mutual TLS (client certificates required) or plaintext. */
export function serverCredentials(tls: TlsConfig): ServerCredentials {
  if (isInsecure(tls)) return ServerCredentials.createInsecure();
  const f = readTlsFiles(tls);
  return ServerCredentials.createSsl(f.ca, [{ cert_chain: f.cert, private_key: f.key }], true);
}

/** Client credentials and channel options for dialling a server. */
export function clientCredentials(tls: TlsConfig): { credentials: ChannelCredentials; options: Record<string, string> } {
  if (isInsecure(tls)) return { credentials: grpcCredentials.createInsecure(), options: {} };
  const f = readTlsFiles(tls);
  return {
    // The server must be a coordinator, not merely hold a certificate from the same CA.
    credentials: grpcCredentials.createSsl(f.ca, f.key, f.cert, { checkServerIdentity: checkCoordinatorIdentity }),
    options: tls.serverName ? { 'grpc.ssl_target_name_override': tls.serverName, 'grpc.default_authority': tls.serverName } : {},
  };
}
