// The HTTP/JSON resources of operator tools on VIPs: move (an operation), unpin, a cluster's
// drill (an operation) and the what-if simulation. Parsed like every other route (routes.ts).
import type { pbControl } from '@lbha/shared/control';
import { z } from 'zod';
import { MAX_REASON_LENGTH } from '../auth/method-policy.js';
import { jsonBody, query, reason, rpc, timeoutMs, type Route } from './routes.js';

const cluster = z.string().max(MAX_REASON_LENGTH).optional();
const moveBody = z.object({ node: z.string().min(1).max(MAX_REASON_LENGTH), cluster, pin: z.boolean().optional(), timeoutMs, reason }).strict();
const unpinBody = z.object({ cluster, reason }).strict();
const drillBody = z.object({ vip: z.string().max(MAX_REASON_LENGTH).optional(), timeoutMs, reason }).strict();
const names = z.array(z.string().max(MAX_REASON_LENGTH)).max(64).optional();
const simulateBody = z.object({ fail: names, drain: names, linkDown: names, spec: z.string().optional() }).strict();

export const VIP_ROUTES: readonly Route[] = [
  {
    method: 'POST',
    path: '/v1/vips/:vip/move',
    handle: async (ctx) => {
      query(ctx, {});
      const b = await jsonBody(ctx, moveBody);
      const req: pbControl.MoveVipRequest = { vip: ctx.params['vip'] as string, cluster: b.cluster ?? '', node: b.node, pin: b.pin ?? false, timeoutMs: b.timeoutMs ?? 0, reason: b.reason ?? '' };
      return rpc(ctx, 'moveVip', req, 202);
    },
  },
  {
    method: 'POST',
    path: '/v1/vips/:vip/unpin',
    handle: async (ctx) => {
      query(ctx, {});
      const b = await jsonBody(ctx, unpinBody);
      return rpc(ctx, 'unpinVip', { vip: ctx.params['vip'] as string, cluster: b.cluster ?? '', reason: b.reason ?? '' } satisfies pbControl.UnpinVipRequest);
    },
  },
  {
    method: 'POST',
    path: '/v1/clusters/:cluster/drill',
    handle: async (ctx) => {
      query(ctx, {});
      const b = await jsonBody(ctx, drillBody);
      const req: pbControl.DrillClusterRequest = { cluster: ctx.params['cluster'] as string, vip: b.vip ?? '', timeoutMs: b.timeoutMs ?? 0, reason: b.reason ?? '' };
      return rpc(ctx, 'drillCluster', req, 202);
    },
  },
  {
    method: 'POST',
    path: '/v1/simulate',
    handle: async (ctx) => {
      query(ctx, {});
      const b = await jsonBody(ctx, simulateBody);
      return rpc(ctx, 'simulate', { fail: b.fail ?? [], drain: b.drain ?? [], linkDown: b.linkDown ?? [], specYaml: b.spec ?? '' } satisfies pbControl.SimulateRequest);
    },
  },
];
