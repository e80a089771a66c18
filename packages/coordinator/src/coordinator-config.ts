import { hostname } from 'node:os';
import { durationMs, isInsecure, loadYamlFile, nameProblem, plaintextProblem, tlsSchema, type TlsConfig } from '@lbha/shared';
import { z } from 'zod';
import { authConfigSchema } from './auth/auth-config.js';
import { limitsConfigSchema } from './limits/limits-config.js';
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
        /**
         * Front processes that hold the agents' connections on the TCP addresses of `listen`
         * (their TLS, their PINGs) and relay agent streams to the coordinator; 0: the coordinator
         * holds them itself (docs/design/fronts.md).
         */
        fronts: z.number().int().min(0).max(64).default(0),
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
        /**
         * How often an agent whose liveness comes from its connection sends an HTTP/2 PING, told
         * in its Welcome. Unset: staleAfter / 2 (1.75 s by default), see pingIntervalMs in
         * connection-liveness.ts.
         */
        ping: durationMs({ min: 50, max: 600_000 }).optional(),
      })
      .strict()
      .default({}),
    /** Bearer tokens and the anonymous role (docs/design/auth.md). */
    auth: authConfigSchema,
    /** Where the coordinator keeps its state: `file` (stateDir, default) or `etcd` (several coordinators, docs/design/etcd.md). */
    store: storeConfigSchema,
    /** Where every event is POSTed as JSON (README, Webhooks). */
    webhooks: webhooksSchema,
    /** Connections, streams, request rates and failed authentications (docs/design/auth.md). */
    limits: limitsConfigSchema,
    /** How much of the event log and the audit trail the store keeps (the newest records). */
    history: z
      .object({
        events: z.number().int().min(100).max(10_000_000).default(50_000),
        audit: z.number().int().min(100).max(10_000_000).default(100_000),
      })
      .strict()
      .default({}),
    /** How `lbha drill` measures what clients see (docs/design/drill.md). */
    drill: z
      .object({
        probe: z
          .object({
            /** http: a GET on a fresh connection, any status below 500 answers; tcp: a connection established. */
            mode: z.enum(['http', 'tcp']).default('http'),
            port: z.number().int().min(1).max(65535).default(80),
            path: z.string().startsWith('/').max(1024).default('/'),
            /** The Host header; empty: the VIP's address. */
            host: z.string().max(253).default(''),
            interval: durationMs({ min: 5, max: 10_000 }).default(25),
            timeout: durationMs({ min: 10, max: 60_000 }).default(1000),
            /** Run this (an argument array; lbha-probe's options are appended) to probe from elsewhere; empty: the coordinator probes itself. */
            command: z.array(z.string().min(1)).default([]),
          })
          .strict()
          .default({}),
        /** How long each VIP stays on its standby (and at home again) while the probes go on. */
        hold: durationMs({ min: 0, max: 600_000 }).default(2000),
      })
      .strict()
      .default({}),
    log: z.object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info') }).strict().default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (isInsecure(c.tls) && !c.tls.allowNonLoopback) {
      const grpc = plaintextProblem(c.grpc.listen, 'grpc.listen');
      if (grpc) ctx.addIssue({ code: 'custom', path: ['grpc', 'listen'], message: grpc });
      const http = c.http ? plaintextProblem([c.http.listen], 'http.listen') : undefined;
      if (http) ctx.addIssue({ code: 'custom', path: ['http', 'listen'], message: http });
    }
    if (c.grpc.fronts > 0 && c.store.kind === 'etcd') {
      ctx.addIssue({ code: 'custom', path: ['grpc', 'fronts'], message: 'front processes are for a coordinator with the file store; with etcd, several coordinators share the agents (set 0)' });
    }
    if (c.grpc.fronts > 0 && c.grpc.listen.every((a) => a.startsWith('unix:'))) {
      ctx.addIssue({ code: 'custom', path: ['grpc', 'fronts'], message: 'the fronts hold the TCP addresses of grpc.listen, and it has none' });
    }
    if (c.heartbeat.staleAfter <= c.heartbeat.interval) {
      ctx.addIssue({ code: 'custom', path: ['heartbeat', 'staleAfter'], message: 'must be longer than heartbeat.interval' });
    }
    // A relayed agent's PING reaches the leader with the follower's next report, up to one
    // heartbeat interval later: both must fit in the stale window, or a live agent goes stale.
    if (c.heartbeat.ping !== undefined && c.heartbeat.ping + c.heartbeat.interval > c.heartbeat.staleAfter) {
      ctx.addIssue({
        code: 'custom',
        path: ['heartbeat', 'ping'],
        message: `${c.heartbeat.ping}ms plus heartbeat.interval (${c.heartbeat.interval}ms) must not exceed heartbeat.staleAfter (${c.heartbeat.staleAfter}ms): a PING relayed by another coordinator is reported up to one interval later`,
      });
    }
  });

export type CoordinatorConfig = z.output<typeof coordinatorConfigSchema> & { tls: TlsConfig };

export function loadCoordinatorConfig(file: string): CoordinatorConfig {
  return loadYamlFile(file, coordinatorConfigSchema);
}
