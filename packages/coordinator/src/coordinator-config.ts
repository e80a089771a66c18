import { hostname } from 'node:os';
import { durationMs, loadYamlFile, nameProblem, tlsSchema, type TlsConfig } from '@lbha/shared';
import { z } from 'zod';
import { authConfigSchema } from './auth/auth-config.js';
import { webhooksSchema } from './webhooks/webhook-config.js';
import { storeConfigSchema } from './etcd/etcd-config.js';

const name = z.string().superRefine((v, ctx) => {
  const p = nameProblem(v);
  if (p) ctx.addIssue({ code: 'custom', message: p });
});

export const coordinatorConfigSchema = z
  .object({
    /** Identity of this coordinator in logs, events and Welcome messages. */
    id: name.default(() => hostname().toLowerCase().replace(/[^a-z0-9._-]/g, '-') || 'coordinator'),
    grpc: z
      .object({
        /** host:port or unix:///path addresses; port 0 picks a free port. */
        listen: z.array(z.string().min(1)).min(1),
        maxMessageBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(4 * 1024 * 1024),
      })
      .strict(),
    http: z.object({ listen: z.string().min(1) }).strict().optional(),
    tls: tlsSchema,
    /** Path of the cluster spec (YAML) loaded at start when the store holds none. */
    spec: z.string().min(1).optional(),
    stateDir: z.string().min(1).default('/var/lib/lbha/coordinator'),
    heartbeat: z
      .object({
        interval: durationMs({ min: 50, max: 60_000 }).default(1000),
        staleAfter: durationMs({ min: 100, max: 600_000 }).default(3500),
      })
      .strict()
      .default({}),
    /** Bearer tokens and the anonymous role (docs/design/auth.md). */
    auth: authConfigSchema,
    /** Where the coordinator keeps its state: `file` (stateDir, default) or `etcd` (several coordinators, docs/design/etcd.md). */
    store: storeConfigSchema,
    /** Where every event is POSTed as JSON (README, Webhooks). */
    webhooks: webhooksSchema,
    log: z.object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info') }).strict().default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.heartbeat.staleAfter <= c.heartbeat.interval) {
      ctx.addIssue({ code: 'custom', path: ['heartbeat', 'staleAfter'], message: 'must be longer than heartbeat.interval' });
    }
  });

export type CoordinatorConfig = z.output<typeof coordinatorConfigSchema> & { tls: TlsConfig };

export function loadCoordinatorConfig(file: string): CoordinatorConfig {
  return loadYamlFile(file, coordinatorConfigSchema);
}
