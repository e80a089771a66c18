// The coordinator's /metrics: counters fed by events, and a render of the present streamed in
// slices (stream-exposition.ts). Over 400 lines: the event-fed counters and the render share
// the series state; the per-node and per-VIP samples already live in modules of their own.
import { isLive, type CommandState, type LbhaEvent, type NodeMode, type NodeSnapshot } from '@lbha/shared';
import { collectDefaultMetrics, Counter, Histogram, Registry as PromRegistry } from 'prom-client';
import type { NodeRecord, RegistryEvent } from '../registry.js';
import { CounterSeries, Family, HistogramSeries, pair } from './exposition-writer.js';
import { guardSamples } from './guard-samples.js';
import { HandshakeTimings } from './handshake-timings.js';
import { openFdsOffTheLoop } from './open-fds-gauge.js';
import { operationOutcome } from './operation-outcome.js';
import { FailoverTracker, type Failover, type LossExplanation, type VrrpTransition } from './failover-tracker.js';
import { FAILOVER_REASONS, METRICS, PROCESS_METRICS_PREFIX, type FailoverReason, type MetricDefinition } from './metric-definitions.js';
import type { MetricsSources, WebhookStats } from './metrics-sources.js';
import { familyBytes, MAX_PER_NODE, NODE_FAMILIES, nodeSamples, viewLines, type NodeFamily, type NodeView } from './node-samples.js';
import { backendSamples } from './backend-samples.js';
import { drillSamples } from './drill-samples.js';
import { StoreTimings } from './store-timings.js';
import { streamExposition, type ExpositionPiece, type ExpositionSink } from './stream-exposition.js';
import { vipPieces, VipTable } from './vip-samples.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NO_HANDOVER_ERRORS: ReadonlyMap<string, string> = new Map();
const TERMINAL_COMMAND_STATES: ReadonlySet<CommandState> = new Set(['succeeded', 'failed', 'rejected']);
/** Nodes (or VIPs) per piece of the exposition: a few hundred microseconds of work. */
const SLICE = 256;

const header = (def: MetricDefinition): string => `# HELP ${def.name} ${def.help}\n# TYPE ${def.name} ${def.type}\n`;

/** One family's line per node view (`value(index)`), a slice of views at a time. */
function* viewSlices(views: readonly NodeView[], name: string, value: (index: number) => number, unit?: 'ms-as-seconds'): Generator<Buffer, void, undefined> {
  for (let start = 0; start < views.length; start += SLICE) yield viewLines(views, start, Math.min(views.length, start + SLICE), name, value, unit);
}

/** A scrape's node records, their views and liveness, index by index. */
interface ScrapeArrays {
  readonly recs: NodeRecord[];
  readonly views: NodeView[];
  readonly live: boolean[];
}

interface LastFailover {
  readonly labels: string;
  readonly reason: FailoverReason;
  readonly durationSeconds: number;
  readonly atSeconds: number;
}

/**
 * The coordinator's metrics (every one defined in metric-definitions.ts). Values that describe
 * the present (connections, health, VRRP states, holders) are read from the sources when
 * `render` runs; counters and histograms are fed by the registry's and the event log's events.
 */
export class CoordinatorMetrics {
  readonly contentType = METRICS_CONTENT_TYPE;
  private readonly prom = new PromRegistry();
  private readonly clock: () => number;
  private readonly modeOf: (node: string) => NodeMode;
  private readonly tracker = new FailoverTracker();
  private readonly transitions = new CounterSeries(METRICS.vrrpTransitions);
  private readonly unplanned = new CounterSeries(METRICS.vrrpUnplanned);
  /** Every VIP has its series from the start, so increase() sees the first flap. */
  private readonly flaps = new CounterSeries(METRICS.vipFlaps);
  private readonly failovers = new CounterSeries(METRICS.failovers);
  private readonly failoverDuration = new HistogramSeries(METRICS.failoverDuration);
  private readonly lastFailover = new Map<string, LastFailover>();
  private readonly nodeViews = new Map<string, NodeView>();
  private generation = 0;
  /** Scrapes between their first pass and their end: a node's view is updated in place only when one runs. */
  private scrapesInFlight = 0;
  private readonly nacks = new CounterSeries(METRICS.desiredStateNacks);
  private readonly handoverFailures = new CounterSeries(METRICS.handoverFailures);
  /** Per node: the handover errors its agent reported last, per instance. */
  private readonly handoverErrors = new Map<string, ReadonlyMap<string, string>>();
  /** Per node: `cluster="…",node="…"` for the cluster it reported in last. */
  private readonly seriesLabels = new Map<string, { readonly cluster: string; readonly labels: string }>();
  /** The record and report the tracker is observing (explainCurrent reads them). */
  private explaining: NodeRecord | undefined;
  private explainingSnapshot: NodeSnapshot | undefined;
  /** Why the node being observed let go of a VIP: one function for every report, not one each. */
  private readonly explainCurrent = (vip: string, heldSinceMs: number): LossExplanation =>
    this.explainLoss(this.explaining as NodeRecord, this.explainingSnapshot as NodeSnapshot, vip, heldSinceMs);
  private readonly pushDuration: Histogram;
  private readonly commandResults: Counter;
  private readonly operations: Counter;
  private readonly eventCount: Counter;
  /** Pushed desired-state version and when, per node, until its ACK or NACK. */
  private readonly pushes = new Map<string, { readonly version: number; readonly atMs: number }>();
  private readonly unsubscribe: Array<() => void> = [];
  private lastRenderMs = 0;
  private longestSliceMs = 0;
  /** The VIP rows of the last scrape that ran alone, refilled in place by the next (see VipTable). */
  private readonly vipTable = new VipTable();
  /** The records, views and liveness of the last scrape that ran alone, refilled by the next. */
  private readonly kept: ScrapeArrays = { recs: [], views: [], live: [] };
  /** A node was forgotten while a scrape wrote from `kept`: emptied when no scrape runs. */
  private keptHoldsForgotten = false;
  private readonly failoverListeners = new Set<(f: Failover) => void>();
  /** The store's write latency and compactions: hand `store.observer(kind)` to the store. */
  readonly store = new StoreTimings();
  /** How the gRPC port's TLS handshakes ended: hand `handshakes.observer()` to the listener. */
  readonly handshakes = new HandshakeTimings();

  constructor(private readonly sources: MetricsSources) {
    this.clock = sources.clock ?? Date.now;
    this.modeOf = sources.modeOf ?? (() => 'active');
    const d = METRICS;
    this.pushDuration = new Histogram({
      name: d.desiredStatePushDuration.name,
      help: d.desiredStatePushDuration.help,
      buckets: [...d.desiredStatePushDuration.buckets],
      registers: [this.prom],
    });
    this.commandResults = new Counter({ name: d.commandResults.name, help: d.commandResults.help, labelNames: d.commandResults.labels, registers: [this.prom] });
    this.operations = new Counter({ name: d.operations.name, help: d.operations.help, labelNames: d.operations.labels, registers: [this.prom] });
    this.eventCount = new Counter({ name: d.events.name, help: d.events.help, labelNames: d.events.labels, registers: [this.prom] });
    for (const severity of ['info', 'warning', 'critical']) this.eventCount.inc({ severity }, 0);
    // Every reason starts at 0, so that increase() sees the first failover.
    for (const r of FAILOVER_REASONS) this.failoverDuration.ensure(`reason="${r}"`);
    if (sources.processMetrics ?? true) {
      collectDefaultMetrics({ register: this.prom, prefix: PROCESS_METRICS_PREFIX });
      // Gauges named *_total break the exposition conventions (promtool check metrics); the
      // same numbers are in the per-type lbha_coordinator_nodejs_active_* gauges.
      for (const what of ['handles', 'requests', 'resources']) this.prom.removeSingleMetric(`${PROCESS_METRICS_PREFIX}nodejs_active_${what}_total`);
      openFdsOffTheLoop(this.prom, PROCESS_METRICS_PREFIX);
    }
    this.unsubscribe.push(sources.registry.subscribe((e) => this.onRegistryEvent(e)));
    if (sources.outbox) this.unsubscribe.push(sources.outbox.onPushed((p) => this.pushes.set(p.node, { version: p.version, atMs: this.clock() })));
    if (sources.events) this.unsubscribe.push(sources.events.subscribe((e) => this.onEvent(e)));
  }

  /** Stops following the registry and the event log. */
  close(): void {
    for (const u of this.unsubscribe.splice(0)) u();
  }

  /** Called with every failover recognised (after the counters moved); for tests and events. */
  onFailover(listener: (f: Failover) => void): () => void {
    this.failoverListeners.add(listener);
    return () => this.failoverListeners.delete(listener);
  }

  /** Failovers so far for one reason: count and summed duration in seconds. */
  failoverStats(reason: FailoverReason): { readonly count: number; readonly sumSeconds: number } {
    const s = this.failoverDuration.snapshot(`reason="${reason}"`);
    return { count: s.count, sumSeconds: s.sum };
  }

  /** The Prometheus text exposition of every metric, as one string (tests, small fleets). */
  async render(): Promise<{ contentType: string; body: string }> {
    const parts: Buffer[] = [];
    await this.stream((chunk) => void parts.push(chunk));
    return { contentType: this.contentType, body: Buffer.concat(parts).toString('utf8') };
  }

  /**
   * Writes the exposition to `sink` in chunks, letting the event loop run every `sliceMs` of
   * work (see stream-exposition.ts); `extra` is appended (the store's metrics).
   */
  async stream(sink: ExpositionSink, extra?: () => string, sliceMs?: number): Promise<void> {
    const figures = await streamExposition(this.pieces(extra), sink, sliceMs);
    this.lastRenderMs = figures.busyMs;
    this.longestSliceMs = figures.longestSliceMs;
  }

  /** How long the previous /metrics render held the event loop at most, in milliseconds. */
  lastLongestSliceMs(): number {
    return this.longestSliceMs;
  }

  /** The work of the previous /metrics render in milliseconds, pauses left out. */
  lastRenderDurationMs(): number {
    return this.lastRenderMs;
  }

  private async *pieces(extra?: () => string): AsyncGenerator<ExpositionPiece, void, undefined> {
    yield* this.statePieces();
    // prom-client's metrics one at a time, as its metrics() would join them: metrics() collects
    // every one in one go, and some grow with the fleet (the active handles are a socket each).
    const registered = this.prom.getMetricsAsArray();
    // Each piece ends a line (chunks are whole lines); a blank line between two, as there.
    for (let i = 0; i < registered.length; i++) yield `${i === 0 ? '' : '\n'}${await this.prom.getSingleMetricAsString((registered[i] as { name: string }).name)}\n`;
    if (extra) yield extra();
  }

  private onRegistryEvent(e: RegistryEvent): void {
    switch (e.type) {
      case 'state':
      case 'fresh': {
        const rec = this.sources.registry.get(e.node);
        if (rec?.snapshot && isLive(rec.link)) this.observe(rec, rec.snapshot);
        break;
      }
      case 'disconnected':
      case 'stale': {
        const rec = this.sources.registry.get(e.node);
        this.pushes.delete(e.node);
        if (rec) this.count(this.tracker.nodeLost(e.node, rec.lastSeenMs));
        break;
      }
      case 'ack': {
        const pending = this.pushes.get(e.node);
        if (pending && e.version >= pending.version) {
          this.pushes.delete(e.node);
          this.pushDuration.observe(Math.max(0, this.clock() - pending.atMs) / 1000);
        }
        if (!e.accepted) this.nacks.inc(this.nodeLabels(e.node));
        break;
      }
      case 'command-result':
        if (TERMINAL_COMMAND_STATES.has(e.result.state)) {
          this.commandResults.inc({ cluster: this.sources.registry.get(e.node)?.cluster ?? '', state: e.result.state });
        }
        break;
      case 'forgotten': {
        // Its record is gone: so is every series and everything kept for it.
        const label = pair('node', e.node);
        this.nodeViews.delete(e.node);
        this.releaseKept();
        this.pushes.delete(e.node);
        this.handoverErrors.delete(e.node);
        this.seriesLabels.delete(e.node);
        this.tracker.forget(e.node);
        this.nacks.drop((labels) => labels.includes(label));
        this.handoverFailures.drop((labels) => labels.includes(label));
        break;
      }
      default:
        break;
    }
  }

  private onEvent(e: LbhaEvent): void {
    this.eventCount.inc({ severity: e.severity });
    if (e.type === 'vrrp.unplanned' || e.type === 'vip.flap') {
      const labels = `${pair('cluster', e.cluster)},${pair('vip', e.vip)}`;
      this.unplanned.inc(`${labels},${pair('kind', e.reason)}`);
      if (e.type === 'vip.flap') this.flaps.inc(labels);
    }
    const op = operationOutcome(e);
    if (op) this.operations.inc({ cluster: e.cluster, operation: op.operation, state: op.state });
  }

  private nodeLabels(node: string): string {
    return `${pair('cluster', this.sources.registry.get(node)?.cluster ?? '')},${pair('node', node)}`;
  }

  /**
   * Follows a node's report (one a second per node): the tracker reads the report's own
   * instances, and nothing is built for a report that changes nothing. What was built here per
   * report (a list of observations, the loss explainer, the labels) was about 1.1 KB that lived
   * until the next collection: it made the young generation's collections more frequent, and
   * with them the reports of the last second promoted into the old generation.
   */
  private observe(rec: NodeRecord, snap: NodeSnapshot): void {
    this.countHandoverFailures(rec, snap);
    this.explaining = rec;
    this.explainingSnapshot = snap;
    try {
      const { transitions, failovers } = this.tracker.observe(rec.cluster, rec.name, snap.instances, this.explainCurrent, this.clock(), MAX_PER_NODE.instances);
      for (let k = 0; k < transitions.length; k++) {
        const t = transitions[k] as VrrpTransition;
        this.transitions.inc(`${pair('cluster', t.cluster)},${pair('vip', t.vip)},${pair('state', t.to)}`);
      }
      if (failovers.length > 0) this.count(failovers);
    } finally {
      this.explaining = undefined;
      this.explainingSnapshot = undefined;
    }
  }

  /** The labels of a node's series, kept per node (and its cluster) rather than built per report. */
  private nodeSeriesLabels(rec: NodeRecord): string {
    const kept = this.seriesLabels.get(rec.name);
    if (kept?.cluster === rec.cluster) return kept.labels;
    const labels = `${pair('cluster', rec.cluster)},${pair('node', rec.name)}`;
    this.seriesLabels.set(rec.name, { cluster: rec.cluster, labels });
    return labels;
  }

  /** Counts each handover error an agent newly reports (it reports one while the handover lasts). */
  private countHandoverFailures(rec: NodeRecord, snap: NodeSnapshot): void {
    const labels = this.nodeSeriesLabels(rec);
    this.handoverFailures.ensure(labels);
    const before = this.handoverErrors.get(rec.name);
    // Most reports carry no handover error: they keep one shared empty map, not a new one each
    // (kept until the node's next report, every such map lived long enough to be copied by the
    // young-generation collector).
    let now: Map<string, string> | undefined;
    const count = Math.min(snap.instances.length, MAX_PER_NODE.instances);
    for (let k = 0; k < count; k++) {
      const i = snap.instances[k] as NodeSnapshot['instances'][number];
      if (!i.handoverError) continue;
      (now ??= new Map<string, string>()).set(i.name, i.handoverError);
      if (before?.get(i.name) !== i.handoverError) this.handoverFailures.inc(labels);
    }
    this.handoverErrors.set(rec.name, now ?? NO_HANDOVER_ERRORS);
  }

  /** Why `rec` no longer holds `vip`, and since when (agent time where the agent said). */
  private explainLoss(rec: NodeRecord, snap: NodeSnapshot, vip: string, heldSinceMs: number): LossExplanation {
    const now = this.clock();
    if (!isLive(rec.link)) return { reason: 'node_lost', atMs: rec.lastSeenMs };
    const inst = snap.instances.find((i) => i.name === vip);
    const at = inst?.sinceMs || now;
    if (this.modeOf(rec.name) !== 'active' || snap.localMode !== 'active') return { reason: 'drain', atMs: at };
    let firstBad = Infinity;
    for (const c of snap.checks) {
      if (c.result.kind === 'healthy' || c.effect === 'none') continue;
      // A check that was already failing before the node took the VIP did not make it let go.
      if (c.sinceMs > 0 && c.sinceMs >= heldSinceMs && c.sinceMs < firstBad) firstBad = c.sinceMs;
    }
    if (inst?.faultedByHealth || !snap.healthy || firstBad !== Infinity) return { reason: 'health', atMs: Math.min(at, firstBad) };
    if (!inst || inst.state === 'fault' || inst.state === 'stop' || inst.state === 'deleted') return { reason: 'fault', atMs: at };
    return { reason: 'preempted', atMs: at };
  }

  private count(failovers: readonly Failover[]): void {
    for (const f of failovers) {
      const labels = `${pair('cluster', f.cluster)},${pair('vip', f.vip)}`;
      const seconds = f.durationMs / 1000;
      this.failovers.inc(`${labels},${pair('reason', f.reason)}`);
      this.failoverDuration.observe(`reason="${f.reason}"`, seconds);
      this.lastFailover.set(labels, { labels, reason: f.reason, durationSeconds: seconds, atSeconds: this.clock() / 1000 });
      for (const l of this.failoverListeners) l(f);
    }
  }

  /**
   * The per-node and per-VIP families, in pieces ('' marks where the writer may pause). The node
   * records, their views and liveness are taken in a first pass, so every family describes the
   * same moment even when the writer pauses between pieces.
   */
  private *statePieces(): Generator<ExpositionPiece, void, undefined> {
    this.scrapesInFlight++;
    try {
      yield* this.statePiecesOfOneScrape();
    } finally {
      this.scrapesInFlight--;
      if (this.keptHoldsForgotten) this.releaseKept();
    }
  }

  /**
   * Empties the kept arrays, which would otherwise hold a forgotten node's record, its report and
   * its view until the next scrape (a follower forgets every record at once); a scrape still
   * writing from them keeps them to its end. Forgetting is rare: the next scrape grows them anew.
   */
  private releaseKept(): void {
    this.keptHoldsForgotten = this.scrapesInFlight > 0;
    if (this.keptHoldsForgotten) return;
    this.kept.recs.length = 0;
    this.kept.views.length = 0;
    this.kept.live.length = 0;
  }

  private *statePiecesOfOneScrape(): Generator<ExpositionPiece, void, undefined> {
    const now = this.clock();
    const d = METRICS;
    // A scrape alone refills what the last one built; one that runs beside another (two
    // Prometheus servers) must not change what the other still writes from, and builds its own.
    const alone = this.scrapesInFlight === 1;
    const vips = alone ? this.vipTable : new VipTable();
    const { recs, views, live } = alone ? this.kept : { recs: [], views: [], live: [] };
    const generation = ++this.generation;
    vips.begin(generation);
    // The records as they are now (the pass below pauses); the arrays cut to this scrape's nodes.
    const n = this.takeRecords(recs);
    if (recs.length !== n) recs.length = n;
    if (views.length !== n) views.length = n;
    if (live.length !== n) live.length = n;
    for (let i = 0; i < n; i++) {
      const rec = recs[i] as NodeRecord;
      live[i] = isLive(rec.link);
      const view = this.nodeView(rec, live[i] as boolean, generation);
      views[i] = view;
      vips.cluster(rec.cluster);
      // Indexed, not for-of with destructuring: in this generator every step of an iterator
      // allocated its result, about 0.9 MB a scrape at 2,000 nodes.
      const instances = view.instances;
      for (let k = 0; k < instances.length; k++) {
        const x = instances[k] as NodeView['instances'][number];
        const row = vips.row(rec.cluster, x[0]);
        if (x[1]) vips.hold(row, rec.name);
      }
      // A changed report costs a rebuild of its lines: pause more often here.
      if (i % 16 === 15) yield '';
    }
    // Every node of this scrape has its view; more views than nodes are those of nodes gone.
    if (this.nodeViews.size !== n) {
      let pruned = 0;
      for (const [name, v] of this.nodeViews) {
        if (v.generation !== generation) this.nodeViews.delete(name);
        if (++pruned % (4 * SLICE) === 0) yield '';
      }
    }
    let k = 0;
    for (const v of this.sources.placementView?.() ?? []) {
      const row = vips.row(v.cluster, v.vip);
      row.desired = v.desired;
      this.flaps.ensure(row.labels);
      row.status = v.status;
      if (++k % SLICE === 0) yield '';
    }
    const neverConnected: string[] = [];
    for (const sn of this.sources.specNodes?.() ?? []) {
      if (++k % SLICE === 0) yield '';
      if (this.sources.registry.get(sn.node)) continue;
      // Declared but never connected since this coordinator started.
      vips.cluster(sn.cluster);
      neverConnected.push(`${d.nodeConnected.name}{${pair('cluster', sn.cluster)},${pair('node', sn.node)}} 0\n`);
    }
    yield* vips.endPass();
    yield header(d.nodeConnected);
    yield* viewSlices(views, d.nodeConnected.name, (i) => (live[i] ? 1 : 0));
    yield neverConnected.join('');
    yield header(d.nodeHeartbeatAge);
    yield* viewSlices(views, d.nodeHeartbeatAge.name, (i) => Math.max(0, now - (recs[i] as NodeRecord).lastSeenMs), 'ms-as-seconds');
    yield header(d.desiredStateNacked);
    yield* viewSlices(views, d.desiredStateNacked.name, (i) => ((recs[i] as NodeRecord).nackError ? 1 : 0));
    for (let f = 0; f < NODE_FAMILIES.length; f++) {
      yield header(d[NODE_FAMILIES[f] as NodeFamily]);
      for (let start = 0; start < views.length; start += SLICE) yield familyBytes(views, f, start, Math.min(views.length, start + SLICE));
    }
    yield* vipPieces(vips, SLICE);
    const everywhere = new Family(d.checkFailingEverywhere);
    for (const x of this.sources.checksEverywhere?.() ?? []) everywhere.add(`${pair('cluster', x.cluster)},${pair('check', x.check)}`, x.failing ? 1 : 0);
    yield everywhere.text();
    const ready = new Family(d.standbyReady);
    for (const x of this.sources.standbyReadiness?.() ?? []) ready.add(`${pair('cluster', x.cluster)},${pair('vip', x.vip)},${pair('node', x.node)}`, x.ready ? 1 : 0);
    yield ready.text();
    yield backendSamples(this.sources.backendPools?.() ?? []);
    yield drillSamples(this.sources.drills?.() ?? []);
    yield* this.renderEvents();
    yield this.renderWebhooks();
    const guards = this.sources.guards?.();
    if (guards) yield guardSamples(guards);
    yield this.handshakes.text();
  }

  /**
   * Puts the registry's records into `recs` from index 0 and returns how many. A method of its
   * own, not a loop in the scrape's generator: optimised, its iterator results are not allocated
   * (in the generator they were, one per node and scrape).
   */
  private takeRecords(recs: NodeRecord[]): number {
    let n = 0;
    for (const rec of this.sources.registry.records()) recs[n++] = rec;
    return n;
  }

  /**
   * The samples a node's report contributes, rebuilt only when the report (a new snapshot
   * object on every change), the node's mode or its liveness changed: most scrapes reuse them.
   */
  private nodeView(rec: NodeRecord, live: boolean, generation: number): NodeView {
    const mode = this.modeOf(rec.name);
    const snapshot = live ? rec.snapshot : undefined;
    const cached = this.nodeViews.get(rec.name);
    if (cached && cached.snapshot === snapshot && cached.mode === mode && cached.cluster === rec.cluster) {
      cached.generation = generation;
      return cached;
    }
    const labels = cached?.cluster === rec.cluster ? cached.labels : `${pair('cluster', rec.cluster)},${pair('node', rec.name)}`;
    // In place (no new objects for the collector to copy) unless another scrape still writes
    // from the views it took: it must see the moment it started at.
    const view = nodeSamples(rec.cluster, labels, mode, snapshot, generation, cached, this.scrapesInFlight === 1);
    this.nodeViews.set(rec.name, view);
    return view;
  }

  /**
   * The event-fed families, each its own piece: joined with `+`, the kept texts (at 2,000 VIPs the
   * flap counters alone are about 110 KB) made one string that was flattened anew, on the JS
   * heap, to be encoded at every scrape.
   */
  private *renderEvents(): Generator<string, void, undefined> {
    const renderTime = new Family(METRICS.metricsRenderDuration);
    renderTime.add('', Math.round(this.lastRenderMs * 1000) / 1e6);
    const lastDuration = new Family(METRICS.vipLastFailoverDuration);
    const lastTime = new Family(METRICS.vipLastFailoverTime);
    for (const f of this.lastFailover.values()) {
      lastDuration.add(`${f.labels},${pair('reason', f.reason)}`, f.durationSeconds);
      lastTime.add(f.labels, f.atSeconds);
    }
    yield this.transitions.text();
    yield this.unplanned.text();
    yield this.flaps.text();
    yield this.failovers.text();
    yield this.failoverDuration.text();
    yield lastDuration.text();
    yield lastTime.text();
    yield this.nacks.text();
    yield this.handoverFailures.text();
    yield renderTime.text();
    yield this.store.text();
  }

  private renderWebhooks(): string {
    const deliveries = new Family(METRICS.webhookDeliveries);
    const queued = new Family(METRICS.webhookQueued);
    const list: Iterable<WebhookStats> = this.sources.webhooks?.() ?? [];
    for (const w of list) {
      const l = pair('webhook', w.name);
      for (const state of ['delivered', 'failed', 'dropped', 'retried'] as const) deliveries.add(`${l},state="${state}"`, w[state]);
      queued.add(l, w.queued);
    }
    return deliveries.text() + queued.text();
  }
}
