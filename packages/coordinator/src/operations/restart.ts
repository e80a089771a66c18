// restart NODE SERVICE: a node holding VIPs is drained first (the drain steps, in the first half
// of the time) → restart → healthy (a new pid, every fault check passing) → undrained (the mode
// it had). A failure leaves the node drained and says so.
import { isLive, type NodeMode } from '@lbha/shared';
import { OperationFailedError } from '../errors.js';
import { agentCommand, describeOutcome, succeeded } from './agent-command.js';
import { drain } from './drain.js';
import { secs, type OperationContext } from './operation-context.js';
import { undrain } from './undrain.js';

/** What a restart keeps of its time for the undrain at its end. */
function undrainReserve(timeoutMs: number): number {
  return Math.min(10_000, Math.floor(timeoutMs / 4));
}

export async function restart(ctx: OperationContext, node: string, service: string, p: string): Promise<string> {
  const { nodes, view } = ctx.env;
  if (ctx.data(`${p}plan`) === undefined) {
    const mode = ctx.env.modeOf(node);
    const plan = mode === 'active' && view.vipsOf(node).length > 0 ? 'drain' : 'direct';
    await ctx.setData({ [`${p}plan`]: plan, [`${p}mode`]: mode });
  }
  const drained = ctx.data(`${p}plan`) === 'drain';
  const stays = drained ? `; ${node} stays drained` : '';
  const end = ctx.deadline();
  const timeoutMs = ctx.record.timeoutMs;

  if (drained) await ctx.within(end - Math.floor(timeoutMs / 2), () => drain(ctx, node, p));

  await ctx.within(end - undrainReserve(timeoutMs), async () => {
    await ctx.step(`${p}restart`, async () => {
      const before = nodes.get(node)?.snapshot?.services.find((s) => s.name === service);
      await ctx.setData({ [`${p}pid`]: String(before?.pid ?? 0), [`${p}restarts`]: String(before?.restarts ?? 0) });
      const o = await agentCommand(ctx, { node, prefix: p, name: 'restart', action: { kind: 'restart', service } });
      if (!succeeded(o)) throw new OperationFailedError(`restart of ${service} on ${node} failed (${describeOutcome(o, node)})${stays}`);
      return o.entry.message || `${service} restarted`;
    });

    await ctx.step(`${p}healthy`, async () => {
      const pid = Number(ctx.data(`${p}pid`) ?? '0');
      const healthy = () => {
        const r = nodes.get(node);
        if (!r || !isLive(r.link) || !r.snapshot?.healthy) return false;
        const svc = r.snapshot.services.find((s) => s.name === service);
        // A new pid shows the snapshot is from after the restart, not a leftover from before.
        return svc === undefined || (svc.state === 'running' && (pid === 0 || svc.pid !== pid));
      };
      const budget = ctx.remaining();
      if (!(await ctx.waitFor(healthy, budget))) throw new OperationFailedError(`${node} was not healthy with ${service} running within ${secs(budget)} after the restart${stays}`);
      return `${node} healthy`;
    });
  });

  if (drained) await undrain(ctx, node, p, (ctx.data(`${p}mode`) as NodeMode | undefined) ?? 'active');
  return `${service} restarted on ${node}${drained ? ' (drained first, undrained after)' : ''}`;
}
