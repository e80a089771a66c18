// Runs one sender per configured webhook, each following the durable event log with its own
// cursor, kept in the store (webhooks/<name>) so deliveries continue where they were after a
// restart or on a new leader. Only the coordinator that keeps the log (the leader) sends.
import { randomBytes } from 'node:crypto';
import type { Logger } from '@lbha/shared';
import type { EventLog } from '../event-log.js';
import type { WebhookStats } from '../metrics/metrics-sources.js';
import { put, type Store } from '../store/store.js';
import type { WebhookConfig } from './webhook-config.js';
import { WebhookSender } from './webhook-sender.js';

export interface WebhookDispatcherOptions {
  readonly webhooks: readonly WebhookConfig[];
  readonly logger: Logger;
  readonly coordinatorId: string;
  readonly random?: () => number;
}

interface Cursor {
  readonly seq: number;
  readonly savedMs: number;
}

/** Names this installation's event log in delivery ids; made once, kept in the store. */
async function logId(store: Store | undefined): Promise<string> {
  if (!store) return 'local';
  for (;;) {
    const e = await store.get<string>('meta/log-id');
    if (e) return e.value;
    const id = randomBytes(6).toString('hex');
    const r = await store.txn([{ key: 'meta/log-id', revision: 0 }], [put('meta/log-id', id)]);
    if (r.ok) return id;
  }
}

export class WebhookDispatcher {
  private senders: ReadonlyArray<{ readonly config: WebhookConfig; readonly sender: WebhookSender }> = [];
  private unsubscribe: (() => void) | undefined;
  private webhooks: readonly WebhookConfig[];
  private replacing: Promise<void> = Promise.resolve();
  /** What start() was given, for webhooks added by a reload. */
  private following: { readonly events: EventLog; readonly store: Store | undefined; readonly logId: string } | undefined;

  constructor(private readonly opts: WebhookDispatcherOptions) {
    this.webhooks = opts.webhooks;
  }

  /**
   * Starts sending the events of `events` (which must be attached to `store`, when given):
   * each webhook continues after its stored cursor, or, the first time, after the newest event.
   */
  async start(events: EventLog, store?: Store): Promise<void> {
    await this.stop();
    this.following = { events, store, logId: await logId(store) };
    const senders: Array<{ config: WebhookConfig; sender: WebhookSender }> = [];
    for (const config of this.webhooks) senders.push({ config, sender: await this.startSender(config) });
    this.senders = senders;
    this.unsubscribe = events.subscribeDurable(() => {
      for (const s of this.senders) s.sender.poke();
    });
  }

  /** A sender for `config`, following the log from its stored cursor (or from now, the first time). */
  private async startSender(config: WebhookConfig): Promise<WebhookSender> {
    const { events, store, logId: id } = this.following as NonNullable<typeof this.following>;
    const key = `webhooks/${config.name}`;
    let stored = store ? (await store.get<Cursor>(key))?.value : undefined;
    if (!stored) {
      // A new webhook starts with the events after now, and remembers that at once.
      stored = { seq: (await events.bounds()).last, savedMs: Date.now() };
      if (store) await store.txn([], [put(key, stored)]);
    }
    const sender = new WebhookSender({ config, logger: this.opts.logger, coordinatorId: this.opts.coordinatorId, logId: id, ...(this.opts.random ? { random: this.opts.random } : {}) });
    sender.start(
      {
        page: (after, limit) => events.page(after, limit),
        last: () => events.stats().durableSeq,
        save: async (seq) => {
          if (store) await store.txn([], [put(key, { seq, savedMs: Date.now() } satisfies Cursor)]);
        },
      },
      stored.seq,
    );
    return sender;
  }

  /**
   * Takes a new list of webhooks (a configuration reload). An unchanged webhook goes on; a
   * removed one gets `graceMs` to catch up with the log, then stops (its cursor stays in the
   * store: added back, it continues where it was); a new one starts with the events after now.
   */
  replace(webhooks: readonly WebhookConfig[], graceMs = 5000): void {
    this.webhooks = webhooks;
    this.replacing = this.replacing
      .then(() => this.follow(webhooks, graceMs))
      .catch((err: unknown) => this.opts.logger.error({ event: 'webhook.reload_failed', err }, 'could not apply the new webhooks'));
  }

  /** Resolves once the last replace() is in force (for tests). */
  replaced(): Promise<void> {
    return this.replacing;
  }

  private async follow(webhooks: readonly WebhookConfig[], graceMs: number): Promise<void> {
    if (!this.following) return;
    const key = (c: WebhookConfig): string => JSON.stringify(c);
    const old = new Map(this.senders.map((s) => [key(s.config), s]));
    const next: Array<{ config: WebhookConfig; sender: WebhookSender }> = [];
    for (const config of webhooks) {
      const kept = old.get(key(config));
      old.delete(key(config));
      next.push(kept ?? { config, sender: await this.startSender(config) });
    }
    this.senders = next;
    for (const gone of old.values()) {
      let timer: NodeJS.Timeout | undefined;
      void Promise.race([gone.sender.idle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]).then(async () => {
        clearTimeout(timer);
        await gone.sender.stop();
      });
    }
  }

  stats(): WebhookStats[] {
    return (this.senders.length > 0 ? this.senders : this.opts.webhooks.map((config) => ({ config, sender: undefined }))).map(
      (s) => s.sender?.stats() ?? { name: s.config.name, queued: 0, delivered: 0, failed: 0, dropped: 0, retried: 0 },
    );
  }

  /** Resolves when every webhook has dealt with every durable event. */
  async idle(): Promise<void> {
    await Promise.all(this.senders.map((s) => s.sender.idle()));
  }

  /** Gives pending events up to `graceMs` to go out (e.g. at shutdown), then stops. */
  async drainAndStop(graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    await this.stop();
  }

  /** Stops sending; each cursor is kept for the next start. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    // Stopped senders stay for their counts until the next start.
    await Promise.all(this.senders.map((s) => s.sender.stop()));
  }
}
