// drain NODE: mode:draining (placement moves its VIPs away, each with a connection handover) →
// move-vips (wait until it holds none and other nodes do) → connections (the agent waits for
// the proxy's connections to end, within the time left) → mode:drained (or maintenance).
import { OperationFailedError } from '../errors.js';
import type { ClusterSpec } from '../spec/cluster-spec.js';
import { agentCommand } from './agent-command.js';
import { secs, type OperationContext } from './operation-context.js';
import type { OperationEnv } from './operation-env.js';

/** Of the time a drain has left for its connections, what the agent's answer may take. */
function answerGrace(budgetMs: number): number {
  return Math.min(5000, Math.floor(budgetMs / 5));
}

function newHolders(view: OperationEnv['view'], cluster: ClusterSpec, vips: readonly string[]): string {
  const views = view.vips(cluster.name);
  return [...new Set(vips.flatMap((v) => views.find((x) => x.name === v)?.actualHolders ?? []))].join(', ') || 'other nodes';
}

/** Steps are named `${p}mode:draining` etc.: `p` is a rolling restart's `NODE/`, or ''. */
export async function drain(ctx: OperationContext, node: string, p: string, final: 'drained' | 'maintenance' = 'drained'): Promise<string> {
  const { view, handovers } = ctx.env;
  const cluster = view.clusterOfNode(node);
  if (!cluster) throw new OperationFailedError(`node ${node} is no longer in the cluster spec`);
  const why = ctx.record.reason || `operation ${ctx.id}`;

  await ctx.step(`${p}mode:draining`, async () => {
    const held = view.vipsOf(node);
    await ctx.setData({ [`${p}vips`]: held.join(',') });
    await ctx.env.setMode(node, 'draining', ctx.record.actor, why, ctx.id);
    return held.length > 0 ? `moving ${held.join(', ')} away` : 'holds no VIPs';
  });

  await ctx.step(`${p}move-vips`, async () => {
    const held = (ctx.data(`${p}vips`) ?? '').split(',').filter((v) => v !== '');
    const moved = () => {
      if (view.vipsOf(node).length > 0) return false;
      // When the node's agent is away, other nodes reporting the VIPs is the only evidence.
      const views = view.vips(cluster.name);
      return held.every((v) => views.find((x) => x.name === v)?.actualHolders.some((h) => h !== node));
    };
    if (held.length === 0 && moved()) return 'no VIPs to move';
    const budget = ctx.remaining();
    const ok = await ctx.waitFor(() => moved() || (ctx.record.force && !view.placement().clusters.get(cluster.name)?.anyEligible), budget);
    if (!ok) {
      const still = view.vipsOf(node);
      throw new OperationFailedError(`VIPs did not leave ${node} within ${secs(budget)}: ${still.join(', ') || held.join(', ')} (the node stays draining; undrain to restore it)`);
    }
    if (!moved()) return 'forced: no other eligible node, VIPs stay';
    return held.length > 0 ? `${held.join(', ')} moved to ${newHolders(view, cluster, held)}` : 'no VIPs to move';
  });

  await ctx.step(`${p}connections`, async () => {
    const budget = ctx.remaining();
    const drainMs = Math.max(1, budget - answerGrace(budget));
    // The node keeps answering the connections it had when its VIPs left until they are done.
    handovers.extendHandovers(node, ctx.now() + drainMs);
    const o = await agentCommand(ctx, {
      node,
      prefix: p,
      name: 'connections',
      action: { kind: 'drain', timeoutMs: drainMs },
      waitMs: budget,
      onProgress: (u) => void ctx.save({ activeConnections: u.activeConnections, message: `${u.activeConnections} connections left on ${node}` }, false),
    });
    handovers.endHandovers(node);
    const e = o.kind === 'answered' ? o.entry : o.last;
    await ctx.save({ activeConnections: e?.activeConnections ?? 0 });
    if (!e || e.state === 'pending') return `connections not confirmed: the agent of ${node} did not answer within ${secs(drainMs)}`;
    if (e.state === 'succeeded') return e.message || 'connections drained';
    return `connections not confirmed (${e.state}: ${e.message})`;
  });

  const done = final === 'drained' ? `${node} drained` : `${node} drained, in maintenance`;
  await ctx.step(`${p}mode:${final}`, async () => {
    await ctx.env.setMode(node, final, ctx.record.actor, why, ctx.id);
    return done;
  });
  return done;
}
