// The coordinator's domain facade: everything the gRPC ControlService, the HTTP API, metrics
// and the CLI ask of the coordinator goes through here. It owns the spec, the node modes, the
// reconcile loop and its fleet view, the command journal and the operations, and keeps them in
// the store.
//
// Over 400 lines: one short method per thing the API can ask (about 70), each delegating to the
// part that owns it; the list in one place is the point of a facade.
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { nameProblem, type ConfigIssue, type Logger, type NodeMode } from '@lbha/shared';
import type { AgentOutbox } from './agent-outbox.js';
import { BackendPool } from './backends/backend-pool.js';
import { CommandDispatcher } from './command-dispatcher.js';
import { InvalidArgumentError, NotFoundError, PreconditionError } from './errors.js';
import type { EventLog } from './event-log.js';
import { FleetView, type VipView } from './fleet-view.js';
import { OperationRunner } from './operations/operation-runner.js';
import type { Placement, VipPin } from './placement.js';
import type { SimulationInput } from './simulation.js';
import { ReconcileLoop } from './reconcile-loop.js';
import type { Registry } from './registry.js';
import { EMPTY_SPEC, vipKey, type ClusterSpec, type Spec } from './spec/cluster-spec.js';
import type { BackendPoolView } from './backends/backend-pool-view.js';
import type { DriftView } from './backends/config-drift.js';
import type { SpecCheckResult } from './spec/spec-check.js';
import type { LocatedWarning } from './spec/spec-warnings.js';
import { SPEC_LIMITS } from './spec/spec-limits.js';
import { SpecValidator } from './spec/spec-validator.js';
import { readinessFromEvents } from './standby-readiness.js';
import { findVip } from './operations/move-check.js';
import type { DrillSettings } from './operations/operation-env.js';
import { defaultDrillSettings } from './probes/drill-settings.js';
import { CoordinatorState, type BackendOperationKind, type DrillRecord, type ModeRecord, type OperationRecord, type PinRecord } from './store/coordinator-state.js';
import type { Store } from './store/store.js';

/** How long the stored (or initial) spec's check at start-up may take (see load()). */
const STORED_SPEC_CHECK_MS = 10 * 60_000;

const NO_PINS: ReadonlyMap<string, PinRecord> = new Map();

export interface ControlPlaneOptions {
  readonly store: Store;
  readonly registry: Registry;
  readonly outbox: AgentOutbox;
  readonly events: EventLog;
  readonly logger: Logger;
  readonly clock?: () => number;
  /** See ReconcileLoopOptions.settleMs. */
  readonly settleMs?: number;
  /** Spec text applied at the first start, when the store holds none. */
  readonly initialSpec?: { readonly yaml: string; readonly source: string };
  /** Checks specs off the event loop; default: one owned by this plane. */
  readonly validator?: SpecValidator;
  /** How drills measure; default: the coordinator probes port 80 itself. */
  readonly drill?: DrillSettings;
  /**
   * Where the running spec's check is saved (spec/checked-spec.ts), so that a start takes it
   * instead of parsing the stored spec again; undefined: not saved, every start parses.
   */
  readonly checkedSpecPath?: string;
}

export interface SpecCheck {
  readonly valid: boolean;
  readonly issues: readonly ConfigIssue[];
  /** What a valid spec risks (spec/spec-warnings.ts): said, never refused; empty when invalid. */
  readonly warnings: readonly LocatedWarning[];
  /** What applying it would change (empty when invalid or identical). */
  readonly changes: readonly string[];
}

/** A check's answer to its caller: the problems of an invalid spec, or a valid one's warnings and changes. */
function specCheckOf(r: SpecCheckResult): SpecCheck {
  return r.valid ? { valid: true, issues: [], warnings: r.warnings, changes: r.changes } : { valid: false, issues: r.issues, warnings: [], changes: [] };
}

export interface ApplySpecOptions {
  readonly dryRun?: boolean;
  /** Refuse unless the running spec has this version (0: don't check). */
  readonly expectedVersion?: number;
  readonly actor: string;
  readonly reason?: string;
  /** How long the check may take (default: the validator's, meant for API callers). */
  readonly checkTimeoutMs?: number;
}

export interface ApplySpecResult extends SpecCheck {
  readonly applied: boolean;
  /** The version now running (the new one when applied). */
  readonly version: number;
}

export class ControlPlane {
  /** The outcome of the latest reconcile passes: what the API, metrics and operations read. */
  readonly view: FleetView;
  private readonly loop: ReconcileLoop;
  readonly commands: CommandDispatcher;
  readonly operations: OperationRunner;
  /** The backend pools: what is wanted of each server, and what the agents report. */
  readonly backends: BackendPool;
  private readonly state: CoordinatorState;
  private readonly events: EventLog;
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly modes = new Map<string, ModeRecord>();
  /** Per cluster: the latest drill and when one last passed. */
  private readonly drills = new Map<string, DrillRecord>();
  /** Per cluster, per VIP: where an operator moved or pinned it. */
  private readonly pins = new Map<string, Map<string, PinRecord>>();
  private spec: Spec = EMPTY_SPEC;
  /** Node name -> cluster, for the spec in force. */
  private nodeClusters = new Map<string, string>();
  private specYaml = '';
  /** The running spec without its secrets, for readers without the operator role. */
  private specYamlRedacted = '';
  private specVersion = 0;
  private pruneTimer: NodeJS.Timeout | undefined;
  private readonly validator: SpecValidator;
  private readonly ownsValidator: boolean;
  /** Writes of the saved check, one at a time, in the order of the applies. */
  private saving: Promise<void> = Promise.resolve();

  private constructor(private readonly opts: ControlPlaneOptions) {
    this.validator = opts.validator ?? new SpecValidator();
    this.ownsValidator = opts.validator === undefined;
    this.state = new CoordinatorState(opts.store);
    this.events = opts.events;
    this.log = opts.logger;
    this.clock = opts.clock ?? Date.now;
    this.view = new FleetView(this.clock);
    this.backends = new BackendPool({
      state: this.state,
      events: opts.events,
      registry: opts.registry,
      spec: () => this.spec,
      schedule: (cluster) => this.loop.schedule(cluster),
      clock: this.clock,
    });
    this.loop = new ReconcileLoop({
      registry: opts.registry,
      outbox: opts.outbox,
      view: this.view,
      events: opts.events,
      state: this.state,
      logger: opts.logger,
      modeOf: (n) => this.modeOf(n),
      backendsOf: (c) => this.backends.desiredOf(c),
      pinsOf: (c) => this.pins.get(c) ?? NO_PINS,
      onLapsedPins: (c, lapsed) => void this.dropLapsedPins(c, lapsed),
      clock: this.clock,
      ...(opts.settleMs === undefined ? {} : { settleMs: opts.settleMs }),
    });
    this.commands = new CommandDispatcher({ registry: opts.registry, outbox: opts.outbox, state: this.state, logger: opts.logger, clock: this.clock });
    this.operations = new OperationRunner({
      env: {
        view: this.view,
        nodes: opts.registry,
        commands: this.commands,
        handovers: this.loop,
        pins: { pinOf: (c, v) => this.pinOf(c, v), setPin: (c, v, p) => this.setPin(c, v, p) },
        modeOf: (n) => this.modeOf(n),
        setMode: (node, mode, actor, reason, operationId) => this.setMode(node, mode, actor, reason, operationId),
        clock: this.clock,
        backends: this.backends,
        events: opts.events,
        drill: opts.drill ?? defaultDrillSettings(this.clock),
        drills: { finished: (cluster, run) => this.drillFinished(cluster, run) },
      },
      state: this.state,
      events: opts.events,
      logger: opts.logger,
    });
  }

  /**
   * Loads the state from the store (spec, modes, journal, operations, last holders) and starts
   * reconciling; unfinished operations resume. Call before agents can connect.
   */
  static async start(opts: ControlPlaneOptions): Promise<ControlPlane> {
    const cp = new ControlPlane(opts);
    await cp.load();
    return cp;
  }

  private async load(): Promise<void> {
    const stored = await this.state.getSpec();
    if (stored) {
      // Validated when it was applied; re-checked against today's rules. On a busy core a spec of
      // 10,000 nodes can take longer than an API caller's 30 s, and a refusal would stop the start.
      const saved = await this.readCheckedSpec();
      const r = await this.validator.check({ yaml: stored.yaml, current: undefined, wantSpec: true, saved, save: this.opts.checkedSpecPath !== undefined }, 'system', STORED_SPEC_CHECK_MS);
      if (r.savedUse?.used) {
        this.log.info({ event: 'spec.checked_loaded', version: stored.version, path: this.opts.checkedSpecPath }, 'the stored spec taken from its saved check, not parsed again');
      } else if (r.savedUse && !r.savedUse.used) {
        this.log.warn({ event: 'spec.checked_ignored', version: stored.version, path: this.opts.checkedSpecPath, reason: r.savedUse.reason }, `the saved check of the stored spec was not used (${r.savedUse.reason}); the stored spec was checked in full`);
      }
      if (r.valid && r.save) this.saveCheckedSpec(r.save);
      if (!r.valid || !r.spec) {
        // Only a spec that passed validation is ever stored; if rules got stricter since, keep
        // running with no spec rather than guess, and say so loudly.
        const issues = r.valid ? [] : r.issues;
        this.log.error({ event: 'spec.stored_invalid', version: stored.version, issues }, 'the stored spec no longer validates');
        this.events.record({ type: 'spec.invalid', severity: 'critical', message: `stored spec v${stored.version} no longer validates: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}` });
      } else {
        this.spec = r.spec;
        this.indexNodes();
      }
      this.specYaml = stored.yaml;
      this.specYamlRedacted = r.valid && r.redacted !== undefined ? r.redacted : '# the stored spec no longer validates; ask an operator\n';
      this.specVersion = stored.version;
    } else if (this.opts.initialSpec) {
      // The first start's spec file is the coordinator's own, like the stored spec: not held to an API caller's deadline.
      const res = await this.applySpec(this.opts.initialSpec.yaml, { actor: 'system', reason: `initial spec from ${this.opts.initialSpec.source}`, checkTimeoutMs: STORED_SPEC_CHECK_MS });
      if (!res.applied) {
        this.log.error({ event: 'spec.initial_invalid', source: this.opts.initialSpec.source, issues: res.issues }, 'initial spec refused');
      }
    }
    for (const [node, m] of await this.state.modes()) this.modes.set(node, m);
    for (const [cluster, m] of await this.state.pins()) this.pins.set(cluster, m);
    for (const [cluster, d] of await this.state.drills()) this.drills.set(cluster, d);
    this.commands.load(await this.state.journal());
    this.operations.load(await this.state.operations());
    this.loop.restore(await this.state.holders(), await this.state.handovers(), readinessFromEvents(this.events.list(0, Number.MAX_SAFE_INTEGER)));
    this.backends.load(await this.state.backendIntents());
    this.loop.setSpec(this.spec);
    this.loop.start();
    this.commands.start();
    this.operations.resume();
    this.pruneTimer = setInterval(() => void this.state.prune().catch(() => undefined), 60_000);
    this.pruneTimer.unref();
  }

  /** Sends every agent its desired state again where what was sent may not have arrived (ReconcileLoop.resync). */
  resync(): void {
    this.loop.resync();
  }

  async stop(): Promise<void> {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    await this.operations.stop();
    await this.loop.stop();
    await this.commands.stop();
    await this.saving;
    if (this.ownsValidator) await this.validator.close();
  }

  // ---- modes ----

  modeOf(node: string): NodeMode {
    return this.modes.get(node)?.mode ?? 'active';
  }

  private async setMode(node: string, mode: NodeMode, actor: string, reason: string, operationId: string): Promise<void> {
    const before = this.modeOf(node);
    const record: ModeRecord = { mode, reason, actor, sinceMs: this.clock(), operationId };
    await this.state.write({ modes: [[node, mode === 'active' ? null : record]] });
    if (mode === 'active') this.modes.delete(node);
    else this.modes.set(node, record);
    const cluster = this.spec.clusters.find((c) => c.nodes.some((n) => n.name === node))?.name ?? '';
    if (before !== mode) {
      this.events.record({ type: 'node.mode_changed', cluster, node, actor, reason, operationId, message: `${node}: ${before} -> ${mode}` });
    }
    this.loop.schedule(cluster || undefined);
  }

  // ---- pins (lbha move) ----

  pinOf(cluster: string, vip: string): PinRecord | undefined {
    return this.pins.get(cluster)?.get(vip);
  }

  private async setPin(cluster: string, vip: string, pin: PinRecord | null): Promise<void> {
    await this.state.write({ pins: [[cluster, vip, pin]] });
    let m = this.pins.get(cluster);
    if (!m) this.pins.set(cluster, (m = new Map()));
    if (pin === null) m.delete(vip);
    else m.set(vip, pin);
    this.loop.schedule(cluster);
  }

  /**
   * Removes the pin of a VIP (`lbha unpin`): placement's rules (home, failback) apply to it
   * again from the next pass. Throws NotFoundError when it is not pinned.
   */
  async unpin(vip: string, cluster: string, opts: { actor: string; reason?: string }): Promise<{ cluster: string; vip: string; node: string }> {
    const target = findVip(this.spec, vip, cluster);
    const c = target.cluster.name;
    const pin = this.pinOf(c, vip);
    if (!pin) throw new NotFoundError(`${vip} is not pinned or moved (cluster ${c})`);
    const busy = this.operations.running().find((r) => r.cluster === c && ((r.kind === 'move' && r.data['vip'] === vip) || r.kind === 'drill'));
    if (busy) throw new PreconditionError(`${vip} is being moved by operation ${busy.id}; cancel it first`);
    await this.setPin(c, vip, null);
    this.events.record({ type: 'vip.unpinned', cluster: c, vip, node: pin.node, actor: opts.actor, reason: opts.reason ?? '', message: `${vip} no longer ${pin.sticky ? 'pinned' : 'moved'} to ${pin.node}; placement decides again` });
    return { cluster: c, vip, node: pin.node };
  }

  private async dropLapsedPins(cluster: string, lapsed: ReadonlyMap<string, string>): Promise<void> {
    for (const [vip, why] of lapsed) {
      const pin = this.pinOf(cluster, vip);
      // A move in progress keeps its pin: it fails on its own if the node cannot take the VIP.
      if (!pin || this.operations.running().some((r) => r.id === pin.operationId)) continue;
      try {
        await this.setPin(cluster, vip, null);
      } catch (err) {
        this.log.error({ event: 'store.write_failed', err }, 'could not remove a lapsed move; will retry');
        continue;
      }
      this.events.record({ type: 'vip.unpinned', cluster, vip, node: pin.node, actor: 'system', message: `move of ${vip} to ${pin.node} lapsed: ${why}; placement decides again` });
    }
  }

  // ---- spec ----

  private indexNodes(): void {
    this.nodeClusters = new Map(this.spec.clusters.flatMap((c) => c.nodes.map((n) => [n.name, c.name] as const)));
  }

  /** The cluster the spec puts `node` in; undefined when the spec does not name it. */
  clusterOfNode(node: string): string | undefined {
    return this.nodeClusters.get(node);
  }

  /** The running spec; `redacted` is its text without VRRP passwords or URL credentials. */
  currentSpec(): { readonly spec: Spec; readonly yaml: string; readonly redacted: string; readonly version: number } {
    return { spec: this.spec, yaml: this.specYaml, redacted: this.specYamlRedacted, version: this.specVersion };
  }

  /**
   * Parses and validates a spec and says what applying it would change; changes nothing. Runs
   * off the event loop; `caller` bounds how many checks one caller may have running.
   */
  async validateSpec(yaml: string, caller = 'system'): Promise<SpecCheck> {
    const r = await this.check(yaml, false, caller);
    return specCheckOf(r);
  }

  /** A spec text parsed and validated for a what-if question; changes nothing. Throws InvalidArgumentError with its problems. */
  async parseSpec(yaml: string, caller = 'system'): Promise<Spec> {
    const r = await this.check(yaml, true, caller);
    if (!r.valid) throw new InvalidArgumentError('spec', r.issues.map((i) => `${i.path}: ${i.message}`).join('; '));
    if (!r.spec) throw new InvalidArgumentError('spec', 'the spec could not be parsed');
    return r.spec;
  }

  /** Placement's inputs as of the latest passes, pins included: what `simulate` starts from. */
  simulationInput(): SimulationInput {
    const pins = new Map<string, VipPin>();
    for (const [cluster, m] of this.pins) for (const [vip, p] of m) pins.set(vipKey(cluster, vip), { node: p.node, sticky: p.sticky });
    return { ...this.view.interlockInput(), pins };
  }

  private check(yaml: string, wantSpec: boolean, caller: string, timeoutMs?: number): Promise<SpecCheckResult> {
    const bytes = Buffer.byteLength(yaml);
    if (bytes > SPEC_LIMITS.bytes) return Promise.reject(new InvalidArgumentError('yaml', `the spec is ${bytes} bytes; at most ${SPEC_LIMITS.bytes} are accepted`));
    const save = wantSpec && this.opts.checkedSpecPath !== undefined;
    return this.validator.check({ yaml, current: this.specVersion === 0 ? undefined : this.specYaml, wantSpec, save }, caller, timeoutMs);
  }

  /** The saved check of the running spec, if there is one to read. */
  private async readCheckedSpec(): Promise<Uint8Array | undefined> {
    const path = this.opts.checkedSpecPath;
    if (path === undefined) return undefined;
    try {
      return await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.log.warn({ event: 'spec.checked_ignored', path, reason: (err as Error).message }, 'the saved check of the stored spec cannot be read; the stored spec is checked in full');
      }
      return undefined;
    }
  }

  /**
   * Saves the check of the spec just stored (atomically: a temporary file renamed over the old
   * one). A failure costs only the next start's time, so it is logged, not thrown; a crash
   * between storing a spec and saving its check leaves a check of the old text, which the next
   * start sees is not of the stored text.
   */
  private saveCheckedSpec(bytes: Uint8Array): void {
    const path = this.opts.checkedSpecPath;
    if (path === undefined) return;
    this.saving = this.saving.then(async () => {
      const tmp = `${path}.tmp`;
      try {
        await mkdir(dirname(path), { recursive: true, mode: 0o700 });
        const fh = await open(tmp, 'w', 0o600);
        try {
          await fh.writeFile(bytes);
          await fh.sync();
        } finally {
          await fh.close();
        }
        await rename(tmp, path);
      } catch (err) {
        this.log.warn({ event: 'spec.checked_save_failed', path, err: (err as Error).message }, 'could not save the check of the running spec; the next start checks it in full');
      }
    });
  }

  /**
   * Validates and applies a spec (or only says what it would change, with dryRun). A refused
   * spec, a dry run or a stale expectedVersion changes nothing.
   */
  async applySpec(yaml: string, opts: ApplySpecOptions): Promise<ApplySpecResult> {
    const r = await this.check(yaml, !opts.dryRun, opts.actor, opts.checkTimeoutMs);
    const check = specCheckOf(r);
    if (!r.valid || opts.dryRun || !r.spec) return { ...check, applied: false, version: this.specVersion };
    const expected = opts.expectedVersion ?? 0;
    if (expected !== 0 && expected !== this.specVersion) {
      throw new PreconditionError(`the running spec is version ${this.specVersion}, not ${expected}; read it again and retry`);
    }
    const put = await this.state.putSpec(yaml, expected === 0 ? this.specVersion : expected, opts.actor, opts.reason ?? '', this.clock());
    if (!put.ok) throw new PreconditionError(`the spec changed meanwhile (now version ${put.currentVersion}); read it again and retry`);
    if (r.save) this.saveCheckedSpec(r.save);
    this.spec = r.spec;
    this.indexNodes();
    this.specYaml = yaml;
    this.specYamlRedacted = r.redacted ?? '';
    this.specVersion = put.record.version;
    this.loop.setSpec(this.spec);
    // Answer with the new placement in place, so the caller's next read shows it.
    await this.loop.runNow();
    this.events.record({
      type: 'spec.applied',
      actor: opts.actor,
      reason: opts.reason ?? '',
      message: `spec v${this.specVersion} applied: ${check.changes.length === 0 ? 'no changes' : `${check.changes.length} change(s)`}${check.warnings.length === 0 ? '' : `, ${check.warnings.length} warning(s)`}`,
    });
    // Applied all the same; what the spec risks stays on record beside the apply.
    for (const w of check.warnings) {
      this.events.record({ type: 'spec.warning', cluster: w.cluster, actor: opts.actor, severity: 'warning', message: `spec v${this.specVersion}: ${w.path ? `${w.path}: ` : ''}${w.message}` });
    }
    this.log.info({ event: 'spec.applied', version: this.specVersion, actor: opts.actor, changes: check.changes, warnings: check.warnings.length }, 'spec applied');
    return { ...check, applied: true, version: this.specVersion };
  }

  // ---- views ----

  vips(cluster?: string): VipView[] {
    if (cluster) this.requireCluster(cluster);
    return this.view.vips(cluster).map((v) => {
      const pin = this.pinOf(v.cluster, v.name);
      return pin ? { ...v, pin } : v;
    });
  }

  placement(): Placement {
    return this.view.placement();
  }

  private requireCluster(name: string): void {
    const p = nameProblem(name);
    if (p) throw new InvalidArgumentError('cluster', p);
    if (!this.spec.clusters.some((c) => c.name === name)) throw new NotFoundError(`cluster ${name} is not in the cluster spec`);
  }

  // ---- operations ----

  drain(node: string, opts: { timeoutMs?: number; force?: boolean; maintenance?: boolean; actor: string; reason?: string }): Promise<OperationRecord> {
    return this.operations.start({ kind: 'drain', node, ...opts });
  }

  undrain(node: string, opts: { actor: string; reason?: string }): Promise<OperationRecord> {
    return this.operations.start({ kind: 'undrain', node, ...opts });
  }

  restart(node: string, service: string, opts: { timeoutMs?: number; force?: boolean; actor: string; reason?: string }): Promise<OperationRecord> {
    return this.operations.start({ kind: 'restart', node, service, ...opts });
  }

  reload(node: string, service: string, opts: { actor: string; reason?: string; timeoutMs?: number }): Promise<OperationRecord> {
    return this.operations.start({ kind: 'reload', node, service, ...opts });
  }

  rollingRestart(cluster: string, service: string, opts: { timeoutMs?: number; force?: boolean; actor: string; reason?: string }): Promise<OperationRecord> {
    return this.operations.start({ kind: 'rolling_restart', cluster, service, ...opts });
  }

  backendChange(
    kind: BackendOperationKind,
    cluster: string,
    server: string,
    opts: { weight?: number | null; timeoutMs?: number; force?: boolean; actor: string; reason?: string },
  ): Promise<OperationRecord> {
    return this.operations.start({ kind, cluster, server, ...opts });
  }

  /** Every cluster's backend pool (or one's), and whether its LB nodes run the same configuration. */
  backendPools(cluster?: string): Array<{ readonly spec: ClusterSpec; readonly pool: BackendPoolView; readonly drift: DriftView }> {
    if (cluster) this.requireCluster(cluster);
    return this.spec.clusters.filter((c) => !cluster || c.name === cluster).map((c) => ({ spec: c, pool: this.backends.view(c), drift: this.backends.drift(c) }));
  }

  drill(cluster: string, opts: { vip?: string; timeoutMs?: number; actor: string; reason?: string }): Promise<OperationRecord> {
    return this.operations.start({ kind: 'drill', cluster, ...opts });
  }

  /** The latest drill of each cluster of the spec that has had one. */
  drillRecords(): Array<{ readonly cluster: string; readonly drill: DrillRecord }> {
    return this.spec.clusters.flatMap((c) => {
      const d = this.drills.get(c.name);
      return d ? [{ cluster: c.name, drill: d }] : [];
    });
  }

  private async drillFinished(cluster: string, run: Omit<DrillRecord, 'lastPassedMs'>): Promise<void> {
    const d: DrillRecord = { ...run, lastPassedMs: run.passed ? run.finishedMs : (this.drills.get(cluster)?.lastPassedMs ?? 0) };
    await this.state.write({ drills: [[cluster, d]] });
    this.drills.set(cluster, d);
  }

  move(vip: string, node: string, opts: { cluster?: string; pin?: boolean; timeoutMs?: number; actor: string; reason?: string }): Promise<OperationRecord> {
    return this.operations.start({ kind: 'move', vip, node, ...opts });
  }

  cancelOperation(id: string, opts: { actor: string; reason?: string }): Promise<OperationRecord> {
    return this.operations.cancel(id, opts.actor, opts.reason ?? '');
  }

  operation(id: string): OperationRecord {
    const op = this.operations.get(id);
    if (!op) throw new NotFoundError(`operation ${id} is unknown`);
    return op;
  }

  listOperations(limit = 100): OperationRecord[] {
    return this.operations.list(limit);
  }
}
