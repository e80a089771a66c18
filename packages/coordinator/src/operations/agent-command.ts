// The one way a procedure asks an agent to do something: issue the command (journaled first,
// once per id), wait for its result within the time left, and stop waiting when the operation is
// cancelled or the coordinator shuts down. The id comes from the operation and the step, so a
// resumed step asks again under the same id and the agent never runs it twice.
import type { CommandAction } from '@lbha/shared';
import type { JournalEntry } from '../store/coordinator-state.js';
import { isFinalCommandState } from '../store/coordinator-state.js';
import { secs, type OperationContext } from './operation-context.js';

/** What came of a command: a final answer, or none within the time given. */
export type CommandOutcome =
  | { readonly kind: 'answered'; readonly entry: JournalEntry }
  | { readonly kind: 'silent'; readonly waitedMs: number; readonly last: JournalEntry | undefined };

export interface AgentCommand {
  readonly node: string;
  /** The step's prefix (a rolling restart's `NODE/`) and name: the command id is derived from both. */
  readonly prefix: string;
  readonly name: string;
  readonly action: CommandAction;
  /** How long to wait for the answer (default: the time left). */
  readonly waitMs?: number;
  /** The agent starts the command only before this (default: when the wait ends). */
  readonly startByMs?: number;
  /** Every intermediate report (accepted, running with progress). */
  readonly onProgress?: (e: JournalEntry) => void;
}

export function commandId(ctx: OperationContext, prefix: string, name: string): string {
  return `${ctx.id}.${prefix.replace(/[^a-z0-9]/g, '-')}${name}`;
}

export async function agentCommand(ctx: OperationContext, c: AgentCommand): Promise<CommandOutcome> {
  const waitMs = c.waitMs ?? ctx.remaining();
  const id = commandId(ctx, c.prefix, c.name);
  await ctx.env.commands.issue({ id, node: c.node, action: c.action, operationId: ctx.id, deadlineMs: c.startByMs ?? ctx.now() + waitMs });
  const e = await ctx.env.commands.wait(id, waitMs, c.onProgress, ctx.signal);
  ctx.checkInterrupt();
  return e && isFinalCommandState(e.state) ? { kind: 'answered', entry: e } : { kind: 'silent', waitedMs: waitMs, last: e };
}

/** "failed: message" (the latest report), or that the agent did not answer. */
export function describeOutcome(o: CommandOutcome, node: string): string {
  const e = o.kind === 'answered' ? o.entry : o.last;
  if (o.kind === 'silent' && (!e || e.state === 'pending')) return `the agent of ${node} did not answer within ${secs(o.waitedMs)}`;
  return `${e?.state}: ${e?.message}`;
}

/** The command finished and succeeded. */
export function succeeded(o: CommandOutcome): o is { readonly kind: 'answered'; readonly entry: JournalEntry } {
  return o.kind === 'answered' && o.entry.state === 'succeeded';
}
