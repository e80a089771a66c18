// undrain NODE: mode:active (or the mode a restart found) → agent-undrain (once the agent runs
// the desired state with that mode, it lifts its own drain).
import { isLive, type NodeMode } from '@lbha/shared';
import { agentCommand } from './agent-command.js';
import type { OperationContext } from './operation-context.js';

/** The longest the steps wait for the agent (they never fail: the mode is what counts). */
const AGENT_WAIT_MS = 10_000;
/** An undrain may start late: lifting a drain is right whenever it arrives. */
const START_BY_MS = 30_000;

export async function undrain(ctx: OperationContext, node: string, p: string, mode: NodeMode): Promise<string> {
  const { view, nodes } = ctx.env;
  await ctx.step(`${p}mode:${mode}`, async () => {
    await ctx.env.setMode(node, mode, ctx.record.actor, ctx.record.reason || `operation ${ctx.id}`, ctx.id);
    return `${node} is ${mode}`;
  });
  await ctx.step(`${p}agent-undrain`, async () => {
    const r = nodes.get(node);
    if (!r || !isLive(r.link)) return `agent of ${node} not connected; it gets the mode with its desired state`;
    // The agent must run the desired state with the new mode before it lifts its own drain,
    // or it would fall back to the old mode for a moment.
    await ctx.waitFor(
      () => {
        const d = view.desiredOf(node);
        const a = nodes.get(node);
        return d !== undefined && d.mode === mode && a !== undefined && a.appliedVersion >= d.version;
      },
      Math.min(AGENT_WAIT_MS, ctx.remaining() / 2),
    );
    const o = await agentCommand(ctx, {
      node,
      prefix: p,
      name: 'undrain',
      action: { kind: 'undrain' },
      waitMs: Math.min(AGENT_WAIT_MS, ctx.remaining()),
      startByMs: ctx.now() + START_BY_MS,
    });
    const e = o.kind === 'answered' ? o.entry : o.last;
    return e && e.state === 'succeeded' ? e.message || 'agent undrained' : `agent answered ${e?.state ?? 'nothing'}${e?.message ? `: ${e.message}` : ''}`;
  });
  return `${node} is ${mode}`;
}
