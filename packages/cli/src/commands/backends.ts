// `lbha backends [CLUSTER]`: every backend server of a cluster's pools as each LB node runs it,
// flagging where the nodes disagree, with each pool's healthy count and whether the nodes run
// the same proxy configuration. `lbha backend ACTION CLUSTER SERVER`: drain, undrain, disable,
// enable or reweight a server on every LB node of the cluster.
import { backendAdminWire, pbBackends } from '@lbha/shared';
import { pbControl } from '@lbha/shared/control';
import type { CliCommand, CommandContext } from '../command.js';
import { call } from '../control-client.js';
import { UsageError } from '../errors.js';
import { durationFlag, followOperation } from '../operation-progress.js';
import { table } from '../table.js';
import { printable } from '../terminal-text.js';

function admin(a: pbBackends.BackendAdminState): string {
  try {
    return backendAdminWire.fromWire(a, 'admin');
  } catch {
    return '?';
  }
}

const HEALTH: Readonly<Record<number, string>> = { [pbBackends.BackendHealth.BACKEND_HEALTH_UP]: 'up', [pbBackends.BackendHealth.BACKEND_HEALTH_DOWN]: 'DOWN' };

/** "drain 3s up w1": state, sessions, health, weight as one node runs the server. */
function cell(n: pbControl.BackendServerOnNode | undefined): string {
  if (!n || !n.reported) return '-';
  const health = HEALTH[n.health];
  return `${admin(n.admin)} ${n.sessions}s${health ? ` ${health}` : ''} w${n.weight}`;
}

function wanted(s: pbControl.BackendServerInfo): string {
  return `${admin(s.desiredAdmin)}${s.desiredWeight === undefined ? '' : ` w${s.desiredWeight}`}`;
}

function printCluster(ctx: CommandContext, cluster: string, res: pbControl.ListBackendsResponse): void {
  const servers = res.servers.filter((s) => s.cluster === cluster);
  const nodes = [...new Set(servers.flatMap((s) => s.nodes.map((n) => n.node)))];
  const config = res.configs.find((c) => c.cluster === cluster);
  ctx.out(`${printable(`cluster ${cluster}`)}\n`);
  if (servers.length === 0) ctx.out('  no backend servers: no LB node reports a pool yet and the spec lists none\n');
  else {
    const rows = servers.map((s) => [s.pool, s.server, s.address || '-', wanted(s), ...nodes.map((node) => cell(s.nodes.find((n) => n.node === node))), s.disagreement ? `DISAGREE: ${s.disagreement}` : s.managed ? '' : 'not managed by lbha']);
    ctx.out(table(['POOL', 'SERVER', 'ADDRESS', 'WANTED', ...nodes.map((n) => n.toUpperCase()), 'PROBLEM'], rows));
  }
  for (const p of res.pools.filter((x) => x.cluster === cluster)) {
    const low = p.healthy < p.minHealthy ? ' BELOW MINIMUM' : '';
    ctx.out(`${printable(`pool ${p.pool}: ${p.healthy} healthy, minimum ${p.minHealthy}${low}`)}\n`);
  }
  if (config?.drift) ctx.out(`${printable(`configuration DRIFT: ${config.message}`)}\n`);
  else if (config) {
    const unread = config.nodes.filter((n) => n.error).map((n) => `${n.node} (${n.error})`);
    ctx.out(`${printable(`configuration: the LB nodes agree${unread.length > 0 ? `; not compared: ${unread.join(', ')}` : ''}`)}\n`);
  }
}

export const backendsCommand: CliCommand = {
  name: 'backends',
  summary: 'backend servers on every LB node (state, sessions, health, weight), disagreements and configuration drift',
  usage: 'lbha backends [CLUSTER] [--json]',
  options: {},
  async run(ctx) {
    const [cluster, extra] = ctx.positionals;
    if (extra !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(extra)}`);
    const client = ctx.client();
    const res = await call(client, ctx.config, client.listBackends, { cluster: cluster ?? '' });
    if (ctx.config.json) {
      ctx.out(JSON.stringify(pbControl.ListBackendsResponse.toJSON(res), null, 2) + '\n');
      return 0;
    }
    const clusters = [...new Set([...res.configs.map((c) => c.cluster), ...res.servers.map((s) => s.cluster)])];
    if (clusters.length === 0) ctx.out('no clusters (apply a cluster spec with lbha spec apply FILE)\n');
    clusters.forEach((c, i) => {
      if (i > 0) ctx.out('\n');
      printCluster(ctx, c, res);
    });
    return 0;
  },
};

const ACTIONS: Readonly<Record<string, pbControl.BackendAction>> = {
  drain: pbControl.BackendAction.BACKEND_ACTION_DRAIN,
  undrain: pbControl.BackendAction.BACKEND_ACTION_UNDRAIN,
  disable: pbControl.BackendAction.BACKEND_ACTION_DISABLE,
  enable: pbControl.BackendAction.BACKEND_ACTION_ENABLE,
  weight: pbControl.BackendAction.BACKEND_ACTION_WEIGHT,
};

/** The weight argument: a whole number, or "reset" for the configured weight (undefined). */
function weightArg(text: string | undefined): number | undefined {
  if (text === 'reset') return undefined;
  if (text === undefined || !/^\d{1,4}$/.test(text)) throw new UsageError('backend weight needs a WEIGHT: a whole number, or reset');
  return Number(text);
}

export const backendCommand: CliCommand = {
  name: 'backend',
  summary: 'drain, undrain, disable, enable or reweight a backend server on every LB node of a cluster',
  usage: 'lbha backend drain|undrain|disable|enable CLUSTER SERVER [--wait] [--timeout 60s] [--force] [--reason TEXT] [--json] | lbha backend weight CLUSTER SERVER WEIGHT|reset [...]',
  words: Object.keys(ACTIONS),
  options: {
    wait: { type: 'boolean', help: 'wait until every LB node runs it (drain, disable: and the server\'s sessions have ended)' },
    timeout: { type: 'string', arg: 'DURATION', help: 'how long the operation may take (default 60s for drain and disable, 30s otherwise)' },
    force: { type: 'boolean', help: 'even when a pool would be left with fewer healthy servers than its minimum' },
    reason: { type: 'string', arg: 'TEXT', help: 'why, recorded in the event log' },
  },
  async run(ctx) {
    const [name, cluster, server, weightText, extra] = ctx.positionals;
    const action = name === undefined ? undefined : ACTIONS[name];
    if (action === undefined) throw new UsageError(`backend needs an action: ${Object.keys(ACTIONS).join(', ')}`);
    if (!cluster || !server) throw new UsageError(`backend ${name} needs a CLUSTER and a SERVER (web1, or POOL/web1)`);
    const weight = name === 'weight' ? weightArg(weightText) : undefined;
    const unexpected = name === 'weight' ? extra : weightText;
    if (unexpected !== undefined) throw new UsageError(`unexpected argument ${JSON.stringify(unexpected)}`);
    const client = ctx.client();
    const res = await call(client, ctx.config, client.changeBackendServer, {
      cluster,
      server,
      action,
      weight,
      timeoutMs: durationFlag(ctx, 'timeout') ?? 0,
      force: ctx.values['force'] === true,
      reason: (ctx.values['reason'] as string | undefined) ?? '',
    });
    return followOperation(ctx, res.operation, ctx.values['wait'] === true);
  },
};
