import type { CliCommand } from '../command.js';
import { call } from '../control-client.js';
import { UsageError } from '../errors.js';
import { operationLine } from '../operation-progress.js';
import { ago, table, utcClock } from '../table.js';

export const operationsCommand: CliCommand = {
  name: 'operations',
  summary: 'list recent operations, or show one with its steps',
  usage: 'lbha operations [ID] [--limit N] [--json]',
  options: { limit: { type: 'string', arg: 'N', help: 'at most N operations' } },
  async run(ctx) {
    const [id, extra] = ctx.positionals;
    if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`);
    const client = ctx.client();
    if (id) {
      const res = await call(client, ctx.config, client.getOperation, { id });
      const op = res.operation;
      if (!op) throw new Error('the coordinator returned no operation');
      if (ctx.config.json) {
        ctx.out(JSON.stringify({ operation: op }, null, 2) + '\n');
        return 0;
      }
      ctx.out(operationLine(op) + '\n');
      const ends = (op.state === 'pending' || op.state === 'running') && op.deadlineMs > 0 ? `; ends by ${utcClock(op.deadlineMs)} UTC at the latest` : '';
      ctx.out(`started ${ago(op.createdMs)} by ${op.actor}${op.force ? ' (forced)' : ''}, updated ${ago(op.updatedMs)}${ends}\n`);
      ctx.out(table(['STEP', 'STATE', 'MESSAGE'], op.steps.map((s) => [s.name, s.state, s.message])));
      return 0;
    }
    const limitText = ctx.values['limit'] as string | undefined;
    const limit = limitText === undefined ? 20 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive whole number');
    const res = await call(client, ctx.config, client.listOperations, { limit });
    if (ctx.config.json) {
      ctx.out(JSON.stringify(res, null, 2) + '\n');
      return 0;
    }
    if (res.operations.length === 0) {
      ctx.out('no operations\n');
      return 0;
    }
    ctx.out(
      table(
        ['ID', 'KIND', 'TARGET', 'STATE', 'STARTED', 'BY', 'MESSAGE'],
        res.operations.map((o) => [o.id, o.kind.replace('_', '-'), o.service ? `${o.service}@${o.node || o.cluster}` : o.node || o.cluster, o.state, ago(o.createdMs), o.actor, o.message]),
      ),
    );
    return 0;
  },
};

export const cancelCommand: CliCommand = {
  name: 'cancel',
  summary: 'stop a running operation where it is (nothing is rolled back)',
  usage: 'lbha cancel ID [--reason TEXT] [--json]',
  options: { reason: { type: 'string', arg: 'TEXT', help: 'why, recorded in the event log' } },
  async run(ctx) {
    const [id, extra] = ctx.positionals;
    if (!id) throw new UsageError('cancel needs an operation ID (see lbha operations)');
    if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`);
    const client = ctx.client();
    const res = await call(client, ctx.config, client.cancelOperation, { id, reason: (ctx.values['reason'] as string | undefined) ?? '' });
    const op = res.operation;
    if (!op) throw new Error('the coordinator returned no operation');
    ctx.out(ctx.config.json ? JSON.stringify({ operation: op }, null, 2) + '\n' : operationLine(op) + '\n');
    return 0;
  },
};
