// Delivers events to one webhook: a bounded queue, one POST at a time (so the receiver sees
// events in order), retries with exponential backoff and jitter. Enqueueing never waits and
// never throws: a slow or dead receiver costs at most `queueSize` events of memory and never
// holds up failover, operations or other webhooks.
import type { LbhaEvent, Logger } from '@lbha/shared';
import type { WebhookStats } from '../metrics/metrics-sources.js';
import type { WebhookConfig } from './webhook-config.js';

/** What one POST came to. */
export type AttemptOutcome =
  | { readonly kind: 'delivered'; readonly status: number }
  | { readonly kind: 'retryable'; readonly reason: string; readonly retryAfterMs: number | undefined }
  | { readonly kind: 'rejected'; readonly reason: string };

/** The JSON body of every webhook POST. */
export interface WebhookPayload {
  readonly coordinator: string;
  /** Stays the same across retries of one event: receivers can drop duplicates by it. */
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

export interface WebhookSenderOptions {
  readonly config: WebhookConfig;
  readonly logger: Logger;
  readonly coordinatorId: string;
  /** Distinguishes delivery ids of this coordinator run from those of earlier runs (event seqs restart). */
  readonly runId: string;
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
  private readonly queue: LbhaEvent[] = [];
  private running = false;
  private stopped = false;
  private readonly inflight = new AbortController();
  private wake: (() => void) | undefined;
  private delivered = 0;
  private failed = 0;
  private dropped = 0;
  private retried = 0;
  private dropsSinceLog = 0;
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
    return { name: this.name, queued: this.queue.length, delivered: this.delivered, failed: this.failed, dropped: this.dropped, retried: this.retried };
  }

  /** Queues an event for delivery; drops the oldest queued event when the queue is full. */
  enqueue(e: LbhaEvent): void {
    if (this.stopped) return;
    if (this.queue.length >= this.opts.config.queueSize) {
      this.queue.shift();
      this.dropped++;
      // One warning per burst of drops, not one per event.
      if (this.dropsSinceLog++ === 0) {
        this.opts.logger.warn({ event: 'webhook.dropped', webhook: this.name, queueSize: this.opts.config.queueSize }, 'webhook queue full: dropping the oldest events');
      }
    }
    this.queue.push(e);
    if (!this.running) void this.drain();
  }

  /** Resolves when the queue is empty and nothing is in flight (for tests and shutdown). */
  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops delivering: aborts the POST in flight and forgets queued events. */
  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    this.inflight.abort();
    this.wake?.();
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (!this.stopped && this.queue.length > 0) {
        const e = this.queue.shift() as LbhaEvent;
        await this.deliver(e);
        if (this.queue.length === 0) this.dropsSinceLog = 0;
      }
    } finally {
      this.running = false;
      for (const w of this.idleWaiters.splice(0)) w();
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
    const deliveryId = `${this.opts.coordinatorId}.${this.opts.runId}.${e.seq}`;
    const body = this.payload(e, deliveryId);
    const headers = { ...this.headers, 'x-lbha-event': e.type, 'x-lbha-delivery': deliveryId };
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

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      timer.unref();
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}
