// The TLS section of a configuration file (tls-config.ts has the helpers that use it): mutual
// TLS from PEM files, or plaintext as an explicit opt-in.
import { z } from 'zod';
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
