// The lbha side of a lab run: a lbha-coordinator in the host namespace (on 127.0.0.1 for the
// tests and the CLI, and on a unix socket in the run dir for the agents, which live in network
// namespaces and cannot reach the host's loopback) and a lbha-agent in each LB namespace, which
// supervises keepalived and the proxy there.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, waitFor, type WaitOptions } from '@lbha/test-support';

import { renderAgentConfig } from './agent-config-file.js';
import { ControlApi, type NodeInfo, type VipInfo } from './control-api.js';
import { LabCommandError } from './errors.js';
import type { Lab } from './lab.js';
import { LB_NODES, type LbNode } from './lab-names.js';
import type { LabProcess } from './lab-process.js';
import { labTls, renderClusterSpec, renderCoordinatorConfig, type LabTls, type Vrrp2Options } from './lbha-configs.js';
import { AGENT_ENV, AGENT_NODE_FLAGS } from '@lbha/agent';
import { COORDINATOR_NODE_FLAGS, COORDINATOR_OPENSSL_FLAG } from '@lbha/coordinator';
import { AGENT_BIN, CLI_BIN, COORDINATOR_BIN, DEV_CA_BIN, PROBE_BIN } from './repo-paths.js';
import { runChecked, runCommand, type CommandOutput } from './run-command.js';

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

export interface AgentControlOptions {
  /** VRRP advertisement interval in the cluster spec; undefined: the timing profile's. */
  readonly advertIntervalMs: number | undefined;
  readonly timing: 'default' | 'fast';
  /** The spec declares the backend pool; nginx's agent writes its upstream's managed include. */
  readonly backends?: boolean;
  /** VRRPv2 with PASS authentication instead of VRRPv3. */
  readonly vrrp2?: Vrrp2Options;
}

/** Log level of the lab's agents and coordinator: $LBHA_LAB_LOG_LEVEL (e.g. debug), default info. */
const LOG_LEVEL = ['trace', 'debug', 'info', 'warn', 'error'].includes(process.env.LBHA_LAB_LOG_LEVEL ?? '') ? (process.env.LBHA_LAB_LOG_LEVEL as string) : 'info';

/** The path the spec's maintenance_file check watches: the seed's own. */
export const MAINTENANCE_PATH = '/etc/keepalived/down';

export class AgentControl {
  readonly dir: string;
  readonly specFile: string;
  readonly coordinatorConfigFile: string;
  readonly socketPath: string;
  readonly tls: LabTls;
  private port = 0;
  /** The coordinator's HTTP API and web console on loopback. */
  httpPort = 0;
  /** Bearer tokens of this run's HTTP API, one per role. */
  readonly tokens = { operator: randomBytes(18).toString('hex'), readOnly: randomBytes(18).toString('hex') };
  private coordinator: LabProcess | undefined;
  private coordinatorStarts = 0;
  private readonly agents = new Map<LbNode, LabProcess>();
  private readonly agentStarts = new Map<LbNode, number>();
  private controlApi: ControlApi | undefined;

  constructor(
    private readonly lab: Lab,
    private readonly options: AgentControlOptions,
  ) {
    this.dir = join(lab.runDir, 'coordinator');
    this.specFile = join(this.dir, 'cluster.yaml');
    this.coordinatorConfigFile = join(this.dir, 'coordinator.yaml');
    this.socketPath = join(this.dir, 'grpc.sock');
    this.tls = labTls(join(lab.runDir, 'tls'));
  }

  /** host:port of the coordinator's gRPC API on loopback. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get api(): ControlApi {
    this.controlApi ??= new ControlApi(this.address, { ca: this.tls.ca, cert: this.tls.operatorCert, key: this.tls.operatorKey });
    return this.controlApi;
  }

  agentDir(node: LbNode): string {
    return join(this.lab.nodeDir(node), 'agent');
  }

  /** The agent's runtimeDir: keepalived.conf, track files, notify FIFO, daemon logs. */
  agentRuntimeDir(node: LbNode): string {
    return join(this.agentDir(node), 'run');
  }

  agentConfigFile(node: LbNode): string {
    return join(this.agentDir(node), 'agent.yaml');
  }

  /**
   * The node's private /etc/keepalived: `ip netns exec` bind-mounts /etc/netns/NS/keepalived over
   * /etc/keepalived for everything it starts, so each agent sees its own seed-style `down` file.
   */
  etcKeepalivedDir(node: LbNode): string {
    return `/etc/netns/${this.lab.names.ns[node]}/keepalived`;
  }

  maintenanceFile(node: LbNode): string {
    return join(this.etcKeepalivedDir(node), 'down');
  }

  async start(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    this.port = await freePort();
    this.httpPort = await freePort();
    await runChecked(process.execPath, [DEV_CA_BIN, '--out', this.tls.dir, '--agent', 'lb1', '--agent', 'lb2', '--operator', 'lab']);
    writeFileSync(this.specFile, renderClusterSpec(this.lab.plan, { advertIntervalMs: this.options.advertIntervalMs, timing: this.options.timing, maintenanceFile: MAINTENANCE_PATH, backends: this.options.backends ?? false, ...(this.options.vrrp2 ? { vrrp2: this.options.vrrp2 } : {}) }));
    writeFileSync(
      this.coordinatorConfigFile,
      renderCoordinatorConfig({
        id: `lab-${this.lab.runId}`,
        tls: this.tls,
        grpcAddress: this.address,
        grpcSocket: this.socketPath,
        specFile: this.specFile,
        stateDir: join(this.dir, 'state'),
        logLevel: LOG_LEVEL,
        http: { address: `127.0.0.1:${this.httpPort}`, operatorSha256: sha256(this.tokens.operator), readOnlySha256: sha256(this.tokens.readOnly) },
        drillProbe: { command: ['ip', 'netns', 'exec', this.lab.names.ns.client, process.execPath, PROBE_BIN], host: this.lab.plan.host },
      }),
    );
    // The bind mount needs its target; on a host without keepalived's package dir, make it.
    mkdirSync('/etc/keepalived', { recursive: true });
    for (const node of LB_NODES) {
      mkdirSync(this.etcKeepalivedDir(node), { recursive: true });
      mkdirSync(this.agentDir(node), { recursive: true });
      writeFileSync(
        this.agentConfigFile(node),
        renderAgentConfig({
          node,
          plan: this.lab.plan,
          coordinatorSocket: this.socketPath,
          stateDir: join(this.agentDir(node), 'state'),
          runtimeDir: this.agentRuntimeDir(node),
          proxy: this.lab.proxyFiles(node),
          ...(this.options.backends ? (this.lab.plan.proxy === 'nginx' ? { upstreamsDir: this.lab.upstreamsDir(node) } : { serverStateFile: this.lab.serverStateFile(node) }) : {}),
          tls: this.tls,
          logLevel: LOG_LEVEL,
        }),
      );
    }
    await this.startCoordinator();
    for (const node of LB_NODES) await this.startAgent(node);
    await this.waitForAgentsConnected();
  }

  // ------------------------------------------------------------ coordinator

  async startCoordinator(): Promise<void> {
    if (this.coordinator?.isRunning()) return;
    // A coordinator that was killed leaves its unix socket file behind, and gRPC will not listen
    // on an existing path. The previous process is known to be gone, so the file is stale.
    rmSync(this.socketPath, { force: true });
    const n = ++this.coordinatorStarts;
    this.coordinator = this.lab.spawn(`coordinator${n > 1 ? `-${n}` : ''}`, undefined, process.execPath, [
      ...COORDINATOR_NODE_FLAGS,
      COORDINATOR_OPENSSL_FLAG,
      COORDINATOR_BIN,
      '--config',
      this.coordinatorConfigFile,
    ]);
    const proc = this.coordinator;
    await waitFor('the coordinator to answer on loopback', async () => {
      if (!proc.isRunning()) {
        throw new LabCommandError(['lbha-coordinator'], null, tail(proc.logFile));
      }
      try {
        await this.api.listNodes();
        return existsSync(this.socketPath) ? { done: true, value: undefined } : { done: false, observed: 'no unix socket yet' };
      } catch (error) {
        return { done: false, observed: (error as Error).message };
      }
    }, { timeoutMs: 20_000, intervalMs: 100 });
  }

  /** Stops the coordinator (SIGKILL by default: a crash, not a clean shutdown). */
  async stopCoordinator(sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.coordinator?.stop(sig);
  }

  get coordinatorRunning(): boolean {
    return this.coordinator?.isRunning() ?? false;
  }

  // ------------------------------------------------------------ agents

  /** Starts the agent with the node flags it ships with, or `nodeFlags` instead (benchmarks). */
  async startAgent(node: LbNode, nodeFlags: readonly string[] = AGENT_NODE_FLAGS): Promise<void> {
    if (this.agents.get(node)?.isRunning()) return;
    const n = (this.agentStarts.get(node) ?? 0) + 1;
    this.agentStarts.set(node, n);
    const proc = this.lab.spawn(`${node}-agent${n > 1 ? `-${n}` : ''}`, node, process.execPath, [
      ...nodeFlags,
      AGENT_BIN,
      '--config',
      this.agentConfigFile(node),
    ], { ...process.env, ...AGENT_ENV });
    this.agents.set(node, proc);
  }

  /** Stops the agent (SIGKILL by default: what a crash looks like to keepalived and the proxy). */
  async stopAgent(node: LbNode, sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.agents.get(node)?.stop(sig);
  }

  agentProcess(node: LbNode): LabProcess | undefined {
    return this.agents.get(node);
  }

  async waitForAgentsConnected(options: WaitOptions = {}): Promise<NodeInfo[]> {
    return waitFor('both agents to connect to the coordinator', async () => {
      for (const [node, proc] of this.agents) {
        if (!proc.isRunning()) throw new LabCommandError([`lbha-agent (${node})`], null, tail(proc.logFile));
      }
      let nodes: NodeInfo[];
      try {
        nodes = await this.api.listNodes();
      } catch (error) {
        return { done: false, observed: (error as Error).message };
      }
      const connected = nodes.filter((n) => n.connected).map((n) => n.name);
      return LB_NODES.every((n) => connected.includes(n))
        ? { done: true, value: nodes }
        : { done: false, observed: `connected: ${connected.join(', ') || 'none'}` };
    }, { timeoutMs: 30_000, intervalMs: 100, ...options });
  }

  /** The coordinator's view of one VIP. */
  async vipInfo(vipName: string): Promise<VipInfo | undefined> {
    return (await this.api.listVips()).find((v) => v.name === vipName);
  }

  /** Waits until the coordinator reports `node` as the only actual holder of the VIP. */
  async waitForReportedHolder(vipName: string, node: LbNode, options: WaitOptions = {}): Promise<VipInfo> {
    return waitFor(`the coordinator to report ${vipName} on ${node}`, async () => {
      let vip: VipInfo | undefined;
      try {
        vip = await this.vipInfo(vipName);
      } catch (error) {
        return { done: false, observed: (error as Error).message };
      }
      if (vip === undefined) return { done: false, observed: 'VIP unknown to the coordinator' };
      return vip.actualHolders.length === 1 && vip.actualHolders[0] === node
        ? { done: true, value: vip }
        : { done: false, observed: `actual holders [${vip.actualHolders.join(', ')}], desired ${vip.desiredHolder}, status ${vip.status}` };
    }, { timeoutMs: 30_000, intervalMs: 100, ...options });
  }

  /** Runs the lbha CLI against this run's coordinator (killed after `timeoutMs`, 20 s unless given). */
  cli(args: readonly string[], timeoutMs = 20_000): Promise<CommandOutput> {
    return runCommand(process.execPath, [CLI_BIN, ...args], { timeoutMs, env: { ...process.env, ...this.cliEnv() } });
  }

  /** The CLI's environment to reach this run's coordinator as the lab's operator. */
  cliEnv(): Record<string, string> {
    return { LBHA_COORDINATOR: this.address, LBHA_CA: this.tls.ca, LBHA_CERT: this.tls.operatorCert, LBHA_KEY: this.tls.operatorKey };
  }

  async stop(): Promise<void> {
    this.controlApi?.close();
    this.controlApi = undefined;
    await Promise.all([...this.agents.values()].map((p) => p.stop('SIGTERM', 3000)));
    await this.coordinator?.stop('SIGTERM', 3000);
  }
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
