// The VRRP state of every instance as keepalived reports it on the notify FIFO. Kept in the
// runtime directory, so an agent restarted while keepalived runs on knows where it stands
// until keepalived reports again.
import type { Logger, VrrpState } from '@lbha/shared';
import type { AgentMetrics } from '../agent-metrics.js';
import type { JsonFile } from '../state/json-file.js';
import type { VrrpEntry } from './evaluate.js';

export interface VrrpStatesOptions {
  readonly store: JsonFile<Record<string, VrrpEntry>>;
  readonly logger: Logger;
  readonly metrics: AgentMetrics;
  readonly now: () => number;
}

/** Transitions come in bursts (a reload replays every state): write the file once per burst. */
const PERSIST_DELAY_MS = 200;

export class VrrpStates {
  private readonly entries = new Map<string, VrrpEntry>();
  private persistTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: VrrpStatesOptions) {}

  get all(): ReadonlyMap<string, VrrpEntry> {
    return this.entries;
  }

  get(instance: string): VrrpEntry | undefined {
    return this.entries.get(instance);
  }

  async load(): Promise<void> {
    for (const [name, e] of Object.entries((await this.opts.store.load()) ?? {})) this.entries.set(name, e);
  }

  /** A state keepalived reported; a change is logged, counted and saved. */
  observe(instance: string, state: VrrpState, priority: number): void {
    const prev = this.entries.get(instance);
    if (prev?.state === state) return;
    this.entries.set(instance, { state, priority, sinceMs: this.opts.now() });
    this.opts.metrics.transition(instance, state);
    const from = prev?.state ?? 'unknown';
    this.opts.logger.info({ event: 'vrrp.transition', instance, from, to: state, priority }, `${instance}: ${from} -> ${state}`);
    this.schedulePersist();
  }

  /** keepalived died: nothing is known about its instances until the restarted one reports. */
  lost(instance: string): void {
    this.entries.set(instance, { state: 'unknown', priority: 0, sinceMs: this.opts.now() });
  }

  delete(instance: string): void {
    this.entries.delete(instance);
  }

  async persist(): Promise<void> {
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    await this.opts.store
      .save(Object.fromEntries(this.entries))
      .catch((err: Error) => this.opts.logger.warn({ event: 'vrrp.persist_failed', err: err.message }, 'cannot persist VRRP states'));
  }

  private schedulePersist(): void {
    if (this.persistTimer) return;
    this.persistTimer = setTimeout(() => {
      this.persistTimer = undefined;
      void this.persist();
    }, PERSIST_DELAY_MS);
    this.persistTimer.unref();
  }
}
