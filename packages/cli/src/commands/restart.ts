// restart, reload and rolling-restart wait for the operation by default (--detach returns at once).
import type { CliCommand } from '../command.js';
import { call } from '../control-client.js';
import { UsageError } from '../errors.js';
import { durationFlag, followOperation } from '../operation-progress.js';

function args(ctx: Parameters<CliCommand['run']>[0], what: string, names: [string, string]): [string, string] {
  const [a, b, extra] = ctx.positionals;
  if (!a || !b) throw new UsageError(`${what} needs ${names[0]} and ${names[1]}`);
  if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`);
  return [a, b];
}

export const restartCommand: CliCommand = {
  name: 'restart',
  summary: 'restart a service on a node (its config is validated first; a VIP holder is drained first and undrained once healthy)',
  usage: 'lbha restart NODE SERVICE [--timeout 2m] [--force] [--detach] [--reason TEXT] [--json]',
  options: {
    timeout: { type: 'string', arg: 'DURATION', help: 'time of the whole restart, a drain first taking at most half (default 2m)' },
    force: { type: 'boolean', help: 'go ahead even when a VIP would be left without a healthy holder' },
    detach: { type: 'boolean', help: 'print the operation id and return at once' },
    reason: { type: 'string', arg: 'TEXT', help: 'why, recorded in the event log' },
  },
  async run(ctx) {
    const [node, service] = args(ctx, 'restart', ['NODE', 'SERVICE']);
    const timeoutMs = durationFlag(ctx, 'timeout') ?? 0;
    const client = ctx.client();
    const res = await call(client, ctx.config, client.restartService, {
      node,
      service,
      force: ctx.values['force'] === true,
      timeoutMs,
      reason: (ctx.values['reason'] as string | undefined) ?? '',
    });
    return followOperation(ctx, res.operation, ctx.values['detach'] !== true);
  },
};

export const reloadCommand: CliCommand = {
  name: 'reload',
  summary: 'reload a service on a node (the agent validates the configuration first)',
  usage: 'lbha reload NODE SERVICE [--detach] [--reason TEXT] [--json]',
  options: {
    detach: { type: 'boolean', help: 'print the operation id and return at once' },
    reason: { type: 'string', arg: 'TEXT', help: 'why, recorded in the event log' },
  },
  async run(ctx) {
    const [node, service] = args(ctx, 'reload', ['NODE', 'SERVICE']);
    const client = ctx.client();
    const res = await call(client, ctx.config, client.reloadService, { node, service, reason: (ctx.values['reason'] as string | undefined) ?? '' });
    return followOperation(ctx, res.operation, ctx.values['detach'] !== true);
  },
};

export const rollingRestartCommand: CliCommand = {
  name: 'rolling-restart',
  summary: 'restart a service on every node of a cluster, one at a time, stopping at the first failure',
  usage: 'lbha rolling-restart CLUSTER SERVICE [--timeout 2m] [--force] [--detach] [--reason TEXT] [--json]',
  options: {
    timeout: { type: 'string', arg: 'DURATION', help: 'time of each node, unused time passing to the next (default 2m)' },
    force: { type: 'boolean', help: 'go ahead even when a VIP would be left without a healthy holder' },
    detach: { type: 'boolean', help: 'print the operation id and return at once' },
    reason: { type: 'string', arg: 'TEXT', help: 'why, recorded in the event log' },
  },
  async run(ctx) {
    const [cluster, service] = args(ctx, 'rolling-restart', ['CLUSTER', 'SERVICE']);
    const timeoutMs = durationFlag(ctx, 'timeout') ?? 0;
    const client = ctx.client();
    const res = await call(client, ctx.config, client.rollingRestart, {
      cluster,
      service,
      force: ctx.values['force'] === true,
      timeoutMs,
      reason: (ctx.values['reason'] as string | undefined) ?? '',
    });
    return followOperation(ctx, res.operation, ctx.values['detach'] !== true);
  },
};
