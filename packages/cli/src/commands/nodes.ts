import type { pbControl } from '@lbha/shared';
import type { CliCommand } from '../command.js';
import { call } from '../control-client.js';
import { UsageError } from '../errors.js';
import { ago, table } from '../table.js';
import { modeName } from './status.js';

function connection(n: pbControl.NodeInfo): string {
  if (!n.connected) return 'disconnected';
  return n.stale ? 'stale' : 'connected';
}

export const nodesCommand: CliCommand = {
  name: 'nodes',
  summary: 'list nodes with mode, health, desired/applied state version, NACKs and held VIPs',
  usage: 'lbha nodes [--cluster NAME] [--json]',
  options: { cluster: { type: 'string' } },
  async run(ctx) {
    if (ctx.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(ctx.positionals[0])}`);
    const client = ctx.client();
    const res = await call(client, ctx.config, client.listNodes, { cluster: (ctx.values['cluster'] as string | undefined) ?? '' });
    if (ctx.config.json) {
      ctx.out(JSON.stringify({ nodes: res.nodes.map((n) => ({ ...n, mode: modeName(n.mode) })) }, null, 2) + '\n');
      return 0;
    }
    if (res.nodes.length === 0) {
      ctx.out('no nodes have connected\n');
      return 0;
    }
    const rows = res.nodes.map((n) => [
      n.name,
      n.cluster,
      modeName(n.mode),
      connection(n),
      n.state ? (n.healthy ? 'healthy' : 'unhealthy') : '-',
      `${n.appliedVersion}/${n.desiredVersion}${n.desiredVersion !== 0 && n.appliedVersion === n.desiredVersion ? '' : ' (pending)'}`,
      (n.state?.instances ?? []).filter((i) => i.vipPresent).map((i) => i.name).join(',') || '-',
      ago(n.lastSeenMs),
      n.nackError ? `NACK: ${n.nackError}` : '',
    ]);
    ctx.out(table(['NODE', 'CLUSTER', 'MODE', 'CONNECTION', 'HEALTH', 'APPLIED/DESIRED', 'HOLDS', 'LAST SEEN', 'PROBLEM'], rows));
    return 0;
  },
};
