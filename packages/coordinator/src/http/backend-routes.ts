// The HTTP/JSON resources of the backend pool: the pools as every LB node runs them, and the
// operations on one server across a cluster's LB nodes. Parsed like every other route (routes.ts).
import { pbControl } from '@lbha/shared/control';
import { z } from 'zod';
import { HttpError } from './http-error.js';
import { jsonBody, query, reason, rpc, str, timeoutMs, type Route } from './routes.js';

const backendBody = z.object({ weight: z.number().int().min(0).max(1000).nullable().optional(), timeoutMs, force: z.boolean().optional(), reason }).strict();
const BACKEND_ACTIONS: Readonly<Record<string, pbControl.BackendAction>> = {
  drain: pbControl.BackendAction.BACKEND_ACTION_DRAIN,
  undrain: pbControl.BackendAction.BACKEND_ACTION_UNDRAIN,
  disable: pbControl.BackendAction.BACKEND_ACTION_DISABLE,
  enable: pbControl.BackendAction.BACKEND_ACTION_ENABLE,
  weight: pbControl.BackendAction.BACKEND_ACTION_WEIGHT,
};

export const BACKEND_ROUTES: readonly Route[] = [
  { method: 'GET', path: '/v1/clusters/:cluster/backends', handle: (ctx) => (query(ctx, {}), rpc(ctx, 'listBackends', { cluster: ctx.params['cluster'] })) },
  {
    method: 'POST',
    // SERVER is "web1" (in every pool that has it) or "webserver%2Fweb1" (one pool).
    path: '/v1/clusters/:cluster/backends/:server/:action',
    handle: async (ctx) => {
      query(ctx, {});
      const name = ctx.params['action'] as string;
      const action = Object.hasOwn(BACKEND_ACTIONS, name) ? BACKEND_ACTIONS[name] : undefined;
      if (action === undefined) throw new HttpError(404, 'NOT_FOUND', `no backend action ${JSON.stringify(name)} (drain, undrain, disable, enable, weight)`);
      const b = await jsonBody(ctx, backendBody);
      if (name === 'weight' && b.weight === undefined) throw new HttpError(400, 'INVALID_ARGUMENT', 'body.weight: a weight, or null for the configured one');
      const req: pbControl.ChangeBackendServerRequest = {
        cluster: ctx.params['cluster'] as string,
        server: ctx.params['server'] as string,
        action,
        weight: b.weight ?? undefined,
        timeoutMs: b.timeoutMs ?? 0,
        force: b.force ?? false,
        reason: b.reason ?? '',
      };
      return rpc(ctx, 'changeBackendServer', req, 202);
    },
  },
  {
    method: 'GET',
    path: '/v1/backends',
    handle: (ctx) => {
      const q = query(ctx, { cluster: 'string' });
      return rpc(ctx, 'listBackends', { cluster: str(q, 'cluster') });
    },
  },
];
