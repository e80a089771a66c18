// rolling-restart CLUSTER SERVICE: per node, in spec order, NODE/settle (every VIP of the
// cluster ok, then the safety interlock) and the restart steps prefixed NODE/; it stops at the
// first failure. Each node has the operation's timeout; time a node leaves unused passes on.
import { OperationFailedError } from '../errors.js';
import { interlockProblems } from '../interlock.js';
import { secs, type OperationContext } from './operation-context.js';
import { restart } from './restart.js';

export async function rollingRestart(ctx: OperationContext): Promise<string> {
  const { view } = ctx.env;
  const cluster = view.currentSpec().clusters.find((c) => c.name === ctx.record.cluster);
  if (!cluster) throw new OperationFailedError(`cluster ${ctx.record.cluster} is no longer in the spec`);
  const service = ctx.record.service;
  const planned = Number(ctx.data('nodes') ?? cluster.nodes.length);
  const done: string[] = [];
  for (const [k, n] of cluster.nodes.entries()) {
    const node = n.name;
    const p = `${node}/`;
    // Node k is done by the end of its share: the operation's deadline less the shares after it.
    const share = ctx.deadline() - Math.max(0, planned - 1 - k) * ctx.record.timeoutMs;
    await ctx.within(share, async () => {
      await ctx.step(`${p}settle`, async () => {
        const budget = ctx.remaining();
        if (!(await ctx.waitFor(() => view.vips(cluster.name).every((v) => v.status === 'ok'), budget))) {
          const bad = view.vips(cluster.name).filter((v) => v.status !== 'ok').map((v) => `${v.name} ${v.status}`);
          throw new OperationFailedError(`stopped before ${node}: the cluster did not settle within ${secs(budget)} (${bad.join(', ')}); restarted so far: ${done.join(', ') || 'none'}`);
        }
        if (!ctx.record.force && ctx.env.modeOf(node) === 'active' && view.vipsOf(node).length > 0) {
          const problems = interlockProblems(view.interlockInput(), [node]);
          if (problems.length > 0) throw new OperationFailedError(`stopped before ${node}: refused by the safety interlock: ${problems.join('; ')}`);
        }
        return 'cluster settled';
      });
      try {
        await restart(ctx, node, service, p);
      } catch (err) {
        if (err instanceof OperationFailedError) throw new OperationFailedError(`stopped at ${node}: ${err.message}; restarted before it: ${done.join(', ') || 'none'}`);
        throw err;
      }
    });
    done.push(node);
  }
  return `${service} restarted on ${done.join(', ')}, one node at a time`;
}
