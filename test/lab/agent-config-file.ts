// The lbha-agent configuration the lab writes for an LB node.
import type { ProxyFiles } from './daemon-configs.js';
import type { LbNode } from './lab-names.js';
import type { TopologyPlan } from './topology.js';

export interface AgentFileOptions {
  readonly node: LbNode;
  readonly plan: TopologyPlan;
  readonly coordinatorSocket: string;
  readonly stateDir: string;
  readonly proxy: ProxyFiles;
  readonly keepalived: { readonly dir: string; readonly config: string; readonly pidFile: string; readonly vrrpPidFile: string };
}

export function renderAgentConfig(o: AgentFileOptions): string {
  return `# lbha-agent on ${o.node} (written by the lab).
node: ${o.node}
cluster: ${o.plan.cluster}
coordinator:
  addresses: ["unix://${o.coordinatorSocket}"]
  backoff: { initial: 100ms, max: 2s }
tls: { insecure: true }
stateDir: ${o.stateDir}
log:
  level: info
`;
}
