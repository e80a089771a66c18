// Fans the event log out to the configured webhooks, each with its own queue and filter.
import type { LbhaEvent, Logger } from '@lbha/shared';
import type { WebhookStats } from '../metrics/metrics-sources.js';
import { wantsEvent, type WebhookConfig } from './webhook-config.js';
import { WebhookSender } from './webhook-sender.js';

export interface WebhookDispatcherOptions {
  readonly webhooks: readonly WebhookConfig[];
  readonly logger: Logger;
  readonly coordinatorId: string;
  readonly random?: () => number;
}

export class WebhookDispatcher {
  private senders: ReadonlyArray<{ readonly config: WebhookConfig; readonly sender: WebhookSender }>;
  private unsubscribe: (() => void) | undefined;
  // Delivery ids combine the event seq (which restarts with the coordinator) with this run's start.
  private readonly runId = Date.now().toString(36);

  constructor(private readonly opts: WebhookDispatcherOptions) {
    this.senders = opts.webhooks.map((config) => this.sender(config));
  }

  private sender(config: WebhookConfig): { readonly config: WebhookConfig; readonly sender: WebhookSender } {
    const { logger, coordinatorId, random } = this.opts;
    return { config, sender: new WebhookSender({ config, logger, coordinatorId, runId: this.runId, ...(random ? { random } : {}) }) };
  }

  /** Starts sending every event recorded from now on. */
  attach(events: { subscribe(listener: (e: LbhaEvent) => void): () => void }): void {
    this.unsubscribe?.();
    this.unsubscribe = events.subscribe((e) => this.publish(e));
  }

  /**
   * Takes a new list of webhooks (a configuration reload). An unchanged webhook keeps its queue;
   * a removed one gets `graceMs` to deliver what it has queued, then stops.
   */
  replace(webhooks: readonly WebhookConfig[], graceMs = 5000): void {
    const key = (c: WebhookConfig): string => JSON.stringify(c);
    const old = new Map(this.senders.map((s) => [key(s.config), s]));
    this.senders = webhooks.map((config) => {
      const kept = old.get(key(config));
      old.delete(key(config));
      return kept ?? this.sender(config);
    });
    for (const gone of old.values()) {
      let timer: NodeJS.Timeout | undefined;
      void Promise.race([gone.sender.idle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]).then(() => {
        clearTimeout(timer);
        gone.sender.stop();
      });
    }
  }

  /** Hands an event to every webhook that wants it; returns at once. */
  publish(e: LbhaEvent): void {
    for (const { config, sender } of this.senders) if (wantsEvent(config, e.type, e.severity)) sender.enqueue(e);
  }

  stats(): WebhookStats[] {
    return this.senders.map((s) => s.sender.stats());
  }

  /** Resolves when every queue is empty. */
  async idle(): Promise<void> {
    await Promise.all(this.senders.map((s) => s.sender.idle()));
  }

  /** Gives queued events up to `graceMs` to go out (e.g. at shutdown), then stops. */
  async drainAndStop(graceMs: number): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    this.stop();
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const s of this.senders) s.sender.stop();
  }
}
