// The `webhooks:` section of the coordinator config: where to POST events, with which
// credentials, how patiently, and which events.
import { readFileSync } from 'node:fs';
import { durationMs, loosePermissions, nameProblem } from '@lbha/shared';
import { z } from 'zod';

const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** An event type ("vip.moved"), a prefix pattern ("vip.*") or "*" for every event. */
const EVENT_PATTERN = /^(\*|[a-z0-9_-]+(\.[a-z0-9_-]+)*(\.\*)?)$/;
/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const RESERVED_HEADERS = new Set(['content-type', 'content-length', 'host', 'user-agent', 'authorization', 'x-lbha-delivery', 'x-lbha-event']);

const webhookSchema = z
  .object({
    /** Names the webhook in logs and in the lbha_webhook_* metrics. */
    name: z.string().superRefine((v, ctx) => {
      const p = nameProblem(v);
      if (p) ctx.addIssue({ code: 'custom', message: p });
    }),
    url: z
      .string()
      .url()
      .refine((u) => /^https?:$/.test(new URL(u).protocol), 'must be an http:// or https:// URL'),
    /** Sent as `Authorization: Bearer <token>`. */
    bearerToken: z.string().min(1).optional(),
    /** File holding the bearer token (read once at start; surrounding whitespace is ignored). */
    bearerTokenFile: z.string().min(1).optional(),
    /** One extra header, e.g. an API key header the receiver wants. */
    header: z
      .object({
        name: z
          .string()
          .regex(HEADER_NAME, 'is not an HTTP header name')
          .refine((n) => !RESERVED_HEADERS.has(n.toLowerCase()), 'is set by the coordinator itself'),
        value: z.string().regex(/^[^\r\n]*$/, 'must not contain line breaks'),
      })
      .strict()
      .optional(),
    /** Per attempt: connect, send and receive the response status. */
    timeout: durationMs({ min: 100, max: 60_000 }).default(5000),
    /** Attempts after the first one; 0 never retries. */
    maxRetries: z.number().int().min(0).max(20).default(5),
    backoff: z
      .object({
        initial: durationMs({ min: 1, max: 600_000 }).default(500),
        max: durationMs({ min: 1, max: 3_600_000 }).default(30_000),
      })
      .strict()
      .default({}),
    /** Events waiting beyond this are dropped, oldest first, so a dead receiver costs bounded memory. */
    queueSize: z.number().int().min(1).max(100_000).default(1000),
    /** Which event types to send: exact types, prefixes such as "vip.*", or "*". */
    events: z.array(z.string().regex(EVENT_PATTERN, 'is not an event type, a prefix such as "vip.*", or "*"')).min(1).default(['*']),
    /** Events below this severity are not sent. */
    minSeverity: z.enum(SEVERITIES).default('info'),
  })
  .strict()
  .superRefine((w, ctx) => {
    if (w.bearerToken !== undefined && w.bearerTokenFile !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['bearerTokenFile'], message: 'give bearerToken or bearerTokenFile, not both' });
    }
    if (w.backoff.max < w.backoff.initial) {
      ctx.addIssue({ code: 'custom', path: ['backoff', 'max'], message: 'must not be shorter than backoff.initial' });
    }
  })
  .transform((w, ctx) => {
    let token = w.bearerToken ?? '';
    if (w.bearerTokenFile !== undefined) {
      const loose = loosePermissions(w.bearerTokenFile);
      if (loose) {
        ctx.addIssue({ code: 'custom', path: ['bearerTokenFile'], message: loose });
        return z.NEVER;
      }
      try {
        token = readFileSync(w.bearerTokenFile, 'utf8').trim();
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['bearerTokenFile'], message: `cannot read ${w.bearerTokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
        return z.NEVER;
      }
      if (token === '') {
        ctx.addIssue({ code: 'custom', path: ['bearerTokenFile'], message: `${w.bearerTokenFile} is empty` });
        return z.NEVER;
      }
    }
    return {
      name: w.name,
      url: w.url,
      bearerToken: token,
      header: w.header ?? null,
      timeoutMs: w.timeout,
      maxRetries: w.maxRetries,
      initialBackoffMs: w.backoff.initial,
      maxBackoffMs: w.backoff.max,
      queueSize: w.queueSize,
      events: w.events,
      minSeverity: w.minSeverity,
    };
  });

export const webhooksSchema = z
  .array(webhookSchema)
  .default([])
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    list.forEach((w, i) => {
      if (seen.has(w.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate webhook name ${JSON.stringify(w.name)}` });
      seen.add(w.name);
    });
  });

/** One webhook, compiled: every default filled, the token read. */
export type WebhookConfig = z.output<typeof webhookSchema>;

const RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

/** Whether an event of `type` and `severity` goes to the webhook. */
export function wantsEvent(w: Pick<WebhookConfig, 'events' | 'minSeverity'>, type: string, severity: Severity): boolean {
  if (RANK[severity] < RANK[w.minSeverity]) return false;
  return w.events.some((p) => p === '*' || p === type || (p.endsWith('.*') && type.startsWith(p.slice(0, -1))));
}
