import type { CliCommand } from '../command.js';
import { call } from '../control-client.js';
import { UsageError } from '../errors.js';
import { durationFlag, followOperation } from '../operation-progress.js';

export const drainCommand: CliCommand = {
  name: 'drain',
  summary: 'move VIPs off a node and wait for its connections to drain (--maintenance: and silence its alerts)',
  usage: 'lbha drain NODE [--wait] [--timeout 60s] [--force] [--maintenance] [--reason TEXT] [--json]',
  options: {
    wait: { type: 'boolean', help: 'wait until the node\'s connections have drained' },
    timeout: { type: 'string', arg: 'DURATION', help: 'how long the drain may take (default 60s)' },
    force: { type: 'boolean', help: 'drain even when a VIP would be left without a healthy holder' },
    maintenance: { type: 'boolean', help: 'put the node in maintenance: drained, and its alerts silenced' },
    reason: { type: 'string', arg: 'TEXT', help: 'why, recorded in the event log' },
  },
  async run(ctx) {
    const [node, extra] = ctx.positionals;
    if (!node) throw new UsageError('drain needs a NODE');
    if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`);
    const timeoutMs = durationFlag(ctx, 'timeout') ?? 0;
    const client = ctx.client();
    const res = await call(client, ctx.config, client.drain, {
      node,
      timeoutMs,
      force: ctx.values['force'] === true,
      maintenance: ctx.values['maintenance'] === true,
      reason: (ctx.values['reason'] as string | undefined) ?? '',
    });
    return followOperation(ctx, res.operation, ctx.values['wait'] === true);
  },
};

export const undrainCommand: CliCommand = {
  name: 'undrain',
  summary: 'make a drained node (or one in maintenance) active again',
  usage: 'lbha undrain NODE [--wait] [--reason TEXT] [--json]',
  options: {
    wait: { type: 'boolean', help: 'wait until the node is active again' },
    reason: { type: 'string', arg: 'TEXT', help: 'why, recorded in the event log' },
  },
  async run(ctx) {
    const [node, extra] = ctx.positionals;
    if (!node) throw new UsageError('undrain needs a NODE');
    if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`);
    const client = ctx.client();
    const res = await call(client, ctx.config, client.undrain, { node, reason: (ctx.values['reason'] as string | undefined) ?? '' });
    return followOperation(ctx, res.operation, ctx.values['wait'] === true);
  },
};
