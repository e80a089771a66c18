import { ago } from '../table.js';
import { connection, health, modeName, nodeTableCommand } from './node-table.js';

export const nodesCommand = nodeTableCommand(
  {
    name: 'nodes',
    summary: 'list nodes with mode, health, desired/applied state version, NACKs and held VIPs',
    usage: 'lbha nodes [--cluster NAME] [--json]',
  },
  ['NODE', 'CLUSTER', 'MODE', 'CONNECTION', 'HEALTH', 'APPLIED/DESIRED', 'HOLDS', 'LAST SEEN', 'PROBLEM'],
  (n) => [
    n.name,
    n.cluster,
    modeName(n.mode),
    connection(n),
    health(n),
    `${n.appliedVersion}/${n.desiredVersion}${n.desiredVersion !== 0 && n.appliedVersion === n.desiredVersion ? '' : ' (pending)'}`,
    (n.state?.instances ?? []).filter((i) => i.vipPresent).map((i) => i.name).join(',') || '-',
    ago(n.lastSeenMs),
    [n.nackError ? `NACK: ${n.nackError}` : '', n.configDrift ? `config ${n.configDrift}` : ''].filter((p) => p !== '').join('; '),
  ],
);
