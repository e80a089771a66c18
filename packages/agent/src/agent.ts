// The agent core: owns the supervised services, the checks and keepalived; turns check
// verdicts, the node's mode and the coordinator's placement into track file values; reads
// back what keepalived and the kernel report; streams every change as a delta. It knows
// nothing of gRPC (see ports.ts).
import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import { join } from 'node:path';
import {
  parseCidr,
  sameAddress,
  type CheckSpec,
  type CheckStatus,
  type Command,
  type CommandResult,
  type DesiredState,
  type InstanceStatus,
  type Logger,
  type NodeDelta,
  type NodeMode,
  type NodeSnapshot,
  type ServiceStatus,
  type VrrpState,
} from '@lbha/shared';
import { AgentMetrics } from './agent-metrics.js';
import type { AgentOptions, KeepalivedOptions, ProxyServiceOptions } from './agent-options.js';
import { withDefaults } from './checks/check-defaults.js';
import { CheckRunner } from './checks/check-runner.js';
import { createProbe } from './checks/create-probe.js';
import { CommandJournal, type ActionOutcome, type CommandExecutor } from './commands/command-journal.js';
import { ConfigApplier } from './keepalived/config-applier.js';
import { desiredStateProblems } from './keepalived/desired-state-problems.js';
import { keepalivedFiles, type KeepalivedFiles } from './keepalived/keepalived-files.js';
import { NotifyFifoReader, type NotifyEvent } from './keepalived/notify-fifo.js';
import { computePriority, type Fault, type Penalty, type PriorityOutcome } from './keepalived/priority.js';
import { renderKeepalivedConf } from './keepalived/render-config.js';
import { TrackFiles } from './keepalived/track-files.js';
import { startMetricsServer } from './metrics-server.js';
import { AddressWatcher } from './net/address-watcher.js';
import { HandoverController, type HandoverTask, type SavedSysctls } from './net/handover.js';
import { linkProblem, readLinkState } from './net/interface-state.js';
import { NetlinkMonitor } from './net/netlink-monitor.js';
import type { AgentStateSource, CoordinatorHandler, DesiredStateOutcome } from './ports.js';
import { createKeepalivedDriver, createProxyDriver } from './services/create-driver.js';
import type { ServiceDriver } from './services/service-driver.js';
import { SupervisedService } from './services/supervised-service.js';
import { JsonFile } from './state/json-file.js';
import { runCommand, type CommandRunner } from './util/run-command.js';

export interface AgentDeps {
  readonly logger: Logger;
  readonly run?: CommandRunner;
  readonly metrics?: AgentMetrics;
  /** Replaces the real drivers (unit tests with fakes at the port). */
  readonly drivers?: {
    proxy(o: ProxyServiceOptions): ServiceDriver;
    keepalived(o: KeepalivedOptions): ServiceDriver;
  };
  /** Default true: `ip monitor` for link and address events. */
  readonly netlinkEvents?: boolean;
}

/** Before every check has a first verdict the health file is held (adopted keepalived) or set to fault. */
type HealthGate = 'hold' | 'fault' | 'open';

interface VrrpEntry {
  readonly state: VrrpState;
  readonly priority: number;
  readonly sinceMs: number;
}

type LocalDrain = 'draining' | 'drained';

/** Longest wait for the first verdict of every check before the health file is written anyway. */
const SETTLE_TIMEOUT_MS = 5_000;
const STATS_INTERVAL_MS = 5_000;
const DRAIN_POLL_MS = 250;
const DEFAULT_DRAIN_MS = 60_000;
/**
 * How long a newly failing penalty check (the maintenance file) is held back on a VIP this node
 * holds while the coordinator is connected: the coordinator moves the VIP with a connection
 * handover (docs/design/handover.md), which a local priority drop would pre-empt.
 */
const PENALTY_DEFER_MS = 3_000;

function handoverTasks(d: DesiredState): HandoverTask[] {
  const out: HandoverTask[] = [];
  for (const i of d.instances) {
    const cidr = parseCidr(i.vip);
    if (!i.handover || typeof cidr === 'string') continue;
    out.push({ instance: i.name, vrid: i.vrid, interface: i.interface, vip: cidr.address, role: i.handover.role, peer: i.handover.peer, untilMs: i.handover.untilMs });
  }
  return out;
}

function handoverStatus(t: HandoverTask | undefined, problem: string | undefined): Pick<InstanceStatus, 'handover' | 'handoverError'> {
  return {
    ...(t ? { handover: { role: t.role, peer: t.peer, untilMs: t.untilMs } } : {}),
    ...(problem ? { handoverError: problem } : {}),
  };
}

export class Agent implements AgentStateSource, CoordinatorHandler, CommandExecutor {
  readonly metrics: AgentMetrics;
  private readonly log: Logger;
  private readonly run: CommandRunner;
  private readonly files: KeepalivedFiles;
  private readonly proxies = new Map<string, SupervisedService>();
  private readonly keepalived: SupervisedService;
  private readonly netlink: NetlinkMonitor | undefined;
  private readonly addresses: AddressWatcher;
  private readonly fifo: NotifyFifoReader;
  private readonly tracks = new TrackFiles();
  private readonly applier: ConfigApplier;
  private readonly handover: HandoverController;
  /** Per instance: why the handover it was given could not start. */
  private handoverProblems = new Map<string, string>();
  private readonly checks = new Map<string, CheckRunner>();
  private readonly dirtyChecks = new Set<string>();
  private readonly removedChecks = new Set<string>();
  private readonly removedInstances = new Set<string>();
  private readonly links = new Map<string, boolean>();
  private readonly deferredRaises = new Map<string, { value: number; dueMs: number }>();
  private readonly decidedPlacement = new Map<string, number>();
  private readonly vrrp = new Map<string, VrrpEntry>();
  private readonly listeners = new Set<(d: NodeDelta) => void>();
  private readonly journal: CommandJournal;
  private readonly desiredStore: JsonFile<DesiredState>;
  private readonly drainStore: JsonFile<{ mode: LocalDrain; sinceMs: number }>;
  private readonly vrrpStore: JsonFile<Record<string, VrrpEntry>>;
  private desired: DesiredState | undefined;
  private localDrain: LocalDrain | undefined;
  /** 'hold' until start() knows whether keepalived was adopted. */
  private gate: HealthGate = 'hold';
  private sentServices = new Map<string, string>();
  private sentInstances = new Map<string, string>();
  private sentNode = '';
  private trackChain: Promise<void> = Promise.resolve();
  private applyChain: Promise<unknown> = Promise.resolve();
  private unsubscribeLinks: (() => void) | undefined;
  private timers: NodeJS.Timeout[] = [];
  private metricsServer: Server | undefined;
  private persistVrrpTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private coordinatorLinked = false;
  private deferTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly opts: AgentOptions,
    deps: AgentDeps,
  ) {
    this.log = deps.logger;
    this.run = deps.run ?? runCommand;
    this.metrics = deps.metrics ?? new AgentMetrics();
    const k = opts.keepalived;
    this.files = keepalivedFiles({ configFile: k.configFile, notifyFifo: k.notifyFifo, trackDir: k.trackDir });
    this.applier = new ConfigApplier({ binary: k.binary, files: this.files, run: this.run });
    const ctx = { supervision: opts.supervision, systemctl: opts.systemctlProgram, run: this.run, logger: this.log };
    const sup = opts.supervision;
    const supervised = (driver: ServiceDriver, watchFiles: string[]): SupervisedService => {
      const s = new SupervisedService(driver, {
        graceMs: sup.restartGraceMs,
        // The first restart is immediate (in onExit); retries after a failed attempt back off.
        backoff: { firstMs: Math.max(10, sup.backoffInitialMs / 2), initialMs: sup.backoffInitialMs, maxMs: sup.backoffMaxMs },
        stableMs: sup.stableAfterMs,
        watchFiles,
        logger: this.log.child({ service: driver.name }),
        onRestart: (name, outcome) => this.metrics.restart(name, outcome),
      });
      s.onLiveness(() => this.refresh());
      return s;
    };
    for (const p of opts.services) {
      this.proxies.set(p.name, supervised(deps.drivers?.proxy(p) ?? createProxyDriver(p, ctx), [p.configFile]));
    }
    const keepalivedDriver = deps.drivers?.keepalived(k) ?? createKeepalivedDriver(k, ctx);
    this.keepalived = supervised(keepalivedDriver, []);
    keepalivedDriver.onExit(() => void this.onKeepalivedDeath());
    this.netlink = deps.netlinkEvents === false ? undefined : new NetlinkMonitor({ ipBinary: opts.ipProgram, logger: this.log });
    this.addresses = new AddressWatcher({
      ipProgram: opts.ipProgram,
      run: this.run,
      events: this.netlink,
      // Netlink events do the work; the poll only covers a missed event.
      pollMs: 10_000,
      logger: this.log,
      onChange: () => this.refresh(),
    });
    this.handover = new HandoverController({
      nftProgram: opts.nftProgram,
      ipProgram: opts.ipProgram,
      ssProgram: opts.ssProgram,
      run: this.run,
      logger: this.log,
      workDir: join(opts.runtimeDir, 'handover'),
      // /run: sysctls are reset at boot, and so must the record of their old values be.
      sysctls: new JsonFile<SavedSysctls>(join(opts.runtimeDir, 'handover-sysctls.json')),
      procSysRoot: opts.procSysRoot,
      onEnded: () => this.refresh(),
    });
    this.fifo = new NotifyFifoReader(this.files.notifyFifo, (e) => this.onNotify(e), this.log);
    this.desiredStore = new JsonFile(join(opts.stateDir, 'desired-state.json'));
    this.drainStore = new JsonFile(join(opts.stateDir, 'local-drain.json'));
    this.vrrpStore = new JsonFile(join(opts.runtimeDir, 'vrrp-states.json'));
    this.journal = new CommandJournal({
      executor: this,
      store: new JsonFile(join(opts.stateDir, 'command-results.json')),
      logger: this.log,
      defaultDrainMs: DEFAULT_DRAIN_MS,
      onFinished: (c, r) => this.metrics.command(c.action.kind, r.state),
    });
  }

  // ------------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    const o = this.opts;
    await mkdir(o.stateDir, { recursive: true, mode: 0o700 });
    await mkdir(o.runtimeDir, { recursive: true, mode: 0o755 });
    await this.tracks.init(this.files.trackDir);
    this.localDrain = (await this.drainStore.load())?.mode;
    await this.journal.load();
    for (const [name, e] of Object.entries((await this.vrrpStore.load()) ?? {})) this.vrrp.set(name, e);
    const cached = await this.desiredStore.load();
    await this.handover.start();

    await this.fifo.start(this.run);
    await this.addresses.start();
    this.unsubscribeLinks = this.netlink?.subscribe((e) => {
      if (e.type === 'link' && this.links.has(e.ifname)) void this.readLink(e.ifname);
    });

    await Promise.all([...this.proxies.entries()].map(([name, s]) => s.init(this.proxyOptions(name)?.autoStart ?? true)));
    await this.keepalived.init(false);
    // An adopted keepalived carries the live health value: keep it until the checks have spoken.
    this.gate = this.keepalived.liveness().state === 'running' ? 'hold' : 'fault';

    if (cached && desiredStateProblems(cached, this.identity()).length === 0) {
      this.log.info({ event: 'desired.cached', version: cached.version }, `using cached desired state version ${cached.version}`);
      const r = await this.apply(cached);
      if (!r.accepted) this.log.error({ event: 'desired.cache_refused', error: r.error }, 'cached desired state could not be applied');
    } else {
      this.syncChecks(undefined);
      await this.handover.apply([]);
    }
    const settle = setTimeout(() => this.openGate('timeout'), SETTLE_TIMEOUT_MS);
    settle.unref();
    this.timers.push(settle);
    const stats = setInterval(() => void this.refreshStats(), STATS_INTERVAL_MS);
    stats.unref();
    this.timers.push(stats);
    void this.refreshStats();

    if (o.metricsListen) {
      const address = `${o.metricsListen.host}:${o.metricsListen.port}`;
      try {
        const { server, port } = await startMetricsServer(this.metrics.registry, o.metricsListen.host, o.metricsListen.port);
        this.metricsServer = server;
        this.log.info({ event: 'metrics.listening', address: `${o.metricsListen.host}:${port}` }, 'metrics endpoint listening');
      } catch (err) {
        // The data plane does not depend on its metrics: keep running without them.
        this.log.error({ event: 'metrics.listen_failed', address, err: (err as Error).message }, `cannot serve metrics on ${address}`);
      }
    }
    this.maybeOpenGate();
    this.refresh();
  }

  /** Stops the agent. The daemons keep running unless `stopServicesOnExit` (or `stopDaemons`). */
  async stop(stopDaemons = this.opts.stopServicesOnExit): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    if (this.deferTimer) clearTimeout(this.deferTimer);
    if (this.persistVrrpTimer) clearTimeout(this.persistVrrpTimer);
    for (const c of this.checks.values()) c.stop();
    this.unsubscribeLinks?.();
    this.addresses.stop();
    this.netlink?.stop();
    this.fifo.stop();
    // Handovers stay in place: they end at their deadline, or a restarted agent takes them up.
    this.handover.detach();
    await new Promise<void>((resolve) => (this.metricsServer ? this.metricsServer.close(() => resolve()) : resolve()));
    await this.applyChain.catch(() => undefined);
    await this.trackChain.catch(() => undefined);
    await this.persistVrrp();
    await this.journal.flush();
    if (stopDaemons) {
      await Promise.all([...this.proxies.values(), this.keepalived].map((s) => s.stopDaemon().catch(() => undefined)));
    }
    for (const s of [...this.proxies.values(), this.keepalived]) s.close();
  }

  // ------------------------------------------------------------------ AgentStateSource

  snapshot(): NodeSnapshot {
    const { instances, healthy } = this.evaluate();
    return {
      services: this.serviceStatuses(),
      checks: [...this.checks.values()].map((c) => c.status()),
      instances,
      healthy,
      appliedVersion: this.appliedVersion(),
      localMode: this.localMode(),
    };
  }

  onDelta(listener: (delta: NodeDelta) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  appliedVersion(): number {
    return this.desired?.version ?? 0;
  }

  recentResults(): readonly CommandResult[] {
    return this.journal.recent();
  }

  // ------------------------------------------------------------------ CoordinatorHandler

  applyDesiredState(desired: DesiredState): Promise<DesiredStateOutcome> {
    const problems = desiredStateProblems(desired, this.identity());
    if (problems.length > 0) {
      const error = problems.join('; ');
      this.log.warn({ event: 'desired.refused', version: desired.version, error }, `desired state ${desired.version} refused`);
      return Promise.resolve({ accepted: false, error });
    }
    const next = this.applyChain.then(() => this.apply(desired));
    this.applyChain = next.catch(() => undefined);
    return next.catch((err: Error) => {
      this.log.error({ event: 'desired.failed', version: desired.version, err: err.message }, 'applying the desired state failed');
      return { accepted: false, error: `agent error: ${err.message}` };
    });
  }

  runCommand(command: Command, report: (result: CommandResult) => void): void {
    this.journal.run(command, report);
  }

  // ------------------------------------------------------------------ CommandExecutor

  serviceNames(): readonly string[] {
    return this.identity().services;
  }

  async drain(untilMs: number, progress: (activeConnections: number, message: string) => void): Promise<ActionOutcome> {
    const started = Date.now();
    await this.setLocalDrain('draining');
    const proxy = this.mainProxy();
    let lastReported = -1;
    let lastReportMs = 0;
    for (;;) {
      if (this.localDrain !== 'draining') {
        return { state: 'failed', message: 'drain interrupted by undrain', activeConnections: 0 };
      }
      const held = this.heldInstances();
      const stats = proxy ? await proxy.stats() : undefined;
      const active = stats?.activeConnections ?? 0;
      const elapsed = ((Date.now() - started) / 1000).toFixed(1);
      const done = held.length === 0 && (stats === undefined ? Date.now() - started >= 1_000 : active === 0);
      if (done || Date.now() >= untilMs) {
        await this.setLocalDrain('drained');
        const conns = stats === undefined ? 'active connections unknown (no statusUrl/statsSocket configured)' : `${active} active connections`;
        const vips = held.length === 0 ? 'no VIP held' : `still holding ${held.join(', ')}`;
        const message = done ? `drained: ${conns} after ${elapsed}s, ${vips}` : `drain deadline reached after ${elapsed}s: ${conns}, ${vips}`;
        return { state: 'succeeded', message, activeConnections: active };
      }
      if (active !== lastReported || Date.now() - lastReportMs >= 1_000) {
        lastReported = active;
        lastReportMs = Date.now();
        progress(active, `draining: ${stats === undefined ? 'active connections unknown' : `${active} active connections`}, ${held.length === 0 ? 'no VIP held' : `holding ${held.join(', ')}`}`);
      }
      await new Promise((r) => setTimeout(r, DRAIN_POLL_MS));
    }
  }

  async undrain(): Promise<ActionOutcome> {
    const was = this.localDrain;
    await this.setLocalDrain(undefined);
    const mode = this.desired?.mode ?? 'active';
    const note = mode === 'active' ? 'placement restored' : `placement stays lowest: the coordinator's mode for this node is ${mode}`;
    return { state: 'succeeded', message: was ? `undrained (was ${was}): ${note}` : `not drained: ${note}`, activeConnections: 0 };
  }

  async reload(service: string): Promise<ActionOutcome> {
    const s = this.service(service);
    if (!s) return { state: 'failed', message: `unknown service ${service}`, activeConnections: 0 };
    const r = await s.reload();
    return { state: r.ok ? 'succeeded' : 'failed', message: r.message, activeConnections: 0 };
  }

  async restart(service: string): Promise<ActionOutcome> {
    const s = this.service(service);
    if (!s) return { state: 'failed', message: `unknown service ${service}`, activeConnections: 0 };
    const r = await s.restart();
    return { state: r.ok ? 'succeeded' : 'failed', message: r.message, activeConnections: 0 };
  }

  // ------------------------------------------------------------------ desired state

  private identity() {
    // The coordinator names services by kind ("nginx"), the agent config by name: both work.
    const proxies = [...new Set([...this.proxies.keys(), ...this.opts.services.map((s) => s.kind)])];
    return { node: this.opts.node, cluster: this.opts.cluster, services: [...proxies, 'keepalived'], proxies };
  }

  private async apply(d: DesiredState): Promise<DesiredStateOutcome> {
    if (this.stopped) return { accepted: false, error: 'agent is stopping' };
    const text = renderKeepalivedConf(d, { routerId: this.opts.keepalived.routerId, files: this.files });
    if (d.instances.length > 0) {
      const tested = await this.applier.test(text);
      if (!tested.ok) {
        this.log.error({ event: 'keepalived.config_refused', version: d.version, error: tested.error }, 'keepalived refused the rendered configuration');
        return { accepted: false, error: tested.error };
      }
    }
    const previous = this.desired;
    this.desired = d;
    for (const inst of previous?.instances ?? []) {
      if (!d.instances.some((i) => i.name === inst.name)) {
        this.removedInstances.add(inst.name);
        this.vrrp.delete(inst.name);
        this.decidedPlacement.delete(inst.name);
        this.deferredRaises.delete(inst.name);
        this.metrics.removeInstance(inst.name);
      }
    }
    this.trackLinks(d);
    this.syncChecks(d);
    // Before any placement change moves a VIP: the new holder must forward, the old one answer.
    this.handoverProblems = await this.handover.apply(handoverTasks(d));
    // Track files first, so new instances start with the right placement and health.
    this.refresh();
    await this.trackChain;
    if (d.instances.length === 0) {
      if (this.keepalived.liveness().state === 'running') {
        const r = await this.keepalived.stopDaemon();
        this.log.info({ event: 'keepalived.stopped', reason: 'no instances' }, r.message);
      }
    } else {
      const changed = (await this.applier.current()) !== text;
      await this.applier.commit(text);
      const ka = this.keepalived.liveness().state;
      if (ka === 'running' && changed) {
        const r = await this.keepalived.reload();
        if (r.ok) {
          this.metrics.reload();
          this.log.info({ event: 'keepalived.reloaded', version: d.version }, 'keepalived reloaded: instances, VIPs or peers changed');
        } else {
          this.log.error({ event: 'keepalived.reload_failed', version: d.version, error: r.message }, r.message);
        }
      } else if (ka !== 'running') {
        await this.keepalived.ensureStarted();
      }
    }
    await this.desiredStore.save(d);
    this.log.info({ event: 'desired.applied', version: d.version, instances: d.instances.length, checks: d.checks.length }, `desired state ${d.version} applied`);
    this.metrics.node(this.evaluate().healthy, d.version);
    this.refresh();
    return { accepted: true };
  }

  /** The checks the node runs: the desired ones, plus a process check for the proxy if missing. */
  private checkSpecs(d: DesiredState | undefined): CheckSpec[] {
    const specs = [...(d?.checks ?? [])];
    const proxies = d ? (d.proxyService ? [d.proxyService] : []) : [...this.proxies.keys()];
    for (const svc of proxies) {
      const target = this.service(svc);
      const covered = specs.some((c) => c.params.kind === 'process' && this.service(c.params.service) === target);
      const name = `${svc}-process`;
      if (!covered && !specs.some((c) => c.name === name)) {
        specs.push({ name, intervalMs: 0, timeoutMs: 0, fall: 0, rise: 0, effect: 'fault', penalty: 0, params: { kind: 'process', service: svc } });
      }
    }
    return specs.map(withDefaults);
  }

  private syncChecks(d: DesiredState | undefined): void {
    const specs = this.checkSpecs(d);
    const wanted = new Map(specs.map((s) => [s.name, s]));
    for (const [name, runner] of this.checks) {
      const w = wanted.get(name);
      if (w && JSON.stringify(w) === JSON.stringify(runner.spec)) continue;
      runner.stop();
      this.checks.delete(name);
      this.metrics.removeCheck(name, runner.spec.params.kind);
      if (!w) this.removedChecks.add(name);
    }
    for (const spec of specs) {
      if (this.checks.has(spec.name)) continue;
      const probe = createProbe(spec, {
        service: (n) => this.service(n),
        linkEvents: this.netlink,
        sysfsNetRoot: this.opts.sysfsNetRoot,
      });
      const runner = new CheckRunner(spec, probe, {
        onResult: (name, _r, ms) => this.metrics.checkResult(name, ms),
        onChange: (status) => this.onCheckChange(status),
      });
      this.checks.set(spec.name, runner);
      this.removedChecks.delete(spec.name);
      runner.start();
    }
  }

  private onCheckChange(status: CheckStatus): void {
    this.log.info({ event: 'check.changed', check: status.name, result: status.result }, `check ${status.name}: ${status.result.kind}${status.result.kind === 'healthy' ? '' : ` (${status.result.reason})`}`);
    this.metrics.check(status);
    this.dirtyChecks.add(status.name);
    this.maybeOpenGate();
    this.refresh();
  }

  private maybeOpenGate(): void {
    if (this.gate === 'open') return;
    if ([...this.checks.values()].every((c) => c.hasVerdict)) this.openGate('checks settled');
  }

  private openGate(reason: string): void {
    if (this.gate === 'open') return;
    this.gate = 'open';
    this.log.info({ event: 'health.gate_open', reason }, `health track file follows the checks (${reason})`);
    this.refresh();
  }

  // ------------------------------------------------------------------ evaluation

  private localMode(): NodeMode {
    return this.localDrain ?? this.desired?.mode ?? 'active';
  }

  private evaluate(): { instances: InstanceStatus[]; outcomes: Map<string, PriorityOutcome>; faults: Fault[]; healthy: boolean } {
    const faults: Fault[] = [];
    const penalties: Penalty[] = [];
    const fresh: Penalty[] = [];
    const now = Date.now();
    let freshUntil = Infinity;
    for (const c of this.checks.values()) {
      if (!c.hasVerdict) continue;
      const s = c.status();
      if (s.result.kind === 'healthy' || s.effect === 'none') continue;
      const reason = `check ${s.name}: ${s.result.reason}`;
      if (s.effect === 'fault') {
        faults.push({ source: `check:${s.name}`, reason });
        continue;
      }
      const p = { source: `check:${s.name}`, penalty: s.penalty, reason };
      penalties.push(p);
      if (now - s.sinceMs < PENALTY_DEFER_MS) {
        fresh.push(p);
        freshUntil = Math.min(freshUntil, s.sinceMs + PENALTY_DEFER_MS);
      }
    }
    const mode = this.localMode();
    const lowest = mode === 'active' ? undefined : this.localDrain ? `node is ${this.localDrain} (drain command)` : `node mode is ${mode}`;
    const outcomes = new Map<string, PriorityOutcome>();
    const instances: InstanceStatus[] = [];
    const addrs = this.addresses.addresses();
    const handovers = this.handover.running();
    for (const inst of this.desired?.instances ?? []) {
      const tracked = [inst.interface, ...inst.trackInterfaces];
      const downInterfaces = [...new Set(tracked)].filter((i) => this.links.get(i) === false);
      // On a VIP it holds, a fresh penalty waits for the coordinator's handover move (rank 0 -> 1).
      const defer = fresh.length > 0 && this.coordinatorLinked && lowest === undefined && inst.rank === 0 && this.vrrp.get(inst.name)?.state === 'master';
      const out = defer
        ? computePriority({ instance: inst, lowest, penalties: penalties.filter((p) => !fresh.includes(p)), deferred: fresh, faults, downInterfaces })
        : computePriority({ instance: inst, lowest, penalties, faults, downInterfaces });
      if (defer) this.wakeAt(freshUntil);
      outcomes.set(inst.name, out);
      const v = this.vrrp.get(inst.name);
      const cidr = parseCidr(inst.vip);
      const vipAddr = typeof cidr === 'string' ? inst.vip : cidr.address;
      const present = [...(addrs.get(inst.interface) ?? [])].some((a) => sameAddress(a.slice(0, a.lastIndexOf('/')), vipAddr));
      instances.push({
        name: inst.name,
        vrid: inst.vrid,
        vip: inst.vip,
        interface: inst.interface,
        state: v?.state ?? 'unknown',
        basePriority: inst.basePriority,
        effectivePriority: out.effectivePriority,
        vipPresent: present,
        sinceMs: v?.sinceMs ?? 0,
        priorityTerms: out.terms,
        faultedByHealth: faults.length > 0,
        ...handoverStatus(handovers.find((h) => h.instance === inst.name), this.handoverProblems.get(inst.name)),
      });
    }
    return { instances, outcomes, faults, healthy: faults.length === 0 };
  }

  /** Recomputes everything, writes changed track files, emits a delta if anything changed. */
  private refresh(): void {
    if (this.stopped) return;
    const { instances, outcomes, faults, healthy } = this.evaluate();
    const healthValue = this.gate === 'fault' ? 1 : faults.length > 0 ? 1 : 0;
    const writeHealth = this.gate !== 'hold';
    const placements: Array<readonly [string, number]> = [];
    for (const [name, o] of outcomes) {
      const value = this.placementToWrite(name, o.placementValue);
      if (value !== undefined) placements.push([this.files.placementFile(name), value]);
    }
    this.trackChain = this.trackChain
      .then(async () => {
        if (writeHealth && (await this.tracks.write(this.files.healthFile, healthValue))) {
          this.metrics.trackWrite('health');
          this.log.info(
            { event: 'health.changed', value: healthValue, faults: faults.map((f) => f.reason) },
            healthValue ? `health track file set to FAULT: ${faults.map((f) => f.reason).join('; ') || 'checks not settled'}` : 'health track file cleared',
          );
        }
        for (const [file, value] of placements) {
          if (await this.tracks.write(file, value)) {
            this.metrics.trackWrite('placement');
            this.log.info({ event: 'placement.written', file, value }, `placement ${value} written to ${file}`);
          }
        }
      })
      .catch((err: Error) => this.log.error({ event: 'track.write_failed', err: err.message }, 'cannot write track files'));
    this.emit(instances, healthy);
  }

  /**
   * keepalived restarts a BACKUP instance's master-down timer whenever its priority changes. A
   * coordinator that reacts to the peer's failure by raising this node's placement would thus
   * hold back the takeover the peer's priority-0 advert has just started (skew time, tens of
   * ms) by a full master-down interval. So raises on a BACKUP instance wait that interval: the
   * takeover happens first; a planned move is merely late by a third of a second.
   */
  private placementToWrite(instance: string, value: number): number | undefined {
    // What was last decided (a write may still be queued), else what the file holds.
    const current = this.decidedPlacement.get(instance) ?? this.tracks.cached(this.files.placementFile(instance));
    const state = this.vrrp.get(instance)?.state;
    if (current === undefined || value <= current || state !== 'backup') {
      this.deferredRaises.delete(instance);
      this.decidedPlacement.set(instance, value);
      return value;
    }
    const pending = this.deferredRaises.get(instance);
    if (pending && pending.value === value) {
      if (Date.now() >= pending.dueMs) {
        this.deferredRaises.delete(instance);
        this.decidedPlacement.set(instance, value);
        return value;
      }
      return undefined;
    }
    const waitMs = 3 * (this.desired?.keepalived.advertIntMs ?? 1000) + 50;
    this.deferredRaises.set(instance, { value, dueMs: Date.now() + waitMs });
    const t = setTimeout(() => this.refresh(), waitMs + 5);
    t.unref();
    this.log.debug({ event: 'placement.deferred', instance, from: current, to: value, waitMs }, `placement raise for ${instance} deferred ${waitMs}ms`);
    return undefined;
  }

  private emit(instances: InstanceStatus[], healthy: boolean): void {
    const services: ServiceStatus[] = [];
    for (const s of this.serviceStatuses()) {
      // Stats change all the time; they ride along with real state changes and the snapshot.
      const key = JSON.stringify({ ...s, stats: undefined });
      if (this.sentServices.get(s.name) !== key) {
        this.sentServices.set(s.name, key);
        services.push(s);
        this.metrics.service(s);
      }
    }
    const changedInstances: InstanceStatus[] = [];
    for (const i of instances) {
      const key = JSON.stringify(i);
      if (this.sentInstances.get(i.name) !== key) {
        this.sentInstances.set(i.name, key);
        changedInstances.push(i);
        this.metrics.instance(i);
      }
    }
    for (const name of this.removedInstances) this.sentInstances.delete(name);
    const checks = [...this.dirtyChecks].map((n) => this.checks.get(n)?.status()).filter((c): c is CheckStatus => c !== undefined);
    this.dirtyChecks.clear();
    const node = { healthy, appliedVersion: this.appliedVersion(), localMode: this.localMode() };
    const nodeKey = JSON.stringify(node);
    const nodeChanged = nodeKey !== this.sentNode;
    this.sentNode = nodeKey;
    if (nodeChanged) this.metrics.node(healthy, node.appliedVersion);
    if (services.length + changedInstances.length + checks.length + this.removedChecks.size + this.removedInstances.size === 0 && !nodeChanged) return;
    const delta: NodeDelta = {
      services,
      checks,
      instances: changedInstances,
      removedChecks: [...this.removedChecks],
      removedInstances: [...this.removedInstances],
      ...(nodeChanged ? node : {}),
    };
    this.removedChecks.clear();
    this.removedInstances.clear();
    for (const l of this.listeners) l(delta);
  }

  private wakeAt(ms: number): void {
    if (this.deferTimer || this.stopped) return;
    this.deferTimer = setTimeout(() => {
      this.deferTimer = undefined;
      this.refresh();
    }, Math.max(0, ms - Date.now()) + 5);
    this.deferTimer.unref();
  }

  /** The stream client says whether a coordinator is connected (it may move VIPs with a handover). */
  setCoordinatorLink(up: boolean): void {
    if (this.coordinatorLinked === up) return;
    this.coordinatorLinked = up;
    this.refresh();
  }

  // ------------------------------------------------------------------ observations

  private onNotify(e: NotifyEvent): void {
    if (e.scope !== 'instance') return;
    const prev = this.vrrp.get(e.name);
    if (prev?.state !== e.state) {
      this.vrrp.set(e.name, { state: e.state, priority: e.priority, sinceMs: Date.now() });
      this.metrics.transition(e.name, e.state);
      this.log.info({ event: 'vrrp.transition', instance: e.name, from: prev?.state ?? 'unknown', to: e.state, priority: e.priority }, `${e.name}: ${prev?.state ?? 'unknown'} -> ${e.state}`);
      this.schedulePersistVrrp();
    }
    void this.addresses.read();
    this.refresh();
  }

  /**
   * A killed keepalived leaves its VIPs on the interfaces, undefended, while the peer takes
   * them over: remove them now rather than when the restarted keepalived gets to it.
   */
  private async onKeepalivedDeath(): Promise<void> {
    if (this.stopped) return;
    const addrs = this.addresses.addresses();
    for (const inst of this.desired?.instances ?? []) {
      this.vrrp.set(inst.name, { state: 'unknown', priority: 0, sinceMs: Date.now() });
      const cidr = parseCidr(inst.vip);
      if (typeof cidr === 'string') continue;
      const present = [...(addrs.get(inst.interface) ?? [])].some((a) => sameAddress(a.slice(0, a.lastIndexOf('/')), cidr.address));
      if (!present) continue;
      const r = await this.run(this.opts.ipProgram, ['addr', 'del', inst.vip, 'dev', inst.interface], { timeoutMs: 5_000 });
      this.log.warn(
        { event: 'vip.released', instance: inst.name, vip: inst.vip, ok: r.exitCode === 0 },
        `keepalived died: removed ${inst.vip} from ${inst.interface}${r.exitCode === 0 ? '' : ` (failed: ${r.output})`}`,
      );
    }
    void this.addresses.read();
    this.refresh();
  }

  private schedulePersistVrrp(): void {
    if (this.persistVrrpTimer) return;
    this.persistVrrpTimer = setTimeout(() => {
      this.persistVrrpTimer = undefined;
      void this.persistVrrp();
    }, 200);
    this.persistVrrpTimer.unref();
  }

  private async persistVrrp(): Promise<void> {
    await this.vrrpStore.save(Object.fromEntries(this.vrrp)).catch((err: Error) => this.log.warn({ event: 'vrrp.persist_failed', err: err.message }, 'cannot persist VRRP states'));
  }

  private trackLinks(d: DesiredState): void {
    const wanted = new Set(d.instances.flatMap((i) => [i.interface, ...i.trackInterfaces]));
    for (const name of this.links.keys()) if (!wanted.has(name)) this.links.delete(name);
    for (const name of wanted) {
      if (!this.links.has(name)) {
        this.links.set(name, true);
        void this.readLink(name);
      }
    }
  }

  private async readLink(ifname: string): Promise<void> {
    const up = linkProblem(ifname, await readLinkState(ifname, this.opts.sysfsNetRoot)) === undefined;
    if (!this.links.has(ifname) || this.links.get(ifname) === up) return;
    this.links.set(ifname, up);
    this.log.info({ event: up ? 'link.up' : 'link.down', interface: ifname }, `${ifname} is ${up ? 'up' : 'down'}`);
    this.refresh();
  }

  private async refreshStats(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((s) => s.stats()));
    for (const s of this.proxies.values()) this.metrics.service(s.status());
  }

  // ------------------------------------------------------------------ helpers

  private async setLocalDrain(mode: LocalDrain | undefined): Promise<void> {
    this.localDrain = mode;
    if (mode) await this.drainStore.save({ mode, sinceMs: Date.now() });
    else await this.drainStore.remove();
    this.refresh();
    await this.trackChain;
  }

  private heldInstances(): string[] {
    return this.evaluate()
      .instances.filter((i) => i.state === 'master' || i.vipPresent)
      .map((i) => i.name);
  }

  private mainProxy(): SupervisedService | undefined {
    const name = this.desired?.proxyService;
    return (name ? this.service(name) : undefined) ?? [...this.proxies.values()][0];
  }

  /** A service by its configured name, or by kind (the coordinator's word for it). */
  private service(name: string): SupervisedService | undefined {
    if (name === 'keepalived') return this.keepalived;
    const byName = this.proxies.get(name);
    if (byName) return byName;
    const byKind = this.opts.services.find((s) => s.kind === name);
    return byKind ? this.proxies.get(byKind.name) : undefined;
  }

  private proxyOptions(name: string): ProxyServiceOptions | undefined {
    return this.opts.services.find((s) => s.name === name);
  }

  private serviceStatuses(): ServiceStatus[] {
    const list = [...this.proxies.values()].map((s) => s.status());
    if (this.desired?.instances.length || this.keepalived.liveness().state === 'running') list.push(this.keepalived.status());
    return list;
  }
}
