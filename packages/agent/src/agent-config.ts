// The agent's YAML configuration: who it is, where the coordinator is, and what it supervises
// on this node. Every path can be set per node, so several agents run on one host (one per
// network namespace) without sharing a file. Documented field by field in ../README.md.
import { durationMs, isInsecure, loadYamlFile, nameProblem, plaintextProblem, tlsSchema } from '@lbha/shared';
import { z } from 'zod';

const name = z.string().superRefine((v, ctx) => {
  const p = nameProblem(v);
  if (p) ctx.addIssue({ code: 'custom', message: p });
});

const absolutePath = z
  .string()
  .min(1)
  .refine((p) => p.startsWith('/') && !/[\0\n"\\]/.test(p), { message: 'must be an absolute path without quotes, backslashes or line breaks' });

/** A program: an absolute path, or a bare name looked up in PATH. */
const program = z
  .string()
  .min(1)
  .refine((p) => (p.startsWith('/') || !p.includes('/')) && !/[\0\n\s;&|`$<>"'\\]/.test(p), { message: 'must be an absolute path or a program name' });

const supervisor = z.enum(['direct', 'systemd']);

const listenAddress = z
  .string()
  .refine((v) => v === '' || /^(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}$/.test(v), { message: 'must be host:port (or "" to disable)' });

const serviceSchema = z
  .object({
    /** nginx or haproxy; defaults to the service's name when that is one of them. */
    kind: z.enum(['nginx', 'haproxy']).optional(),
    supervisor: supervisor.default('direct'),
    binary: program.optional(),
    configFile: absolutePath,
    /** nginx only: -p prefix. */
    prefix: absolutePath.optional(),
    /** nginx only: -e FILE, the error log used before the config is read. */
    errorLog: absolutePath.optional(),
    /** nginx only: stub_status URL for active connections and requests. */
    statusUrl: z.string().url().optional(),
    /** haproxy only: stats socket (`stats socket` in haproxy.cfg). */
    statsSocket: absolutePath.optional(),
    /** systemd supervisor: unit name. */
    unit: z.string().min(1).optional(),
    /** direct supervisor: the agent's record of the running daemon. */
    pidFile: absolutePath.optional(),
    /** direct supervisor: the daemon's stdout/stderr. */
    logFile: absolutePath.optional(),
    /** Start it when the agent starts and it is not running (default true). */
    autoStart: z.boolean().default(true),
    /** nginx only: where the managed upstream includes live (default <stateDir>/nginx-upstreams). */
    upstreamsDir: absolutePath.optional(),
    /** haproxy only: the `server-state-file` of haproxy.cfg, kept current by the agent. */
    serverStateFile: absolutePath.optional(),
  })
  .strict();

const keepalivedSchema = z
  .object({
    supervisor: supervisor.default('direct'),
    binary: program.default('keepalived'),
    configFile: absolutePath.optional(),
    pidFile: absolutePath.optional(),
    vrrpPidFile: absolutePath.optional(),
    notifyFifo: absolutePath.optional(),
    trackDir: absolutePath.optional(),
    logFile: absolutePath.optional(),
    agentPidFile: absolutePath.optional(),
    unit: z.string().min(1).default('keepalived.service'),
    routerId: name.optional(),
  })
  .strict();

const supervisionSchema = z
  .object({
    restartGrace: durationMs({ min: 0, max: 60_000 }).default(500),
    backoffInitial: durationMs({ min: 10, max: 60_000 }).default(200),
    backoffMax: durationMs({ min: 100, max: 600_000 }).default(5_000),
    stableAfter: durationMs({ min: 0, max: 3_600_000 }).default(10_000),
    startupWindow: durationMs({ min: 0, max: 10_000 }).default(150),
    stopTimeout: durationMs({ min: 100, max: 600_000 }).default(10_000),
    pollInterval: durationMs({ min: 10, max: 10_000 }).default(100),
    /** A proxy hung this long is killed and restarted in place; 0: left hung. */
    hungRestartAfter: durationMs({ min: 0, max: 3_600_000 }).default(2_000),
  })
  .strict();

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
            /** Longest delay after the coordinator refused a stream (authentication, limits). */
            max: durationMs({ min: 100, max: 600_000 }).default(10_000),
            /**
             * Longest delay while the coordinator cannot be reached (restarting, network): an
             * attempt then costs it nothing, and a short ceiling brings the fleet back soon after
             * a restart (reconnect-delay.ts). Never more than `max`.
             */
            maxUnreachable: durationMs({ min: 100, max: 600_000 }).default(2_000),
          })
          .strict()
          .default({}),
      })
      .strict(),
    tls: tlsSchema,
    stateDir: absolutePath.default('/var/lib/lbha/agent'),
    runtimeDir: absolutePath.default('/run/lbha/agent'),
    log: z.object({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info') }).strict().default({}),
    metrics: z.object({ listen: listenAddress.default('127.0.0.1:9946') }).strict().default({}),
    keepalived: keepalivedSchema.default({}),
    services: z.record(name, serviceSchema).default({}),
    supervision: supervisionSchema.default({}),
    programs: z.object({ ip: program.default('ip'), systemctl: program.default('systemctl'), nft: program.default('nft'), ss: program.default('ss'), perl: program.default('perl') }).strict().default({}),
    /** Stop nginx/haproxy/keepalived when the agent exits on SIGTERM (default: leave them running). */
    stopServicesOnExit: z.boolean().default(false),
  })
  .strict()
  .superRefine((c, ctx) => {
    // A plaintext stream over a network gives the node's VRRP passwords to any listener.
    const plain = isInsecure(c.tls) && !c.tls.allowNonLoopback ? plaintextProblem(c.coordinator.addresses, 'coordinator.addresses') : undefined;
    if (plain) ctx.addIssue({ code: 'custom', path: ['coordinator', 'addresses'], message: plain });
    // The agent serves no TLS client: a revocation list would check nothing here.
    if (!isInsecure(c.tls) && c.tls.crl) ctx.addIssue({ code: 'custom', path: ['tls', 'crl'], message: 'only the coordinator checks certificates against a revocation list; remove it here' });
    for (const [svc, s] of Object.entries(c.services)) {
      const kind = s.kind ?? (svc === 'nginx' || svc === 'haproxy' ? svc : undefined);
      if (!kind) ctx.addIssue({ code: 'custom', path: ['services', svc, 'kind'], message: `set kind (nginx or haproxy) for service ${JSON.stringify(svc)}` });
      if (svc === 'keepalived') ctx.addIssue({ code: 'custom', path: ['services', svc], message: 'keepalived is configured in the keepalived section' });
      if (s.supervisor === 'systemd' && !s.unit && !kind) ctx.addIssue({ code: 'custom', path: ['services', svc, 'unit'], message: 'missing' });
      if (kind === 'haproxy' && (s.prefix || s.statusUrl || s.errorLog)) ctx.addIssue({ code: 'custom', path: ['services', svc], message: 'prefix, errorLog and statusUrl are nginx settings' });
      if (kind === 'nginx' && s.statsSocket) ctx.addIssue({ code: 'custom', path: ['services', svc, 'statsSocket'], message: 'statsSocket is a haproxy setting' });
      if (kind === 'nginx' && s.serverStateFile) ctx.addIssue({ code: 'custom', path: ['services', svc, 'serverStateFile'], message: 'serverStateFile is a haproxy setting' });
      if (kind === 'haproxy' && s.upstreamsDir) ctx.addIssue({ code: 'custom', path: ['services', svc, 'upstreamsDir'], message: 'upstreamsDir is an nginx setting' });
    }
  });

export type AgentConfig = z.output<typeof agentConfigSchema>;

export function loadAgentConfig(file: string): AgentConfig {
  return loadYamlFile(file, agentConfigSchema);
}
