// Turns an evaluation into track file writes. It owns the two rules about *when* a value may
// reach keepalived: the health gate at start, and the deferral of placement raises on BACKUP
// instances. Decisions are taken synchronously, with the time passed in; the writes themselves
// are queued one after the other, so keepalived never sees them out of order.
import type { Logger, VrrpState } from '@lbha/shared';
import type { AgentMetrics } from '../agent-metrics.js';
import type { KeepalivedFiles } from '../keepalived/keepalived-files.js';
import type { Fault } from '../keepalived/priority.js';
import type { TrackFiles } from '../keepalived/track-files.js';

/**
 * What the health file shows while the node starts:
 * - `starting`: the agent has not yet looked at keepalived: the file is left alone;
 * - `hold`: keepalived was adopted and carries the live value: left alone until the checks settle;
 * - `fault`: keepalived was started by this agent: FAULT until the checks settle;
 * - `open`: the file follows the checks.
 * starting -> hold | fault -> open (every check has a verdict, or the settle deadline passed).
 */
export type HealthGate = 'starting' | 'hold' | 'fault' | 'open';

/** Longest wait for the first verdict of every check before the health file is written anyway. */
export const SETTLE_TIMEOUT_MS = 5_000;

/** What one write needs besides the evaluation. */
export interface TrackInput {
  readonly faults: readonly Fault[];
  readonly placements: ReadonlyMap<string, number>;
  /** Every check has its first verdict. */
  readonly checksSettled: boolean;
  readonly vrrpState: (instance: string) => VrrpState | undefined;
  readonly advertIntMs: number;
}

export interface TrackWriterOptions {
  readonly files: KeepalivedFiles;
  readonly tracks: TrackFiles;
  readonly logger: Logger;
  readonly metrics: AgentMetrics;
}

interface DeferredRaise {
  readonly value: number;
  readonly dueMs: number;
}

/** How long a placement raise on a BACKUP instance waits: one master-down interval (3 adverts + skew). */
export function raiseDelayMs(advertIntMs: number): number {
  return 3 * advertIntMs + 50;
}

export class TrackWriter {
  private gate: HealthGate = 'starting';
  private settleDeadlineMs: number | undefined;
  private readonly deferredRaises = new Map<string, DeferredRaise>();
  /** What was last decided per instance (a write may still be queued). */
  private readonly decided = new Map<string, number>();
  /** When each instance's placement value and the health value last changed (decided). */
  private readonly placementChanged = new Map<string, number>();
  private healthChange: { readonly atMs: number; readonly value: number } | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: TrackWriterOptions) {}

  async init(): Promise<void> {
    await this.opts.tracks.init(this.opts.files.trackDir);
  }

  get healthGate(): HealthGate {
    return this.gate;
  }

  /** At start: an adopted keepalived keeps its health value until the checks settle, a new one gets FAULT. */
  closeGate(adopted: boolean): void {
    if (this.gate === 'starting') this.gate = adopted ? 'hold' : 'fault';
  }

  /** The checks have until `deadlineMs` to settle; then the health file follows them anyway. */
  settleBy(deadlineMs: number): void {
    this.settleDeadlineMs = deadlineMs;
  }

  /**
   * Decides and queues the writes for `input` at `now`. Returns when it must be called again
   * (a deferred raise falls due, the settle deadline passes), or undefined.
   */
  write(input: TrackInput, now: number): number | undefined {
    this.maybeOpenGate(input.checksSettled, now);
    const healthValue = this.gate === 'fault' || input.faults.length > 0 ? 1 : 0;
    const writeHealth = this.gate === 'open' || this.gate === 'fault';
    if (writeHealth && this.healthChange?.value !== healthValue) this.healthChange = { atMs: now, value: healthValue };
    const placements: Array<readonly [string, number]> = [];
    for (const [name, value] of input.placements) {
      const v = this.placementToWrite(name, value, input, now);
      if (v !== undefined) placements.push([this.opts.files.placementFile(name), v]);
    }
    this.queue(writeHealth ? healthValue : undefined, input.faults, placements);
    return this.wakeAt();
  }

  /** Forgets an instance that left the desired state. */
  forget(instance: string): void {
    this.decided.delete(instance);
    this.deferredRaises.delete(instance);
    this.placementChanged.delete(instance);
  }

  /** When this node last changed the instance's placement value (decided; the write follows at once). */
  placementChangedMs(instance: string): number | undefined {
    return this.placementChanged.get(instance);
  }

  /** When this node last changed the health value, and to what. */
  get healthChanged(): { readonly atMs: number; readonly value: number } | undefined {
    return this.healthChange;
  }

  /** Resolves once every write queued so far is done (or failed and logged). */
  flushed(): Promise<void> {
    return this.chain;
  }

  private maybeOpenGate(checksSettled: boolean, now: number): void {
    if (this.gate !== 'hold' && this.gate !== 'fault') return;
    const reason = checksSettled ? 'checks settled' : this.settleDeadlineMs !== undefined && now >= this.settleDeadlineMs ? 'timeout' : undefined;
    if (reason === undefined) return;
    this.gate = 'open';
    this.opts.logger.info({ event: 'health.gate_open', reason }, `health track file follows the checks (${reason})`);
  }

  private wakeAt(): number | undefined {
    let at = this.gate === 'open' || this.gate === 'starting' ? undefined : this.settleDeadlineMs;
    for (const d of this.deferredRaises.values()) at = at === undefined ? d.dueMs : Math.min(at, d.dueMs);
    return at;
  }

  /**
   * keepalived restarts a BACKUP instance's master-down timer whenever its priority changes. A
   * coordinator that reacts to the peer's failure by raising this node's placement would thus
   * hold back the takeover the peer's priority-0 advert has just started (skew time, tens of
   * ms) by a full master-down interval. So raises on a BACKUP instance wait that interval: the
   * takeover happens first; a planned move is merely late by a third of a second.
   */
  private placementToWrite(instance: string, value: number, input: TrackInput, now: number): number | undefined {
    // What was last decided (a write may still be queued), else what the file holds.
    const current = this.decided.get(instance) ?? this.opts.tracks.cached(this.opts.files.placementFile(instance));
    if (current === undefined || value <= current || input.vrrpState(instance) !== 'backup') {
      this.deferredRaises.delete(instance);
      this.decide(instance, value, current, now);
      return value;
    }
    const pending = this.deferredRaises.get(instance);
    if (pending && pending.value === value) {
      if (now < pending.dueMs) return undefined;
      this.deferredRaises.delete(instance);
      this.decide(instance, value, current, now);
      return value;
    }
    const waitMs = raiseDelayMs(input.advertIntMs);
    this.deferredRaises.set(instance, { value, dueMs: now + waitMs });
    this.opts.logger.debug({ event: 'placement.deferred', instance, from: current, to: value, waitMs }, `placement raise for ${instance} deferred ${waitMs}ms`);
    return undefined;
  }

  private decide(instance: string, value: number, current: number | undefined, now: number): void {
    if (current !== value) this.placementChanged.set(instance, now);
    this.decided.set(instance, value);
  }

  private queue(health: number | undefined, faults: readonly Fault[], placements: ReadonlyArray<readonly [string, number]>): void {
    const { files, tracks, metrics, logger } = this.opts;
    this.chain = this.chain
      .then(async () => {
        if (health !== undefined && (await tracks.write(files.healthFile, health))) {
          metrics.trackWrite('health');
          logger.info(
            { event: 'health.changed', value: health, faults: faults.map((f) => f.reason) },
            health ? `health track file set to FAULT: ${faults.map((f) => f.reason).join('; ') || 'checks not settled'}` : 'health track file cleared',
          );
        }
        for (const [file, value] of placements) {
          if (await tracks.write(file, value)) {
            metrics.trackWrite('placement');
            logger.info({ event: 'placement.written', file, value }, `placement ${value} written to ${file}`);
          }
        }
      })
      .catch((err: Error) => logger.error({ event: 'track.write_failed', err: err.message }, 'cannot write track files'));
  }
}
