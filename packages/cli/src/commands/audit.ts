import type { pbControl } from '@lbha/shared/control';
import type { CliCommand } from '../command.js';
import { call } from '../control-client.js';
import { UsageError } from '../errors.js';
import { table } from '../table.js';
import { wholeNumberOption } from '../whole-number-option.js';

function target(r: pbControl.AuditRecord): string {
  return [r.cluster && `cluster=${r.cluster}`, r.node && `node=${r.node}`, r.service && `service=${r.service}`].filter(Boolean).join(' ') || '-';
}

export const auditCommand: CliCommand = {
  name: 'audit',
  summary: 'show the audit trail: every mutating call, who made it, why, and how it ended',
  usage: 'lbha audit [--actor ACTOR] [--after SEQ] [--limit N] [--json]',
  options: {
    actor: { type: 'string', arg: 'ACTOR', help: 'only this caller\'s calls, e.g. token:ci or cert:alice' },
    after: { type: 'string', arg: 'SEQ', help: 'only records after this sequence number' },
    limit: { type: 'string', arg: 'N', help: 'at most N records' },
  },
  async run(ctx) {
    if (ctx.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(ctx.positionals[0])}`);
    const num = (name: string, dflt: number) => wholeNumberOption(ctx, name, dflt);
    const client = ctx.client();
    const res = await call(client, ctx.config, client.listAudit, { afterSeq: num('after', 0), limit: num('limit', 1000), actor: (ctx.values['actor'] as string | undefined) ?? '' });
    if (ctx.config.json) {
      for (const r of res.records) ctx.out(JSON.stringify(r) + '\n');
      return 0;
    }
    if (res.records.length === 0) {
      ctx.out('no audit records\n');
      return 0;
    }
    ctx.out(
      table(
        ['SEQ', 'TIME', 'ACTOR', 'CALL', 'TARGET', 'OUTCOME', 'REASON'],
        res.records.map((r) => [String(r.seq), new Date(r.timeMs).toISOString(), r.actor, r.method, target(r), r.outcome, r.reason]),
      ),
    );
    return 0;
  },
};
