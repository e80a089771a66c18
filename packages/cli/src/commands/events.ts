import { status, type ServiceError } from '@grpc/grpc-js';
import type { pbTypes } from '@lbha/shared';
import type { CliCommand, CommandContext } from '../command.js';
import { call, callMetadata } from '../control-client.js';
import { CallError, UsageError } from '../errors.js';
import { printable } from '../terminal-text.js';
import { wholeNumberOption } from '../whole-number-option.js';

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

/** Why a stream may end that a new stream from the last seq seen cures. */
const RESUMABLE: ReadonlySet<number> = new Set([status.UNAVAILABLE, status.RESOURCE_EXHAUSTED, status.ABORTED]);

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
    const num = (name: string, dflt: number) => wholeNumberOption(ctx, name, dflt);
    const cluster = (ctx.values['cluster'] as string | undefined) ?? '';
    const node = (ctx.values['node'] as string | undefined) ?? '';
    const afterSeq = num('after', 0);
    const client = ctx.client();
    if (ctx.values['follow'] !== true) {
      const res = await call(client, ctx.config, client.listEvents, { afterSeq, limit: num('limit', 1000), cluster, node });
      for (const e of res.events) emit(ctx, e);
      return 0;
    }
    // Replays what is already recorded after --after, then streams until interrupted. A seq
    // means the same event on every coordinator, so when the stream breaks (a restart, a new
    // leader, this watcher being too slow) it resumes after the last event shown: none is
    // missed or shown twice.
    let last = afterSeq;
    let interrupted = false;
    let current: { cancel(): void } | undefined;
    const stop = () => {
      interrupted = true;
      current?.cancel();
    };
    process.once('SIGINT', stop);
    try {
      for (let attempt = 0; ; attempt++) {
        const ended = await new Promise<ServiceError | undefined>((resolve) => {
          const stream = client.watchEvents({ afterSeq: last, cluster, node }, callMetadata(ctx.config));
          current = stream;
          stream.on('data', (res: { event?: pbTypes.Event }) => {
            if (!res.event) return;
            last = Math.max(last, res.event.seq);
            attempt = 0;
            emit(ctx, res.event);
          });
          stream.on('error', (err: ServiceError) => resolve(err));
          stream.on('end', () => resolve(undefined));
        });
        if (interrupted || !ended || ended.code === status.CANCELLED) return 0;
        if (!RESUMABLE.has(ended.code)) throw new CallError(`${status[ended.code] ?? ended.code}: ${ended.details}`, ended.code);
        ctx.progress(`lbha: event stream ended (${status[ended.code]}: ${ended.details}); resuming after seq ${last}\n`);
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** attempt)));
      }
    } finally {
      process.off('SIGINT', stop);
    }
  },
};
