// Applies a desired state: refuses what is invalid or what keepalived rejects (changing
// nothing), makes it the node's state (checks, links, handovers, track files: the `adopt`
// hook), then brings keepalived in line (config written, reloaded only when its structure
// changed) and keeps the state for an agent restart without a coordinator. One at a time.
import type { DesiredState, Logger } from '@lbha/shared';
import type { AgentMetrics } from '../agent-metrics.js';
import type { ConfigApplier } from '../keepalived/config-applier.js';
import { desiredStateProblems, type AgentIdentity } from '../keepalived/desired-state-problems.js';
import type { KeepalivedFiles } from '../keepalived/keepalived-files.js';
import { renderKeepalivedConf } from '../keepalived/render-config.js';
import type { DesiredStateOutcome } from '../ports.js';
import type { SupervisedService } from '../services/supervised-service.js';
import type { JsonFile } from '../state/json-file.js';

export interface DesiredStateApplierOptions {
  readonly identity: AgentIdentity;
  readonly routerId: string;
  readonly files: KeepalivedFiles;
  readonly config: ConfigApplier;
  readonly keepalived: SupervisedService;
  readonly store: JsonFile<DesiredState>;
  readonly logger: Logger;
  readonly metrics: AgentMetrics;
  /** Makes `next` the node's desired state (was `previous`); resolves once its track files are written. */
  readonly adopt: (next: DesiredState, previous: DesiredState | undefined) => Promise<void>;
  /** keepalived follows `d` and `d` is saved. */
  readonly applied: (d: DesiredState) => void;
  readonly stopping: () => boolean;
  readonly now: () => number;
}

export class DesiredStateApplier {
  private desired: DesiredState | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private reloadMs = 0;

  constructor(private readonly opts: DesiredStateApplierOptions) {}

  /** When keepalived was last reloaded for a structure change (0: not since the agent started). */
  get reloadedMs(): number {
    return this.reloadMs;
  }

  /** The desired state in force, if any. */
  get current(): DesiredState | undefined {
    return this.desired;
  }

  /** The desired state saved by the last apply, if there is one and it is still valid for this agent. */
  async cached(): Promise<DesiredState | undefined> {
    const cached = await this.opts.store.load();
    return cached && desiredStateProblems(cached, this.opts.identity).length === 0 ? cached : undefined;
  }

  /** At start, before any coordinator: applies the cached state. */
  async resume(cached: DesiredState): Promise<void> {
    this.opts.logger.info({ event: 'desired.cached', version: cached.version }, `using cached desired state version ${cached.version}`);
    const r = await this.apply(cached);
    if (!r.accepted) this.opts.logger.error({ event: 'desired.cache_refused', error: r.error }, 'cached desired state could not be applied');
  }

  /** Applies a state from the coordinator, after the one in progress; resolves to ACK or NACK. */
  submit(desired: DesiredState): Promise<DesiredStateOutcome> {
    const problems = desiredStateProblems(desired, this.opts.identity);
    if (problems.length > 0) {
      const error = problems.join('; ');
      this.opts.logger.warn({ event: 'desired.refused', version: desired.version, error }, `desired state ${desired.version} refused`);
      return Promise.resolve({ accepted: false, error });
    }
    const next = this.chain.then(() => this.apply(desired));
    this.chain = next.catch(() => undefined);
    return next.catch((err: Error) => {
      this.opts.logger.error({ event: 'desired.failed', version: desired.version, err: err.message }, 'applying the desired state failed');
      return { accepted: false, error: `agent error: ${err.message}` };
    });
  }

  /** Resolves once the apply in progress, if any, is over. */
  async idle(): Promise<void> {
    await this.chain.catch(() => undefined);
  }

  private async apply(d: DesiredState): Promise<DesiredStateOutcome> {
    const { config, keepalived, logger, metrics } = this.opts;
    if (this.opts.stopping()) return { accepted: false, error: 'agent is stopping' };
    const text = renderKeepalivedConf(d, { routerId: this.opts.routerId, files: this.opts.files });
    if (d.instances.length > 0) {
      const tested = await config.test(text);
      if (!tested.ok) {
        logger.error({ event: 'keepalived.config_refused', version: d.version, error: tested.error }, 'keepalived refused the rendered configuration');
        return { accepted: false, error: tested.error };
      }
    }
    const previous = this.desired;
    this.desired = d;
    // Track files first, so new instances start with the right placement and health.
    await this.opts.adopt(d, previous);
    if (d.instances.length === 0) {
      if (keepalived.liveness().state === 'running') {
        const r = await keepalived.stopDaemon();
        logger.info({ event: 'keepalived.stopped', reason: 'no instances' }, r.message);
      }
    } else {
      const changed = (await config.current()) !== text;
      await config.commit(text);
      const ka = keepalived.liveness().state;
      if (ka === 'running' && changed) {
        const r = await keepalived.reload();
        this.reloadMs = this.opts.now();
        if (r.ok) {
          metrics.reload();
          logger.info({ event: 'keepalived.reloaded', version: d.version }, 'keepalived reloaded: instances, VIPs or peers changed');
        } else {
          logger.error({ event: 'keepalived.reload_failed', version: d.version, error: r.message }, r.message);
        }
      } else if (ka !== 'running') {
        await keepalived.ensureStarted();
      }
    }
    await this.opts.store.save(d);
    logger.info({ event: 'desired.applied', version: d.version, instances: d.instances.length, checks: d.checks.length }, `desired state ${d.version} applied`);
    this.opts.applied(d);
    return { accepted: true };
  }
}
