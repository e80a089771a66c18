import type { Logger } from '@lbha/shared';
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { Fence, LeaderInfo, Leadership, LeadershipEvent } from './leadership.js';
import { keepaliveOnce } from './lease-keepalive.js';
import type { LeaseRenewals } from './lease-keeper.js';
import type { StoreHealth } from './store-health.js';

export interface LeaderElectionOptions {
  readonly client: Etcd3;
  /** Key prefix of this installation, ending in '/'. */
  readonly prefix: string;
  readonly self: LeaderInfo;
  /** Lease TTL; rounded up to whole seconds (etcd's unit). */
  readonly leaseTtlMs: number;
  /** Deadline of each etcd request (at most a third of the TTL). */
  readonly requestTimeoutMs: number;
  readonly logger: Logger;
  readonly health: StoreHealth;
  /** Monotonic milliseconds; keeps running while the process is stopped (SIGSTOP), unlike timers. */
  readonly clock?: () => number;
  /**
   * Renewals of the lease from outside this event loop (lease-keeper.ts: a worker thread): each
   * one etcd answered moves the local deadline as one of this loop's own does.
   */
  readonly keeper?: LeaseRenewals;
}

/** Lifecycle: follower <-> leader, then stopped for good. */
export type ElectionRole = 'follower' | 'leader' | 'stopped';

interface HeldLease {
  readonly id: string;
  /** Local deadline (monotonic ms) before which etcd certainly still holds the lease. */
  until: number;
}

/**
 * Leader election on an etcd lease, with a local deadline for fencing.
 *
 * Every coordinator keeps a lease alive (renewed four times per TTL, each renewal due a quarter
 * TTL after the previous one was sent) and tries to create the leader key bound to it
 * (create-if-absent: compare create_revision == 0). That transaction runs beside the renewals,
 * never before the next one: a slow answer to it (etcd or this process waiting for a CPU) must
 * not push the next keepalive back towards the lease's expiry. Whoever creates
 * it leads until the key goes away; its create revision is the term. The leader steps down at
 * once when the key is deleted or replaced (watch, and a read on every renewal), when etcd says
 * the lease is gone, or when its local deadline passes: the deadline is the send time of the
 * last successful renewal plus the TTL, minus a margin, so it always falls before etcd expires
 * the lease. The clock is monotonic and keeps running while the process is frozen, so a leader
 * that was SIGSTOPped past its lease knows it lost leadership on its first instruction after
 * resuming, before any timer or I/O callback could push anything. With a keeper (a worker
 * thread renewing the same lease on its own connection), the deadline also moves with each of
 * its renewals: a loop busy for seconds does not cost the lease while the keeper's renewals get
 * through.
 */
export class LeaderElection implements Leadership {
  private roleNow: ElectionRole = 'follower';
  private lease: HeldLease | undefined;
  private term = '';
  private observedInfo: LeaderInfo | undefined;
  private observedTerm = '';
  private watcher: Watcher | undefined;
  private wakeUp: (() => void) | undefined;
  private sleepTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  /** The leader-key transaction in flight, if any (one at a time). */
  private campaigning: Promise<void> | undefined;
  /** Woken while a transaction was in flight: try again once it is answered. */
  private retryAfterCampaign = false;
  private readonly listeners = new Set<(e: LeadershipEvent) => void>();
  private readonly key: Buffer;
  private readonly ttlSeconds: number;
  private readonly marginMs: number;
  private readonly clock: () => number;
  private readonly log: Logger;

  constructor(private readonly opts: LeaderElectionOptions) {
    this.key = Buffer.from(`${opts.prefix}leader`);
    this.ttlSeconds = Math.max(1, Math.ceil(opts.leaseTtlMs / 1000));
    // etcd's lessor notices expiry a little late, never early; the margin absorbs clock rate skew.
    this.marginMs = Math.min(500, (this.ttlSeconds * 1000) / 10);
    this.clock = opts.clock ?? (() => performance.now());
    this.log = opts.logger;
  }

  get role(): ElectionRole {
    return this.roleNow;
  }

  /** A method, not a field test: TypeScript would narrow the field across awaits. */
  private stopped(): boolean {
    return this.roleNow === 'stopped';
  }

  /** The leader key's create revision while leading; 0 otherwise. */
  get currentTerm(): number {
    return this.roleNow === 'leader' ? Number(this.term) : 0;
  }

  isLeader(): boolean {
    if (this.roleNow !== 'leader') return false;
    this.takeKeeperRenewal();
    if (!this.lease || this.clock() >= this.lease.until) {
      this.depose('the lease was not renewed in time (etcd unreachable, or this process was stalled)');
      return false;
    }
    return true;
  }

  fence(): Fence | undefined {
    if (!this.isLeader() || !this.lease) return undefined;
    return { key: this.key, term: this.term, leaseId: this.lease.id };
  }

  leader(): LeaderInfo | undefined {
    if (this.roleNow === 'leader') return this.isLeader() ? this.opts.self : this.observedInfo;
    return this.observedInfo;
  }

  subscribe(listener: (e: LeadershipEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts campaigning in the background. */
  start(): void {
    if (this.loop) return;
    this.watcher = this.opts.client.watch().key(this.key).watcher();
    this.watcher.on('put', (kv) => this.onLeaderKey(kv));
    this.watcher.on('delete', () => this.onLeaderKey(undefined));
    this.watcher.on('error', (err) => this.log.warn({ event: 'election.watch_error', err: err.message }, 'watch of the leader key failed'));
    this.loop = this.run();
  }

  /** Steps down (deleting the leader key so another coordinator takes over at once) and stops. */
  async stop(): Promise<void> {
    if (this.roleNow === 'stopped') return;
    const wasLeader = this.isLeader();
    const term = this.term;
    const lease = this.lease;
    if (this.roleNow === 'leader') this.depose('coordinator stopping');
    this.roleNow = 'stopped';
    this.wake();
    // The handover first, beside the renewal or transaction in flight rather than after it:
    // under load each etcd request may take up to its deadline, and another coordinator can
    // take over only once the key is gone. A leader-key transaction still in flight cannot
    // make this one lead again (it is stopped), and a key it creates dies with the lease.
    this.opts.keeper?.keep(undefined);
    const kv = this.opts.client.kv;
    const handover = (async () => {
      if (wasLeader) {
        await kv
          .txn({
            compare: [{ key: this.key, target: 'Create', result: 'Equal', create_revision: term }],
            success: [{ request_delete_range: { key: this.key } }],
          })
          .catch(() => undefined);
      }
      if (lease) await this.opts.client.leaseClient.leaseRevoke({ ID: lease.id }).catch(() => undefined);
    })();
    await Promise.all([handover, this.loop, this.campaigning, this.watcher?.cancel().catch(() => undefined)]);
    // A key the transaction in flight created after the revocation went with the lease; one it
    // created before is deleted by the revocation. Nothing else can hold this lease's key.
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
  }

  private emit(e: LeadershipEvent): void {
    // Listeners run after the current call stack: isLeader() may depose in the middle of a push.
    queueMicrotask(() => {
      for (const l of this.listeners) {
        try {
          l(e);
        } catch (err) {
          this.log.error({ event: 'election.listener_error', err }, 'leadership listener threw');
        }
      }
    });
  }

  private wake(): void {
    if (this.campaigning) this.retryAfterCampaign = true;
    if (this.sleepTimer) clearTimeout(this.sleepTimer);
    this.wakeUp?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeUp = resolve;
      this.sleepTimer = setTimeout(resolve, ms);
    });
  }

  private async run(): Promise<void> {
    // Four renewals per TTL: the lease survives an etcd leader election plus a slow request.
    const renewEvery = (this.ttlSeconds * 1000) / 4;
    const retryEvery = Math.min(250, renewEvery / 2);
    const healthTimer = setInterval(() => this.opts.health.check(), retryEvery);
    healthTimer.unref();
    try {
      while (!this.stopped()) {
        let ok = false;
        const sent = this.clock();
        try {
          await this.step();
          ok = true;
          this.opts.health.succeeded();
        } catch (err) {
          this.opts.health.failed(err);
          this.log.debug({ event: 'election.step_failed', err: (err as Error).message }, 'etcd request failed');
        }
        if (this.stopped()) break;
        // The next renewal is due renewEvery after this one was sent, however long its answer took.
        await this.sleep(ok && this.lease ? Math.max(0, renewEvery - (this.clock() - sent)) : retryEvery);
      }
    } finally {
      clearInterval(healthTimer);
    }
  }

  /** One round: hold a live lease, then (in the background) either confirm leadership or try to take it. */
  private async step(): Promise<void> {
    if (!this.lease) {
      await this.grantLease();
    } else {
      await this.renewLease();
      if (!this.lease) return this.wake();
    }
    const lease = this.lease as HeldLease | undefined;
    if (!lease || this.stopped() || this.campaigning) return;
    this.campaigning = this.campaign(lease)
      .catch((err: unknown) => {
        this.opts.health.failed(err);
        this.log.debug({ event: 'election.campaign_failed', err: (err as Error).message }, 'etcd request for the leader key failed');
      })
      .finally(() => {
        this.campaigning = undefined;
        if (!this.retryAfterCampaign) return;
        this.retryAfterCampaign = false;
        this.wake();
      });
  }

  /** Creates the leader key if nobody holds it, or reads who does. */
  private async campaign(lease: HeldLease): Promise<void> {
    const res = await this.opts.client.kv.txn({
      compare: [{ key: this.key, target: 'Create', result: 'Equal', create_revision: 0 }],
      success: [{ request_put: { key: this.key, value: Buffer.from(JSON.stringify(this.opts.self)), lease: lease.id } }],
      failure: [{ request_range: { key: this.key } }],
    });
    if (this.stopped()) return;
    if (res.succeeded) return this.elect(res.header.revision, lease);
    const kv = res.responses[0]?.response_range?.kvs[0];
    this.onLeaderKey(kv);
    // Our own key, from an attempt whose answer was lost or from before a local step-down: the
    // lease never lapsed in etcd, so nobody else can have led in between.
    if (kv && kv.lease === lease.id && this.roleNow === 'follower') this.elect(kv.create_revision, lease);
  }

  private async grantLease(): Promise<void> {
    const sent = this.clock();
    const res = await this.opts.client.leaseClient.leaseGrant({ TTL: this.ttlSeconds });
    this.lease = { id: String(res.ID), until: sent + Number(res.TTL) * 1000 - this.marginMs };
    if (!this.stopped()) this.opts.keeper?.keep(this.lease.id);
    this.log.debug({ event: 'election.lease_granted', lease: this.lease.id, ttlSeconds: Number(res.TTL) }, 'etcd lease granted');
  }

  private async renewLease(): Promise<void> {
    const lease = this.lease as HeldLease;
    const sent = this.clock();
    const ttl = await keepaliveOnce(this.opts.client, lease.id, this.opts.requestTimeoutMs);
    if (this.lease !== lease) return;
    if (ttl <= 0) {
      this.lease = undefined;
      this.opts.keeper?.keep(undefined);
      this.log.warn({ event: 'election.lease_expired', lease: lease.id }, 'etcd says our lease expired');
      if (this.roleNow === 'leader') this.depose('etcd expired our lease');
      return;
    }
    lease.until = Math.max(lease.until, sent + ttl * 1000 - this.marginMs);
    if (this.roleNow === 'leader') this.armDeadline();
  }

  /** Moves the local deadline by the keeper's latest renewal of the lease held, if it is newer. */
  private takeKeeperRenewal(): void {
    const lease = this.lease;
    if (!lease || !this.opts.keeper) return;
    const r = this.opts.keeper.renewal(lease.id);
    if (!r || r.ttlSeconds <= 0) return;
    lease.until = Math.max(lease.until, this.clock() - r.ageMs + r.ttlSeconds * 1000 - this.marginMs);
  }

  private elect(term: string, lease: HeldLease): void {
    if (lease === this.lease) this.takeKeeperRenewal();
    if (this.roleNow !== 'follower' || this.clock() >= lease.until) return;
    this.roleNow = 'leader';
    this.term = term;
    this.armDeadline();
    this.log.info({ event: 'election.elected', id: this.opts.self.id, term: Number(term) }, 'this coordinator is the leader');
    this.emit({ type: 'elected', term: Number(term) });
    this.observe(this.opts.self, term);
  }

  private depose(reason: string): void {
    if (this.roleNow !== 'leader') return;
    this.roleNow = 'follower';
    const term = Number(this.term);
    this.term = '';
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.log.warn({ event: 'election.deposed', id: this.opts.self.id, term, reason }, 'this coordinator is no longer the leader');
    this.emit({ type: 'deposed', term, reason });
    if (this.observedInfo?.id === this.opts.self.id && this.observedTerm === String(term)) this.observe(undefined, '');
    this.wake();
  }

  /** Fires at the local deadline so listeners hear of a lapse even when nothing pushes. */
  private armDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    if (!this.lease) return;
    const lease = this.lease;
    // Still the leader at the deadline: the keeper renewed meanwhile; wait for the new one.
    this.deadlineTimer = setTimeout(() => this.isLeader() && this.armDeadline(), Math.max(0, lease.until - this.clock()) + 1);
    this.deadlineTimer.unref();
  }

  private onLeaderKey(kv: IKeyValue | undefined): void {
    if (this.roleNow === 'leader' && (!kv || kv.create_revision !== this.term)) {
      this.depose(kv ? 'another coordinator holds the leader key' : 'the leader key was deleted');
    }
    if (!kv) {
      this.observe(undefined, '');
      if (this.roleNow === 'follower') this.wake();
      return;
    }
    let info: LeaderInfo | undefined;
    try {
      info = JSON.parse(kv.value.toString()) as LeaderInfo;
    } catch {
      this.log.warn({ event: 'election.bad_leader_value' }, 'leader key holds no JSON');
    }
    this.observe(info, kv.create_revision);
  }

  private observe(info: LeaderInfo | undefined, term: string): void {
    if (this.observedTerm === term && this.observedInfo?.id === info?.id) return;
    this.observedInfo = info;
    this.observedTerm = term;
    this.emit({ type: 'leader-changed', leader: info, term: Number(term || 0) });
  }
}
