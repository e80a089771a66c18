// move VIP NODE [--pin]: pin (placement now ranks NODE first for the VIP, and the reconcile pass
// hands the VIP over from its holder: docs/design/handover.md) → move-vip (wait until NODE is
// the one node that reports it and the VIP is ok). A move that does not complete in time takes
// its pin back, so a failed move leaves placement as it was. What a pin is and how long it
// lasts: docs/design/move.md. A drill moves VIPs with the same steps (drill.ts).
import { OperationFailedError } from '../errors.js';
import { secs, type OperationContext } from './operation-context.js';
import type { OperationEnv } from './operation-env.js';

/** One VIP going to one node. */
export interface VipMove {
  readonly cluster: string;
  readonly vip: string;
  readonly node: string;
  /** Kept until unpinned (lbha move --pin), rather than dropped once the node cannot hold it. */
  readonly sticky: boolean;
}

/** True once `node` alone reports the VIP, is its desired holder and the VIP is ok. */
export function arrived(view: OperationEnv['view'], m: Pick<VipMove, 'cluster' | 'vip' | 'node'>): boolean {
  const v = view.vips(m.cluster).find((x) => x.name === m.vip);
  return v !== undefined && v.desiredHolder === m.node && v.status === 'ok' && v.actualHolders.length === 1 && v.actualHolders[0] === m.node;
}

/** How a VIP stands, for messages. */
export function vipSeen(view: OperationEnv['view'], cluster: string, vip: string): string {
  const v = view.vips(cluster).find((x) => x.name === vip);
  return v ? `held by ${v.actualHolders.join(', ') || 'no node'}, status ${v.status}, desired holder ${v.desiredHolder} (${v.reason})` : 'no longer in the spec';
}

/**
 * The steps `${p}pin` and `${p}move-vip`: pins the VIP to the node and waits, within the time
 * left, until it is there. Throws OperationFailedError (the pin taken back) when it is not.
 */
export async function moveVip(ctx: OperationContext, m: VipMove, p: string): Promise<string> {
  const { view, pins } = ctx.env;
  const { cluster, vip, node, sticky } = m;
  await ctx.step(`${p}pin`, async () => {
    const before = view.vips(cluster).find((v) => v.name === vip)?.actualHolders ?? [];
    await ctx.setData({ [`${p}from`]: before.join(',') });
    await pins.setPin(cluster, vip, { node, sticky, actor: ctx.record.actor, reason: ctx.record.reason, sinceMs: ctx.now(), operationId: ctx.id });
    return before.length === 1 && before[0] === node ? `${node} holds ${vip} already; ${sticky ? 'pinned' : 'kept'} there` : `placement ranks ${node} first for ${vip}`;
  });

  let message = '';
  await ctx.step(`${p}move-vip`, async () => {
    const budget = ctx.remaining();
    const gone = () => pins.pinOf(cluster, vip)?.operationId !== ctx.id;
    const ok = await ctx.waitFor(() => arrived(view, m) || gone(), budget);
    if (ok && arrived(view, m)) {
      const from = (ctx.data(`${p}from`) ?? '').split(',').filter((n) => n !== '' && n !== node);
      message = from.length > 0 ? `${vip} moved from ${from.join(', ')} to ${node}; ${node} answers for it` : `${vip} is on ${node}`;
      return message;
    }
    const seen = vipSeen(view, cluster, vip);
    if (gone()) throw new OperationFailedError(`${vip} did not reach ${node}: its pin was removed or replaced meanwhile; ${vip} is ${seen}`);
    // Take the pin back: a move that did not happen must not stay in force.
    await pins.setPin(cluster, vip, null);
    throw new OperationFailedError(`${vip} did not reach ${node} within ${secs(budget)}; the move is withdrawn and placement decides again (${vip} is ${seen})`);
  });
  return message || `${vip} is on ${node}`;
}

export async function move(ctx: OperationContext): Promise<string> {
  const node = ctx.record.node;
  const vip = ctx.data('vip') ?? '';
  const sticky = ctx.data('pin') === 'true';
  await moveVip(ctx, { cluster: ctx.record.cluster, vip, node, sticky }, '');
  return sticky ? `${vip} pinned to ${node}` : `${vip} moved to ${node}`;
}
