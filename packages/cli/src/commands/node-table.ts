import { linkFromWire, nodeModeWire, type NodeLink, type pbControl } from '@lbha/shared';
import type { CliCommand } from '../command.js';
import { call } from '../control-client.js';
import { UsageError } from '../errors.js';
import { table } from '../table.js';

export function modeName(mode: number): string {
  try {
    return nodeModeWire.fromWire(mode, 'mode');
  } catch {
    return 'unknown';
  }
}

const VRRP = ['unknown', 'init', 'backup', 'master', 'fault', 'stop', 'deleted'];
export function vrrpName(state: number): string {
  return (VRRP[state] ?? 'unknown').toUpperCase();
}

export function connection(n: pbControl.NodeInfo): NodeLink {
  return linkFromWire(n);
}

export function health(n: pbControl.NodeInfo): string {
  if (!n.state) return '-';
  return n.healthy ? 'healthy' : 'unhealthy';
}

/**
 * A command that lists nodes (`status`, `nodes`): the same call, filter and JSON shape; only the
 * table's columns differ.
 */
export function nodeTableCommand(
  meta: Pick<CliCommand, 'name' | 'summary' | 'usage'>,
  header: readonly string[],
  row: (n: pbControl.NodeInfo) => string[],
): CliCommand {
  return {
    ...meta,
    options: { cluster: { type: 'string', arg: 'NAME', help: 'only this cluster\'s nodes' } },
    async run(ctx) {
      if (ctx.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(ctx.positionals[0])}`);
      const client = ctx.client();
      const res = await call(client, ctx.config, client.listNodes, { cluster: (ctx.values['cluster'] as string | undefined) ?? '' });
      if (ctx.config.json) {
        ctx.out(JSON.stringify({ nodes: res.nodes.map((n) => ({ ...n, mode: modeName(n.mode) })) }, null, 2) + '\n');
      } else if (res.nodes.length === 0) {
        ctx.out('no nodes: the coordinator has no spec with nodes and no agent has connected (lbha spec apply FILE)\n');
      } else {
        ctx.out(table(header, res.nodes.map(row)));
      }
      return 0;
    },
  };
}
