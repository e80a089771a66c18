// The `readiness` sections of the cluster spec (YAML shape) and their translation: how each node
// proves it would serve a VIP it does not hold (docs/design/standby-readiness.md). The cluster's
// section sets the probe and its timing for every VIP; a VIP's own section overrides where it
// listens (port, connect address, Host, path) or turns the probe off for that VIP.
import { durationMs, type ReadinessProbe } from '@lbha/shared';
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';

const int = (min: number, max: number, what: string) =>
  z
    .number({ invalid_type_error: 'must be a number' })
    .int('must be a whole number')
    .min(min, `${what} must be between ${min} and ${max}`)
    .max(max, `${what} must be between ${min} and ${max}`);

const where = {
  probe: z.enum(['http', 'tcp', 'off']).optional(),
  port: int(1, 65535, 'port').optional(),
  connect: z
    .string()
    .refine((v) => isIPv4(v) || isIPv6(v), (v) => ({ message: `${JSON.stringify(v)} is not an IP address` }))
    .optional(),
  host: z.string().max(253).regex(/^[^\r\n\s]*$/, 'must not contain blanks or line breaks').optional(),
  path: z.string().max(1024).regex(/^\/\S*$/, 'must start with / and contain no blanks').optional(),
};

export const vipReadinessSchema = z.object(where).strict().optional();

export const clusterReadinessSchema = z
  .object({
    ...where,
    interval: durationMs({ min: 100, max: 3_600_000 }).default('2s'),
    timeout: durationMs({ min: 10, max: 3_600_000 }).default('1s'),
    fall: int(1, 100, 'fall').default(1),
    rise: int(1, 100, 'rise').default(2),
  })
  .strict()
  .default({});

export type ClusterReadiness = z.output<typeof clusterReadinessSchema>;
export type VipReadinessOverride = z.output<typeof vipReadinessSchema>;

/** The probe of one VIP with every default filled; null when the probe is off. */
export function toReadinessProbe(cluster: ClusterReadiness, vip: VipReadinessOverride, address: string): ReadinessProbe | null {
  const kind = vip?.probe ?? cluster.probe ?? 'http';
  if (kind === 'off') return null;
  const v6 = isIPv6(address);
  return {
    kind,
    port: vip?.port ?? cluster.port ?? 80,
    // The proxy's wildcard listener answers on loopback on a node that does not hold the VIP.
    connect: vip?.connect ?? cluster.connect ?? (v6 ? '::1' : '127.0.0.1'),
    host: vip?.host ?? cluster.host ?? (v6 ? `[${address}]` : address),
    path: vip?.path ?? cluster.path ?? '/',
    intervalMs: cluster.interval,
    timeoutMs: cluster.timeout,
    fall: cluster.fall,
    rise: cluster.rise,
  };
}
