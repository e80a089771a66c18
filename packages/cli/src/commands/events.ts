import { status, type ServiceError } from '@grpc/grpc-js';
import type { pbTypes } from '@lbha/shared';
import type { CliCommand, CommandContext } from '../command.js';
import { call, callMetadata } from '../control-client.js';
import { CallError, UsageError } from '../errors.js';
import { printable } from '../terminal-text.js';

/** One event on one line, whatever its fields hold (control characters are shown escaped). */
export function eventLine(e: pbTypes.Event): string {
  const where = [e.cluster, e.node, e.vip].filter((x) => x !== '').join('/') || '-';
  const extra = [e.reason ? `reason: ${e.reason}` : '', e.actor && e.actor !== 'system' ? `by ${e.actor}` : '', e.operationId ? `op ${e.operationId}` : '']
    .filter((x) => x !== '')
    .join('; ');
  return printable(`${new Date(e.timeMs).toISOString()} ${e.severity.toUpperCase().padEnd(8)} ${e.type.padEnd(22)} ${where.padEnd(28)} ${e.message}${extra ? ` (${extra})` : ''}`) + '\n';
}

function emit(ctx: CommandContext, e: pbTypes.Event): void {
  ctx.out(ctx.config.json ? JSON.stringify(e) + '\n' : eventLine(e));
}

export const eventsCommand: CliCommand = {
  name: 'events',
  summary: 'show the event log (--follow streams new events)',
  usage: 'lbha events [--cluster NAME] [--node NAME] [--after SEQ] [--limit N] [--follow] [--json]',
  options: {
    cluster: { type: 'string', arg: 'NAME', help: 'only this cluster\'s events' },
    node: { type: 'string', arg: 'NAME', help: 'only this node\'s events' },
    after: { type: 'string', arg: 'SEQ', help: 'only events after this sequence number' },
    limit: { type: 'string', arg: 'N', help: 'at most N events' },
    follow: { type: 'boolean', short: 'f', help: 'keep streaming new events' },
  },
  async run(ctx) {
    if (ctx.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(ctx.positionals[0])}`);
    const num = (name: string, dflt: number) => {
      const v = ctx.values[name] as string | undefined;
      if (v === undefined) return dflt;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a whole number`);
      return n;
    };
    const cluster = (ctx.values['cluster'] as string | undefined) ?? '';
    const node = (ctx.values['node'] as string | undefined) ?? '';
    const afterSeq = num('after', 0);
    const client = ctx.client();
    if (ctx.values['follow'] !== true) {
      const res = await call(client, ctx.config, client.listEvents, { afterSeq, limit: num('limit', 1000), cluster, node });
      for (const e of res.events) emit(ctx, e);
      return 0;
    }
    // Replays what is already recorded after --after, then streams until interrupted.
    return new Promise<number>((resolve, reject) => {
      const stream = client.watchEvents({ afterSeq, cluster, node }, callMetadata(ctx.config));
      const stop = () => stream.cancel();
      process.once('SIGINT', stop);
      stream.on('data', (res: { event?: pbTypes.Event }) => {
        if (res.event) emit(ctx, res.event);
      });
      stream.on('error', (err: ServiceError) => {
        process.off('SIGINT', stop);
        if (err.code === status.CANCELLED) resolve(0);
        else reject(new CallError(`${status[err.code] ?? err.code}: ${err.details}`, err.code));
      });
      stream.on('end', () => {
        process.off('SIGINT', stop);
        resolve(0);
      });
    });
  },
};
