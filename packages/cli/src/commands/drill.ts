// drill waits until every VIP has been to its standby and back by default (--detach returns at
// once), showing each step as it goes, then prints each VIP's figures.
import type { pbControl } from '@lbha/shared/control';
import type { CliCommand } from '../command.js';
import { call } from '../control-client.js';
import { UsageError } from '../errors.js';
import { durationFlag, followOperation, operationLine } from '../operation-progress.js';
import { table } from '../table.js';

function figures(f: pbControl.DrillFigures | undefined): string[] {
  if (!f) return ['-', '-', '-', '-'];
  const part = f.complete ? '' : ' (part)';
  return [`${f.sent}${part}`, String(f.failed), `${f.longestGapMs} ms`, f.answeredMs < 0 ? 'never' : `${f.answeredMs} ms`];
}

/** The outcome line, then one row per VIP and move: probes, failed, longest gap, answered after. */
export function drillText(op: pbControl.Operation): string {
  const rows = op.drillResults.flatMap((r) => [
    [r.vip, `${r.home} -> ${r.standby}`, ...figures(r.toStandby), r.passed ? 'passed' : 'FAILED'],
    ['', `${r.standby} -> ${r.home}`, ...figures(r.backHome), r.endedOn === r.home ? `on ${r.home}` : `on ${r.endedOn || 'no node'}`],
  ]);
  const head = `${operationLine(op)}\n`;
  return rows.length === 0 ? head : head + table(['VIP', 'MOVE', 'PROBES', 'FAILED', 'LONGEST GAP', 'ANSWERED AFTER', 'RESULT'], rows);
}

export const drillCommand: CliCommand = {
  name: 'drill',
  summary: 'move each VIP of a cluster to its standby and back with the handover, probing it from outside, and record the figures',
  usage: 'lbha drill CLUSTER [--vip VIP] [--timeout 90s] [--detach] [--reason TEXT] [--json]',
  options: {
    vip: { type: 'string', arg: 'VIP', help: 'drill this VIP of the cluster alone (default: every VIP, one after the other)' },
    timeout: { type: 'string', arg: 'DURATION', help: 'time per VIP, there and back (default 90s)' },
    detach: { type: 'boolean', help: 'print the operation id and return at once' },
    reason: { type: 'string', arg: 'TEXT', help: 'why, recorded in the event log' },
  },
  async run(ctx) {
    const [cluster, extra] = ctx.positionals;
    if (!cluster) throw new UsageError('drill needs a CLUSTER');
    if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`);
    const vip = (ctx.values['vip'] as string | undefined) ?? '';
    if (ctx.values['vip'] !== undefined && vip === '') throw new UsageError('--vip needs a VIP name');
    const timeoutMs = durationFlag(ctx, 'timeout') ?? 0;
    const client = ctx.client();
    const res = await call(client, ctx.config, client.drillCluster, { cluster, vip, timeoutMs, reason: (ctx.values['reason'] as string | undefined) ?? '' });
    return followOperation(ctx, res.operation, ctx.values['detach'] !== true, drillText);
  },
};
