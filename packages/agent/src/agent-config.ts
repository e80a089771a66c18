import { durationMs, loadYamlFile, nameProblem, tlsSchema } from '@lbha/shared';
import { z } from 'zod';

const name = z.string().superRefine((v, ctx) => {
  const p = nameProblem(v);
  if (p) ctx.addIssue({ code: 'custom', message: p });
});

export const agentConfigSchema = z
  .object({
    /** This node's name; must match the cluster spec (and, with TLS, the certificate). */
    node: name,
    cluster: name,
    coordinator: z
      .object({
        /** host:port or unix:///path; tried in order, the next one after a failure. */
        addresses: z.array(z.string().min(1)).min(1),
        backoff: z
          .object({
            initial: durationMs({ min: 10, max: 60_000 }).default(200),
            max: durationMs({ min: 100, max: 600_000 }).default(10_000),
          })
          .strict()
          .default({}),
      })
      .strict(),
    tls: tlsSchema,
    stateDir: z.string().min(1).default('/var/lib/lbha/agent'),
    log: z.object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info') }).strict().default({}),
  })
  .strict();

export type AgentConfig = z.output<typeof agentConfigSchema>;

export function loadAgentConfig(file: string): AgentConfig {
  return loadYamlFile(file, agentConfigSchema);
}
