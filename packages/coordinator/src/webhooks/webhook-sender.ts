// Delivers the event log to one webhook, by cursor: it reads the durable events after the
// last one it delivered, POSTs them one at a time (so the receiver sees them in order) with
// retries (exponential backoff and jitter), and moves its cursor, which the dispatcher keeps
// in the store. So a delivery survives a coordinator restart or a new leader: at least once,
// with an idempotency key that stays the same for the event wherever it is sent from. The log
// is the queue: a slow or dead receiver costs no memory and never holds up anything else; it
// may fall at most `queueSize` events behind, and is then moved forward (the skipped events
// are counted as dropped).
import type { LbhaEvent, Logger } from '@lbha/shared';
import type { WebhookStats } from '../metrics/metrics-sources.js';
import { wantsEvent, type WebhookConfig } from './webhook-config.js';

/** What one POST came to. */
export type AttemptOutcome =
  | { readonly kind: 'delivered'; readonly status: number }
  | { readonly kind: 'retryable'; readonly reason: string; readonly retryAfterMs: number | undefined }
  | { readonly kind: 'rejected'; readonly reason: string };

/** The JSON body of every webhook POST. */
export interface WebhookPayload {
  readonly coordinator: string;
  /**
   * The event's idempotency key: the same for every attempt, from every coordinator, across
   * restarts. Receivers drop duplicates by it (also sent as the Idempotency-Key header).
   */
  readonly deliveryId: string;
  readonly seq: number;
  /** ISO 8601, UTC. */
  readonly time: string;
  readonly timeMs: number;
  readonly type: string;
  readonly severity: LbhaEvent['severity'];
  readonly cluster: string;
  readonly node: string;
  readonly vip: string;
  readonly message: string;
  readonly reason: string;
  readonly actor: string;
  readonly operationId: string;
}

/** Where a sender reads events and keeps its cursor. */
export interface WebhookSource {
  /** Durable events after `afterSeq` (at most `limit`), and the cursor after them. */
  page(afterSeq: number, limit: number): Promise<{ readonly events: readonly LbhaEvent[]; readonly next: number }>;
  /** The seq of the newest durable event. */
  last(): number;
  /** Keeps the cursor (the seq of the last event dealt with). */
  save(cursor: number): Promise<void>;
}

export interface WebhookSenderOptions {
  readonly config: WebhookConfig;
  readonly logger: Logger;
  readonly coordinatorId: string;
  /** Names the event log (the installation), so delivery ids never collide with another's. */
  readonly logId: string;
  readonly random?: () => number;
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Delay before retry number `attempt` (1-based): exponential, capped, with jitter in [d/2, d]. */
export function backoffMs(attempt: number, initialMs: number, maxMs: number, random: () => number = Math.random): number {
  const d = Math.min(maxMs, initialMs * 2 ** Math.min(30, attempt - 1));
  return Math.round(d / 2 + (random() * d) / 2);
}

export class WebhookSender {
  private cursor = 0;
  private source: WebhookSource | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private inflight = new AbortController();
  private wake: (() => void) | undefined;
  private interrupt: (() => void) | undefined;
  private delivered = 0;
  private failed = 0;
  private dropped = 0;
  private retried = 0;
  private busy = false;
  private savedCursor = 0;
  private savedAt = 0;
  private readonly headers: Record<string, string>;
  private readonly random: () => number;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly opts: WebhookSenderOptions) {
    const c = opts.config;
    this.random = opts.random ?? Math.random;
    this.headers = { 'content-type': 'application/json', 'user-agent': 'lbha-coordinator' };
    if (c.bearerToken) this.headers['authorization'] = `Bearer ${c.bearerToken}`;
    if (c.header) this.headers[c.header.name.toLowerCase()] = c.header.value;
  }

  get name(): string {
    return this.opts.config.name;
  }

  stats(): WebhookStats {
    const queued = this.source ? Math.max(0, this.source.last() - this.cursor) : 0;
    return { name: this.name, queued, delivered: this.delivered, failed: this.failed, dropped: this.dropped, retried: this.retried };
  }

  /** Delivers every event after `cursor` from `source`, and whatever comes after, until stopped. */
  start(source: WebhookSource, cursor: number): void {
    this.source = source;
    this.cursor = cursor;
    this.savedCursor = cursor;
    this.stopped = false;
    this.inflight = new AbortController();
    this.running ??= this.loop().finally(() => (this.running = undefined));
  }

  /** New durable events may be there. */
  poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** Resolves when every event up to the log's newest has been dealt with (for tests and shutdown). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return !this.busy && (!this.source || this.cursor >= this.source.last() || this.stopped);
  }

  /** Stops delivering (aborts the POST in flight) and keeps the cursor. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.inflight.abort();
    this.poke();
    this.interrupt?.();
    await this.running;
    await this.saveCursor(true);
  }

  private async loop(): Promise<void> {
    const source = this.source as WebhookSource;
    const c = this.opts.config;
    while (!this.stopped) {
      const behind = source.last() - this.cursor;
      if (behind > c.queueSize) {
        // Fallen too far behind: skip to the newest queueSize events.
        this.dropped += behind - c.queueSize;
        this.opts.logger.warn({ event: 'webhook.dropped', webhook: this.name, skipped: behind - c.queueSize, queueSize: c.queueSize }, 'webhook fell behind: skipping the oldest events');
        this.cursor = source.last() - c.queueSize;
      }
      const page = await source.page(this.cursor, 100).catch(() => ({ events: [], next: this.cursor }));
      if (page.next === this.cursor) {
        for (const w of this.idleWaiters.splice(0)) w();
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      for (const e of page.events) {
        if (this.stopped) return;
        if (!wantsEvent(c, e.type, e.severity)) continue;
        this.busy = true;
        try {
          await this.deliver(e);
        } finally {
          this.busy = false;
        }
        if (this.stopped) return;
        this.cursor = e.seq;
        await this.saveCursor(false);
      }
      if (!this.stopped) this.cursor = page.next;
    }
  }

  /** Keeps the cursor in the store at most once a second while delivering, and when stopping. */
  private async saveCursor(now: boolean): Promise<void> {
    if (!this.source || this.cursor === this.savedCursor || (!now && Date.now() - this.savedAt < 1000)) return;
    const cursor = this.cursor;
    try {
      await this.source.save(cursor);
      this.savedCursor = cursor;
      this.savedAt = Date.now();
    } catch (err) {
      this.opts.logger.warn({ event: 'webhook.cursor_not_saved', webhook: this.name, cursor, err: (err as Error).message }, 'could not keep the webhook cursor; a restart may deliver some events again');
    }
  }

  private payload(e: LbhaEvent, deliveryId: string): string {
    const p: WebhookPayload = {
      coordinator: this.opts.coordinatorId,
      deliveryId,
      seq: e.seq,
      time: new Date(e.timeMs).toISOString(),
      timeMs: e.timeMs,
      type: e.type,
      severity: e.severity,
      cluster: e.cluster,
      node: e.node,
      vip: e.vip,
      message: e.message,
      reason: e.reason,
      actor: e.actor,
      operationId: e.operationId,
    };
    return JSON.stringify(p);
  }

  private async deliver(e: LbhaEvent): Promise<void> {
    const c = this.opts.config;
    const deliveryId = `lbha-${this.opts.logId}-${e.seq}`;
    const body = this.payload(e, deliveryId);
    const headers = { ...this.headers, 'x-lbha-event': e.type, 'x-lbha-delivery': deliveryId, 'idempotency-key': deliveryId };
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.attempt(body, headers);
      if (this.stopped) return;
      if (outcome.kind === 'delivered') {
        this.delivered++;
        return;
      }
      if (outcome.kind === 'rejected' || attempt >= c.maxRetries) {
        this.failed++;
        this.opts.logger.warn(
          { event: 'webhook.failed', webhook: this.name, seq: e.seq, type: e.type, attempts: attempt + 1, reason: outcome.reason },
          'webhook delivery failed; event not delivered',
        );
        return;
      }
      this.retried++;
      const wait = Math.min(c.maxBackoffMs, Math.max(backoffMs(attempt + 1, c.initialBackoffMs, c.maxBackoffMs, this.random), outcome.retryAfterMs ?? 0));
      this.opts.logger.debug({ event: 'webhook.retry', webhook: this.name, seq: e.seq, attempt: attempt + 1, waitMs: wait, reason: outcome.reason }, 'webhook delivery will be retried');
      await this.sleep(wait);
      if (this.stopped) return;
    }
  }

  private async attempt(body: string, headers: Record<string, string>): Promise<AttemptOutcome> {
    const timeout = AbortSignal.timeout(this.opts.config.timeoutMs);
    try {
      const res = await fetch(this.opts.config.url, {
        method: 'POST',
        headers,
        body,
        // A redirect could carry the bearer token elsewhere: a 3xx is a refusal, not a hop.
        redirect: 'manual',
        signal: AbortSignal.any([timeout, this.inflight.signal]),
      });
      await res.body?.cancel().catch(() => undefined);
      if (res.status >= 200 && res.status < 300) return { kind: 'delivered', status: res.status };
      const reason = `HTTP ${res.status}`;
      if (res.status === 408 || res.status === 425 || res.status === 429 || res.status >= 500) {
        return { kind: 'retryable', reason, retryAfterMs: retryAfterMs(res.headers.get('retry-after')) };
      }
      return { kind: 'rejected', reason };
    } catch (err) {
      if (timeout.aborted) return { kind: 'retryable', reason: `no response within ${this.opts.config.timeoutMs}ms`, retryAfterMs: undefined };
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      return { kind: 'retryable', reason: cause?.code ?? cause?.message ?? (err as Error).message, retryAfterMs: undefined };
    }
  }

  /** A backoff pause; only stop() cuts it short (new events do not). */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.interrupt = undefined;
        resolve();
      }, ms);
      timer.unref();
      this.interrupt = () => {
        clearTimeout(timer);
        this.interrupt = undefined;
        resolve();
      };
    });
  }
}
