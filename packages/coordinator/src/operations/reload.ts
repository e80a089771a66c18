// reload NODE SERVICE: the agent validates the configuration first and refuses a bad one; the
// running configuration is then unchanged.
import { OperationFailedError } from '../errors.js';
import { agentCommand, describeOutcome, succeeded } from './agent-command.js';
import type { OperationContext } from './operation-context.js';

export async function reload(ctx: OperationContext, node: string, service: string): Promise<string> {
  let message = '';
  await ctx.step('reload', async () => {
    const o = await agentCommand(ctx, { node, prefix: '', name: 'reload', action: { kind: 'reload', service } });
    if (!succeeded(o)) throw new OperationFailedError(`reload of ${service} on ${node} refused or failed (${describeOutcome(o, node)}); the running configuration is unchanged`);
    message = o.entry.message || `${service} reloaded`;
    return message;
  });
  return message || `${service} reloaded on ${node}`;
}
