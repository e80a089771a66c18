// The daemons one node runs: its proxies (normally one nginx or haproxy) and keepalived, each
// a SupervisedService, found by their configured name or by kind (the coordinator's word).
import type { Logger, ServiceStatus } from '@lbha/shared';
import type { AgentMetrics } from '../agent-metrics.js';
import type { AgentOptions, KeepalivedOptions, ProxyServiceOptions } from '../agent-options.js';
import type { ClosingProxy } from '../net/handover-close.js';
import type { AgentIdentity } from '../keepalived/desired-state-problems.js';
import type { CommandRunner } from '../util/run-command.js';
import { createKeepalivedDriver, createProxyDriver } from './create-driver.js';
import type { ServiceDriver } from './service-driver.js';
import { SupervisedService } from './supervised-service.js';

/** How often a running proxy's accept queues and process states are read (hung proxy detection). */
const STALL_SAMPLE_MS = 20;

/** Replaces the real drivers (unit tests with fakes at the port). */
export interface ServiceDrivers {
  proxy(o: ProxyServiceOptions): ServiceDriver;
  keepalived(o: KeepalivedOptions): ServiceDriver;
}

export interface NodeServicesOptions {
  readonly logger: Logger;
  readonly run: CommandRunner;
  readonly metrics: AgentMetrics;
  readonly drivers: ServiceDrivers | undefined;
  /** A service started, stopped, failed or came back. */
  readonly onLiveness: () => void;
  /** The keepalived process exited (after the supervisor has seen it). */
  readonly onKeepalivedExit: () => void;
}

export class NodeServices {
  readonly keepalived: SupervisedService;
  private readonly proxies = new Map<string, SupervisedService>();

  constructor(
    private readonly opts: AgentOptions,
    deps: NodeServicesOptions,
  ) {
    const ctx = { supervision: opts.supervision, systemctl: opts.systemctlProgram, run: deps.run, logger: deps.logger };
    const sup = opts.supervision;
    const supervised = (driver: ServiceDriver, watchFiles: string[], stallIntervalMs?: number, killStoppedWorkers = false): SupervisedService => {
      const s = new SupervisedService(driver, {
        graceMs: sup.restartGraceMs,
        // The first restart is immediate (in onExit); retries after a failed attempt back off.
        backoff: { firstMs: Math.max(10, sup.backoffInitialMs / 2), initialMs: sup.backoffInitialMs, maxMs: sup.backoffMaxMs },
        stableMs: sup.stableAfterMs,
        watchFiles,
        logger: deps.logger.child({ service: driver.name }),
        onRestart: (name, outcome) => deps.metrics.restart(name, outcome),
        onKill: (name, cause) => deps.metrics.kill(name, cause),
        ...(stallIntervalMs === undefined ? {} : { stallIntervalMs, hungRestartAfterMs: sup.hungRestartAfterMs }),
        killStoppedWorkers,
      });
      s.onLiveness(deps.onLiveness);
      return s;
    };
    for (const p of opts.services) {
      // nginx's master replaces a worker that dies; haproxy's master (-W) exits with its worker,
      // and a stopped haproxy worker is the whole proxy: its hang rule applies.
      this.proxies.set(p.name, supervised(deps.drivers?.proxy(p) ?? createProxyDriver(p, ctx), [p.configFile], STALL_SAMPLE_MS, p.kind === 'nginx'));
    }
    const keepalivedDriver = deps.drivers?.keepalived(opts.keepalived) ?? createKeepalivedDriver(opts.keepalived, ctx);
    this.keepalived = supervised(keepalivedDriver, []);
    keepalivedDriver.onExit(deps.onKeepalivedExit);
  }

  /** Who this agent is and which services a desired state or a command may name. */
  identity(): AgentIdentity {
    // The coordinator names services by kind ("nginx"), the agent config by name: both work.
    const proxies = [...new Set([...this.proxies.keys(), ...this.opts.services.map((s) => s.kind)])];
    return { node: this.opts.node, cluster: this.opts.cluster, services: [...proxies, 'keepalived'], proxies };
  }

  /** Names of the configured proxies. */
  proxyNames(): string[] {
    return [...this.proxies.keys()];
  }

  /** A service by its configured name, or by kind (the coordinator's word for it). */
  service(name: string): SupervisedService | undefined {
    if (name === 'keepalived') return this.keepalived;
    const byName = this.proxies.get(name);
    if (byName) return byName;
    const byKind = this.opts.services.find((s) => s.kind === name);
    return byKind ? this.proxies.get(byKind.name) : undefined;
  }

  /** No proxy's hung-proxy watch is confirming a hang. */
  quiet(): boolean {
    for (const s of this.proxies.values()) if (!s.quiet) return false;
    return true;
  }

  /** Whether two names (configured name or kind) denote the same service. */
  same(a: string, b: string): boolean {
    return this.service(a) === this.service(b);
  }

  /** The proxy the desired state names, else the first configured one. */
  mainProxy(proxyService: string | undefined): SupervisedService | undefined {
    return (proxyService ? this.service(proxyService) : undefined) ?? [...this.proxies.values()][0];
  }

  /** The main proxy as a planned move's old holder ends its connections with it (net/handover-close.ts). */
  closingProxy(proxyService: string | undefined): ClosingProxy | undefined {
    const s = this.mainProxy(proxyService);
    const o = s && this.opts.services.find((p) => p.name === s.name);
    return s && o ? { name: s.name, kind: o.kind, configFile: o.configFile, state: () => s.liveness().state, reload: () => s.reload() } : undefined;
  }

  /** Adopts running daemons; starts the proxies that should run (keepalived waits for a desired state). */
  async init(): Promise<void> {
    await Promise.all(this.opts.services.map((p) => this.proxies.get(p.name)?.init(p.autoStart)));
    await this.keepalived.init(false);
  }

  /** Every proxy, and keepalived when it has instances to run or runs anyway. */
  statuses(keepalivedConfigured: boolean): ServiceStatus[] {
    const list = [...this.proxies.values()].map((s) => s.status());
    if (keepalivedConfigured || this.keepalived.liveness().state === 'running') list.push(this.keepalived.status());
    return list;
  }

  /** Reads every proxy's statistics (active connections) into the metrics. */
  async refreshStats(metrics: AgentMetrics): Promise<void> {
    await Promise.all([...this.proxies.values()].map((s) => s.stats()));
    for (const s of this.proxies.values()) metrics.service(s.status());
  }

  /** Stops the daemons themselves (normally they outlive the agent). */
  async stopDaemons(): Promise<void> {
    await Promise.all([...this.proxies.values(), this.keepalived].map((s) => s.stopDaemon().catch(() => undefined)));
  }

  /** Lets go of the daemons: no more supervision, the daemons keep running. */
  close(): void {
    for (const s of [...this.proxies.values(), this.keepalived]) s.close();
  }
}
