// Files the lab writes for lbha itself: the cluster spec of a topology, the coordinator's config.
// The agent's config is in agent-config-file.ts. Pure functions: text out.
import { LB_STATUS_PORT, SLOW_BACKEND_PORT } from './daemon-configs.js';
import type { LbNode, WebNode } from './lab-names.js';
import type { TopologyPlan } from './topology.js';

/**
 * VRRP version 2 with PASS authentication, as both seeds configure it: the cluster's password,
 * and VIPs with their own (seed 1's VI_2). The advert interval must then be whole seconds.
 */
export interface Vrrp2Options {
  readonly authPass: string;
  /** VIP name -> its own password. */
  readonly vipAuthPass?: Readonly<Record<string, string>>;
}

export interface SpecOptions {
  /** VRRP advertisement interval; undefined: the timing profile's (100 ms, fast: 20 ms). */
  readonly advertIntervalMs: number | undefined;
  /** The spec's timing profile; default 'default'. */
  readonly timing?: 'default' | 'fast';
  /** The seed's /etc/keepalived/down; per node through the namespace's /etc (see agent-control.ts). */
  readonly maintenanceFile: string;
  /** Declare the backend pool (reported every second); nginx gets its servers from it. */
  readonly backends?: boolean;
  /** VRRPv2 with PASS authentication instead of VRRPv3. */
  readonly vrrp2?: Vrrp2Options;
}

/** The spec's backends section: the seed's upstream servers as pool webserver (nginx), or the pool's minimum alone (haproxy, whose servers are in haproxy.cfg). */
function renderBackends(plan: TopologyPlan): string {
  const servers =
    plan.proxy === 'nginx'
      ? `\n        servers:\n${(Object.keys(plan.webs) as WebNode[]).map((w) => `          - { name: ${w}, address: "${plan.webs[w].address}:80", max_fails: 3, fail_timeout: 5s }`).join('\n')}`
      : '';
  // nginx: the slow backends (/slow) are a pool too, so a drain of web1 has sessions to wait for.
  const slow =
    plan.proxy === 'nginx'
      ? `      - name: slowserver\n        servers:\n${(Object.keys(plan.webs) as WebNode[]).map((w) => `          - { name: ${w}, address: "${plan.webs[w].address}:${SLOW_BACKEND_PORT}" }`).join('\n')}\n`
      : '';
  return `    backends:
      min_healthy: 1
      report_interval: 1s
      pools:
      - name: webserver${servers}
${slow}`;
}

/** The cluster spec of a lab topology: the seed's intent (nodes, VIPs, homes, checks) for lbha. */
export function renderClusterSpec(plan: TopologyPlan, options: SpecOptions): string {
  const nodes = (Object.keys(plan.lbs) as LbNode[])
    .map(
      (node) => `      - name: ${node}
        interfaces:
          - { name: eth1, address: ${plan.lbs[node].outer}/${plan.prefix} }
          - { name: eth2, address: ${plan.lbs[node].inner}/${plan.prefix} }`,
    )
    .join('\n');
  const vips = plan.vips
    .map((v) => {
      const own = options.vrrp2?.vipAuthPass?.[v.name];
      return `      - { name: ${v.name}, address: ${v.address}/${v.prefix}, interface: ${v.interface}, vrid: ${v.vrid}, home: ${v.home}${own === undefined ? '' : `, auth_pass: "${own}"`} }`;
    })
    .join('\n');
  const timingLines = [
    ...(options.timing === 'fast' ? ['      timing: fast'] : []),
    ...(options.advertIntervalMs === undefined ? [] : [`      advert_interval: ${options.advertIntervalMs}ms`]),
  ]
    .map((l) => `${l}\n`)
    .join('');
  return `# Cluster spec of lab topology ${plan.name} (written by the lab).
clusters:
  - name: ${plan.cluster}
    service: ${plan.proxy}
    policy:
      failback: immediate
${timingLines}${options.vrrp2 ? `      vrrp_version: 2\n      auth_pass: "${options.vrrp2.authPass}"\n` : '      vrrp_version: 3\n'}    # The seed's track_interface: the inner link down puts the node's instances in FAULT.
    track_interfaces: [eth2]
    nodes:
${nodes}
    vips:
${vips}
    checks:
      # chk_nginx.sh / check_haproxy: the proxy must run (the agent restarts it, then fails over).
      - { name: ${plan.proxy}, kind: process, service: ${plan.proxy}, interval: 1s, effect: fault }
      # The proxy must answer on its status listener.
      - { name: ${plan.proxy}-http, kind: http, url: "http://127.0.0.1:${LB_STATUS_PORT}/healthz", interval: 500ms, timeout: 400ms, fall: 3, rise: 2, effect: fault }
      # chk_down.sh: the down file lowers the node's priority by 50, so its VIPs move away.
      - { name: down-file, kind: maintenance_file, path: ${options.maintenanceFile}, interval: 200ms, fall: 2, rise: 2, effect: penalty, penalty: 50 }
      - { name: inner-link, kind: interface, interface: eth2, effect: fault }
${options.backends ? renderBackends(plan) : ''}`;
}

/** Certificates of a lab run, made by lbha-dev-ca. */
export interface LabTls {
  readonly dir: string;
  readonly ca: string;
  readonly coordinatorCert: string;
  readonly coordinatorKey: string;
  agentCert(node: LbNode): string;
  agentKey(node: LbNode): string;
  /** The operator certificate the tests, the demo and the CLI use. */
  readonly operatorCert: string;
  readonly operatorKey: string;
}

export function labTls(dir: string): LabTls {
  return {
    dir,
    ca: `${dir}/ca.crt`,
    coordinatorCert: `${dir}/coordinator.crt`,
    coordinatorKey: `${dir}/coordinator.key`,
    agentCert: (node) => `${dir}/agent-${node}.crt`,
    agentKey: (node) => `${dir}/agent-${node}.key`,
    operatorCert: `${dir}/operator-lab.crt`,
    operatorKey: `${dir}/operator-lab.key`,
  };
}

export interface CoordinatorFileOptions {
  readonly id: string;
  readonly tls: LabTls;
  readonly grpcAddress: string;
  readonly grpcSocket: string;
  readonly specFile: string;
  readonly stateDir: string;
  readonly logLevel: string;
  /** The HTTP API and web console on loopback, with bearer tokens (hex SHA-256) for an operator and a read-only caller. */
  readonly http?: { readonly address: string; readonly operatorSha256: string; readonly readOnlySha256: string };
  /** How a drill probes the VIPs: the command that runs lbha-probe in the client namespace, and the Host header. */
  readonly drillProbe?: { readonly command: readonly string[]; readonly host: string };
}

export function renderCoordinatorConfig(o: CoordinatorFileOptions): string {
  return `# lbha-coordinator for a lab run (written by the lab).
id: ${o.id}
grpc:
  listen:
    - "${o.grpcAddress}"
    # Agents run in network namespaces and cannot reach the host's loopback: they use this socket.
    - "unix://${o.grpcSocket}"
# Mutual TLS as in production (certificates from lbha-dev-ca): agents and operators prove their role.
tls:
  ca: ${o.tls.ca}
  cert: ${o.tls.coordinatorCert}
  key: ${o.tls.coordinatorKey}
spec: ${o.specFile}
stateDir: ${o.stateDir}${
    o.http
      ? `
http:
  listen: "${o.http.address}"
auth:
  tokens:
    - { name: lab-operator, role: operator, sha256: "${o.http.operatorSha256}" }
    - { name: lab-viewer, role: read-only, sha256: "${o.http.readOnlySha256}" }`
      : ''
  }
${
    o.drillProbe
      ? `# The coordinator runs in the host namespace, which has no route to the VIPs: a drill probes
# them from the client namespace, as a client outside both LB nodes.
drill:
  probe:
    host: ${JSON.stringify(o.drillProbe.host)}
    command: ${JSON.stringify(o.drillProbe.command)}
`
      : ''
  }heartbeat:
  interval: 500ms
  staleAfter: 2s
# The lab's waits poll the API every 20 ms, several at once, all as one operator: far above what
# one person at a terminal sends. The limit itself is tested in the hostile-input suite.
limits:
  requestsPerSecond: 2000
log:
  level: ${o.logLevel}
`;
}
