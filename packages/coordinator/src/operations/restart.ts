// restart NODE SERVICE: validate (the service's config test on the node, before anything moves)
// → a node holding VIPs is drained (the drain steps, in the first half of the time) → restart →
// healthy (a new pid, every fault check passing) → undrained (the mode it had). A failure after
// the drain began undrains the node back to the mode it had: a restart never leaves a node in a
// mode nobody asked for.
import { CAPABILITY_VALIDATE, isLive, type NodeMode } from '@lbha/shared';
import { OperationFailedError } from '../errors.js';
import { agentCommand, describeOutcome, succeeded } from './agent-command.js';
import { drain } from './drain.js';
import { Interrupted, secs, type OperationContext } from './operation-context.js';
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
  const mode = (ctx.data(`${p}mode`) as NodeMode | undefined) ?? 'active';
  const end = ctx.deadline();
  const timeoutMs = ctx.record.timeoutMs;

  // A configuration the service would not start with stops the restart before anything moves.
  await ctx.step(`${p}validate`, async () => {
    if (!nodes.get(node)?.capabilities.includes(CAPABILITY_VALIDATE)) return `the agent of ${node} cannot validate on its own: the restart validates before it stops ${service}`;
    const o = await agentCommand(ctx, { node, prefix: p, name: 'validate', action: { kind: 'validate', service }, waitMs: Math.min(ctx.remaining(), 30_000) });
    if (!succeeded(o)) throw new OperationFailedError(`${service} on ${node} was not restarted, nothing moved: ${describeOutcome(o, node)}`);
    return o.entry.message || `${service}: the configuration is valid`;
  });

  if (!drained) {
    await restartSteps(ctx, node, service, p, end - undrainReserve(timeoutMs));
    return `${service} restarted on ${node}`;
  }
  try {
    await ctx.within(end - Math.floor(timeoutMs / 2), () => drain(ctx, node, p));
    await restartSteps(ctx, node, service, p, end - undrainReserve(timeoutMs));
  } catch (err) {
    if (err instanceof Interrupted || !(err instanceof OperationFailedError)) throw err;
    // The drain was a means, not what the operator asked for: give the node its mode back.
    try {
      await undrain(ctx, node, p, mode);
    } catch (again) {
      if (again instanceof Interrupted) throw again;
      throw new OperationFailedError(`${err.message}; ${node} could not be given back its mode ${mode} (${(again as Error).message}): undrain it`);
    }
    throw new OperationFailedError(`${err.message}; ${node} is ${mode} again`);
  }
  await undrain(ctx, node, p, mode);
  return `${service} restarted on ${node} (drained first, undrained after)`;
}

/** restart → healthy, within `untilMs`. */
async function restartSteps(ctx: OperationContext, node: string, service: string, p: string, untilMs: number): Promise<void> {
  const { nodes } = ctx.env;

  await ctx.within(untilMs, async () => {
    await ctx.step(`${p}restart`, async () => {
      const before = nodes.get(node)?.snapshot?.services.find((s) => s.name === service);
      await ctx.setData({ [`${p}pid`]: String(before?.pid ?? 0), [`${p}restarts`]: String(before?.restarts ?? 0) });
      const o = await agentCommand(ctx, { node, prefix: p, name: 'restart', action: { kind: 'restart', service } });
      if (!succeeded(o)) throw new OperationFailedError(`restart of ${service} on ${node} failed (${describeOutcome(o, node)})`);
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
      if (!(await ctx.waitFor(healthy, budget))) throw new OperationFailedError(`${node} was not healthy with ${service} running within ${secs(budget)} after the restart`);
      return `${node} healthy`;
    });
  });
}
