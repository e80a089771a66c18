// The coordinator's etcd lease renewed from a worker thread, beside the renewals of the
// election's own loop (leader-election.ts). A registration of thousands of agents can hold the
// main thread's event loop for seconds at a time (TLS handshakes, Hellos, passes, and on a
// shared core the wait for it), and a renewal queued behind that work reached etcd too late:
// the leader lost its lease while the fleet registered, and every relayed agent registered
// again at the next leader. The worker has its own event loop and its own connection to etcd,
// so a busy main loop delays neither the renewal nor its answer.
//
// It renews only while the main loop turns: the main thread stamps the shared memory from a
// timer, and the worker lets the lease lapse once that stamp is older than the stall limit (the
// lease TTL). A coordinator whose loop is stuck cannot push, so it holds the leader key at most
// the stall limit plus a TTL after its loop last ran a timer; then etcd expires the lease and
// another coordinator takes over.
import { Worker } from 'node:worker_threads';
import type { Logger } from '@lbha/shared';
import type { EtcdStoreConfig } from './etcd-config.js';
import { BEAT_US, CELLS, LEASE, monotonicUs, RENEWED_LEASE, RENEWED_SENT_US, RENEWED_TTL_S, SEQ, type LeaseKeeperWorkerData } from './lease-keeper-shared.js';
import type { LeaseKeeperMessage } from './lease-keeper-worker.js';

const WORKER_URL = new URL('./lease-keeper-worker.js', import.meta.url);

/** What the election asks of a keeper (leader-election.ts). */
export interface LeaseRenewals {
  /** Keep this lease alive from now on (undefined: none). */
  keep(leaseId: string | undefined): void;
  /** The last renewal of `leaseId` etcd answered: how long ago it was sent, and the TTL it granted. */
  renewal(leaseId: string): { readonly ageMs: number; readonly ttlSeconds: number } | undefined;
}

export interface LeaseKeeperOptions {
  readonly config: Pick<EtcdStoreConfig, 'endpoints' | 'tls' | 'requestTimeout' | 'leaseTtl'>;
  readonly logger: Logger;
  /** No renewal once the main loop has not run a timer for this long (default: the lease TTL). */
  readonly stallLimitMs?: number;
}

export class LeaseKeeper implements LeaseRenewals {
  private readonly cells = new BigInt64Array(new SharedArrayBuffer(CELLS * 8));
  private worker: Worker | undefined;
  private beatTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  readonly stallLimitMs: number;

  constructor(private readonly opts: LeaseKeeperOptions) {
    this.log = opts.logger;
    this.stallLimitMs = opts.stallLimitMs ?? Math.ceil(opts.config.leaseTtl / 1000) * 1000;
  }

  start(): void {
    if (this.worker) return;
    const { config } = this.opts;
    const ttlMs = Math.ceil(config.leaseTtl / 1000) * 1000;
    // The election renews four times per TTL; so does the keeper.
    const renewEveryMs = ttlMs / 4;
    this.beat();
    this.beatTimer = setInterval(() => this.beat(), Math.min(250, renewEveryMs / 2));
    this.beatTimer.unref();
    const data: LeaseKeeperWorkerData = {
      shared: this.cells.buffer as SharedArrayBuffer,
      endpoints: config.endpoints,
      tls: config.tls ? { ca: config.tls.ca, ...(config.tls.cert ? { cert: config.tls.cert } : {}), ...(config.tls.key ? { key: config.tls.key } : {}) } : undefined,
      requestTimeoutMs: config.requestTimeout,
      leaseTtlMs: config.leaseTtl,
      renewEveryMs,
      stallLimitMs: this.stallLimitMs,
    };
    const w = new Worker(WORKER_URL, { workerData: data, resourceLimits: { maxOldGenerationSizeMb: 64 } });
    w.unref();
    w.on('message', (m: LeaseKeeperMessage) => this.onMessage(m));
    w.on('error', (err) => this.log.warn({ event: 'election.keeper_failed', err: err.message }, 'the lease keeper thread failed; the lease is renewed from the event loop alone'));
    w.on('exit', () => {
      if (this.worker === w) this.worker = undefined;
    });
    this.worker = w;
  }

  async stop(): Promise<void> {
    if (this.beatTimer) clearInterval(this.beatTimer);
    this.beatTimer = undefined;
    Atomics.store(this.cells, LEASE, 0n);
    const w = this.worker;
    this.worker = undefined;
    if (!w) return;
    w.postMessage('stop');
    await w.terminate();
  }

  keep(leaseId: string | undefined): void {
    Atomics.store(this.cells, LEASE, leaseId === undefined ? 0n : BigInt(leaseId));
  }

  renewal(leaseId: string): { ageMs: number; ttlSeconds: number } | undefined {
    // A report being written (odd, or changed while read) is skipped: the next call reads it.
    const before = Atomics.load(this.cells, SEQ);
    if (before % 2n !== 0n) return undefined;
    const lease = Atomics.load(this.cells, RENEWED_LEASE);
    const sent = Atomics.load(this.cells, RENEWED_SENT_US);
    const ttl = Atomics.load(this.cells, RENEWED_TTL_S);
    if (Atomics.load(this.cells, SEQ) !== before || lease === 0n || lease.toString() !== leaseId) return undefined;
    return { ageMs: Number(monotonicUs() - sent) / 1000, ttlSeconds: Number(ttl) };
  }

  /** The main loop ran a timer now. */
  private beat(): void {
    Atomics.store(this.cells, BEAT_US, monotonicUs());
  }

  private onMessage(m: LeaseKeeperMessage): void {
    switch (m.type) {
      case 'renewals_stopped':
        this.log.warn({ event: 'election.keeper_stopped_renewing', loopSilentMs: m.loopSilentMs, stallLimitMs: this.stallLimitMs }, 'the event loop ran no timer for the stall limit: the lease keeper stopped renewing the lease');
        break;
      case 'renewals_resumed':
        this.log.info({ event: 'election.keeper_resumed', loopSilentMs: m.loopSilentMs }, 'the event loop turns again: the lease keeper renews the lease again');
        break;
      case 'renewal_late':
        this.log.warn({ event: 'election.keeper_late', lateMs: m.lateMs }, 'the lease keeper thread renewed the lease late (it waited for a CPU)');
        break;
      case 'renewal_failed':
        this.log.debug({ event: 'election.keeper_renewal_failed', err: m.err }, 'a renewal from the lease keeper thread failed');
        break;
    }
  }
}
