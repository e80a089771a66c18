import { ago } from '../table.js';
import { connection, health, modeName, nodeTableCommand, readinessNotes, vrrpName } from './node-table.js';

export const statusCommand = nodeTableCommand(
  { name: 'status', summary: 'list nodes: connection, mode, health, VRRP states', usage: 'lbha status [--cluster NAME] [--json]' },
  ['NODE', 'CLUSTER', 'CONNECTION', 'MODE', 'HEALTH', 'VRRP', 'LAST SEEN', 'AGENT'],
  (n) => [
    n.name,
    n.cluster,
    connection(n),
    modeName(n.mode),
    health(n),
    (n.state?.instances ?? []).map((i) => `${i.name}:${vrrpName(i.state)}`).join(' ') || '-',
    ago(n.lastSeenMs),
    n.agentVersion,
  ],
  readinessNotes,
);
