import { nodeModeWire, type pbControl } from '@lbha/shared';
import type { CliCommand } from '../command.js';
import { call } from '../control-client.js';
import { UsageError } from '../errors.js';
import { ago, table } from '../table.js';

function connection(n: pbControl.NodeInfo): string {
  if (!n.connected) return 'disconnected';
  return n.stale ? 'stale' : 'connected';
}

export const statusCommand: CliCommand = {
  name: 'status',
  summary: 'list nodes: connection, mode, health, VRRP states',
  usage: 'lbha status [--cluster NAME] [--json]',
  options: { cluster: { type: 'string' } },
  async run(ctx) {
    if (ctx.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(ctx.positionals[0])}`);
    const cluster = (ctx.values['cluster'] as string | undefined) ?? '';
    const client = ctx.client();
    const res = await call(client, ctx.config, client.listNodes, { cluster });
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
      connection(n),
      modeName(n.mode),
      n.state ? (n.healthy ? 'healthy' : 'unhealthy') : '-',
      (n.state?.instances ?? []).map((i) => `${i.name}:${vrrpName(i.state)}`).join(' ') || '-',
      ago(n.lastSeenMs),
      n.agentVersion,
    ]);
    ctx.out(table(['NODE', 'CLUSTER', 'CONNECTION', 'MODE', 'HEALTH', 'VRRP', 'LAST SEEN', 'AGENT'], rows));
    return 0;
  },
};

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
