// move VIP NODE [--pin]: pin (placement now ranks NODE first for the VIP, and the reconcile pass
// hands the VIP over from its holder: docs/design/handover.md) → move-vip (wait until NODE is
// the one node that reports it and the VIP is ok). A move that does not complete in time takes
// its pin back, so a failed move leaves placement as it was. What a pin is and how long it
// lasts: docs/design/move.md.
import { OperationFailedError } from '../errors.js';
import { secs, type OperationContext } from './operation-context.js';

export async function move(ctx: OperationContext): Promise<string> {
  const { view, pins } = ctx.env;
  const cluster = ctx.record.cluster;
  const node = ctx.record.node;
  const vip = ctx.data('vip') ?? '';
  const sticky = ctx.data('pin') === 'true';
  const what = sticky ? `${vip} pinned to ${node}` : `${vip} moved to ${node}`;

  await ctx.step('pin', async () => {
    const before = view.vips(cluster).find((v) => v.name === vip)?.actualHolders ?? [];
    await ctx.setData({ from: before.join(',') });
    await pins.setPin(cluster, vip, { node, sticky, actor: ctx.record.actor, reason: ctx.record.reason, sinceMs: ctx.now(), operationId: ctx.id });
    return before.length === 1 && before[0] === node ? `${node} holds ${vip} already; ${sticky ? 'pinned' : 'kept'} there` : `placement ranks ${node} first for ${vip}`;
  });

  await ctx.step('move-vip', async () => {
    const arrived = () => {
      const v = view.vips(cluster).find((x) => x.name === vip);
      return v !== undefined && v.desiredHolder === node && v.status === 'ok' && v.actualHolders.length === 1 && v.actualHolders[0] === node;
    };
    const budget = ctx.remaining();
    const gone = () => pins.pinOf(cluster, vip)?.operationId !== ctx.id;
    const ok = await ctx.waitFor(() => arrived() || gone(), budget);
    if (ok && arrived()) {
      const from = (ctx.data('from') ?? '').split(',').filter((n) => n !== '' && n !== node);
      return from.length > 0 ? `${vip} moved from ${from.join(', ')} to ${node}; ${node} answers for it` : `${vip} is on ${node}`;
    }
    const v = view.vips(cluster).find((x) => x.name === vip);
    const seen = v ? `held by ${v.actualHolders.join(', ') || 'no node'}, status ${v.status}, desired holder ${v.desiredHolder} (${v.reason})` : 'no longer in the spec';
    if (gone()) throw new OperationFailedError(`${vip} did not reach ${node}: its pin was removed or replaced meanwhile; ${vip} is ${seen}`);
    // Take the pin back: a move that did not happen must not stay in force.
    await pins.setPin(cluster, vip, null);
    throw new OperationFailedError(`${vip} did not reach ${node} within ${secs(budget)}; the move is withdrawn and placement decides again (${vip} is ${seen})`);
  });
  return what;
}
