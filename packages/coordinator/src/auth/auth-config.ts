// The `auth` section of the coordinator configuration: bearer tokens (stored as hashes, never
// in plaintext) and what an unauthenticated caller may do (nothing, unless opted in).
import { createHash } from 'node:crypto';
import { nameProblem } from '@lbha/shared';
import { z } from 'zod';

const name = z.string().superRefine((v, ctx) => {
  const p = nameProblem(v);
  if (p) ctx.addIssue({ code: 'custom', message: p });
});

export const tokenSchema = z
  .object({
    /** Recorded in the event log as `token:<name>`. */
    name,
    role: z.enum(['operator', 'read-only']),
    /** Hex SHA-256 of the token: `printf %s "$TOKEN" | sha256sum`. */
    sha256: z
      .string()
      .transform((s) => s.toLowerCase())
      .pipe(z.string().regex(/^[0-9a-f]{64}$/, 'must be the hex SHA-256 of the token (64 hex digits)')),
  })
  .strict();

export const authConfigSchema = z
  .object({
    tokens: z.array(tokenSchema).default([]),
    /**
     * Role of callers without credentials. `none` (the default) refuses them. Anything else is
     * meant for a plaintext demo on loopback and is logged as a warning at start.
     */
    anonymous: z.enum(['none', 'read-only', 'operator']).default('none'),
  })
  .strict()
  .default({})
  .superRefine((a, ctx) => {
    const seen = new Map<string, number>();
    a.tokens.forEach((t, i) => {
      const first = seen.get(t.name);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['tokens', i, 'name'], message: `token name ${t.name} is already used by tokens[${first}]` });
      else seen.set(t.name, i);
    });
  });

export type AuthConfig = z.output<typeof authConfigSchema>;
export type TokenConfig = z.output<typeof tokenSchema>;

/** The hash stored in the configuration for a token. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}
