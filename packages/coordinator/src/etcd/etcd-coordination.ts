// Everything a coordinator needs to run as one of several on etcd, behind one object: the etcd
// client, store health, the leader election, the relay of agent streams and the forwarding of
// API calls to the leader, and the leader's duties (placement, pushes, operations) started at
// each election and stopped at each deposition.
import type { ServiceDefinition } from '@grpc/grpc-js';
import { clientCredentials, type AgentServiceServer, type Logger, type TlsConfig } from '@lbha/shared';
import type { Etcd3 } from 'etcd3';
import type { ControlApi } from '../control-api.js';
import type { EventInput } from '../event-log.js';
import type { Registry } from '../registry.js';
import type { Store, StoreObserver } from '../store/store.js';
import { AgentRelay, type AgentBytesServer, type AgentRelayOptions } from './agent-relay.js';
import { ControlForwarder } from './control-forwarder.js';
import { createEtcdClient } from './etcd-client.js';
import type { EtcdStoreConfig } from './etcd-config.js';
import { EtcdStore } from './etcd-store.js';
import { acceptForwarded } from './forwarded-identity.js';
import { LeaderElection } from './leader-election.js';
import { LeaseKeeper } from './lease-keeper.js';
import type { Fence, LeaderInfo, Leadership, LeadershipEvent } from './leadership.js';
import { StoreHealth } from './store-health.js';

/** What only the leader does. Started once per term with a store fenced to that term. */
export interface LeaderDuties {
  start(store: Store, term: number): Promise<void>;
  stop(): Promise<void>;
  /**
   * This coordinator leads again in the term whose duties kept running through a lapse (its
   * lease outlived its local deadline, so nobody else led meanwhile): resend what the fence
   * held back.
   */
  resume?(term: number): void;
}

export interface EtcdCoordinationOptions {
  readonly config: EtcdStoreConfig;
  readonly selfId: string;
  readonly logger: Logger;
  /** The registry of agent sessions served here (closed when they must move to the leader). */
  readonly registry: Registry;
  /** Where store.unavailable / store.available events go. */
  readonly record: (e: EventInput) => void;
  /** TLS this coordinator uses to dial the leader (its own certificate, as a client). */
  readonly peerTls: TlsConfig;
  /** Relayed agent streams per connection to the leader: the leader's `limits.streamsPerConnection` (AgentRelayOptions). */
  readonly relayStreamsPerChannel?: number;
  /** Retry delay after the leader's duties failed to start (default 1s). */
  readonly retryMs?: number;
  /** Monotonic milliseconds for the election (tests move it to make a lease lapse). */
  readonly clock?: () => number;
  /** Told how long each of the store's transactions took (the coordinator's metrics). */
  readonly storeObserver?: StoreObserver;
  /**
   * Renew the lease from a worker thread too (lease-keeper.ts); default on. Off where a test
   * moves the election's clock to make the lease lapse: the keeper's renewals are real ones.
   */
  readonly leaseKeeper?: boolean;
}

/** The metrics a coordinator with the etcd store adds to /metrics. */
export const STORE_METRICS = [
  { name: 'lbha_store_up', type: 'gauge', help: '1 when this coordinator reaches its store (etcd), 0 while it cannot.' },
  { name: 'lbha_coordinator_leader', type: 'gauge', help: '1 when this coordinator is the leader (it alone places VIPs, pushes and runs operations).' },
  { name: 'lbha_coordinator_elections_total', type: 'counter', help: 'Times this coordinator became the leader.' },
  { name: 'lbha_fenced_pushes_total', type: 'counter', help: 'Desired states and commands held back because this coordinator was no longer the leader.' },
  { name: 'lbha_relayed_agent_streams', type: 'gauge', help: 'Agent streams this coordinator relays to the leader.' },
] as const;

export class EtcdCoordination {
  readonly client: Etcd3;
  readonly health: StoreHealth;
  private election: LeaderElection | undefined;
  private keeper: LeaseKeeper | undefined;
  private relay: AgentRelay | undefined;
  private forwarder: ControlForwarder | undefined;
  private readonly listeners = new Set<(e: LeadershipEvent) => void>();
  private duties: LeaderDuties | undefined;
  /** Term whose duties are running; 0 when none. */
  private activeTerm = 0;
  private transitions: Promise<void> = Promise.resolve();
  private stopping = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Stops the duties of a lapsed term unless this coordinator leads again in it first. */
  private lapseTimer: NodeJS.Timeout | undefined;
  private elections = 0;
  private readonly fenced = { desiredState: 0, command: 0 };
  private readonly log: Logger;

  /** Leadership as seen by the rest of the coordinator; not the leader until start(). */
  readonly leadership: Leadership = {
    isLeader: () => this.election?.isLeader() ?? false,
    leader: () => this.election?.leader(),
    fence: () => this.election?.fence(),
    subscribe: (l) => {
      this.listeners.add(l);
      return () => this.listeners.delete(l);
    },
  };

  constructor(private readonly opts: EtcdCoordinationOptions) {
    this.log = opts.logger;
    this.client = createEtcdClient(opts.config);
    this.health = new StoreHealth({ downAfterMs: opts.config.leaseTtl, logger: opts.logger, record: opts.record });
  }

  /**
   * Serves agent streams here when leading (or when nobody leads), relays them otherwise: the
   * service to register and its definition (Connect's messages as bytes, agent-relay.ts).
   * `liveness`: how relayed agents' connections are read; without it they heartbeat.
   */
  wrapAgentService(local: AgentServiceServer, liveness?: Pick<AgentRelayOptions, 'connectionOf' | 'livenessIntervalMs' | 'deadConnectionMs'>): { readonly definition: ServiceDefinition; readonly service: AgentBytesServer } {
    const { credentials, options } = clientCredentials(this.opts.peerTls);
    this.relay = new AgentRelay({
      local,
      leadership: this.leadership,
      selfId: this.opts.selfId,
      registry: this.opts.registry,
      credentials,
      channelOptions: options,
      logger: this.log,
      onFencedPush: (kind) => this.fenced[kind]++,
      // Long enough for a leader that died to lose its lease and for the next to be elected.
      keepForMs: 2 * this.opts.config.leaseTtl,
      ...liveness,
      ...(this.opts.relayStreamsPerChannel === undefined ? {} : { streamsPerChannel: this.opts.relayStreamsPerChannel }),
    });
    return { definition: this.relay.definition, service: this.relay.service };
  }

  /** Whether another coordinator leads (this one relays its agents' streams there). */
  followsAnother(): boolean {
    const leader = this.leadership.leader();
    return !this.leadership.isLeader() && leader !== undefined && leader.id !== this.opts.selfId;
  }

  /** Forwards authorised API calls to the leader; refuses mutations while nobody leads. Goes inside the authorisation wrapper. */
  wrapControl(local: ControlApi): ControlApi {
    const { credentials, options } = clientCredentials(this.opts.peerTls);
    this.forwarder = new ControlForwarder({
      local,
      leadership: this.leadership,
      selfId: this.opts.selfId,
      credentials,
      channelOptions: options,
      logger: this.log,
      // A mutation during an election waits for its outcome rather than failing.
      waitForLeaderMs: this.opts.config.leaseTtl + this.opts.config.requestTimeout,
    });
    return this.forwarder.api;
  }

  /** Outermost layer of the gRPC API: calls forwarded by another coordinator count as their original caller's. */
  acceptForwarded(authorized: ControlApi): ControlApi {
    return acceptForwarded(authorized);
  }

  /** Joins the election; `self` carries the addresses other coordinators reach this one at. */
  start(self: LeaderInfo, duties: LeaderDuties): void {
    if (this.election) return;
    this.duties = duties;
    const { config } = this.opts;
    if (this.opts.leaseKeeper ?? true) {
      this.keeper = new LeaseKeeper({ config, logger: this.log });
      this.keeper.start();
    }
    this.election = new LeaderElection({
      client: this.client,
      prefix: config.prefix,
      self,
      leaseTtlMs: config.leaseTtl,
      requestTimeoutMs: config.requestTimeout,
      logger: this.log,
      health: this.health,
      ...(this.opts.clock ? { clock: this.opts.clock } : {}),
      ...(this.keeper ? { keeper: this.keeper } : {}),
    });
    this.election.subscribe((e) => {
      for (const l of this.listeners) l(e);
      if (e.type === 'elected') {
        this.elections++;
        if (this.lapseTimer && this.activeTerm === e.term) this.resumeDuties(e.term);
        else this.enqueue(() => this.startDuties(e.term));
      } else if (e.type === 'deposed') {
        this.onLapse(e.term);
      } else if (e.leader && e.leader.id !== this.opts.selfId) {
        // Another coordinator leads: whatever ran here is over for good.
        this.endLapse();
        this.enqueue(() => this.stopDuties());
      }
    });
    this.election.start();
    this.log.info({ event: 'election.joined', id: self.id, grpc: self.grpc, prefix: config.prefix, endpoints: config.endpoints }, 'campaigning for leadership on etcd');
  }

  /**
   * Deposed. Stopping and restarting the duties costs seconds to tens of seconds under load
   * (the store read again, every desired state rebuilt and pushed), and a lapse of the local
   * deadline while etcd still held the lease (a wait for the CPU) ends in a re-election in the
   * same term, nobody else having led. So the duties stay up, pushes and store writes fenced
   * meanwhile, until another coordinator is seen leading or a lease TTL has passed (etcd has
   * expired the lease by then: the next term is a new one). Not when etcd itself stopped
   * answering: that is an outage, during which this coordinator answers reads from what it
   * recorded itself, as a follower, so the duties stop at once.
   */
  private onLapse(term: number): void {
    if (this.stopping || this.activeTerm === 0 || this.activeTerm !== term || this.health.failing || !this.health.up) {
      this.enqueue(() => this.stopDuties());
      return;
    }
    this.log.info({ event: 'leader.duties_held', term }, 'deposed: leader duties held (fenced) until this coordinator leads again in this term or another takes over');
    this.endLapse();
    this.lapseTimer = setTimeout(() => {
      this.lapseTimer = undefined;
      this.enqueue(() => this.stopDuties());
    }, this.opts.config.leaseTtl);
    this.lapseTimer.unref();
  }

  /** Leading again in the term whose duties were held through a lapse. */
  private resumeDuties(term: number): void {
    this.endLapse();
    this.duties?.resume?.(term);
    this.log.info({ event: 'leader.duties_resumed', term }, 'leading again in the same term: leader duties resumed without a restart');
  }

  private endLapse(): void {
    if (this.lapseTimer) clearTimeout(this.lapseTimer);
    this.lapseTimer = undefined;
  }

  /** Resigns: another coordinator can take over at once. The duties go on until stop(). */
  async resign(): Promise<void> {
    this.stopping = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.endLapse();
    await this.election?.stop();
    await this.keeper?.stop();
  }

  /** Ends the streams relayed to the leader: their agents reconnect to another coordinator. */
  closeRelays(): void {
    this.relay?.close();
  }

  /** Resigns (another coordinator takes over at once), stops the duties and closes the client. */
  async stop(): Promise<void> {
    await this.resign();
    this.enqueue(() => this.stopDuties());
    await this.transitions;
    this.relay?.close();
    this.forwarder?.close();
    this.client.close();
  }

  /** A store whose writes hold only during `term` of this coordinator's leadership. */
  storeForTerm(term: number): Store {
    const fence = (): Fence | undefined => {
      const f = this.election?.fence();
      return f && Number(f.term) === term ? f : undefined;
    };
    return new EtcdStore({ client: this.client, prefix: this.opts.config.prefix, fence, health: this.health, retryForMs: this.opts.config.leaseTtl, maxRequestBytes: this.opts.config.maxRequestBytes, ...(this.opts.storeObserver ? { observer: this.opts.storeObserver } : {}) });
  }

  private enqueue(step: () => Promise<void>): void {
    this.transitions = this.transitions.then(step).catch((err: unknown) => this.log.error({ event: 'election.transition_failed', err }, 'leadership transition failed'));
  }

  private async startDuties(term: number): Promise<void> {
    const election = this.election;
    if (this.stopping || !election || !election.isLeader() || election.currentTerm !== term || this.activeTerm === term) return;
    if (this.activeTerm !== 0) await this.stopDuties();
    try {
      await this.duties?.start(this.storeForTerm(term), term);
      this.activeTerm = term;
      this.log.info({ event: 'leader.duties_started', term }, 'leader duties running: placement, pushes, operations');
    } catch (err) {
      this.log.error({ event: 'leader.duties_failed', term, err }, 'could not start the leader duties; retrying');
      this.retryTimer = setTimeout(() => this.enqueue(() => this.startDuties(term)), this.opts.retryMs ?? 1000);
      this.retryTimer.unref();
    }
  }

  private async stopDuties(): Promise<void> {
    this.endLapse();
    if (this.activeTerm === 0) return;
    const term = this.activeTerm;
    this.activeTerm = 0;
    await this.duties?.stop();
    this.log.info({ event: 'leader.duties_stopped', term }, 'leader duties stopped');
  }

  /** Prometheus exposition of the store and leadership gauges (see STORE_METRICS). */
  metricsText(): string {
    const values: Record<(typeof STORE_METRICS)[number]['name'], Array<[string, number]>> = {
      lbha_store_up: [['', this.health.up ? 1 : 0]],
      lbha_coordinator_leader: [['', this.leadership.isLeader() ? 1 : 0]],
      lbha_coordinator_elections_total: [['', this.elections]],
      lbha_fenced_pushes_total: [
        ['{kind="desired_state"}', this.fenced.desiredState],
        ['{kind="command"}', this.fenced.command],
      ],
      lbha_relayed_agent_streams: [['', this.relay?.relayedStreams ?? 0]],
    };
    const lines = STORE_METRICS.flatMap((m) => [`# HELP ${m.name} ${m.help}`, `# TYPE ${m.name} ${m.type}`, ...values[m.name].map(([labels, v]) => `${m.name}${labels} ${v}`)]);
    return `${lines.join('\n')}\n`;
  }
}
