// The agent core: wires the node's parts together and runs one loop, observe -> evaluate ->
// write and publish. Observations (check verdicts, VRRP states, links, addresses, service
// liveness, handovers) each call refresh(); refresh evaluates the node at the current time
// (core/evaluate.ts, pure), hands the result to the track file writer (core/track-writer.ts)
// and the delta tracker (core/delta-tracker.ts), and sets one timer for whatever falls due
// later. Desired states go through core/desired-state-applier.ts, commands through
// core/node-commands.ts, the proxy's backend pool through backends/. It knows nothing of gRPC.
//
// Over 400 lines: the one place where the node's parts are wired together; each part lives in
// its own module, and what is left here is construction, start, stop and the loop.
import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { parseCidr, type CheckStatus, type Command, type CommandResult, type DesiredState, type Logger, type NodeDelta, type NodeSnapshot, type VrrpState } from '@lbha/shared';
import { AgentMetrics } from './agent-metrics.js';
import type { BackendManager } from './backends/backend-manager.js';
import { createBackendManager } from './backends/create-backend-manager.js';
import type { AgentOptions } from './agent-options.js';
import { CheckSet } from './checks/check-set.js';
import { nodeCheckSpecs } from './checks/node-check-specs.js';
import { CommandJournal } from './commands/command-journal.js';
import { DeltaTracker } from './core/delta-tracker.js';
import { DesiredStateApplier } from './core/desired-state-applier.js';
import { evaluate, heldInstances, type Evaluation } from './core/evaluate.js';
import { NodeCommands } from './core/node-commands.js';
import { SETTLE_TIMEOUT_MS, TrackWriter } from './core/track-writer.js';
import { canServeNow, UnplannedFailover } from './core/unplanned-failover.js';
import { VrrpEdges } from './core/vrrp-edges.js';
import { VrrpStates } from './core/vrrp-states.js';
import { AdvertSender } from './keepalived/advert-sender.js';
import { ConfigApplier } from './keepalived/config-applier.js';
import { keepalivedFiles } from './keepalived/keepalived-files.js';
import { NotifyFifoReader, type NotifyEvent } from './keepalived/notify-fifo.js';
import { TrackFiles } from './keepalived/track-files.js';
import { serveMetrics } from './metrics-server.js';
import { AddressWatcher, holdsAddress } from './net/address-watcher.js';
import { HandoverConnections } from './net/handover-connections.js';
import { HandoverController, type SavedSysctls } from './net/handover.js';
import { handoverTasks } from './net/handover-task.js';
import { LinkDownReset } from './net/link-down-reset.js';
import { StaleConnections } from './net/stale-connections.js';
import { LinkStates } from './net/link-states.js';
import { HandoverClose } from './net/handover-close.js';
import { NetlinkMonitor } from './net/netlink-monitor.js';
import { StandbyReadiness } from './readiness/standby-readiness.js';
import type { AgentCore, DesiredStateOutcome } from './ports.js';
import { NodeServices, type ServiceDrivers } from './services/node-services.js';
import { JsonFile } from './state/json-file.js';
import { startOldSpaceTrim } from './util/old-space-trim.js';
import { runCommand, type CommandRunner } from './util/run-command.js';
import { WakeTimer } from './util/wake-timer.js';

export interface AgentDeps {
  readonly logger: Logger;
  readonly run?: CommandRunner;
  readonly metrics?: AgentMetrics;
  /** Replaces the real drivers (unit tests with fakes at the port). */
  readonly drivers?: ServiceDrivers;
  /** Default true: `ip monitor` for link and address events. */
  readonly netlinkEvents?: boolean;
  /** The clock; Date.now by default. */
  readonly now?: () => number;
}

const STATS_INTERVAL_MS = 5_000;
/** How often an outgoing handover's open connections are counted. */
const HANDOVER_COUNT_MS = 500;
const DEFAULT_DRAIN_MS = 60_000;
/** Assumed until a desired state says otherwise. */
const DEFAULT_ADVERT_INT_MS = 1_000;

export class Agent implements AgentCore {
  readonly metrics: AgentMetrics;
  private readonly log: Logger;
  private readonly run: CommandRunner;
  private readonly now: () => number;
  private readonly services: NodeServices;
  private readonly netlink: NetlinkMonitor | undefined;
  private readonly addresses: AddressWatcher;
  private readonly adverts: AdvertSender;
  private readonly links: LinkStates;
  /** Resets the connections on the VIPs behind a tracked link that went down. */
  private readonly linkDownReset: LinkDownReset;
  /** Ends the sockets on a VIP a client's new connection may collide with, when the node becomes its master. */
  private readonly staleConnections: StaleConnections;
  /** Per instance: when keepalived's death took the VIP from this node (until it is master again). */
  private readonly lostAtMs = new Map<string, number>();
  private readonly fifo: NotifyFifoReader;
  private readonly vrrp: VrrpStates;
  private readonly checks: CheckSet;
  private readonly handover: HandoverController;
  /** Hands new connections to the peer the moment this node cannot serve them. */
  private readonly failover: UnplannedFailover;
  /** What plain VRRP gets wrong: announcements, routers that are not nodes. */
  private readonly edges: VrrpEdges;
  /** Counts the connections an outgoing handover still serves (the coordinator ends it at zero). */
  private readonly handoverConnections: HandoverConnections;
  private readonly handoverClose: HandoverClose;
  /** Per instance: why the handover it was given could not start. */
  private handoverProblems: ReadonlyMap<string, string> = new Map();
  private readonly desired: DesiredStateApplier;
  private readonly writer: TrackWriter;
  private readonly deltas = new DeltaTracker();
  private readonly commands: NodeCommands;
  private readonly journal: CommandJournal;
  private readonly wake: WakeTimer;
  /** The proxy's backend pool: reported, and kept as the coordinator wants it. */
  private readonly backends: BackendManager | undefined;
  /** Proves, per VIP, that the proxy would serve it if the node received it. */
  private readonly readiness: StandbyReadiness;
  private statsTimer: NodeJS.Timeout | undefined;
  private stopTrim: (() => void) | undefined;
  private unsubscribeLinks: (() => void) | undefined;
  private metricsServer: Server | undefined;
  private stopped = false;
  private coordinatorLinked = false;
  /** The desired state's ownFailureSinceMs, and when it was applied. */
  private ownFailure: { readonly sinceMs: number; readonly atMs: number } | undefined;
  /** The last evaluation's sharedFailure (core/fault-mode.ts, recovering). */
  private sharedFailure = false;

  constructor(
    readonly opts: AgentOptions,
    deps: AgentDeps,
  ) {
    const log = (this.log = deps.logger);
    this.run = deps.run ?? runCommand;
    const now = (this.now = deps.now ?? Date.now);
    const metrics = (this.metrics = deps.metrics ?? new AgentMetrics());
    const k = opts.keepalived;
    const files = keepalivedFiles({ configFile: k.configFile, notifyFifo: k.notifyFifo, trackDir: k.trackDir });
    this.services = new NodeServices(opts, {
      logger: log,
      run: this.run,
      metrics,
      drivers: deps.drivers,
      onLiveness: () => this.refresh(),
      onKeepalivedExit: () => void this.onKeepalivedDeath(),
    });
    this.netlink = deps.netlinkEvents === false ? undefined : new NetlinkMonitor({ ipBinary: opts.ipProgram, logger: log });
    // Netlink events do the work; the poll only covers a missed event.
    this.addresses = new AddressWatcher({ ipProgram: opts.ipProgram, run: this.run, events: this.netlink, pollMs: 10_000, logger: log, onChange: () => this.refresh() });
    this.linkDownReset = new LinkDownReset({ ssProgram: opts.ssProgram, run: this.run, logger: log });
    this.staleConnections = new StaleConnections({ ssProgram: opts.ssProgram, run: this.run, logger: log });
    this.links = new LinkStates({
      sysfsNetRoot: opts.sysfsNetRoot, logger: log,
      onChange: (ifname, up) => {
        // New connections go to the peer first (refresh), then the ones waiting here are reset.
        this.refresh();
        if (!up) void this.linkDownReset.linkDown(this.desired.current, ifname);
      },
    });
    this.handover = new HandoverController({
      nftProgram: opts.nftProgram, ipProgram: opts.ipProgram, ssProgram: opts.ssProgram, run: this.run, logger: log, procSysRoot: opts.procSysRoot, now,
      workDir: join(opts.runtimeDir, 'handover'),
      // /run: sysctls are reset at boot, and so must the record of their old values be.
      sysctls: new JsonFile<SavedSysctls>(join(opts.runtimeDir, 'handover-sysctls.json')),
      onEnded: () => this.refresh(),
      holdsVip: (t) => holdsAddress(this.addresses.addresses(), t.interface, t.vip),
    });
    this.handoverConnections = new HandoverConnections({
      ssProgram: opts.ssProgram, run: this.run, intervalMs: HANDOVER_COUNT_MS, running: () => this.handover.running(),
      present: (t) => holdsAddress(this.addresses.addresses(), t.interface, t.vip),
      onChange: () => {
        this.refresh();
        void this.handoverClose.look();
      },
    });
    this.handoverClose = new HandoverClose({
      running: () => this.handover.running(), counts: () => this.handoverConnections.current(), logger: log,
      proxy: () => this.services.closingProxy(this.desired.current?.proxyService),
      busy: (service) => this.journal.busyServices().some((s) => this.services.same(s, service)),
    });
    const programs = { nftProgram: opts.nftProgram, ipProgram: opts.ipProgram, perlProgram: opts.perlProgram };
    this.adverts = new AdvertSender({ perlProgram: opts.perlProgram, logger: log });
    this.failover = new UnplannedFailover({ ...programs, adverts: this.adverts, run: this.run, logger: log, workDir: join(opts.runtimeDir, 'failover'), handover: this.handover });
    this.edges = new VrrpEdges({
      ...programs, sysfsNetRoot: opts.sysfsNetRoot, run: this.run, logger: log, runtimeDir: opts.runtimeDir, now, onChange: () => this.refresh(),
      adverts: this.adverts, addresses: () => this.addresses.addresses(),
      // A keepalived that runs but does not work is ended; its death does the rest (onKeepalivedDeath).
      keepalived: { pid: () => this.services.keepalived.status().pid, states: () => this.vrrp.all, desired: () => this.desired.current, onFrozen: (why) => this.services.keepalived.killStuck(why) },
    });
    this.fifo = new NotifyFifoReader(files.notifyFifo, (e) => this.onNotify(e), log);
    this.vrrp = new VrrpStates({ store: new JsonFile(join(opts.runtimeDir, 'vrrp-states.json')), logger: log, metrics, now });
    this.checks = new CheckSet({
      probes: { service: (n) => this.services.service(n), linkEvents: this.netlink, sysfsNetRoot: opts.sysfsNetRoot },
      metrics,
      now,
      onChange: (status) => this.onCheckChange(status),
    });
    this.writer = new TrackWriter({ files, tracks: new TrackFiles(), logger: log, metrics });
    this.desired = new DesiredStateApplier({
      identity: { ...this.services.identity(), interfaceAddresses: () => this.addresses.addresses() },
      routerId: k.routerId,
      files,
      config: new ConfigApplier({ binary: k.binary, files, run: this.run }),
      keepalived: this.services.keepalived,
      store: new JsonFile(join(opts.stateDir, 'desired-state.json')),
      logger: log,
      metrics,
      adopt: (next, previous) => this.adopt(next, previous),
      applied: (d) => {
        const own = d.ownFailureSinceMs ?? 0;
        if (own !== (this.ownFailure?.sinceMs ?? 0)) this.ownFailure = own > 0 ? { sinceMs: own, atMs: now() } : undefined;
        metrics.node(this.evaluation().healthy, d.version);
        this.backends?.setDesired(d);
        this.refresh();
      },
      stopping: () => this.stopped,
      now,
    });
    this.commands = new NodeCommands({
      services: this.services,
      store: new JsonFile(join(opts.stateDir, 'local-drain.json')),
      desired: () => this.desired.current,
      heldInstances: () => heldInstances(this.evaluation()),
      handoverConnections: () => [...this.handoverConnections.current().values()].reduce((a, b) => a + b, 0),
      onDrainChange: async () => {
        this.refresh();
        await this.writer.flushed();
      },
      now,
    });
    this.journal = new CommandJournal({
      executor: this.commands,
      store: new JsonFile(join(opts.stateDir, 'command-results.json')),
      logger: log,
      defaultDrainMs: DEFAULT_DRAIN_MS,
      now,
      onFinished: (c, r) => metrics.command(c.action.kind, r.state),
    });
    this.wake = new WakeTimer(() => this.refresh(), now);
    this.backends = createBackendManager(opts, this.services, { run: this.run, logger: log, now, onReport: () => this.refresh() });
    this.readiness = new StandbyReadiness({
      validator: (name) => {
        const s = this.services.service(name);
        return s ? () => s.validate() : undefined;
      },
      configFile: (name) => {
        const s = this.services.service(name);
        return s ? opts.services.find((p) => p.name === s.name)?.configFile : undefined;
      },
      now,
      onChange: () => this.refresh(),
    });
  }

  // ------------------------------------------------------------------ lifecycle

  async start(): Promise<void> {
    const o = this.opts;
    await mkdir(o.stateDir, { recursive: true, mode: 0o700 });
    await mkdir(o.runtimeDir, { recursive: true, mode: 0o755 });
    await this.writer.init();
    await this.commands.load();
    await this.journal.load();
    await this.vrrp.load();
    const cached = await this.desired.cached();
    await this.handover.start();

    await this.fifo.start(this.run);
    await this.addresses.start();
    this.unsubscribeLinks = this.netlink?.subscribe((e) => {
      if (e.type === 'link') this.links.onLinkEvent(e.ifname);
    });

    await this.services.init();
    // An adopted keepalived carries the live health value: keep it until the checks have spoken.
    this.writer.closeGate(this.services.keepalived.liveness().state === 'running');

    if (cached) {
      await this.desired.resume(cached);
    } else {
      this.syncChecks(undefined);
      await this.handover.apply([]);
    }
    this.writer.settleBy(this.now() + SETTLE_TIMEOUT_MS);
    this.statsTimer = setInterval(() => void this.services.refreshStats(this.metrics), STATS_INTERVAL_MS);
    this.statsTimer.unref();
    this.handoverConnections.start();
    void this.services.refreshStats(this.metrics);
    if (o.metricsListen) this.metricsServer = await serveMetrics(this.metrics.registry, o.metricsListen, this.log);
    this.backends?.start();
    // The agent's own full collection, at moments when nothing of detection is under way.
    this.stopTrim = startOldSpaceTrim(() => this.quiet());
    this.refresh();
  }

  /** Stops the agent. The daemons keep running unless `stopServicesOnExit` (or `stopDaemons`). */
  async stop(stopDaemons = this.opts.stopServicesOnExit): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.stopTrim?.();
    this.handoverConnections.stop();
    this.wake.stop();
    this.checks.stop();
    this.unsubscribeLinks?.();
    this.addresses.stop();
    this.netlink?.stop();
    this.fifo.stop();
    this.edges.close();
    // Handovers stay in place: they end at their deadline, or a restarted agent takes them up.
    this.handover.detach();
    this.failover.close();
    this.adverts.close();
    this.backends?.stop();
    this.readiness.stop();
    await new Promise<void>((resolve) => (this.metricsServer ? this.metricsServer.close(() => resolve()) : resolve()));
    await this.desired.idle();
    await this.backends?.idle();
    await this.writer.flushed();
    await this.vrrp.persist();
    await this.journal.flush();
    if (stopDaemons) await this.services.stopDaemons();
    this.services.close();
  }

  // ------------------------------------------------------------------ the port (ports.ts)

  snapshot(): NodeSnapshot {
    const e = this.evaluation();
    return {
      services: this.serviceStatuses(),
      checks: this.checks.statuses(),
      instances: e.instances,
      healthy: e.healthy,
      appliedVersion: this.appliedVersion(),
      localMode: e.mode,
      ...(this.backends?.report ? { backends: this.backends.report } : {}),
      ...(this.readiness.report ? { readiness: this.readiness.report } : {}),
    };
  }

  onDelta(listener: (delta: NodeDelta) => void): () => void {
    return this.deltas.onDelta(listener);
  }

  appliedVersion(): number {
    return this.desired.current?.version ?? 0;
  }

  recentResults(): readonly CommandResult[] {
    return this.journal.recent();
  }

  applyDesiredState(desired: DesiredState): Promise<DesiredStateOutcome> {
    return this.desired.submit(desired);
  }

  runCommand(command: Command, report: (result: CommandResult) => void): void {
    this.journal.run(command, report);
  }

  setCoordinatorLink(up: boolean): void {
    if (this.coordinatorLinked === up) return;
    this.coordinatorLinked = up;
    this.refresh();
  }

  // ------------------------------------------------------------------ the loop

  /** No probe in flight, no check confirming a change, no hung-proxy watch seeing connections wait. */
  private quiet(): boolean {
    return this.checks.quiet() && this.services.quiet();
  }

  /** The node as of `now`: pure, no side effects (the current time by default). */
  private evaluation(now = this.now()): Evaluation {
    return evaluate(
      {
        desired: this.desired.current,
        localDrain: this.commands.localDrain,
        verdicts: this.checks.verdicts(),
        links: this.links.all,
        vrrp: this.vrrp.all,
        addresses: this.addresses.addresses(),
        handovers: this.handover.running(),
        handoverProblems: this.handoverProblems,
        handoverConnections: this.handoverConnections.current(),
        coordinatorLinked: this.coordinatorLinked,
        ownFailure: this.ownFailure,
        sharedFailure: this.sharedFailure,
        ...this.edges.view(),
      },
      now,
    );
  }

  /** Evaluates the node, queues the track file writes, publishes a delta if anything changed. */
  private refresh(): void {
    if (this.stopped) return;
    const now = this.now();
    const e = this.evaluation(now);
    this.sharedFailure = e.sharedFailure;
    const writerWake = this.writer.write(
      {
        faults: e.faults,
        placements: e.placements,
        checksSettled: this.checks.settled(),
        vrrpState: (instance) => this.vrrp.get(instance)?.state,
        advertIntMs: this.desired.current?.keepalived.advertIntMs ?? DEFAULT_ADVERT_INT_MS,
      },
      now,
    );
    this.wake.at(e.wakeAtMs, writerWake);
    // A fault, a hung or dead proxy, keepalived gone, not active: new connections go to the peer.
    const serve = canServeNow({ gate: this.writer.healthGate, faults: e.faults.length, mode: e.mode, keepalivedRunning: this.services.keepalived.liveness().state === 'running' });
    if (serve !== undefined) this.failover.canServe(serve);
    this.edges.act(e);
    const delta = this.deltas.publish({
      services: this.serviceStatuses(),
      instances: e.instances,
      node: { healthy: e.healthy, appliedVersion: this.appliedVersion(), localMode: e.mode },
      checkStatus: (name) => this.checks.status(name),
      backends: this.backends?.report,
      readiness: this.readiness.report,
    });
    if (!delta) return;
    for (const s of delta.services) this.metrics.service(s);
    for (const i of delta.instances) this.metrics.instance(i);
    if (delta.healthy !== undefined) this.metrics.node(delta.healthy, delta.appliedVersion ?? 0);
  }

  /** Makes `next` the node's desired state: instances, links, checks, handovers, then track files. */
  private async adopt(next: DesiredState, previous: DesiredState | undefined): Promise<void> {
    for (const inst of previous?.instances ?? []) {
      if (next.instances.some((i) => i.name === inst.name)) continue;
      this.deltas.instanceRemoved(inst.name);
      this.vrrp.delete(inst.name);
      this.writer.forget(inst.name);
      this.edges.forget(inst.name);
      this.metrics.removeInstance(inst.name);
    }
    this.links.follow(next);
    this.syncChecks(next);
    this.readiness.follow(next);
    await this.failover.adopt(next);
    await this.edges.follow(next);
    // Before any placement change moves a VIP: the new holder must forward, the old one answer.
    this.handoverProblems = await this.handover.apply(handoverTasks(next));
    this.refresh();
    await this.writer.flushed();
  }

  private syncChecks(d: DesiredState | undefined): void {
    const specs = nodeCheckSpecs(d, this.services.proxyNames(), (a, b) => this.services.same(a, b));
    const { added, removed } = this.checks.sync(specs);
    for (const name of removed) this.deltas.checkRemoved(name);
    for (const name of added) this.deltas.checkAdded(name);
  }

  private serviceStatuses() {
    return this.services.statuses((this.desired.current?.instances.length ?? 0) > 0);
  }

  // ------------------------------------------------------------------ observations

  private onCheckChange(status: CheckStatus): void {
    this.log.info({ event: 'check.changed', check: status.name, result: status.result }, `check ${status.name}: ${status.result.kind}${status.result.kind === 'healthy' ? '' : ` (${status.result.reason})`}`);
    this.metrics.check(status);
    this.deltas.checkChanged(status.name);
    this.refresh();
  }

  private onNotify(e: NotifyEvent): void {
    if (e.kind === 'lower-priority-advert') return this.edges.lowerPriorityAdvert(e.name, e.priority);
    if (e.scope !== 'instance') return;
    const from = this.vrrp.get(e.name)?.state ?? 'unknown';
    this.vrrp.observe(e.name, e.state, e.priority);
    if (from !== e.state) this.onTransition(e.name, from, e.state);
    void this.addresses.read();
    this.refresh();
  }

  /** Records a transition with what the node knew, so that one nobody asked for is reported with its cause. */
  private onTransition(instance: string, from: VrrpState, to: VrrpState): void {
    const inst = this.desired.current?.instances.find((i) => i.name === instance);
    if (!inst) return;
    if (to === 'master') {
      // Sockets a client's new connection to the peer may collide with (net/stale-connections.ts).
      const lostAt = this.lostAtMs.get(instance);
      this.lostAtMs.delete(instance);
      const cidr = parseCidr(inst.vip);
      if (typeof cidr !== 'string') void this.staleConnections.regained(instance, cidr.address, lostAt === undefined ? undefined : this.now() - lostAt);
    }
    this.edges.transition(inst, from, to, {
      nowMs: this.now(), advertIntMs: this.desired.current?.keepalived.advertIntMs ?? DEFAULT_ADVERT_INT_MS,
      placementChangedMs: this.writer.placementChangedMs(instance), healthChanged: this.writer.healthChanged,
      keepalivedStartedMs: Math.max(this.services.keepalived.status().sinceMs, this.desired.reloadedMs),
      faults: this.evaluation().faults.map((f) => f.reason),
      downInterfaces: [inst.interface, ...inst.trackInterfaces].filter((i) => this.links.all.get(i) === false),
    });
  }

  /** keepalived died: the node can no longer serve its VIPs (unplanned failover), and keepalived is restarted. */
  private async onKeepalivedDeath(): Promise<void> {
    if (this.stopped) return;
    const addrs = this.addresses.addresses();
    const desired = this.desired.current;
    this.failover.keepalivedDied(desired, (name) => this.vrrp.get(name)?.state === 'master', addrs);
    // The peer takes these VIPs; what this node's sockets on them become meanwhile is seen to
    // when they come back (net/stale-connections.ts).
    for (const inst of desired?.instances ?? []) if (this.vrrp.get(inst.name)?.state === 'master' && !this.lostAtMs.has(inst.name)) this.lostAtMs.set(inst.name, this.now());
    for (const inst of desired?.instances ?? []) this.vrrp.lost(inst.name);
    await this.failover.releaseVips(desired, addrs);
    void this.addresses.read();
    this.refresh();
  }
}
