// The HTTP/JSON resources and the operator API method each one runs. Bodies and query strings
// are validated strictly here (unknown fields are errors); names and roles are checked by the
// same authorisation layer the gRPC API goes through (control-api.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isLive, linkFromWire, pbTypes, readPackageVersion } from '@lbha/shared';
import { pbControl } from '@lbha/shared/control';
import { z } from 'zod';
import { MAX_REASON_LENGTH } from '../auth/method-policy.js';
import type { Caller, ControlApi, ControlMethod, StreamSink, Unary } from '../control-api.js';
import { HttpError } from './http-error.js';
import { openApiDocument } from './openapi.js';
import { parseJsonObject, readBody, type BodyKind } from './read-body.js';

export interface RouteContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly api: ControlApi;
  /** The authenticated caller. */
  readonly caller: Caller;
  readonly maxBodyBytes: number;
}

export type RouteResult = { readonly status: number; readonly body: unknown } | 'streamed';

export interface Route {
  readonly method: 'GET' | 'POST' | 'PUT';
  /** Path segments; `:name` captures one segment. */
  readonly path: string;
  readonly handle: (ctx: RouteContext) => Promise<RouteResult>;
}

// ---- request parsing -------------------------------------------------------------------

type QueryType = 'string' | 'uint' | 'bool';

/** Reads the query string: only `allowed` keys, each at most once, typed. */
export function query(ctx: RouteContext, allowed: Readonly<Record<string, QueryType>>): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const key of new Set(ctx.query.keys())) {
    const type = allowed[key];
    if (!type) {
      const known = Object.keys(allowed);
      throw new HttpError(400, 'INVALID_ARGUMENT', `unknown query parameter ${JSON.stringify(key)}${known.length ? ` (known: ${known.join(', ')})` : ''}`);
    }
    const values = ctx.query.getAll(key);
    if (values.length > 1) throw new HttpError(400, 'INVALID_ARGUMENT', `query parameter ${key} is given ${values.length} times`);
    const v = values[0] as string;
    if (type === 'uint') {
      if (!/^\d{1,15}$/.test(v)) throw new HttpError(400, 'INVALID_ARGUMENT', `query parameter ${key}: ${JSON.stringify(v)} is not a non-negative integer`);
      out[key] = Number(v);
    } else if (type === 'bool') {
      if (!['true', 'false', '1', '0', ''].includes(v)) throw new HttpError(400, 'INVALID_ARGUMENT', `query parameter ${key}: ${JSON.stringify(v)} is not true or false`);
      out[key] = v === 'true' || v === '1' || v === '';
    } else {
      if (v.length > MAX_REASON_LENGTH) throw new HttpError(400, 'INVALID_ARGUMENT', `query parameter ${key}: at most ${MAX_REASON_LENGTH} characters`);
      out[key] = v;
    }
  }
  return out;
}

function zodProblem(err: z.ZodError, root: string): HttpError {
  const details = err.issues.map((i) => ({ field: [root, ...i.path].join('.'), message: i.message }));
  return new HttpError(400, 'INVALID_ARGUMENT', details.map((d) => `${d.field}: ${d.message}`).join('; '), details);
}

/** A JSON body validated by `schema`; an empty body counts as `{}`. */
export async function jsonBody<S extends z.ZodTypeAny>(ctx: RouteContext, schema: S): Promise<z.output<S>> {
  const body = await readBody(ctx.req, ctx.maxBodyBytes, ['json']);
  const obj = body.kind === 'empty' ? {} : parseJsonObject(body.text);
  const r = schema.safeParse(obj);
  if (!r.success) throw zodProblem(r.error, 'body');
  return r.data as z.output<S>;
}

export const reason = z.string().max(MAX_REASON_LENGTH).optional();
export const timeoutMs = z.number().int().min(0).max(86_400_000).optional();
const drainBody = z.object({ timeoutMs, force: z.boolean().optional(), maintenance: z.boolean().optional(), reason }).strict();
const reasonBody = z.object({ reason }).strict();
const restartBody = z.object({ timeoutMs, force: z.boolean().optional(), reason }).strict();
const validateBody = z.object({ yaml: z.string() }).strict();
const applyBody = z
  .object({ yaml: z.string(), dryRun: z.boolean().optional(), expectedVersion: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(), reason })
  .strict();

/** A spec document: raw YAML (Content-Type application/yaml) or JSON `{ "yaml": "...", ... }`. */
async function specBody(ctx: RouteContext, kinds: readonly BodyKind[]): Promise<{ yaml: string; fields: Record<string, unknown> }> {
  const body = await readBody(ctx.req, ctx.maxBodyBytes, kinds);
  if (body.kind === 'empty') throw new HttpError(400, 'INVALID_ARGUMENT', 'request body is empty: send the spec as application/yaml, or JSON {"yaml": "..."}');
  if (body.kind === 'yaml') return { yaml: body.text, fields: {} };
  return { yaml: '', fields: parseJsonObject(body.text) };
}

// ---- responses --------------------------------------------------------------------------

type Codec = { toJSON(message: unknown): unknown };

/**
 * Proto3 JSON of a response message: fields with default values are left out, except that a
 * response's top-level lists are always there (`{"nodes":[]}` rather than `{}`).
 */
function json(method: string, res: unknown): unknown {
  const name = `${method.charAt(0).toUpperCase()}${method.slice(1)}Response`;
  const codec = (pbControl as unknown as Record<string, Codec | undefined>)[name];
  if (!codec) return res;
  const out = codec.toJSON(res) as Record<string, unknown>;
  for (const [k, v] of Object.entries(res as Record<string, unknown>)) if (Array.isArray(v) && !(k in out)) out[k] = [];
  return out;
}

export async function rpc(ctx: RouteContext, method: Exclude<ControlMethod, 'watchEvents'>, request: unknown, status = 200): Promise<RouteResult> {
  const res = await (ctx.api[method] as Unary<unknown, unknown>)(request, ctx.caller);
  return { status, body: json(method, res) };
}

function specErrors(method: 'validateSpec' | 'applySpec', res: pbControl.ValidateSpecResponse | pbControl.ApplySpecResponse): HttpError {
  const errors = res.errors.map((e) => pbControl.SpecError.toJSON(e));
  const first = res.errors[0];
  const where = first ? `${first.path || 'spec'}${first.line ? ` (line ${first.line})` : ''}: ${first.message}` : 'the spec is invalid';
  return new HttpError(422, 'INVALID_SPEC', `${method === 'validateSpec' ? 'invalid spec' : 'spec refused'}: ${where}${res.errors.length > 1 ? ` (+${res.errors.length - 1} more)` : ''}`, errors);
}

// ---- server-sent events -------------------------------------------------------------------

function eventStream(ctx: RouteContext): RouteResult {
  const q = query(ctx, { afterSeq: 'uint', cluster: 'string', node: 'string' });
  const lastId = ctx.req.headers['last-event-id'];
  let afterSeq = (q['afterSeq'] as number | undefined) ?? 0;
  if (typeof lastId === 'string' && /^\d{1,15}$/.test(lastId)) afterSeq = Math.max(afterSeq, Number(lastId));
  const request: pbControl.WatchEventsRequest = { afterSeq, cluster: (q['cluster'] as string) ?? '', node: (q['node'] as string) ?? '' };
  const { res } = ctx;
  const closed = new AbortController();
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
  keepAlive.unref();
  res.on('close', () => {
    clearInterval(keepAlive);
    closed.abort();
  });
  const start = () => {
    if (res.headersSent) return;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(': lbha event stream\n\n');
  };
  const finish = (last?: string) => {
    clearInterval(keepAlive);
    if (!res.writableEnded) res.end(last);
  };
  const sink: StreamSink<pbControl.WatchEventsResponse> = {
    write: (msg) => {
      if (res.writableEnded) return true;
      start();
      const e = msg.event;
      return e ? res.write(`id: ${e.seq}\nevent: event\ndata: ${JSON.stringify(pbTypes.Event.toJSON(e))}\n\n`) : true;
    },
    onDrain: (listener) => void res.on('drain', listener),
    fail: (err) => {
      start();
      finish(`event: error\ndata: ${JSON.stringify({ code: err.code, message: err.message })}\n\n`);
      // A client that stopped reading never takes the end either: let its connection go.
      setTimeout(() => {
        if (!res.writableFinished) res.destroy();
      }, 5000).unref();
    },
    end: () => finish(),
    closed: closed.signal,
  };
  // Refused at once (it throws): the caller gets a JSON error from the edge, not a stream.
  try {
    ctx.api.watchEvents(request, ctx.caller, sink);
  } catch (err) {
    clearInterval(keepAlive);
    throw err;
  }
  start();
  return 'streamed';
}

// ---- the resources -------------------------------------------------------------------------

export const str = (q: Record<string, unknown>, k: string) => (q[k] as string | undefined) ?? '';
const num = (q: Record<string, unknown>, k: string) => (q[k] as number | undefined) ?? 0;

const VERSION = readPackageVersion(new URL('../../../package.json', import.meta.url));

export const ROUTES: readonly Route[] = [
  { method: 'GET', path: '/v1/openapi.json', handle: async (ctx) => (query(ctx, {}), { status: 200, body: openApiDocument(VERSION) }) },
  {
    method: 'GET',
    path: '/v1/whoami',
    handle: async (ctx) => ({ status: 200, body: { actor: ctx.caller.identity?.actor, role: ctx.caller.identity?.role } }),
  },
  {
    method: 'GET',
    path: '/v1/clusters',
    handle: async (ctx) => {
      query(ctx, {});
      const nodes = (await ctx.api.listNodes({ cluster: '' }, ctx.caller)).nodes;
      const vips = (await ctx.api.listVips({ cluster: '' }, ctx.caller)).vips;
      const names = [...new Set([...nodes.map((n) => n.cluster), ...vips.map((v) => v.cluster)])].filter(Boolean).sort();
      const clusters = names.map((name) => {
        const own = nodes.filter((n) => n.cluster === name);
        return {
          name,
          nodes: own.length,
          connectedNodes: own.filter((n) => isLive(linkFromWire(n))).length,
          vips: vips.filter((v) => v.cluster === name).length,
        };
      });
      return { status: 200, body: { clusters } };
    },
  },
  {
    method: 'GET',
    path: '/v1/clusters/:cluster',
    handle: async (ctx) => {
      query(ctx, {});
      const cluster = ctx.params['cluster'] as string;
      const nodes = (await ctx.api.listNodes({ cluster }, ctx.caller)).nodes;
      const vips = (await ctx.api.listVips({ cluster }, ctx.caller)).vips;
      if (nodes.length === 0 && vips.length === 0) throw new HttpError(404, 'NOT_FOUND', `cluster ${cluster} is unknown`);
      return {
        status: 200,
        body: { name: cluster, nodes: nodes.map((n) => pbControl.NodeInfo.toJSON(n)), vips: vips.map((v) => pbControl.VipInfo.toJSON(v)) },
      };
    },
  },
  { method: 'GET', path: '/v1/clusters/:cluster/nodes', handle: (ctx) => (query(ctx, {}), rpc(ctx, 'listNodes', { cluster: ctx.params['cluster'] })) },
  { method: 'GET', path: '/v1/clusters/:cluster/vips', handle: (ctx) => (query(ctx, {}), rpc(ctx, 'listVips', { cluster: ctx.params['cluster'] })) },
  { method: 'GET', path: '/v1/clusters/:cluster/placement', handle: (ctx) => (query(ctx, {}), rpc(ctx, 'getPlacement', { cluster: ctx.params['cluster'] })) },
  {
    method: 'POST',
    path: '/v1/clusters/:cluster/services/:service/rolling-restart',
    handle: async (ctx) => {
      query(ctx, {});
      const b = await jsonBody(ctx, restartBody);
      const req: pbControl.RollingRestartRequest = {
        cluster: ctx.params['cluster'] as string,
        service: ctx.params['service'] as string,
        force: b.force ?? false,
        timeoutMs: b.timeoutMs ?? 0,
        reason: b.reason ?? '',
      };
      return rpc(ctx, 'rollingRestart', req, 202);
    },
  },
  {
    method: 'GET',
    path: '/v1/nodes',
    handle: (ctx) => {
      const q = query(ctx, { cluster: 'string' });
      return rpc(ctx, 'listNodes', { cluster: str(q, 'cluster') });
    },
  },
  { method: 'GET', path: '/v1/nodes/:node', handle: (ctx) => (query(ctx, {}), rpc(ctx, 'getNode', { name: ctx.params['node'] })) },
  {
    method: 'POST',
    path: '/v1/nodes/:node/drain',
    handle: async (ctx) => {
      query(ctx, {});
      const b = await jsonBody(ctx, drainBody);
      const req: pbControl.DrainRequest = { node: ctx.params['node'] as string, timeoutMs: b.timeoutMs ?? 0, force: b.force ?? false, maintenance: b.maintenance ?? false, reason: b.reason ?? '' };
      return rpc(ctx, 'drain', req, 202);
    },
  },
  {
    method: 'POST',
    path: '/v1/nodes/:node/undrain',
    handle: async (ctx) => {
      query(ctx, {});
      const b = await jsonBody(ctx, reasonBody);
      return rpc(ctx, 'undrain', { node: ctx.params['node'], reason: b.reason ?? '' } satisfies pbControl.UndrainRequest, 202);
    },
  },
  {
    method: 'POST',
    path: '/v1/nodes/:node/services/:service/restart',
    handle: async (ctx) => {
      query(ctx, {});
      const b = await jsonBody(ctx, restartBody);
      const req: pbControl.RestartServiceRequest = {
        node: ctx.params['node'] as string,
        service: ctx.params['service'] as string,
        force: b.force ?? false,
        timeoutMs: b.timeoutMs ?? 0,
        reason: b.reason ?? '',
      };
      return rpc(ctx, 'restartService', req, 202);
    },
  },
  {
    method: 'POST',
    path: '/v1/nodes/:node/services/:service/reload',
    handle: async (ctx) => {
      query(ctx, {});
      const b = await jsonBody(ctx, reasonBody);
      const req: pbControl.ReloadServiceRequest = { node: ctx.params['node'] as string, service: ctx.params['service'] as string, reason: b.reason ?? '' };
      return rpc(ctx, 'reloadService', req, 202);
    },
  },
  {
    method: 'GET',
    path: '/v1/vips',
    handle: (ctx) => {
      const q = query(ctx, { cluster: 'string' });
      return rpc(ctx, 'listVips', { cluster: str(q, 'cluster') });
    },
  },
  {
    method: 'GET',
    path: '/v1/operations',
    handle: (ctx) => {
      const q = query(ctx, { limit: 'uint' });
      return rpc(ctx, 'listOperations', { limit: Math.min(num(q, 'limit'), 10_000) });
    },
  },
  { method: 'GET', path: '/v1/operations/:id', handle: (ctx) => (query(ctx, {}), rpc(ctx, 'getOperation', { id: ctx.params['id'] })) },
  {
    method: 'POST',
    path: '/v1/operations/:id/cancel',
    handle: async (ctx) => {
      query(ctx, {});
      const b = await jsonBody(ctx, reasonBody);
      return rpc(ctx, 'cancelOperation', { id: ctx.params['id'], reason: b.reason ?? '' } satisfies pbControl.CancelOperationRequest);
    },
  },
  {
    method: 'GET',
    path: '/v1/events',
    handle: (ctx) => {
      const q = query(ctx, { afterSeq: 'uint', limit: 'uint', cluster: 'string', node: 'string' });
      const req: pbControl.ListEventsRequest = { afterSeq: num(q, 'afterSeq'), limit: Math.min(num(q, 'limit'), 10_000), cluster: str(q, 'cluster'), node: str(q, 'node') };
      return rpc(ctx, 'listEvents', req);
    },
  },
  { method: 'GET', path: '/v1/events/stream', handle: async (ctx) => eventStream(ctx) },
  {
    method: 'GET',
    path: '/v1/audit',
    handle: (ctx) => {
      const q = query(ctx, { afterSeq: 'uint', limit: 'uint', actor: 'string' });
      const req: pbControl.ListAuditRequest = { afterSeq: num(q, 'afterSeq'), limit: Math.min(num(q, 'limit'), 10_000), actor: str(q, 'actor') };
      return rpc(ctx, 'listAudit', req);
    },
  },
  { method: 'GET', path: '/v1/spec', handle: (ctx) => (query(ctx, {}), rpc(ctx, 'getSpec', {})) },
  {
    method: 'POST',
    path: '/v1/spec/validate',
    handle: async (ctx) => {
      query(ctx, {});
      const { yaml, fields } = await specBody(ctx, ['yaml', 'json']);
      let req: pbControl.ValidateSpecRequest = { yaml };
      if (Object.keys(fields).length > 0 || !yaml) {
        const r = validateBody.safeParse(fields);
        if (!r.success) throw zodProblem(r.error, 'body');
        req = { yaml: r.data.yaml };
      }
      const res = await ctx.api.validateSpec(req, ctx.caller);
      if (!res.valid) throw specErrors('validateSpec', res);
      return { status: 200, body: json('validateSpec', res) };
    },
  },
  {
    method: 'PUT',
    path: '/v1/spec',
    handle: async (ctx) => {
      const q = query(ctx, { dryRun: 'bool', expectedVersion: 'uint', reason: 'string' });
      const { yaml, fields } = await specBody(ctx, ['yaml', 'json']);
      let req: pbControl.ApplySpecRequest = {
        yaml,
        dryRun: (q['dryRun'] as boolean | undefined) ?? false,
        expectedVersion: num(q, 'expectedVersion'),
        reason: str(q, 'reason'),
      };
      if (!yaml) {
        const r = applyBody.safeParse(fields);
        if (!r.success) throw zodProblem(r.error, 'body');
        req = {
          yaml: r.data.yaml,
          dryRun: r.data.dryRun ?? req.dryRun,
          expectedVersion: r.data.expectedVersion ?? req.expectedVersion,
          reason: r.data.reason ?? req.reason,
        };
      }
      const res = await ctx.api.applySpec(req, ctx.caller);
      if (!res.applied && res.errors.length > 0) throw specErrors('applySpec', res);
      return { status: 200, body: json('applySpec', res) };
    },
  },
];
