// The lbha-agent configuration the lab writes for an LB node: everything the agent writes lives
// under the node's dir in the run dir, and it reaches the coordinator through the unix socket.
import type { ProxyFiles } from './daemon-configs.js';
import { LB_STATUS_PORT } from './daemon-configs.js';
import type { LbNode } from './lab-names.js';
import type { LabTls } from './lbha-configs.js';
import type { TopologyPlan } from './topology.js';

export interface AgentFileOptions {
  readonly node: LbNode;
  readonly plan: TopologyPlan;
  readonly coordinatorSocket: string;
  readonly stateDir: string;
  readonly runtimeDir: string;
  readonly proxy: ProxyFiles;
  readonly tls: LabTls;
  readonly logLevel: string;
  /** nginx: where the agent writes its upstreams' managed includes (default: below its stateDir). */
  readonly upstreamsDir?: string;
  /** haproxy: the server state file the agent keeps current (haproxy.cfg loads it). */
  readonly serverStateFile?: string;
}

export function renderAgentConfig(o: AgentFileOptions): string {
  const service =
    o.plan.proxy === 'nginx'
      ? `  nginx:
    kind: nginx
    supervisor: direct
    configFile: ${o.proxy.config}
    errorLog: ${o.proxy.errorLog}
    statusUrl: http://127.0.0.1:${LB_STATUS_PORT}/nginx_status${o.upstreamsDir ? `\n    upstreamsDir: ${o.upstreamsDir}` : ''}`
      : `  haproxy:
    kind: haproxy
    supervisor: direct
    configFile: ${o.proxy.config}
    statsSocket: ${o.proxy.statsSocket}${o.serverStateFile ? `\n    serverStateFile: ${o.serverStateFile}` : ''}`;
  return `# lbha-agent on ${o.node} (written by the lab).
node: ${o.node}
cluster: ${o.plan.cluster}
coordinator:
  # The coordinator's unix socket: the agent lives in a network namespace without the host's loopback.
  addresses: ["unix://${o.coordinatorSocket}"]
  backoff: { initial: 100ms, max: 2s }
tls:
  ca: ${o.tls.ca}
  cert: ${o.tls.agentCert(o.node)}
  key: ${o.tls.agentKey(o.node)}
stateDir: ${o.stateDir}
runtimeDir: ${o.runtimeDir}
log: { level: ${o.logLevel} }
# Loopback of the node's own namespace.
metrics: { listen: "127.0.0.1:9946" }
keepalived:
  supervisor: direct
  binary: /usr/sbin/keepalived
services:
${service}
`;
}
