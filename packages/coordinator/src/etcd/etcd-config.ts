// The `store:` section of the coordinator configuration: the embedded file store (default) or
// etcd, for running several coordinators with one leader (docs/design/etcd.md).
import { durationMs, loosePermissions } from '@lbha/shared';
import { z } from 'zod';

const endpoint = z
  .string()
  .regex(/^https?:\/\/[^/\s]+:\d+\/?$/, 'must be http://host:port or https://host:port');

const etcdTlsSchema = z
  .object({
    /** CA bundle that signed the etcd members' certificates. */
    ca: z.string().min(1),
    /** Client certificate and key, when etcd requires client certificates. */
    cert: z.string().min(1).optional(),
    key: z.string().min(1).optional(),
    /** Accept a key file other users can read; refused by default (such a key has leaked). */
    allowLooseKeyPermissions: z.boolean().optional(),
  })
  .strict()
  .superRefine((t, ctx) => {
    if ((t.cert === undefined) !== (t.key === undefined)) {
      ctx.addIssue({ code: 'custom', path: [t.cert === undefined ? 'cert' : 'key'], message: 'cert and key go together' });
    }
    const loose = t.key === undefined || t.allowLooseKeyPermissions ? undefined : loosePermissions(t.key);
    if (loose) ctx.addIssue({ code: 'custom', path: ['key'], message: `${loose} (or set allowLooseKeyPermissions: true)` });
  });

const etcdStoreObjectSchema = z
  .object({
    kind: z.literal('etcd'),
    endpoints: z.array(endpoint).min(1),
    /** Every key lbha writes starts with this; several lbha installations can share one etcd. */
    prefix: z
      .string()
      .regex(/^\/([a-zA-Z0-9._-]+\/)*$/, 'must start and end with "/" (e.g. /lbha/)')
      .default('/lbha/'),
    tls: etcdTlsSchema.optional(),
    /**
     * TTL of the coordinator's etcd lease. A dead leader is replaced about this long after it
     * stops; etcd counts leases in whole seconds, so the value is rounded up to a second.
     */
    leaseTtl: durationMs({ min: 1000, max: 300_000 }).default(5000),
    /** Deadline of every etcd request. */
    requestTimeout: durationMs({ min: 50, max: 60_000 }).default(1000),
    /**
     * etcd's --max-request-bytes (1.5 MiB unless etcd was started with more): no write is sent
     * larger; the spec is stored in pieces under it. At least 1 MiB, so that a spec of the
     * largest size is at most 33 pieces and the transaction that switches to it stays within
     * etcd's 128 operations per transaction.
     */
    maxRequestBytes: z.number().int().min(1_048_576).max(64 * 1024 * 1024).default(1_572_864),
    /**
     * Addresses other coordinators use to reach this one (to relay agent streams and forward
     * API calls to the leader). Default: the first bound gRPC/HTTP address.
     */
    advertise: z
      .object({ grpc: z.string().min(1).optional(), http: z.string().min(1).optional() })
      .strict()
      .default({}),
  })
  .strict();

type EtcdStoreObject = z.output<typeof etcdStoreObjectSchema>;

function checkEtcdStore(c: EtcdStoreObject, ctx: z.RefinementCtx): void {
  if (c.requestTimeout * 3 > c.leaseTtl) {
    ctx.addIssue({ code: 'custom', path: ['requestTimeout'], message: `must be at most a third of leaseTtl (${c.leaseTtl}ms), so a lease survives one slow request` });
  }
  const https = c.endpoints.filter((e) => e.startsWith('https:')).length;
  if (https > 0 && https < c.endpoints.length) {
    ctx.addIssue({ code: 'custom', path: ['endpoints'], message: 'mixes http:// and https:// endpoints' });
  }
  if (https > 0 && !c.tls) ctx.addIssue({ code: 'custom', path: ['tls'], message: 'https:// endpoints need tls.ca' });
  if (https === 0 && c.tls) ctx.addIssue({ code: 'custom', path: ['endpoints'], message: 'tls is set, so the endpoints must be https://' });
}

export const etcdStoreConfigSchema = etcdStoreObjectSchema.superRefine(checkEtcdStore);

export const fileStoreConfigSchema = z.object({ kind: z.literal('file') }).strict();

/** `store: file`, `store: { kind: file }` or `store: { kind: etcd, endpoints: [...] }`; default file. */
export const storeConfigSchema = z
  .preprocess(
    (v) => (typeof v === 'string' ? { kind: v } : v),
    z
      .discriminatedUnion('kind', [fileStoreConfigSchema, etcdStoreObjectSchema])
      .superRefine((c, ctx) => {
        if (c.kind === 'etcd') checkEtcdStore(c, ctx);
      }),
  )
  .default({ kind: 'file' });

export type EtcdStoreConfig = z.output<typeof etcdStoreConfigSchema>;
export type StoreConfig = z.output<typeof storeConfigSchema>;
