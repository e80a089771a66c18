// The network-namespace lab: builds a seed topology, runs real daemons in it, and gives tests,
// the demo and the benchmarks one object to break things with and to observe what clients see.
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor, type WaitOptions } from '@lbha/test-support';
import { removeRun, cleanupRuns } from './cleanup.js';
import {
  brokenConfig,
  renderLabKeepalived,
  renderLbHaproxy,
  renderLbNginx,
  renderSeedCheckDown,
  renderSeedCheckHaproxy,
  renderSeedCheckNginx,
  renderSeedKeepalived,
  renderSeedNotify,
  renderWebNginx,
  SLOW_BACKEND_PORT,
  slowServerLines,
  webServerLines,
  type ProxyFiles,
  type SeedScriptFiles,
} from './daemon-configs.js';
import { LabCommandError, LabUsageError } from './errors.js';
import { spawnLabProcess, type LabProcess } from './lab-process.js';
import { LB_NODES, WEB_NODES, labNames, newRunId, type LabNames, type LbNode, type NodeRole, type WebNode } from './lab-names.js';
import { createNetwork, namespacePids } from './network.js';
import { parseProbeOutput, readProbeFile, type ProbeRecord } from './probe-records.js';
import { processStartTime, registerRun } from './run-registry.js';
import { ipIn, runChecked, runCommand, runInNamespace } from './run-command.js';
import { topologyPlan, type TopologyName, type TopologyPlan, type VipPlan } from './topology.js';

import { AgentControl } from './agent-control.js';
import type { Vrrp2Options } from './lbha-configs.js';
import { linkMac, neighbourEntry, runWrk, type NeighbourEntry, type WrkOptions, type WrkResult } from './client-tools.js';

/**
 * Who runs the LB daemons:
 * - 'agent': the lbha-agent in each LB namespace (it supervises keepalived and the proxy) and a
 *   lbha-coordinator in the host namespace. What lbha ships.
 * - 'keepalived': the lab starts keepalived (VRRPv3, advert_int 0.1, no proxy check) and the proxy
 *   itself: the bare data plane, to prove the lab without lbha.
 * - 'seed': the seed documents' own keepalived configuration and check scripts (the baseline the
 *   benchmarks compare against).
 */
export type LabControl = 'agent' | 'keepalived' | 'seed';

export interface LabOptions {
  readonly topology: TopologyName;
  readonly control?: LabControl;
  /** Parent of the per-run dirs; default $LBHA_LAB_ROOT or <tmpdir>/lbha-lab. */
  readonly labRoot?: string;
  /** Keep the run dir (configs, logs, probe records) after down; default $LBHA_LAB_KEEP=1. */
  readonly keepRunDir?: boolean;
  /** Remove leftovers of crashed runs before starting; default true. */
  readonly cleanupStale?: boolean;
  /** Progress lines for a person; default silent. */
  readonly log?: (line: string) => void;
  /** How long to wait for the VIPs to settle on their home nodes at start; default 30 s. */
  readonly settleTimeoutMs?: number;
  /** 'agent' control: the spec's VRRP advertisement interval; default: the timing profile's (100 ms). */
  readonly advertIntervalMs?: number;
  /** 'agent' control: the spec's timing profile (fast: 20 ms adverts, real-time keepalived). */
  readonly timing?: 'default' | 'fast';
  /**
   * 'agent' control: the spec declares the backend pool (reported every second), nginx's upstream
   * takes its servers from the agent's managed include, and the web nodes log every request.
   */
  readonly backends?: boolean;
  /**
   * 'agent' control: VRRPv2 with PASS authentication, as the seeds have it, instead of VRRPv3;
   * the advert interval is then 1 s unless given (VRRPv2 counts in whole seconds).
   */
  readonly vrrp2?: Vrrp2Options;
  /**
   * nginx LB nodes: worker_processes (default 1, what every other lab file measures with). The
   * seed and the deploy example run several; with more than one, a worker can hang or die on its
   * own while the master and the other workers serve.
   */
  readonly nginxWorkers?: number;
}

interface LabConfig {
  readonly topology: TopologyName;
  readonly control: LabControl;
  readonly labRoot: string;
  readonly keepRunDir: boolean;
  readonly cleanupStale: boolean;
  readonly log: (line: string) => void;
  readonly settleTimeoutMs: number;
  readonly advertIntervalMs: number | undefined;
  readonly timing: 'default' | 'fast';
  readonly backends: boolean;
  readonly vrrp2: Vrrp2Options | undefined;
  readonly nginxWorkers: number;
}

function compileOptions(options: LabOptions): LabConfig {
  if (options.topology !== 'a' && options.topology !== 'b') {
    throw new LabUsageError(`unknown topology ${JSON.stringify(options.topology)} (expected "a" or "b")`);
  }
  const control = options.control ?? 'agent';
  if (!['agent', 'keepalived', 'seed'].includes(control)) {
    throw new LabUsageError(`unknown control ${JSON.stringify(control)} (expected agent, keepalived or seed)`);
  }
  const nginxWorkers = options.nginxWorkers ?? 1;
  if (!Number.isInteger(nginxWorkers) || nginxWorkers < 1 || nginxWorkers > 16) {
    throw new LabUsageError(`nginxWorkers must be a whole number from 1 to 16, not ${JSON.stringify(options.nginxWorkers)}`);
  }
  return {
    topology: options.topology,
    control,
    labRoot: options.labRoot ?? process.env.LBHA_LAB_ROOT ?? join(tmpdir(), 'lbha-lab'),
    keepRunDir: options.keepRunDir ?? process.env.LBHA_LAB_KEEP === '1',
    cleanupStale: options.cleanupStale ?? true,
    log: options.log ?? (() => undefined),
    settleTimeoutMs: options.settleTimeoutMs ?? 30_000,
    advertIntervalMs: options.advertIntervalMs ?? (options.vrrp2 ? 1000 : undefined),
    timing: options.timing ?? 'default',
    backends: options.backends ?? false,
    vrrp2: options.vrrp2,
    nginxWorkers,
  };
}

/** The lab needs root (namespaces, veth pairs, daemons binding port 80). */
export function labUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return 'the lab needs Linux network namespaces';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'the lab needs root (network namespaces, veth pairs, daemons on port 80): run as root';
  }
  return undefined;
}

export interface ProbeOptions {
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  /** The probe stops by itself after this long; default 120 s. */
  readonly maxDurationMs?: number;
  /** All requests on one kept-alive connection (while the server keeps it open). */
  readonly keepAlive?: boolean;
  /**
   * With keepAlive: a request on a reused connection that the server closed as it went out (a
   * reset before any response) is sent once more on a new connection, as HTTP clients do for
   * idempotent requests; the record carries `retriedAfter`.
   */
  readonly retryReset?: boolean;
  /** Each request waits for the previous one (a stalled SYN stalls the client, as it would a real one). */
  readonly sequential?: boolean;
  /** Request path; default "/". */
  readonly path?: string;
}

/** A probe running in the client namespace against one VIP. */
export interface ProbeSession {
  readonly vip: VipPlan;
  readonly file: string;
  /** The probe's process (in the client namespace). */
  readonly pid: number;
  /** Records written so far (the probe keeps running). */
  records(): Promise<ProbeRecord[]>;
  /** Stops the probe and returns every record. */
  stop(): Promise<ProbeRecord[]>;
}

export interface ProxyFaultOptions {
  /** Replace the config with one that does not validate first, so the proxy cannot come back. */
  readonly breakConfig?: boolean;
}

const PROBE_SCRIPT = fileURLToPath(new URL('./probe.js', import.meta.url));
const SLOW_BACKEND_SCRIPT = fileURLToPath(new URL('./slow-backend.js', import.meta.url));

export class Lab {
  readonly names: LabNames;
  readonly plan: TopologyPlan;
  readonly runDir: string;
  readonly control: LabControl;
  /** Set in 'agent' control: the agents and the coordinator. */
  agents: AgentControl | undefined;
  private readonly config: LabConfig;
  private readonly processes = new Map<string, LabProcess>();
  private readonly probes = new Set<ProbeSession>();
  private probeCount = 0;
  private downed = false;

  private constructor(config: LabConfig, runId: string) {
    this.config = config;
    this.control = config.control;
    this.names = labNames(runId);
    this.plan = topologyPlan(config.topology);
    this.runDir = join(config.labRoot, runId);
  }

  get runId(): string {
    return this.names.runId;
  }

  /** Builds a topology and starts its daemons; on any failure, removes what it built and rethrows. */
  static async start(options: LabOptions): Promise<Lab> {
    const config = compileOptions(options);
    const reason = labUnavailableReason();
    if (reason !== undefined) throw new LabUsageError(reason);
    if (config.cleanupStale) {
      await cleanupRuns({ log: (line) => config.log(`cleanup: ${line}`) });
    }
    const lab = new Lab(config, newRunId());
    try {
      await lab.build();
    } catch (error) {
      config.log(`lab ${lab.runId}: start failed, tearing down (run dir ${lab.runDir})`);
      await lab.down({ keepRunDir: true }).catch(() => undefined);
      throw error;
    }
    return lab;
  }

  // ---------------------------------------------------------------- files

  nodeDir(role: NodeRole): string {
    return join(this.runDir, role);
  }

  proxyFiles(role: NodeRole): ProxyFiles {
    const kind = role === 'lb1' || role === 'lb2' ? this.plan.proxy : 'nginx';
    const dir = join(this.nodeDir(role), kind);
    return {
      dir,
      config: join(dir, kind === 'nginx' ? 'nginx.conf' : 'haproxy.cfg'),
      pidFile: join(dir, `${kind}.pid`),
      errorLog: join(dir, 'error.log'),
      statsSocket: join(dir, 'haproxy.sock'),
    };
  }

  keepalivedFiles(node: LbNode): { dir: string; config: string; pidFile: string; vrrpPidFile: string; checkersPidFile: string } {
    const dir = join(this.nodeDir(node), 'keepalived');
    return {
      dir,
      config: join(dir, 'keepalived.conf'),
      pidFile: join(dir, 'keepalived.pid'),
      vrrpPidFile: join(dir, 'vrrp.pid'),
      checkersPidFile: join(dir, 'checkers.pid'),
    };
  }

  /** The node's maintenance file (the seed's /etc/keepalived/down), as seen from the host. */
  maintenanceFile(node: LbNode): string {
    return this.control === 'agent' ? join('/etc/netns', this.names.ns[node], 'keepalived', 'down') : join(this.nodeDir(node), 'down');
  }

  logFile(name: string): string {
    return join(this.runDir, 'logs', `${name}.log`);
  }

  /** Whether the lab runs with the backend pool declared (LabOptions.backends). */
  get backends(): boolean {
    return this.config.backends;
  }

  /** nginx LB nodes with `backends`: the dir of the agent's managed upstream includes. */
  upstreamsDir(node: LbNode): string {
    return join(this.proxyFiles(node).dir, 'upstreams');
  }

  /** haproxy LB nodes with `backends`: the server state file the agent keeps and haproxy loads. */
  serverStateFile(node: LbNode): string {
    return join(this.proxyFiles(node).dir, 'server-state');
  }

  /** With `backends`: the web node's access log, one "<client address> <uri>" line per request. */
  accessLog(web: WebNode): string {
    return join(this.proxyFiles(web).dir, 'access.log');
  }

  /** The proxy config as the lab wrote it (what `restoreProxyConfig` puts back). */
  goodProxyConfig(node: LbNode): string {
    const files = this.proxyFiles(node);
    if (this.plan.proxy === 'haproxy') return renderLbHaproxy(this.plan, node, files, this.config.backends ? this.serverStateFile(node) : undefined);
    return renderLbNginx(this.plan, node, files, this.config.backends ? this.upstreamsDir(node) : undefined, this.config.nginxWorkers);
  }

  // ---------------------------------------------------------------- build

  private async build(): Promise<void> {
    const { log } = this.config;
    // Daemon workers run unprivileged (nobody) and must read the web pages below the run dir, so
    // the dirs the lab creates are world-traversable whatever the umask. A lab root that existed
    // before (say /tmp) is left as it is.
    makeDir(this.config.labRoot);
    makeDir(this.runDir);
    makeDir(join(this.runDir, 'logs'));
    makeDir(join(this.runDir, 'probes'));
    registerRun({
      runId: this.runId,
      runDir: this.runDir,
      ownerPid: process.pid,
      ownerStart: processStartTime(process.pid) ?? '',
      keepRunDir: this.config.keepRunDir,
      createdAt: new Date().toISOString(),
    });
    log(`lab ${this.runId}: topology ${this.plan.name} (${this.plan.proxy}), control ${this.control}, run dir ${this.runDir}`);
    await createNetwork(this.names, this.plan);
    log(`lab ${this.runId}: namespaces ${Object.values(this.names.ns).join(', ')} (+ ${this.names.fabricNs})`);
    await this.startWebNodes();
    this.writeProxyConfigs();
    switch (this.control) {
      case 'keepalived':
        for (const node of LB_NODES) await this.startProxyDirect(node);
        for (const node of LB_NODES) this.startKeepalived(node, renderLabKeepalived(this.plan, node));
        break;
      case 'seed':
        for (const node of LB_NODES) await this.startProxyDaemonized(node);
        for (const node of LB_NODES) this.startKeepalived(node, renderSeedKeepalived(this.plan, node, this.writeSeedScripts(node)));
        break;
      case 'agent':
        this.agents = new AgentControl(this, { advertIntervalMs: this.config.advertIntervalMs, timing: this.config.timing, backends: this.config.backends, ...(this.config.vrrp2 ? { vrrp2: this.config.vrrp2 } : {}) });
        await this.agents.start();
        break;
    }
    for (const vip of this.plan.vips) {
      await this.waitForHolder(vip.name, vip.home, { timeoutMs: this.config.settleTimeoutMs });
    }
    // The coordinator's view settles a moment after the interfaces do.
    for (const vip of this.plan.vips) {
      await this.agents?.waitForReportedHolder(vip.name, vip.home, { timeoutMs: this.config.settleTimeoutMs });
    }
    log(`lab ${this.runId}: ${this.plan.vips.map((v) => `${v.address} on ${v.home}`).join(', ')}`);
  }

  private async startWebNodes(): Promise<void> {
    for (const web of WEB_NODES) {
      const files = this.proxyFiles(web);
      const html = join(this.nodeDir(web), 'html');
      makeDir(join(files.dir, 'tmp'));
      makeDir(html);
      writeFileSync(join(html, 'index.html'), `${this.plan.webs[web].page}\n`);
      chmodSync(join(html, 'index.html'), 0o644);
      writeFileSync(files.config, renderWebNginx(files, html, this.config.backends ? this.accessLog(web) : undefined));
      this.spawn(`${web}-nginx`, web, '/usr/sbin/nginx', ['-c', files.config, '-e', files.errorLog, '-g', 'daemon off;']);
    }
    for (const web of WEB_NODES) await this.waitForPidFile(this.proxyFiles(web).pidFile, `${web} nginx`);
  }

  /** Stops the web nodes' nginx (the backends go away; the LB proxies answer 502). */
  async stopWebNodes(webs: readonly WebNode[] = WEB_NODES): Promise<void> {
    await Promise.all(webs.map((web) => this.processes.get(`${web}-nginx`)?.stop('SIGTERM', 3000)));
    for (const web of webs) rmSync(this.proxyFiles(web).pidFile, { force: true });
  }

  /** Starts the web nodes' nginx again after stopWebNodes. */
  async restartWebNodes(webs: readonly WebNode[] = WEB_NODES): Promise<void> {
    for (const web of webs) {
      if (this.processes.get(`${web}-nginx`)?.isRunning()) continue;
      const files = this.proxyFiles(web);
      this.spawn(`${web}-nginx`, web, '/usr/sbin/nginx', ['-c', files.config, '-e', files.errorLog, '-g', 'daemon off;']);
    }
    for (const web of webs) await this.waitForPidFile(this.proxyFiles(web).pidFile, `${web} nginx`);
  }

  private writeProxyConfigs(): void {
    for (const node of LB_NODES) {
      const files = this.proxyFiles(node);
      makeDir(join(files.dir, 'tmp'));
      writeFileSync(files.config, this.goodProxyConfig(node));
      if (this.config.backends && this.plan.proxy === 'nginx') {
        // The seed's servers until the agent writes the include from the spec's pool.
        makeDir(this.upstreamsDir(node));
        writeFileSync(join(this.upstreamsDir(node), 'webserver.conf'), `${webServerLines(this.plan)}\n`);
        writeFileSync(join(this.upstreamsDir(node), 'slowserver.conf'), `${slowServerLines(this.plan)}\n`);
      }
    }
  }

  /** The command line that runs the node's proxy in the foreground. */
  proxyCommand(node: LbNode): { command: string; args: string[] } {
    const files = this.proxyFiles(node);
    return this.plan.proxy === 'nginx'
      ? { command: '/usr/sbin/nginx', args: ['-c', files.config, '-e', files.errorLog, '-g', 'daemon off;'] }
      : { command: '/usr/sbin/haproxy', args: ['-W', '-db', '-f', files.config, '-p', files.pidFile] };
  }

  private async startProxyDirect(node: LbNode): Promise<void> {
    const { command, args } = this.proxyCommand(node);
    this.spawn(`${node}-${this.plan.proxy}`, node, command, args);
    await this.waitForPidFile(this.proxyFiles(node).pidFile, `${node} ${this.plan.proxy}`);
  }

  /** Seed control: the proxy runs as a daemon, as systemd would leave it, so the seed's scripts can start it again. */
  private async startProxyDaemonized(node: LbNode): Promise<void> {
    const files = this.proxyFiles(node);
    const args =
      this.plan.proxy === 'nginx'
        ? ['-c', files.config, '-e', files.errorLog]
        : ['-D', '-f', files.config, '-p', files.pidFile];
    const out = await runInNamespace(this.names.ns[node], `/usr/sbin/${this.plan.proxy}`, args);
    if (out.code !== 0) throw new LabCommandError([this.plan.proxy, ...args], out.code, out.stderr);
    await this.waitForPidFile(files.pidFile, `${node} ${this.plan.proxy}`);
  }

  private writeSeedScripts(node: LbNode): SeedScriptFiles {
    const dir = join(this.nodeDir(node), 'seed');
    makeDir(dir);
    const scripts: SeedScriptFiles = {
      dir,
      checkProxy: join(dir, this.plan.proxy === 'nginx' ? 'chk_nginx.sh' : 'haproxy_check.sh'),
      checkDown: join(dir, 'chk_down.sh'),
      notify: join(dir, 'notify.sh'),
      downFile: this.maintenanceFile(node),
      notifyLog: join(dir, 'notify.log'),
      keepalivedPidFile: this.keepalivedFiles(node).pidFile,
    };
    const files = this.proxyFiles(node);
    const write = (path: string, text: string): void => writeFileSync(path, text, { mode: 0o755 });
    write(scripts.checkProxy, this.plan.proxy === 'nginx' ? renderSeedCheckNginx(files, scripts) : renderSeedCheckHaproxy(files));
    write(scripts.checkDown, renderSeedCheckDown(scripts));
    write(scripts.notify, renderSeedNotify(this.plan, files, scripts));
    return scripts;
  }

  private startKeepalived(node: LbNode, config: string): void {
    const files = this.keepalivedFiles(node);
    makeDir(files.dir);
    writeFileSync(files.config, config);
    this.spawnKeepalived(node);
  }

  /** Starts keepalived again with the config the lab wrote ('keepalived' and 'seed' control), unless it runs. */
  async restartKeepalived(node: LbNode): Promise<void> {
    if (this.control === 'agent') throw new LabUsageError('in agent control the agent runs keepalived');
    if ((await this.pidsByName(node, 'keepalived')).length > 0) return;
    this.spawnKeepalived(node);
  }

  private spawnKeepalived(node: LbNode): void {
    const files = this.keepalivedFiles(node);
    const n = this.processes.has(`${node}-keepalived`) ? `-${Date.now()}` : '';
    this.spawn(`${node}-keepalived${n}`, node, '/usr/sbin/keepalived', [
      '--dont-fork', '--log-console', '--log-detail', '--no-syslog', '--vrrp',
      '-f', files.config, '-p', files.pidFile, '-r', files.vrrpPidFile, '-c', files.checkersPidFile,
    ]);
  }

  /** Starts a long-running process of the run (in a node's namespace, or the host's with role undefined). */
  spawn(name: string, role: NodeRole | undefined, command: string, args: readonly string[], env?: NodeJS.ProcessEnv): LabProcess {
    const proc = spawnLabProcess({
      name,
      ns: role === undefined ? undefined : this.names.ns[role],
      command,
      args,
      logFile: this.logFile(name),
      env,
    });
    this.processes.set(name, proc);
    return proc;
  }

  process(name: string): LabProcess | undefined {
    return this.processes.get(name);
  }

  private async waitForPidFile(path: string, what: string): Promise<void> {
    await waitFor(`${what} to write its pid file`, async () => {
      try {
        const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
        if (pid > 0) return { done: true, value: pid };
      } catch {
        // Not there yet.
      }
      return { done: false, observed: 'no pid file' };
    }, { timeoutMs: 10_000 });
  }

  // ---------------------------------------------------------------- observe

  vip(name: string): VipPlan {
    const vip = this.plan.vips.find((v) => v.name === name || v.address === name);
    if (vip === undefined) throw new LabUsageError(`no VIP ${JSON.stringify(name)} in topology ${this.plan.name}`);
    return vip;
  }

  /** Addresses on an interface of a node (`ip -j addr`). */
  async addresses(role: NodeRole, iface = 'eth1'): Promise<string[]> {
    const out = await runCommand('ip', ['-n', this.names.ns[role], '-j', 'addr', 'show', 'dev', iface]);
    if (out.code !== 0) return [];
    const parsed = JSON.parse(out.stdout || '[]') as { addr_info?: { family: string; local: string }[] }[];
    return parsed.flatMap((link) => (link.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => a.local));
  }

  /** The LB nodes that have the VIP on their interface right now (two is a split brain). */
  async holdersOf(vipName: string): Promise<LbNode[]> {
    const vip = this.vip(vipName);
    const holders: LbNode[] = [];
    for (const node of LB_NODES) {
      if ((await this.addresses(node, vip.interface)).includes(vip.address)) holders.push(node);
    }
    return holders;
  }

  /** VIP name -> holders, for every VIP of the topology. */
  async holders(): Promise<Record<string, LbNode[]>> {
    const out: Record<string, LbNode[]> = {};
    for (const vip of this.plan.vips) out[vip.name] = await this.holdersOf(vip.name);
    return out;
  }

  /** Waits until exactly `node` holds the VIP. */
  async waitForHolder(vipName: string, node: LbNode, options: WaitOptions = {}): Promise<void> {
    const vip = this.vip(vipName);
    await waitFor(`${vip.address} to be held by ${node} alone`, async () => {
      const holders = await this.holdersOf(vip.name);
      return holders.length === 1 && holders[0] === node
        ? { done: true, value: undefined }
        : { done: false, observed: holders.length === 0 ? 'no holder' : `held by ${holders.join(' and ')}` };
    }, { timeoutMs: 20_000, ...options });
  }

  /** Sends `count` requests to a VIP from the client namespace (a short probe run) and returns them. */
  async request(vipName: string, count = 10, options: { intervalMs?: number; timeoutMs?: number } = {}): Promise<ProbeRecord[]> {
    return this.requestUrl(vipUrl(this.vip(vipName)), count, options);
  }

  /** Sends `count` requests to any URL from the client namespace (credentials in the URL become basic auth). */
  async requestUrl(url: string, count = 1, options: { intervalMs?: number; timeoutMs?: number } = {}): Promise<ProbeRecord[]> {
    const out = await runInNamespace(this.names.ns.client, process.execPath, [
      PROBE_SCRIPT,
      '--url', url,
      '--host', this.plan.host,
      '--interval-ms', String(options.intervalMs ?? 10),
      '--timeout-ms', String(options.timeoutMs ?? 1000),
      '--count', String(count),
      '--duration-ms', '60000',
    ], { timeoutMs: 90_000 });
    if (out.code !== 0) throw new LabCommandError(['probe', url], out.code, out.stderr);
    return parseProbeOutput(out.stdout);
  }

  /** Starts a probe in the client namespace; it stops by itself after `maxDurationMs`. */
  async startProbe(vipName: string, options: ProbeOptions = {}): Promise<ProbeSession> {
    const vip = this.vip(vipName);
    const n = ++this.probeCount;
    const file = join(this.runDir, 'probes', `probe-${n}-${vip.name}.jsonl`);
    const proc = this.spawn(`probe-${n}`, 'client', process.execPath, [
      PROBE_SCRIPT,
      '--url', `${vipUrl(vip)}${(options.path ?? '/').replace(/^\/?/, '')}`,
      '--host', this.plan.host,
      '--interval-ms', String(options.intervalMs ?? 10),
      '--timeout-ms', String(options.timeoutMs ?? 500),
      '--duration-ms', String(options.maxDurationMs ?? 120_000),
      '--out', file,
      ...(options.keepAlive ? ['--keep-alive'] : []),
      ...(options.retryReset ? ['--retry-reset'] : []),
      ...(options.sequential ? ['--sequential'] : []),
    ]);
    const session: ProbeSession = {
      vip,
      file,
      pid: proc.pid,
      records: () => readProbeFile(file),
      stop: async () => {
        await proc.stop('SIGTERM', 5000);
        this.probes.delete(session);
        return readProbeFile(file);
      },
    };
    this.probes.add(session);
    await waitFor(`probe ${n} to send its first request`, async () => {
      const records = await readProbeFile(file);
      if (records.length > 0) return { done: true, value: undefined };
      if (!proc.isRunning()) throw new LabCommandError(['probe', vip.address], null, readFileSync(proc.logFile, 'utf8'));
      return { done: false, observed: 'no record yet' };
    }, { timeoutMs: 10_000 });
    return session;
  }

  /**
   * Starts a slow backend on each web node (answers after `delayMs`), reached through the LB
   * proxies at /slow; returns a function that stops them.
   */
  async startSlowBackends(delayMs: number): Promise<() => Promise<void>> {
    const procs = WEB_NODES.map((web) =>
      this.spawn(`${web}-slow-${Date.now()}`, web, process.execPath, [SLOW_BACKEND_SCRIPT, '--delay-ms', String(delayMs), '--page', this.plan.webs[web].page]),
    );
    await waitFor('the slow backends to listen', async () => {
      for (const web of WEB_NODES) {
        const out = await runInNamespace(this.names.ns[web], 'ss', ['-Htln', `sport = :${SLOW_BACKEND_PORT}`]);
        if (!out.stdout.includes(`:${SLOW_BACKEND_PORT}`)) return { done: false, observed: `${web} not listening` };
      }
      return { done: true, value: undefined };
    }, { timeoutMs: 10_000 });
    return async () => {
      await Promise.all(procs.map((p) => p.stop('SIGTERM', 2000)));
    };
  }

  /** The client's neighbour entry for a VIP: which MAC its packets for the VIP go to now. */
  async clientNeighbour(vipName: string): Promise<NeighbourEntry | undefined> {
    return neighbourEntry(this.names.ns.client, this.vip(vipName).address);
  }

  /** The MAC address of a node's interface (to compare with the client's neighbour entry). */
  async macOf(role: NodeRole, iface = 'eth1'): Promise<string> {
    return linkMac(this.names.ns[role], iface);
  }

  /** Runs wrk from the client namespace against a VIP (kept-alive connections, no retries). */
  async wrk(vipName: string, options: WrkOptions & { path?: string }): Promise<WrkResult> {
    return runWrk(this.names.ns.client, `${vipUrl(this.vip(vipName))}${(options.path ?? '/').replace(/^\/?/, '')}`, { host: this.plan.host, ...options });
  }

  /** Pids of the proxy (master and workers) in a node's namespace. */
  async proxyPids(node: LbNode): Promise<number[]> {
    return this.pidsByName(node, this.plan.proxy);
  }

  async pidsByName(role: NodeRole, comm: string): Promise<number[]> {
    const pids = await namespacePids(this.names.ns[role]);
    return pids.filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === comm;
      } catch {
        return false;
      }
    });
  }

  /** The proxy's master process (the one whose parent is not a proxy process), if running. */
  async proxyMasterPid(node: LbNode): Promise<number | undefined> {
    const pids = await this.proxyPids(node);
    return pids.find((pid) => !pids.includes(parentPid(pid)));
  }

  /** The proxy's workers: the children of its master (none when it does not run). */
  async proxyWorkerPids(node: LbNode): Promise<number[]> {
    const pids = await this.proxyPids(node);
    const master = pids.find((pid) => !pids.includes(parentPid(pid)));
    return master === undefined ? [] : pids.filter((pid) => parentPid(pid) === master);
  }

  /**
   * The established connections to the node's port 80 and the proxy process that owns each
   * (the client's port, the pid): a listen socket is shared by the workers, a connection belongs
   * to the one that accepted it.
   */
  async connectionOwners(node: LbNode): Promise<Array<{ clientPort: number; pid: number }>> {
    const out = await runInNamespace(this.names.ns[node], 'ss', ['-Htnp', 'state', 'established', 'sport = :80']);
    return parseSocketOwners(out.stdout).map((c) => ({ clientPort: c.peerPort, pid: c.pid }));
  }

  /** The local ports of the client namespace's established connections to port 80 that process `pid` owns. */
  async clientPorts(pid: number): Promise<number[]> {
    const out = await runInNamespace(this.names.ns.client, 'ss', ['-Htnp', 'state', 'established', 'dport = :80']);
    return parseSocketOwners(out.stdout).filter((c) => c.pid === pid).map((c) => c.localPort);
  }

  // ---------------------------------------------------------------- break and repair

  /** SIGKILL to every proxy process of the node (master and workers), optionally after breaking its config. */
  async killProxy(node: LbNode, options: ProxyFaultOptions = {}): Promise<number[]> {
    if (options.breakConfig) this.breakProxyConfig(node);
    const pids = await this.proxyPids(node);
    for (const pid of pids) signalQuietly(pid, 'SIGKILL');
    return pids;
  }

  /** Sends a signal to every proxy process of the node (e.g. SIGSTOP for a hung proxy, SIGCONT to resume). */
  async signalProxy(node: LbNode, sig: NodeJS.Signals): Promise<number[]> {
    const pids = await this.proxyPids(node);
    for (const pid of pids) signalQuietly(pid, sig);
    return pids;
  }

  /** Sends a signal to one process of the node's proxy (a worker, or the master alone). */
  async signalProxyProcess(node: LbNode, pid: number, sig: NodeJS.Signals): Promise<void> {
    if (!(await this.proxyPids(node)).includes(pid)) throw new LabUsageError(`pid ${pid} is not a ${this.plan.proxy} process of ${node}`);
    signalQuietly(pid, sig);
  }

  /**
   * Stops the proxy the way its service manager's stop does: TERM to the master (nginx.org's
   * nginx.service and haproxy's unit both stop with it; nginx shuts down fast, not gracefully).
   */
  async stopProxy(node: LbNode): Promise<number | undefined> {
    const master = await this.proxyMasterPid(node);
    if (master !== undefined) signalQuietly(master, 'SIGTERM');
    return master;
  }

  /** Waits until no proxy process is left on the node. */
  async waitForProxyGone(node: LbNode, options: WaitOptions = {}): Promise<void> {
    await waitFor(`${this.plan.proxy} on ${node} to exit`, async () => {
      const pids = await this.proxyPids(node);
      return pids.length === 0 ? { done: true, value: undefined } : { done: false, observed: `pids ${pids.join(' ')}` };
    }, options);
  }

  /** Starts the proxy again where the lab runs it itself ('keepalived' and 'seed' control). */
  async startProxy(node: LbNode): Promise<void> {
    if (this.control === 'agent') throw new LabUsageError('in agent control the agent starts the proxy');
    if (this.control === 'seed') await this.startProxyDaemonized(node);
    else await this.startProxyDirect(node);
  }

  breakProxyConfig(node: LbNode): void {
    writeFileSync(this.proxyFiles(node).config, brokenConfig(this.plan.proxy));
  }

  restoreProxyConfig(node: LbNode): void {
    writeFileSync(this.proxyFiles(node).config, this.goodProxyConfig(node));
  }

  async setLink(role: NodeRole, iface: 'eth1' | 'eth2', state: 'up' | 'down'): Promise<void> {
    await ipIn(this.names.ns[role], ['link', 'set', iface, state]);
  }

  /** Both links of an LB node down (the node is lost to its peers and clients) or up again. */
  async setNodeLinks(node: LbNode, state: 'up' | 'down'): Promise<void> {
    await this.setLink(node, 'eth1', state);
    await this.setLink(node, 'eth2', state);
  }

  setMaintenance(node: LbNode, on: boolean): void {
    if (on) writeFileSync(this.maintenanceFile(node), '');
    else rmSync(this.maintenanceFile(node), { force: true });
  }

  /**
   * Signals keepalived (parent and VRRP child) on a node. SIGTERM is a clean stop (it removes its
   * VIPs, like `systemctl stop keepalived`); SIGKILL leaves the addresses on the interface, as a
   * crashed daemon would, while the peer takes over.
   */
  async killKeepalived(node: LbNode, sig: NodeJS.Signals = 'SIGKILL'): Promise<number[]> {
    const pids = await this.pidsByName(node, 'keepalived');
    // SIGKILL: the VRRP child first, then its parent. The other order lets the child see its
    // parent die (keepalived asks for a signal then) and stop cleanly with a priority-0 advert
    // before its own SIGKILL lands; this order is the crash where nobody sends one.
    const parents = pids.filter((pid) => !pids.includes(parentPid(pid)));
    const targets = sig === 'SIGKILL' ? [...pids.filter((pid) => !parents.includes(pid)), ...parents] : parents;
    for (const pid of targets) signalQuietly(pid, sig);
    return pids;
  }

  /** Runs a command inside a node's namespace, checked. */
  exec(role: NodeRole, command: string, args: readonly string[]): Promise<string> {
    return runChecked('ip', ['netns', 'exec', this.names.ns[role], command, ...args]);
  }

  // ---------------------------------------------------------------- teardown

  /** Stops every process of the run and removes its namespaces, registry entry and (unless kept) run dir. */
  async down(options: { keepRunDir?: boolean } = {}): Promise<void> {
    if (this.downed) return;
    this.downed = true;
    for (const probe of [...this.probes]) await probe.stop().catch(() => undefined);
    if (this.agents !== undefined) await this.agents.stop().catch(() => undefined);
    await Promise.all([...this.processes.values()].map((p) => p.stop('SIGTERM', 2000)));
    const keep = options.keepRunDir ?? this.config.keepRunDir;
    await removeRun(this.runId, keep);
    this.config.log(`lab ${this.runId}: down${keep ? ` (run dir kept: ${this.runDir})` : ''}`);
  }
}

/**
 * mkdir -p, with every directory it creates world-traversable whatever the umask: daemon workers
 * run unprivileged (nobody) and must reach the pages and temp dirs below the run dir. Directories
 * that existed before (say /tmp) are left as they are.
 */
function makeDir(path: string): void {
  const first = mkdirSync(path, { recursive: true });
  if (first === undefined) return;
  for (let level = path; level.length >= first.length; level = dirname(level)) chmodSync(level, 0o755);
}

/** http://VIP/ with the brackets an IPv6 address needs. */
function vipUrl(vip: VipPlan): string {
  return vip.address.includes(':') ? `http://[${vip.address}]/` : `http://${vip.address}/`;
}

function parentPid(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

/** `ss -Htnp` lines (Recv-Q Send-Q Local Peer Process) as ports and the owning pid. */
function parseSocketOwners(text: string): Array<{ localPort: number; peerPort: number; pid: number }> {
  const out: Array<{ localPort: number; peerPort: number; pid: number }> = [];
  for (const line of text.split('\n')) {
    const m = /^\s*\d+\s+\d+\s+\S+:(\d+)\s+\S+:(\d+)\s+.*\bpid=(\d+)/.exec(line);
    if (m) out.push({ localPort: Number(m[1]), peerPort: Number(m[2]), pid: Number(m[3]) });
  }
  return out;
}

function signalQuietly(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // Already gone.
  }
}

/** Brings up a lab: `const lab = await startLab({ topology: 'a' })`. */
export function startLab(options: LabOptions): Promise<Lab> {
  return Lab.start(options);
}
