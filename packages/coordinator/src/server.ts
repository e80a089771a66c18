import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { Server, type Metadata } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { AgentServiceService, isInsecure, type AgentServiceServer, type Logger } from '@lbha/shared';
import { ControlServiceService } from '@lbha/shared/control';
import { HealthImplementation } from 'grpc-health-check';
import { afterIoInterval, type AfterIoInterval } from './after-io-interval.js';
import { AgentOutbox } from './agent-outbox.js';
import { ConnectionLiveness, deadConnectionMs, pingIntervalMs } from './connection-liveness.js';
import { createAgentService, type AgentLimitStats, type AgentServiceOptions } from './agent-service.js';
import { CoordinatorAuth } from './auth/coordinator-auth.js';
import { drillSettings } from './probes/drill-settings.js';
import { ControlPlane } from './control-plane.js';
import type { ControlApi } from './control-api.js';
import { controlHandlers } from './control-handlers.js';
import type { CoordinatorConfig } from './coordinator-config.js';
import type { AgentBytesCall } from './etcd/agent-relay.js';
import { EtcdCoordination } from './etcd/etcd-coordination.js';
import { adoptForwardedCaller, FORWARDED_BY, FORWARDED_FOR, fromCoordinator, RELAY_LIVENESS } from './etcd/forwarded-identity.js';
import { acceptFromFronts } from './fronts/front-caller.js';
import { FrontPool } from './fronts/front-pool.js';
import { AuditLog } from './audit-log.js';
import { EventLog } from './event-log.js';
import { WatchLimits } from './event-watch.js';
import { grpcControlService } from './grpc-control-service.js';
import { HttpApi, type MetricsWriter } from './http/http-api.js';
import { CoordinatorMetrics } from './metrics/coordinator-metrics.js';
import type { GuardStats } from './metrics/guard-samples.js';
import { planeViews } from './metrics/plane-views.js';
import { protoDir } from './proto-files.js';
import { Registry, type RegistryEvent } from './registry.js';
import { ConnectionLimiter } from './limits/connection-limiter.js';
import { GrpcListener } from './limits/grpc-listener.js';
import { DEFAULT_LIMITS, type LimitsConfig } from './limits/limits-config.js';
import { DEFAULT_RETENTION, nodesToForget, type RetentionPolicy } from './node-retention.js';
import { removeStaleUnixSocket } from './unix-socket.js';
import { SpecValidator } from './spec/spec-validator.js';
import { FileStore } from './store/file-store.js';
import type { Store } from './store/store.js';
import { WebhookDispatcher } from './webhooks/webhook-dispatcher.js';

/** The running spec's check, saved in stateDir so that a start need not parse the spec again (spec/checked-spec.ts). */
export const CHECKED_SPEC_FILE = 'checked-spec.bin';

export interface CoordinatorServerOptions {
  readonly authorizeAgent?: AgentServiceOptions['authorize'];
  /** Opens the coordinator's store; default: the file store at <stateDir>/state.json. */
  readonly openStore?: () => Promise<Store>;
  /** A watcher that reads nothing for this long is disconnected (default 60 s; tests shorten it). */
  readonly watchStallMs?: number;
  /** How long records of gone nodes outside the spec are kept (tests shorten it). */
  readonly nodeRetention?: RetentionPolicy;
  /** See ReconcileLoopOptions.settleMs (tests shorten it). */
  readonly settleMs?: number;
  /** An agent's connection that reads nothing for this long is closed (default: deadConnectionMs(); tests shorten it). */
  readonly deadConnectionMs?: number;
}

/**
 * The coordinator process: one gRPC server carrying AgentService, ControlService,
 * grpc.health.v1 and server reflection, around the node registry and the event log.
 */
export class CoordinatorServer {
  /** What agents report (the way in). */
  readonly registry: Registry;
  /** Desired states and commands to agents (the way out). */
  readonly outbox: AgentOutbox;
  /** Every transition and operation, kept in the store while this coordinator leads. */
  readonly events: EventLog;
  /** Every mutating API call, kept in the store apart from the events. */
  readonly audit: AuditLog;
  /** Caps on event watchers (WatchEvents and the HTTP event stream). */
  readonly watchLimits = new WatchLimits();
  /** Connection, stream and rate limits (config limits section, defaults filled). */
  readonly limits: LimitsConfig;
  /** Open connections of each API, capped per address and in total. */
  readonly grpcConnections: ConnectionLimiter;
  readonly httpConnections: ConnectionLimiter;
  private grpcListener: GrpcListener | undefined;
  /** The front processes holding the agents' connections (grpc.fronts > 0; fronts/front-pool.ts). */
  fronts: FrontPool | undefined;
  /** What the agent stream limits refused. */
  readonly agentLimits: AgentLimitStats = { connectsRefused: 0, streamsEnded: 0 };
  /** TLS material, identities and roles (auth/); the HTTP API when http.listen is set. */
  readonly auth: CoordinatorAuth;
  /** The operator API as callers reach it: authorised (and, with etcd, forwarded to the leader). */
  readonly control: ControlApi;
  http: HttpApi | undefined;
  /** Writes /metrics on the HTTP API; undefined until metrics are wired in. */
  metricsWriter: MetricsWriter | undefined;
  /** Prometheus metrics (metrics/); `render()` gives the /metrics body. */
  readonly metrics: CoordinatorMetrics;
  /** POSTs every event to the configured webhooks. */
  readonly webhooks: WebhookDispatcher;
  private readonly server: Server;
  private readonly health = new HealthImplementation({ '': 'NOT_SERVING', 'lbha.v1.ControlService': 'NOT_SERVING', 'lbha.v1.AgentService': 'NOT_SERVING' });
  private sweeps: AfterIoInterval | undefined;
  /** Agents whose liveness is read from their connections (connection-liveness.ts). */
  private readonly liveness: ConnectionLiveness;
  /** The domain facade (spec, modes, reconcile loop and fleet view, operations); set by start(). */
  plane: ControlPlane | undefined;
  private store: Store | undefined;
  /** Checks specs in a worker thread, for every plane this server runs. */
  private readonly specValidator = new SpecValidator();
  /** Bound addresses, in the order of config.grpc.listen (ports resolved). */
  readonly addresses: string[] = [];
  /** Leader election, relaying and fencing when the store is etcd (etcd/); undefined for the file store. */
  readonly coordination: EtcdCoordination | undefined;

  constructor(
    private readonly config: CoordinatorConfig,
    private readonly logger: Logger,
    private readonly options: CoordinatorServerOptions = {},
  ) {
    this.registry = new Registry(config.heartbeat.staleAfter);
    const deadAfterMs = options.deadConnectionMs ?? deadConnectionMs(config.heartbeat.staleAfter);
    this.liveness = new ConnectionLiveness(deadAfterMs);
    // Configs built in code (tests) may leave limits out.
    this.limits = config.limits ?? DEFAULT_LIMITS;
    this.grpcConnections = new ConnectionLimiter(this.limits.connections, this.limits.connectionsPerAddress);
    this.httpConnections = new ConnectionLimiter(this.limits.connections, this.limits.connectionsPerAddress);
    this.outbox = new AgentOutbox((node) => this.registry.get(node)?.session);
    // Configs built in code (tests) may leave history out.
    this.events = new EventLog({ logger, ...(config.history ? { retain: config.history.events, capacity: Math.min(10_000, config.history.events) } : {}) });
    this.audit = new AuditLog({ logger, ...(config.history ? { retain: config.history.audit } : {}) });
    this.auth = new CoordinatorAuth({ tls: config.tls, auth: config.auth ?? { tokens: [], anonymous: 'none' }, events: this.events, audit: this.audit, logger, limits: this.limits });
    this.registry.subscribe((e) => this.recordRegistryEvent(e));
    // Configs built in code (tests) may leave webhooks out.
    this.webhooks = new WebhookDispatcher({ webhooks: config.webhooks ?? [], logger, coordinatorId: config.id });
    this.metrics = new CoordinatorMetrics({
      registry: this.registry,
      outbox: this.outbox,
      events: this.events,
      modeOf: (n) => this.plane?.modeOf(n) ?? 'active',
      ...planeViews(() => this.plane),
      webhooks: () => this.webhooks.stats(),
      guards: () => this.guardStats(),
    });
    this.coordination =
      config.store?.kind === 'etcd'
        ? new EtcdCoordination({
            config: config.store,
            selfId: config.id,
            logger,
            registry: this.registry,
            record: (e) => this.events.record(e),
            peerTls: config.tls,
            relayStreamsPerChannel: this.limits.streamsPerConnection,
            storeObserver: this.metrics.store.observer('etcd'),
          })
        : undefined;
    this.metricsWriter = (sink) => this.metrics.stream(sink, () => this.coordination?.metricsText() ?? '');
    this.server = new Server({
      'grpc.max_receive_message_length': config.grpc.maxMessageBytes,
      'grpc.max_concurrent_streams': this.limits.streamsPerConnection,
      // The server's PINGs find a peer that died without its TCP connection closing. An agent's
      // own connection needs none: it carries the agent's PING every heartbeat interval, and the
      // liveness sweep closes it once it reads nothing (connection-liveness.ts). What is left
      // (other coordinators relaying streams, API clients) is a handful of connections, found
      // within 65 s; at 10 s, the PINGs to 10,000 agents were 1,000 a second, each a TLS record
      // each way and two timers in grpc-js (docs/benchmarks.md, "What a PING costs").
      'grpc.keepalive_time_ms': 60_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 5_000,
      // grpc-js's channelz (per-connection registry entries, call trackers, traces) is read by
      // nothing here and costs memory and work on every agent connection.
      'grpc.enable_channelz': 0,
    });
    // With TLS only a coordinator's certificate vouches for other agents' liveness; without TLS
    // nothing is authenticated, and a report names sessions by their random ids.
    // Calls that came in over the fronts' unix socket (only this coordinator's fronts reach it).
    const fromFront = new WeakSet<object>();
    const mayReport = (call: { metadata: Metadata; getAuthContext?(): { sslPeerCertificate?: { raw?: Buffer } } | null }) => isInsecure(config.tls) || fromFront.has(call) || fromCoordinator(call);
    const agentService = createAgentService({
      registry: this.registry,
      logger,
      coordinatorId: config.id,
      heartbeatIntervalMs: config.heartbeat.interval,
      staleAfterMs: config.heartbeat.staleAfter,
      pingIntervalMs: pingIntervalMs(config.heartbeat),
      // Judged on the stream's own TLS connection when it came straight from its agent; a
      // relayed stream carries its agent's certificate in its metadata (forwarded-identity.ts).
      authorize: options.authorizeAgent ?? this.auth.agentAuthorizerOn((call) => (this.isForwarded(call) ? undefined : this.grpcListener?.secureConnectionOf(call.getPeer()))),
      specClusterOf: (node) => this.plane?.clusterOfNode(node),
      plaintext: isInsecure(config.tls),
      connectsPerMinute: this.limits.agentConnectsPerMinute,
      messagesPerSecond: this.limits.agentMessagesPerSecond,
      liveness: this.liveness,
      // A stream another coordinator relays shares that coordinator's connection with other
      // agents' streams: its bytes say nothing of this agent. Its liveness comes from that
      // coordinator's reports when it offers them, else from the agent's heartbeats.
      // (The promise to report was dropped on the way in from anyone who may not report.)
      livenessOf: (call) => {
        if (!this.isForwarded(call)) return this.grpcListener?.connectionOf(call.getPeer());
        return call.metadata.get(RELAY_LIVENESS).length > 0 ? 'relayed' : undefined;
      },
      mayReportLiveness: mayReport,
    }, this.agentLimits);
    const relayLiveness = { connectionOf: (call: { metadata: Metadata; getPeer(): string }) => this.agentConnection(call), livenessIntervalMs: config.heartbeat.interval, deadConnectionMs: deadAfterMs };
    // Checked on the stream's own credentials, before a relayed stream is taken as its agent's;
    // only when the promise is there: the check parses the peer's certificate, which would
    // otherwise be paid again by every agent's stream (a Hello already parses it once).
    const guard = (call: { metadata: Metadata; getAuthContext?(): { sslPeerCertificate?: { raw?: Buffer } } | null }) => {
      if (call.metadata.get(RELAY_LIVENESS).length > 0 && !mayReport(call)) call.metadata.remove(RELAY_LIVENESS);
    };
    const guarded: AgentServiceServer = {
      ...agentService,
      connect: (call) => {
        guard(call);
        agentService.connect(call);
      },
    };
    // With several coordinators, Connect's messages come as bytes: a follower relays them as they are.
    const served = this.coordination?.wrapAgentService(agentService, relayLiveness);
    if (served) {
      this.server.addService(served.definition, {
        ...served.service,
        connect: (call: AgentBytesCall) => {
          guard(call);
          served.service.connect(call);
        },
      });
    } else this.server.addService(AgentServiceService, guarded);
    const fronts = config.grpc.fronts ?? 0;
    if (fronts > 0) {
      this.fronts = new FrontPool({
        count: fronts,
        stateDir: config.stateDir,
        id: config.id,
        tls: config.tls,
        limits: this.limits,
        maxMessageBytes: config.grpc.maxMessageBytes,
        // As often as this coordinator sweeps its own connections: a PING reaches it at most
        // half an interval late, where a follower's report may take a whole one.
        livenessIntervalMs: Math.max(50, Math.min(1000, config.heartbeat.interval / 2)),
        deadConnectionMs: deadAfterMs,
        logLevel: config.log?.level ?? 'info',
        logger,
        // The agents' handshakes are the fronts': /metrics counts them with this process's own.
        onHandshakes: (more) => this.metrics.handshakes.add(more),
        // A front's stream carries its agent's certificate, verified by the front's handshake
        // and judged here again (authorize); its liveness comes from the front's reports.
        serve: (server) => this.serveFronts(server, {
          connect: (call) => {
            fromFront.add(call);
            adoptForwardedCaller(call, true);
            // The agent's own address, as the front saw it (logs, the node's record, and with
            // plaintext, who may take over a live session), instead of the unix socket's "unknown".
            const peer = call.metadata.get(FORWARDED_FOR)[0];
            if (typeof peer === 'string' && peer !== '') (call as { getPeer: () => string }).getPeer = () => peer;
            guarded.connect(call);
          },
          reportRelayedLiveness: (call, callback) => {
            fromFront.add(call);
            agentService.reportRelayedLiveness(call, callback);
          },
        }),
      });
    }
    const handlers = controlHandlers({
      registry: this.registry,
      outbox: this.outbox,
      events: this.events,
      modeOf: (n) => this.plane?.modeOf(n) ?? 'active',
      plane: () => this.plane,
      audit: this.audit,
      watchLimits: this.watchLimits,
      ...(options.watchStallMs === undefined ? {} : { watchStallMs: options.watchStallMs }),
    });
    // With several coordinators, a follower forwards API calls (gRPC and HTTP) to the leader once
    // it has authorised them, naming the caller; the leader takes that name from coordinators only.
    this.control = this.auth.wrapControl(this.coordination?.wrapControl(handlers) ?? handlers);
    const grpcFacing = this.coordination ? this.coordination.acceptForwarded(this.control) : this.control;
    this.server.addService(ControlServiceService, grpcControlService(grpcFacing, logger));
    this.health.addToServer(this.server);
    new ReflectionService(this.protos()).addToServer(this.server);
  }

  private protos(): ReturnType<typeof loadSync> {
    return loadSync(['lbha/v1/agent.proto', 'lbha/v1/control.proto'], { includeDirs: [protoDir()] });
  }

  /** What the fronts reach over their unix socket: the agents' streams and the operator's calls they pass on. */
  private serveFronts(server: Server, agents: AgentServiceServer): void {
    server.addService(AgentServiceService, agents);
    server.addService(ControlServiceService, grpcControlService(acceptFromFronts(this.control), this.logger));
    this.health.addToServer(server);
    new ReflectionService(this.protos()).addToServer(server);
  }

  /** Whether another coordinator passed the call on (whoever it claims to be: its own connection is not the agent's). */
  private isForwarded(call: object): boolean {
    return (call as { metadata?: Metadata }).metadata?.get(FORWARDED_BY).length !== 0;
  }

  /** The accepted TCP socket of an agent stream that came straight from its agent (connection-liveness.ts). */
  private agentConnection(call: { metadata: Metadata; getPeer(): string }): Socket | undefined {
    return this.isForwarded(call) ? undefined : this.grpcListener?.connectionOf(call.getPeer());
  }

  private recordRegistryEvent(e: RegistryEvent): void {
    const cluster = this.registry.get(e.node)?.cluster ?? '';
    switch (e.type) {
      case 'connected':
        this.events.record({ type: 'agent.connected', cluster, node: e.node, message: `agent of ${e.node} connected${e.replaced ? ' (replacing its previous stream)' : ''}` });
        break;
      case 'disconnected':
        this.events.record({ type: 'agent.disconnected', cluster, node: e.node, severity: 'warning', message: `agent of ${e.node} disconnected`, reason: e.reason });
        break;
      case 'stale':
        this.events.record({ type: 'agent.stale', cluster, node: e.node, severity: 'warning', message: `nothing from ${e.node}'s agent (no heartbeat, no bytes on its connection) for ${e.silentMs}ms` });
        this.logger.warn({ event: 'agent.stale', node: e.node, silentMs: e.silentMs }, 'agent went silent past its heartbeat deadline');
        break;
      case 'fresh':
        this.events.record({ type: 'agent.fresh', cluster, node: e.node, message: `${e.node}'s agent is heard from again` });
        break;
      case 'ack':
        if (!e.accepted) {
          this.events.record({ type: 'desired_state.nacked', cluster, node: e.node, severity: 'critical', message: `${e.node} refused desired state v${e.version}`, reason: e.error });
        }
        break;
      default:
        break;
    }
  }

  /** What the limits counted, for /metrics. */
  guardStats(): GuardStats {
    const auth = this.auth.throttle.stats();
    const handshakes = this.grpcListener?.handshakeStats();
    const events = this.events.stats();
    const audit = this.audit.stats();
    // With fronts, the gRPC port's connections and handshakes are theirs (summed; fronts.md says why).
    const fronts = this.fronts?.stats();
    const grpc = this.grpcConnections.stats();
    const fc = fronts?.connections;
    const fh = fronts?.handshakes;
    return {
      connections: {
        grpc: { open: grpc.open + (fc?.open ?? 0), refused: { total: grpc.refused.total + (fc?.refused.total ?? 0), perAddress: grpc.refused.perAddress + (fc?.refused.perAddress ?? 0) } },
        http: this.httpConnections.stats(),
      },
      grpcHandshakes: {
        running: (handshakes?.inFlight ?? 0) + (fh?.inFlight ?? 0),
        queued: (handshakes?.queued ?? 0) + (fh?.queued ?? 0),
        started: (handshakes?.started ?? 0) + (fh?.started ?? 0),
        slotsTimedOut: (handshakes?.slotsTimedOut ?? 0) + (fh?.slotsTimedOut ?? 0),
      },
      authFailures: auth.failures,
      authThrottled: auth.throttled,
      authThrottledAddresses: auth.blockedAddresses,
      rateLimited: this.auth.rateLimitedCalls,
      eventWatchers: this.watchLimits.watchers,
      watchersDisconnected: { ...this.watchLimits.disconnected },
      agentConnectsRefused: this.agentLimits.connectsRefused,
      agentStreamsEnded: this.agentLimits.streamsEnded,
      history: { events: { pending: events.pending, dropped: events.dropped }, audit: { pending: audit.pending, dropped: audit.dropped } },
    };
  }

  private forgetGoneNodes(): void {
    const plane = this.plane;
    if (!plane) {
      // Following another coordinator, this one keeps no record of the nodes whose streams it
      // no longer serves (the leader reports them): a former leader kept every node's series in
      // its /metrics, hundreds of KB of stale figures.
      if (this.coordination?.followsAnother()) {
        for (const r of Array.from(this.registry.records())) if (r.link === 'disconnected') this.registry.forget(r.name);
      }
      return;
    }
    const records = Array.from(this.registry.records(), (r) => ({ name: r.name, connected: r.link !== 'disconnected', lastSeenMs: r.lastSeenMs }));
    for (const name of nodesToForget(records, (n) => plane.clusterOfNode(n) !== undefined, Date.now(), this.options.nodeRetention ?? DEFAULT_RETENTION)) {
      if (this.registry.forget(name)) this.logger.info({ event: 'node.forgotten', node: name }, 'dropped the record of a gone node the spec does not name');
    }
  }

  /** Opens the store and loads the coordinator's state; done before any agent can connect. */
  private async startPlane(store?: Store): Promise<void> {
    this.store = store ?? (this.options.openStore ? await this.options.openStore() : await FileStore.open(join(this.config.stateDir, 'state.json'), { logger: this.logger, observer: this.metrics.store.observer('file') }));
    // Events and audit continue the store's sequences (this coordinator now writes them).
    await this.events.attach(this.store);
    await this.audit.attach(this.store);
    await this.webhooks.start(this.events, this.store);
    let initialSpec: { yaml: string; source: string } | undefined;
    if (this.config.spec) initialSpec = { yaml: await readFile(this.config.spec, 'utf8'), source: this.config.spec };
    this.plane = await ControlPlane.start({
      store: this.store,
      registry: this.registry,
      outbox: this.outbox,
      events: this.events,
      logger: this.logger,
      validator: this.specValidator,
      checkedSpecPath: join(this.config.stateDir, CHECKED_SPEC_FILE),
      // Configurations built in code (tests) may leave the section out.
      ...(this.config.drill ? { drill: drillSettings(this.config.drill) } : {}),
      ...(initialSpec ? { initialSpec } : {}),
      ...(this.options.settleMs === undefined ? {} : { settleMs: this.options.settleMs }),
    });
  }

  async start(): Promise<void> {
    // With etcd the plane runs only while this coordinator leads (started by the election below).
    if (!this.coordination) await this.startPlane();
    if (isInsecure(this.config.tls)) {
      this.logger.warn({ event: 'tls.plaintext' }, 'TLS is off (tls.insecure: true): agent streams and the API are not authenticated');
    }
    this.grpcListener = new GrpcListener(this.server, { tls: this.auth.serverTls(), limiter: this.grpcConnections, handshakes: this.limits.tlsHandshakes, observer: this.metrics.handshakes.observer() });
    // With fronts, they hold the TCP addresses; unix sockets stay the coordinator's own.
    const viaFronts = this.fronts ? this.config.grpc.listen.filter((a) => !a.startsWith('unix:')) : [];
    const fronted = viaFronts.length > 0 && this.fronts ? await this.fronts.start(viaFronts) : [];
    for (const addr of this.config.grpc.listen) {
      const i = viaFronts.indexOf(addr);
      if (i >= 0) {
        this.addresses.push(fronted[i] as string);
        continue;
      }
      if (await removeStaleUnixSocket(addr)) {
        this.logger.warn({ event: 'grpc.stale_socket_removed', address: addr }, 'removed a unix socket left by a previous coordinator');
      }
      this.addresses.push(await this.grpcListener.listen(addr));
    }
    let sweeps = 0;
    // Silence is judged after reading what arrived (after-io-interval.ts).
    this.sweeps = afterIoInterval(() => {
      this.liveness.sweep(
        Date.now(),
        (node, session) => this.registry.touch(node, session),
        (node) => this.logger.warn({ event: 'agent.connection_dead', node }, 'closed an agent connection that read nothing for too long'),
      );
      this.registry.sweep();
      // Every tenth sweep, drop the records of gone nodes the spec does not name.
      if (++sweeps % 10 === 0) this.forgetGoneNodes();
    }, Math.max(50, Math.min(1000, this.config.heartbeat.interval / 2)));
    for (const svc of ['', 'lbha.v1.ControlService', 'lbha.v1.AgentService']) this.health.setStatus(svc, 'SERVING');
    this.auth.start();
    if (this.config.http) {
      this.http = new HttpApi({
        listen: this.config.http.listen,
        api: this.control,
        auth: this.auth,
        logger: this.logger,
        maxBodyBytes: this.config.grpc.maxMessageBytes,
        metrics: () => this.metricsWriter,
        healthy: () => this.sweeps !== undefined,
        connections: this.httpConnections,
      });
      await this.http.start();
    }
    this.coordination?.start(this.advertised(), { start: (store) => this.startPlane(store), stop: () => this.stopPlane(), resume: () => this.plane?.resync() });
    this.logger.info({ event: 'coordinator.started', id: this.config.id, addresses: this.addresses }, 'coordinator listening');
  }

  /** How other coordinators reach this one (etcd store): advertised or first bound addresses. */
  private advertised(): { id: string; grpc: string; http: string } {
    const adv = this.config.store?.kind === 'etcd' ? this.config.store.advertise : {};
    return { id: this.config.id, grpc: adv.grpc ?? this.addresses.find((a) => !a.startsWith('unix:')) ?? '', http: adv.http ?? this.http?.address ?? '' };
  }

  private async stopPlane(): Promise<void> {
    const plane = this.plane;
    this.plane = undefined;
    await plane?.stop();
    await this.webhooks.stop();
    await this.audit.detach();
    await this.events.detach();
    await this.store?.close();
    this.store = undefined;
  }

  /** Stops accepting calls and ends every stream; waits up to `graceMs` for calls to finish. */
  async stop(graceMs = 2000): Promise<void> {
    const t0 = performance.now();
    // Resign first, so another coordinator takes over while this one shuts down.
    await this.coordination?.resign();
    const resignMs = performance.now() - t0;
    // Then hand the agents over at once: no new streams, and every stream served or relayed
    // here ends, so its agent reconnects to another coordinator while this one stops its
    // duties (which waits for a pass and for writes in flight: seconds under load).
    this.grpcListener?.close();
    for (const n of this.registry.list()) n.session?.close('coordinator shutting down');
    this.coordination?.closeRelays();
    const frontsStopped = this.fronts?.stop();
    const t1 = performance.now();
    await this.coordination?.stop();
    const dutiesMs = performance.now() - t1;
    await this.http?.stop();
    await frontsStopped;
    this.auth.stop();
    this.sweeps?.stop();
    for (const svc of ['', 'lbha.v1.ControlService', 'lbha.v1.AgentService']) this.health.setStatus(svc, 'NOT_SERVING');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      // Agent streams never finish on their own, so end them now; unary calls get the grace period.
      for (const n of this.registry.list()) n.session?.close('coordinator shutting down');
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    // Operations in flight stay recorded as running and resume at the next start.
    await this.plane?.stop();
    // Events of the shutdown itself (interrupted operations) still get a moment to go out.
    await this.events.flush().catch(() => undefined);
    await this.webhooks.drainAndStop(1000);
    await this.audit.detach();
    await this.events.detach();
    await this.store?.close();
    await this.specValidator.close();
    this.metrics.close();
    const ms = (x: number) => Math.round(x);
    this.logger.info({ event: 'coordinator.stopped', resignMs: ms(resignMs), dutiesMs: ms(dutiesMs), totalMs: ms(performance.now() - t0) }, 'coordinator stopped');
  }
}
