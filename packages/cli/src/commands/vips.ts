import { pbTypes, vrrpStateWire } from '@lbha/shared';
import { type pbControl } from '@lbha/shared/control';
import type { CliCommand } from '../command.js';
import { call } from '../control-client.js';
import { UsageError } from '../errors.js';
import { table, utcClock } from '../table.js';
import { printable } from '../terminal-text.js';

function vrrp(state: number): string {
  try {
    return vrrpStateWire.fromWire(state, 'state').toUpperCase();
  } catch {
    return 'UNKNOWN';
  }
}

function signed(n: number): string {
  return n >= 0 ? `+ ${n}` : `- ${-n}`;
}

/** "150 = base 100 + placement 50 (rank 0) - check:down-file 50 (maintenance file)" */
export function explain(p: pbControl.VipHolderState): string {
  const [first, ...rest] = p.priorityTerms;
  if (!first) return `${p.effectivePriority}`;
  const term = (t: pbTypes.PriorityTerm, lead: boolean) => `${lead ? `${t.delta}` : signed(t.delta)} ${t.source}${t.reason && t.reason !== t.source ? ` (${t.reason})` : ''}`;
  return `${p.effectivePriority} = ${term(first, true)} ${rest.map((t) => term(t, false)).join(' ')}`.trimEnd();
}

/** Planned moves in progress and handovers a node could not start. */
export function handoverLines(v: pbControl.VipInfo): string[] {
  const out: string[] = [];
  const h = v.handover;
  if (h) {
    const verb = v.actualHolders.includes(h.toNode) ? 'moved' : 'moving';
    const n = v.perNode.find((p) => p.node === h.fromNode)?.handoverConnections;
    const open = n === undefined ? 'its open connections' : `its ${n} open connection${n === 1 ? '' : 's'}`;
    // The window ends early once they are gone; while some are left it is extended (docs/design/handover.md).
    out.push(`${v.cluster}/${v.name}: ${verb} from ${h.fromNode} to ${h.toNode}; ${h.fromNode} answers ${open} until they end (at the latest ${utcClock(h.untilMs)} UTC)`);
  }
  for (const p of v.perNode) if (p.handoverError) out.push(`${v.cluster}/${v.name}: ${p.node} could not start its handover: ${p.handoverError}`);
  return out;
}

/** VIPs an operator moved or pinned (lbha move). */
export function pinLines(v: pbControl.VipInfo): string[] {
  const p = v.pin;
  if (!p) return [];
  const how = p.sticky ? `pinned to ${p.node} (until lbha unpin)` : `moved to ${p.node} (until ${p.node} cannot hold it)`;
  return [`${v.cluster}/${v.name}: ${how} by ${p.actor || 'an operator'}${p.reason ? `: ${p.reason}` : ''}`];
}

/** "ready" or "not ready: why" (standby readiness); '' when the node does not report it. */
export function readinessText(p: pbControl.VipHolderState): string {
  const r = p.readiness;
  if (!r) return '';
  return r.result?.kind === pbTypes.CheckResultKind.CHECK_RESULT_KIND_HEALTHY ? 'ready' : `not ready: ${r.result?.reason || 'not proven yet'}`;
}

/** Nodes that would not serve a VIP they may receive (standby readiness). */
export function readinessLines(v: pbControl.VipInfo): string[] {
  return v.perNode.flatMap((p) => {
    const t = readinessText(p);
    return t.startsWith('not ready') ? [`${v.cluster}/${v.name}: ${p.node} is ${t}`] : [];
  });
}

/** Routers that are not nodes of the cluster advertising a VIP's VRID. */
export function foreignLines(v: pbControl.VipInfo): string[] {
  return v.foreignRouters.map((f) => `${v.cluster}/${v.name}: ${f.source} advertises VRID ${v.vrid} with priority ${f.priority}; it is not a node of the cluster (seen by ${f.seenBy.join(', ')})`);
}

export const vipsCommand: CliCommand = {
  name: 'vips',
  summary: 'list VIPs: desired and actual holder, status, why, standbys not ready; --explain shows each node\'s priority and readiness',
  usage: 'lbha vips [--cluster NAME] [--explain] [--json]',
  options: { cluster: { type: 'string', arg: 'NAME', help: 'only this cluster\'s VIPs' }, explain: { type: 'boolean', help: 'show each node\'s priority and why' } },
  async run(ctx) {
    if (ctx.positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(ctx.positionals[0])}`);
    const client = ctx.client();
    const res = await call(client, ctx.config, client.listVips, { cluster: (ctx.values['cluster'] as string | undefined) ?? '' });
    if (ctx.config.json) {
      ctx.out(JSON.stringify({ vips: res.vips.map((v) => ({ ...v, perNode: v.perNode.map((p) => ({ ...p, state: vrrp(p.state).toLowerCase() })) })) }, null, 2) + '\n');
      return 0;
    }
    if (res.vips.length === 0) {
      ctx.out('no VIPs (apply a cluster spec with lbha spec apply FILE)\n');
      return 0;
    }
    const rows = res.vips.map((v) => [
      v.cluster,
      v.name,
      v.address,
      String(v.vrid),
      v.desiredHolder || '-',
      v.actualHolders.join(',') || '-',
      v.status.toUpperCase().replace('_', '-'),
      v.perNode.map((p) => `${p.node}:${vrrp(p.state)}/${p.effectivePriority}`).join(' '),
      v.reason,
    ]);
    ctx.out(table(['CLUSTER', 'VIP', 'ADDRESS', 'VRID', 'DESIRED', 'ACTUAL', 'STATUS', 'STATE/PRIORITY', 'WHY'], rows));
    for (const line of res.vips.flatMap((v) => [...pinLines(v), ...handoverLines(v), ...readinessLines(v), ...foreignLines(v)])) ctx.out(`${printable(line)}\n`);
    if (ctx.values['explain'] === true) {
      for (const v of res.vips) {
        ctx.out(`\n${printable(`${v.cluster}/${v.name} (${v.address}): desired ${v.desiredHolder || '-'} because ${v.reason || 'no placement yet'}; ranking ${v.ranking.join(' > ') || '-'}`)}\n`);
        for (const p of v.perNode) ctx.out(`  ${printable(`${p.node.padEnd(20)} ${vrrp(p.state).padEnd(7)} ${p.vipPresent ? 'has VIP ' : '        '} priority ${explain(p)}${readinessText(p) ? `; ${readinessText(p)}` : ''}`)}\n`);
      }
    }
    return 0;
  },
};
