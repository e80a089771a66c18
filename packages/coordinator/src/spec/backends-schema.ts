// The `backends` section of a cluster (YAML shape, snake_case) and its translation: the pools
// whose servers lbha renders for nginx, the fewest healthy servers an operation may leave in a
// pool, how often agents report, and what may differ between the LB nodes' configurations.
// Rules that need the cluster's service are in backend-rules.ts.
import { durationMs, serverAddressProblem, serverNameProblem, type DesiredPoolServer } from '@lbha/shared';
import { z } from 'zod';
import type { BackendsSpec, PoolSpec } from './cluster-spec.js';
import { SPEC_LIMITS as L, tooMany } from './spec-limits.js';

const serverName = z.string().superRefine((v, ctx) => {
  const p = serverNameProblem(v);
  if (p) ctx.addIssue({ code: 'custom', message: p });
});

const serverAddress = z.string().superRefine((v, ctx) => {
  const p = serverAddressProblem(v);
  if (p) ctx.addIssue({ code: 'custom', message: p });
});

const count = (max: number) => z.number({ invalid_type_error: 'must be a number' }).int('must be a whole number').min(0, 'must not be negative').max(max, `must be at most ${max}`);

const poolServerSchema = z
  .object({
    name: serverName,
    address: serverAddress,
    weight: count(1000).refine((w) => w !== 0, 'nginx weights start at 1').optional(),
    // Unset: not rendered (nginx's default, 1); 0: nginx never marks the server failed.
    max_fails: count(1000).optional(),
    // Unset: not rendered (nginx's default, 10s). nginx takes whole seconds here.
    fail_timeout: durationMs({ min: 0, max: 86_400_000 })
      .refine((ms) => ms % 1000 === 0, 'nginx takes fail_timeout in whole seconds')
      .optional(),
    max_conns: count(1_000_000).default(0),
    backup: z.boolean().default(false),
  })
  .strict();

const poolSchema = z
  .object({
    name: serverName,
    min_healthy: count(1000).optional(),
    // The upstream block has a `zone` (lbha cannot see it): nginx's workers share the servers'
    // failure state. Says so; renders nothing (spec-warnings.ts warns without it).
    shared_zone: z.boolean().default(false),
    servers: z.array(poolServerSchema).max(L.serversPerPool, tooMany('servers per pool', L.serversPerPool)).default([]),
  })
  .strict();

const absolutePath = z
  .string()
  .regex(/^\/[^\0\n\r]*$/, 'must be an absolute path')
  .refine((p) => !p.split('/').includes('..'), 'must not contain ".."');

const directive = z.string().regex(/^[a-z0-9_.-]+( [a-z0-9_.-]+){0,2}$/, 'a directive: one to three lower-case words, e.g. pid or "stats socket"');

export const backendsSchema = z
  .object({
    // The fewest servers of a pool that must stay ready, weighted and not down; 0 turns the interlock off.
    min_healthy: count(1000).default(1),
    report_interval: durationMs({ min: 200, max: 3_600_000 }).default('5s'),
    pools: z.array(poolSchema).max(L.poolsPerCluster, tooMany('pools per cluster', L.poolsPerCluster)).default([]),
    drift: z
      .object({
        ignore: z.array(directive).max(L.driftEntries, tooMany('ignored directives', L.driftEntries)).default([]),
        files: z.array(absolutePath).max(L.driftEntries, tooMany('files', L.driftEntries)).default([]),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

function toPoolServer(s: z.output<typeof poolServerSchema>): DesiredPoolServer {
  return { name: s.name, address: s.address, weight: s.weight ?? 0, maxFails: s.max_fails ?? null, failTimeoutMs: s.fail_timeout ?? null, maxConns: s.max_conns, backup: s.backup };
}

export function toBackends(b: z.output<typeof backendsSchema>): BackendsSpec {
  const pools: PoolSpec[] = b.pools.map((p) => ({ name: p.name, minHealthy: p.min_healthy ?? b.min_healthy, sharedZone: p.shared_zone, servers: p.servers.map(toPoolServer) }));
  return { minHealthy: b.min_healthy, reportIntervalMs: b.report_interval, pools, driftIgnore: b.drift.ignore, driftFiles: b.drift.files };
}
