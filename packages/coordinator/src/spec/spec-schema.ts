// The YAML shape of the cluster spec (snake_case, as operators write it) and its translation
// into the validated Spec. Structural checks live in the zod schema; rules that relate fields
// to each other (VRIDs per segment, subnets, references) are in spec-rules.ts and run as a
// refinement, so every problem is reported with its field path and line.
import { durationMs, interfaceProblem, MAX_PENALTY, nameProblem, parseCidr, type CheckParams, type CheckSpec } from '@lbha/shared';
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import { MAX_BASE_PRIORITY } from '../priority-scheme.js';
import { backendsSchema, toBackends } from './backends-schema.js';
import { clusterReadinessSchema, toReadinessProbe, vipReadinessSchema, type ClusterReadiness } from './readiness-schema.js';
import type { ClusterPolicy, ClusterSpec, Failback, NodeSpec, ProxyService, Spec, VipSpec } from './cluster-spec.js';
import { SPEC_LIMITS as L, tooMany } from './spec-limits.js';
import { specProblems } from './spec-rules.js';

const name = z.string().superRefine((v, ctx) => {
  const p = nameProblem(v);
  if (p) ctx.addIssue({ code: 'custom', message: p });
});

const ifaceName = z.string().superRefine((v, ctx) => {
  const p = interfaceProblem(v);
  if (p) ctx.addIssue({ code: 'custom', message: p });
});

const ipAddress = z.string().refine((v) => isIPv4(v) || isIPv6(v), (v) => ({ message: `${JSON.stringify(v)} is not an IP address` }));

const cidr = z.string().superRefine((v, ctx) => {
  const c = parseCidr(v);
  if (typeof c === 'string') ctx.addIssue({ code: 'custom', message: c });
});

/** A VIP address: "a.b.c.d/nn", or a bare address meaning a host route (/32 or /128), as keepalived reads it. */
const vipAddress = z.string().superRefine((v, ctx) => {
  const c = parseCidr(v.includes('/') ? v : `${v}/${isIPv6(v) ? 128 : 32}`);
  if (typeof c === 'string') ctx.addIssue({ code: 'custom', message: c });
});

const int = (min: number, max: number, what = 'value') =>
  z
    .number({ invalid_type_error: 'must be a number' })
    .int('must be a whole number')
    .min(min, `${what} must be between ${min} and ${max}`)
    .max(max, `${what} must be between ${min} and ${max}`);

const commonCheck = {
  name,
  interval: durationMs({ min: 10, max: 3_600_000 }).default('1s'),
  timeout: durationMs({ min: 1, max: 3_600_000 }).optional(),
  fall: int(1, 100, 'fall').default(1),
  rise: int(1, 100, 'rise').default(1),
  effect: z.enum(['fault', 'penalty', 'none']).default('fault'),
  penalty: int(0, MAX_PENALTY, 'penalty').default(0),
};

const checkSchema = z.discriminatedUnion('kind', [
  z.object({ ...commonCheck, kind: z.literal('process'), service: name.optional() }).strict(),
  z
    .object({
      ...commonCheck,
      kind: z.literal('http'),
      url: z
        .string()
        .url('must be a URL, e.g. http://127.0.0.1/health')
        .refine((u) => /^https?:\/\//.test(u), 'must be an http:// or https:// URL'),
      method: z.enum(['GET', 'HEAD']).default('GET'),
      host: z.string().max(253).regex(/^[^\r\n]*$/, 'must not contain line breaks').default(''),
      expect_status: int(100, 599, 'expect_status').default(200),
      body_contains: z.string().max(1024).default(''),
      tls_verify: z.boolean().default(true),
    })
    .strict(),
  z.object({ ...commonCheck, kind: z.literal('tcp'), host: ipAddress.default('127.0.0.1'), port: int(1, 65535, 'port') }).strict(),
  z.object({ ...commonCheck, kind: z.literal('interface'), interface: ifaceName }).strict(),
  z
    .object({
      ...commonCheck,
      kind: z.literal('maintenance_file'),
      path: z
        .string()
        .regex(/^\/[^\0]*$/, 'must be an absolute path')
        .refine((p) => !p.split('/').includes('..'), 'must not contain ".."'),
    })
    .strict(),
  z.object({ ...commonCheck, kind: z.literal('config'), service: name.optional() }).strict(),
]);

type RawCheck = z.output<typeof checkSchema>;

const authPass = z
  .string()
  .max(64, 'at most 64 characters (keepalived uses the first 8)')
  .regex(/^[\x21-\x7e]*$/, 'printable characters without spaces only')
  .refine((v) => !/["\\]/.test(v), 'must not contain quotes or backslashes');

const policySchema = z
  .object({
    failback: z.enum(['immediate', 'hold_down', 'never']).default('immediate'),
    hold_down: durationMs({ min: 0, max: 86_400_000 }).default('30s'),
    // default: 100 ms adverts; fast: 20 ms adverts and keepalived scheduled in real time
    // (docs/design/unplanned-failover.md has the detection times and spurious failover rates).
    timing: z.enum(['default', 'fast']).default('default'),
    advert_interval: durationMs({ min: 10, max: 40_950 }).optional(),
    vrrp_version: z.union([z.literal(2), z.literal(3)], { errorMap: () => ({ message: 'must be 2 or 3' }) }).default(3),
    transport: z.enum(['multicast', 'unicast']).default('multicast'),
    mcast_group: z.string().default('224.0.0.18'),
    auth_pass: authPass.default(''),
    base_priority: int(1, MAX_BASE_PRIORITY, 'base_priority').default(100),
    // The handover window of a planned move: the old holder keeps answering its open connections;
    // the window ends when they are gone and is extended while some are open (at most an hour). 0: off.
    handover: durationMs({ min: 0, max: 3_600_000 }).default('30s'),
    // Routers that are not nodes advertising the cluster's VRIDs: report them, or also drop their
    // adverts and outbid them from the VIP's holder (docs/design/vrrp-edges.md).
    foreign_routers: z.enum(['report', 'block']).default('report'),
  })
  .strict();

const interfaceSchema = z.object({ name: ifaceName, address: cidr.optional() }).strict();

const nodeSchema = z
  .object({
    name,
    addresses: z.array(ipAddress).max(L.addressesPerNode, tooMany('addresses per node', L.addressesPerNode)).default([]),
    interfaces: z
      .array(interfaceSchema)
      .min(1, 'a node needs at least one interface')
      .max(L.interfacesPerNode, tooMany('interfaces per node', L.interfacesPerNode)),
  })
  .strict();

const vipSchema = z
  .object({
    name,
    address: vipAddress,
    interface: ifaceName,
    vrid: int(1, 255, 'vrid'),
    home: name.optional(),
    group: name.optional(),
    track_interfaces: z.array(ifaceName).max(L.trackInterfaces, tooMany('tracked interfaces', L.trackInterfaces)).optional(),
    // keepalived's auth_pass is per vrrp_instance; this overrides the cluster's policy.auth_pass.
    auth_pass: authPass.optional(),
    // Overrides the cluster's readiness probe for this VIP (where its proxy listens, or off).
    readiness: vipReadinessSchema,
  })
  .strict();

const clusterSchema = z
  .object({
    name,
    service: z.enum(['nginx', 'haproxy']),
    policy: policySchema.default({}),
    track_interfaces: z.array(ifaceName).max(L.trackInterfaces, tooMany('tracked interfaces', L.trackInterfaces)).default([]),
    nodes: z
      .array(nodeSchema)
      .min(1, 'a cluster needs at least one node')
      .max(L.nodesPerCluster, tooMany('nodes per cluster', L.nodesPerCluster)),
    vips: z.array(vipSchema).max(L.vipsPerCluster, tooMany('VIPs per cluster', L.vipsPerCluster)).default([]),
    checks: z.array(checkSchema).max(L.checksPerCluster, tooMany('checks per cluster', L.checksPerCluster)).default([]),
    backends: backendsSchema,
    // How standbys prove they would serve each VIP (docs/design/standby-readiness.md).
    readiness: clusterReadinessSchema,
  })
  .strict();

function toCheck(c: RawCheck, service: ProxyService): CheckSpec {
  let params: CheckParams;
  switch (c.kind) {
    case 'process':
      params = { kind: 'process', service: c.service ?? service };
      break;
    case 'config':
      params = { kind: 'config', service: c.service ?? service };
      break;
    case 'http':
      params = {
        kind: 'http',
        url: c.url,
        method: c.method,
        host: c.host,
        expectStatus: c.expect_status,
        bodyContains: c.body_contains,
        tlsVerify: c.tls_verify,
      };
      break;
    case 'tcp':
      params = { kind: 'tcp', host: c.host, port: c.port };
      break;
    case 'interface':
      params = { kind: 'interface', interface: c.interface };
      break;
    case 'maintenance_file':
      params = { kind: 'maintenance_file', path: c.path };
      break;
  }
  return {
    name: c.name,
    intervalMs: c.interval,
    // A check may not run longer than its interval; by default it gets all of it.
    timeoutMs: c.timeout ?? c.interval,
    fall: c.fall,
    rise: c.rise,
    effect: c.effect,
    penalty: c.penalty,
    params,
  };
}

/** The advert interval of each timing profile, unless the spec sets one. */
const TIMING_ADVERT_MS = { default: 100, fast: 20 } as const;

function toPolicy(p: z.output<typeof policySchema>): ClusterPolicy {
  const failback: Failback =
    p.failback === 'hold_down' ? { kind: 'hold_down', holdDownMs: p.hold_down } : { kind: p.failback };
  return {
    failback,
    advertIntervalMs: p.advert_interval ?? TIMING_ADVERT_MS[p.timing],
    timing: p.timing,
    vrrpVersion: p.vrrp_version,
    transport: p.transport,
    mcastGroup: p.mcast_group,
    authPass: p.auth_pass,
    basePriority: p.base_priority,
    handoverMs: p.handover,
    foreignRouters: p.foreign_routers,
  };
}

function toVip(v: z.output<typeof vipSchema>, clusterTrack: readonly string[], readiness: ClusterReadiness): VipSpec {
  const text = v.address.includes('/') ? v.address : `${v.address}/${isIPv6(v.address) ? 128 : 32}`;
  const c = parseCidr(text);
  if (typeof c === 'string') throw new Error(`bug: VIP address passed the schema but does not parse: ${c}`);
  return {
    name: v.name,
    address: c.address,
    prefix: c.prefix,
    cidr: `${c.address}/${c.prefix}`,
    interface: v.interface,
    vrid: v.vrid,
    home: v.home ?? null,
    group: v.group ?? '',
    trackInterfaces: v.track_interfaces ?? clusterTrack,
    authPass: v.auth_pass ?? null,
    readiness: toReadinessProbe(readiness, v.readiness, c.address),
  };
}

function toNode(n: z.output<typeof nodeSchema>): NodeSpec {
  const ifaceAddresses = n.interfaces.flatMap((i) => (i.address ? [i.address.slice(0, i.address.indexOf('/'))] : []));
  return {
    name: n.name,
    addresses: [...ifaceAddresses, ...n.addresses.filter((a) => !ifaceAddresses.includes(a))],
    interfaces: n.interfaces.map((i) => ({ name: i.name, address: i.address ?? null })),
  };
}

function toCluster(c: z.output<typeof clusterSchema>): ClusterSpec {
  return {
    name: c.name,
    service: c.service,
    policy: toPolicy(c.policy),
    nodes: c.nodes.map(toNode),
    vips: c.vips.map((v) => toVip(v, c.track_interfaces, c.readiness)),
    checks: c.checks.map((x) => toCheck(x, c.service)),
    trackInterfaces: c.track_interfaces,
    backends: toBackends(c.backends),
  };
}

/** The whole document: parses, fills defaults, then applies the cross-field rules. */
export const specSchema = z
  .object({ clusters: z.array(clusterSchema).max(L.clusters, tooMany('clusters', L.clusters)).default([]) })
  .strict()
  .transform((doc): Spec => ({ clusters: doc.clusters.map(toCluster) }))
  .superRefine((spec, ctx) => {
    const nodes = spec.clusters.reduce((n, c) => n + c.nodes.length, 0);
    const vips = spec.clusters.reduce((n, c) => n + c.vips.length, 0);
    if (nodes > L.nodes) return ctx.addIssue({ code: 'custom', path: ['clusters'], message: `${tooMany('nodes in all clusters together', L.nodes)} (found ${nodes})` });
    if (vips > L.vips) return ctx.addIssue({ code: 'custom', path: ['clusters'], message: `${tooMany('VIPs in all clusters together', L.vips)} (found ${vips})` });
    for (const p of specProblems(spec)) ctx.addIssue({ code: 'custom', path: [...p.path], message: p.message });
  });
