import { linkFromWire, nodeModeWire, pbTypes, type NodeLink } from '@lbha/shared';
import { type pbControl } from '@lbha/shared/control';

const CHECK_RESULT_HEALTHY = pbTypes.CheckResultKind.CHECK_RESULT_KIND_HEALTHY;
import type { CliCommand } from '../command.js';
import { call } from '../control-client.js';
import { UsageError } from '../errors.js';
import { table } from '../table.js';
import { printable } from '../terminal-text.js';

/** "lb2: would not serve vip1 if it received it (standby readiness): why", per VIP it fails. */
export function readinessNotes(n: pbControl.NodeInfo): string[] {
  return (n.state?.readiness?.vips ?? []).filter((v) => v.result?.kind !== CHECK_RESULT_HEALTHY).map((v) => `${n.name}: would not serve ${v.vip} if it received it (standby readiness): ${v.result?.reason || 'not proven yet'}`);
}

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
  /** Lines printed under the table. */
  notes: (n: pbControl.NodeInfo) => string[] = () => [],
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
        for (const line of res.nodes.flatMap(notes)) ctx.out(`${printable(line)}\n`);
      }
      return 0;
    },
  };
}
