// Shows a long operation (drain, restart, rolling restart, backend drain) as it runs: one line per
// step as it starts and ends, connection or session counts while draining, then the outcome.
// Progress goes to stderr; the final record goes to stdout (JSON with --json).
import { parseDuration } from '@lbha/shared';
import { type pbControl } from '@lbha/shared/control';
import type { CommandContext } from './command.js';
import { call } from './control-client.js';
import { UsageError } from './errors.js';
import { printable } from './terminal-text.js';

type Operation = pbControl.Operation;

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

/** Past the operation's deadline, how long to keep asking for its final record (it is written last). */
const FINAL_RECORD_SLACK_MS = 10_000;

/** Parses a --timeout style duration ("30s", "2m", "1500" ms); undefined when absent. */
export function durationFlag(ctx: CommandContext, name: string): number | undefined {
  const v = ctx.values[name];
  if (v === undefined) return undefined;
  const ms = typeof v === 'string' ? parseDuration(v) : undefined;
  if (ms === undefined || ms <= 0 || ms > 86_400_000) throw new UsageError(`--${name} must be a duration such as 30s, 2m or 1500ms`);
  return Math.round(ms);
}

export function operationLine(op: Operation): string {
  const target = op.server ? `${op.server} in cluster ${op.cluster}` : op.service ? `${op.service} on ${op.node || op.cluster}` : op.node || op.cluster;
  return printable(`${op.kind.replace('_', '-')} ${target}: ${op.state}${op.message ? ` - ${op.message}` : ''} (operation ${op.id})`);
}

/** How a command shows its final record (as text; --json prints the record). */
export type ResultText = (op: Operation) => string;

function printResult(ctx: CommandContext, op: Operation, text: ResultText = (o) => operationLine(o) + '\n'): number {
  if (ctx.config.json) ctx.out(JSON.stringify({ operation: op }, null, 2) + '\n');
  else ctx.out(text(op));
  if (op.state === 'failed' || op.state === 'cancelled') {
    if (!ctx.config.json) ctx.progress(`lbha: ${printable(`${op.kind.replace('_', '-')} ${op.state}: ${op.message}`)}\n`);
    return 1;
  }
  return 0;
}

/**
 * Prints the started operation, or with `wait` follows it to the end: resolves to 0 when it
 * succeeded, 1 when it failed (with its reason on stderr). It stops waiting a little after the
 * deadline the coordinator reports (which moves when a coordinator restart resumed the
 * operation); a coordinator that reports none is followed until the operation ends.
 */
export async function followOperation(ctx: CommandContext, started: Operation | undefined, wait: boolean, text?: ResultText): Promise<number> {
  if (!started) throw new Error('the coordinator returned no operation');
  if (!wait) return printResult(ctx, started);
  const client = ctx.client();
  const seen = new Map<string, string>();
  let lastConns = -1;
  let op = started;
  for (;;) {
    for (const s of op.steps) {
      if (seen.get(s.name) === s.state) continue;
      seen.set(s.name, s.state);
      ctx.progress(`  ${printable(`${s.name}: ${s.state}${s.message ? ` - ${s.message}` : ''}`)}\n`);
    }
    const waiting = op.state === 'running' ? op.steps.find((s) => (s.name.endsWith('connections') || s.name === 'sessions') && s.state === 'running') : undefined;
    if (waiting && op.activeConnections !== lastConns) {
      lastConns = op.activeConnections;
      // A backend drain's message says it per node already: "3 sessions left (lb1 2, lb2 1)".
      ctx.progress(`  ${waiting.name === 'sessions' ? (op.message ? printable(op.message) : `${op.activeConnections} sessions left`) : `${op.activeConnections} active connections left`}\n`);
    }
    if (FINAL.has(op.state)) return printResult(ctx, op, text);
    if (op.deadlineMs > 0 && Date.now() > op.deadlineMs + FINAL_RECORD_SLACK_MS) {
      ctx.progress(`lbha: stopped waiting; operation ${op.id} is still ${op.state} (see lbha operations ${op.id})\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 300));
    const res = await call(client, ctx.config, client.getOperation, { id: op.id });
    if (res.operation) op = res.operation;
  }
}
