// move waits until the VIP answers on its new node by default (--detach returns at once);
// unpin lets placement decide again.
import type { CliCommand } from '../command.js';
import { call } from '../control-client.js';
import { UsageError } from '../errors.js';
import { durationFlag, followOperation } from '../operation-progress.js';
import { printable } from '../terminal-text.js';

export const moveCommand: CliCommand = {
  name: 'move',
  summary: 'move one VIP to a node with the connection handover (--pin: keep it there until unpinned)',
  usage: 'lbha move VIP NODE [--pin] [--cluster NAME] [--timeout 30s] [--detach] [--reason TEXT] [--json]',
  options: {
    pin: { type: 'boolean', help: 'keep the VIP on NODE until lbha unpin: it comes back there after NODE recovers, whatever the failback policy' },
    cluster: { type: 'string', arg: 'NAME', help: 'the VIP\'s cluster, when clusters share the VIP\'s name' },
    timeout: { type: 'string', arg: 'DURATION', help: 'how long the move may take before it is withdrawn (default 30s)' },
    detach: { type: 'boolean', help: 'print the operation id and return at once' },
    reason: { type: 'string', arg: 'TEXT', help: 'why, recorded in the event log' },
  },
  async run(ctx) {
    const [vip, node, extra] = ctx.positionals;
    if (!vip || !node) throw new UsageError('move needs VIP and NODE');
    if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`);
    const timeoutMs = durationFlag(ctx, 'timeout') ?? 0;
    const client = ctx.client();
    const res = await call(client, ctx.config, client.moveVip, {
      vip,
      node,
      cluster: (ctx.values['cluster'] as string | undefined) ?? '',
      pin: ctx.values['pin'] === true,
      timeoutMs,
      reason: (ctx.values['reason'] as string | undefined) ?? '',
    });
    return followOperation(ctx, res.operation, ctx.values['detach'] !== true);
  },
};

export const unpinCommand: CliCommand = {
  name: 'unpin',
  summary: 'remove a VIP\'s pin (or a move still in force): home and failback apply to it again',
  usage: 'lbha unpin VIP [--cluster NAME] [--reason TEXT] [--json]',
  options: {
    cluster: { type: 'string', arg: 'NAME', help: 'the VIP\'s cluster, when clusters share the VIP\'s name' },
    reason: { type: 'string', arg: 'TEXT', help: 'why, recorded in the event log' },
  },
  async run(ctx) {
    const [vip, extra] = ctx.positionals;
    if (!vip) throw new UsageError('unpin needs a VIP');
    if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`);
    const client = ctx.client();
    const res = await call(client, ctx.config, client.unpinVip, {
      vip,
      cluster: (ctx.values['cluster'] as string | undefined) ?? '',
      reason: (ctx.values['reason'] as string | undefined) ?? '',
    });
    if (ctx.config.json) ctx.out(JSON.stringify(res, null, 2) + '\n');
    else ctx.out(`${printable(`${res.cluster}/${res.vip}: no longer held on ${res.node} by an operator; placement decides again`)}\n`);
    return 0;
  },
};
