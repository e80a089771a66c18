// TLS settings shared by every binary: mutual TLS from PEM files, or plaintext as an explicit opt-in.
import { readFileSync } from 'node:fs';
import { credentials as grpcCredentials, ServerCredentials, type ChannelCredentials } from '@grpc/grpc-js';
import { z } from 'zod';
import { checkCoordinatorIdentity } from './coordinator-identity.js';
import { loosePermissions } from './file-permissions.js';

export const tlsSchema = z.union([
  z
    .object({
      ca: z.string().min(1),
      cert: z.string().min(1),
      key: z.string().min(1),
      /** Name expected in the server certificate when it differs from the dialled host. */
      serverName: z.string().min(1).optional(),
      /**
       * A certificate revocation list (PEM, one CRL per CA of the bundle): the coordinator
       * refuses client certificates it lists. Re-read like the certificates.
       */
      crl: z.string().min(1).optional(),
      /**
       * Accept a key file other users can read (logged as a warning). Off by default: such a
       * key must be considered leaked.
       */
      allowLooseKeyPermissions: z.boolean().optional(),
    })
    .strict()
    .superRefine((t, ctx) => {
      const loose = t.allowLooseKeyPermissions ? undefined : loosePermissions(t.key);
      if (loose) ctx.addIssue({ code: 'custom', path: ['key'], message: `${loose} (or set allowLooseKeyPermissions: true)` });
    }),
  z
    .object({
      insecure: z.literal(true),
      /**
       * Plaintext is refused on anything but loopback and unix sockets unless this is set too:
       * on a network, anyone can then read tokens and states, and speak for any agent.
       */
      allowNonLoopback: z.boolean().optional(),
    })
    .strict(),
]);

export type TlsConfig = z.output<typeof tlsSchema>;

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
