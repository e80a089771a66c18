// Every metric the coordinator exports, in one place: name, type, help and label names.
// Names are prefixed lbha_ and carry their unit; labels are bounded (cluster, node, vip,
// service, check, state, reason, webhook, operation, severity; source: at most 8 foreign routers
// per VIP): never ids or free text.
//
// The agents' own endpoints use the lbha_agent_ prefix; nothing here does, so one Prometheus
// can scrape both without two meanings for one name.
//
// Over 400 lines: the one list of metric names, a few lines of help text each; split, the
// names one greps for would be scattered.

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricDefinition {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly labels: readonly string[];
  /** Upper bounds of the buckets (histograms only), in the metric's unit. */
  readonly buckets?: readonly number[];
}

/**
 * Why a VIP left its holder, as the failover counters and histogram label it.
 * health: a check of the old holder failed; fault: keepalived put the instance in FAULT (or
 * stopped) for another reason; node_lost: the old holder's agent went silent; drain: the old
 * holder was drained or put in maintenance; preempted: a better node took the VIP over
 * (failback or a placement change) while the old holder was fine.
 */
export type FailoverReason = 'health' | 'fault' | 'node_lost' | 'drain' | 'preempted';
export const FAILOVER_REASONS: readonly FailoverReason[] = ['health', 'fault', 'node_lost', 'drain', 'preempted'];

/**
 * How a VIP stands. in_place: held by exactly its desired holder (or by one node while no
 * placement is known); diverged: held by one other node; split_brain: held by several nodes;
 * orphaned: held by none while every node reports; unknown: too few nodes report to tell;
 * foreign: held by no node while a router that is not a node advertises its VRID; healing: held
 * by one node after a split brain, which has not yet confirmed announcing it after the other
 * holders let go (clients may still send to one of them).
 */
export type VipCondition = 'in_place' | 'diverged' | 'split_brain' | 'orphaned' | 'unknown' | 'foreign' | 'healing';
export const VIP_CONDITIONS: readonly VipCondition[] = ['in_place', 'diverged', 'split_brain', 'orphaned', 'unknown', 'foreign', 'healing'];

/** Failover targets are 250 ms (proxy death) and 1 s (node loss): buckets around both. */
export const FAILOVER_BUCKETS_SECONDS: readonly number[] = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const PUSH_BUCKETS_SECONDS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** A wal line's fsync takes about a millisecond on an idle disk; etcd's round trips a few. */
const STORE_WRITE_BUCKETS_SECONDS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** A snapshot of about 1 MB (10,000 agents) takes tens of milliseconds to write and fsync. */
const COMPACTION_BUCKETS_SECONDS: readonly number[] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * A TLS handshake takes milliseconds on an idle core and up to a few hundred during a reconnect
 * storm; 2 s is when it gives its slot back (HANDSHAKE_SLOT_MS), 20 s its timeout.
 */
const HANDSHAKE_BUCKETS_SECONDS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 20];

const NODE = ['cluster', 'node'] as const;

export const METRICS = {
  // Per node, read from the registry at scrape time.
  nodeConnected: {
    name: 'lbha_node_connected',
    type: 'gauge',
    help: '1 when the node agent has a live stream to this coordinator with fresh heartbeats, 0 otherwise (also for spec nodes never connected).',
    labels: NODE,
  },
  nodeHeartbeatAge: {
    name: 'lbha_node_heartbeat_age_seconds',
    type: 'gauge',
    help: 'Seconds since the last message from the node agent.',
    labels: NODE,
  },
  nodeHealthy: {
    name: 'lbha_node_healthy',
    type: 'gauge',
    help: '1 when the node agent reports the node healthy (every fault check passing), 0 otherwise.',
    labels: NODE,
  },
  nodeMode: {
    name: 'lbha_node_mode',
    type: 'gauge',
    help: 'Operating mode of the node (state: active, draining, drained, maintenance); 1 for the current mode.',
    labels: [...NODE, 'state'],
  },
  desiredStateNacked: {
    name: 'lbha_desired_state_nacked',
    type: 'gauge',
    help: '1 when the node agent refused the last desired state pushed to it.',
    labels: NODE,
  },
  serviceUp: {
    name: 'lbha_service_up',
    type: 'gauge',
    help: '1 when the supervised service (nginx, haproxy, keepalived) is running.',
    labels: [...NODE, 'service'],
  },
  serviceRestarts: {
    name: 'lbha_service_restarts_total',
    type: 'counter',
    help: 'Restarts of the service by its node agent since the agent started.',
    labels: [...NODE, 'service'],
  },
  proxyActiveConnections: {
    name: 'lbha_proxy_active_connections',
    type: 'gauge',
    help: 'Active client connections of the proxy (nginx stub_status, haproxy stats).',
    labels: [...NODE, 'service'],
  },
  checkStatus: {
    name: 'lbha_check_status',
    type: 'gauge',
    help: 'Result of the health check (state: healthy, unhealthy, unknown); 1 for the current result.',
    labels: [...NODE, 'check', 'state'],
  },
  checkDuration: {
    name: 'lbha_check_duration_seconds',
    type: 'gauge',
    help: 'Duration of the last run of the health check.',
    labels: [...NODE, 'check'],
  },
  vrrpState: {
    name: 'lbha_vrrp_state',
    type: 'gauge',
    help: 'VRRP state of the node for the VIP (state: master, backup, fault, init, stop, deleted, unknown); 1 for the current state.',
    labels: [...NODE, 'vip', 'state'],
  },
  vrrpPriority: {
    name: 'lbha_vrrp_priority',
    type: 'gauge',
    help: 'Effective VRRP priority of the node for the VIP (base priority, placement weight and check penalties).',
    labels: [...NODE, 'vip'],
  },
  vrrpForeignRouter: {
    name: 'lbha_vrrp_foreign_router',
    type: 'gauge',
    help: 'A router that is not a node of the cluster advertises the VIP\'s VRID, as the node sees it within the last minute (source: its address; at most 8 per VIP); the value is the priority it advertises.',
    labels: [...NODE, 'vip', 'source'],
  },

  // Per VIP, computed at scrape time from the agents' reports and the placement.
  vipHolders: {
    name: 'lbha_vip_holders',
    type: 'gauge',
    help: 'Connected nodes holding the VIP (VRRP master or address present): 0 is an orphan, more than 1 a split brain.',
    labels: ['cluster', 'vip'],
  },
  vipHolder: {
    name: 'lbha_vip_holder',
    type: 'gauge',
    help: 'Actual holder of the VIP: 1 for each connected node that holds it.',
    labels: ['cluster', 'vip', 'node'],
  },
  vipDesiredHolder: {
    name: 'lbha_vip_desired_holder',
    type: 'gauge',
    help: 'Desired holder of the VIP as placement computed it: 1 for that node.',
    labels: ['cluster', 'vip', 'node'],
  },
  vipStatus: {
    name: 'lbha_vip_status',
    type: 'gauge',
    help: 'How the VIP stands (state: in_place, diverged, split_brain, orphaned, unknown, foreign, healing); 1 for the current condition.',
    labels: ['cluster', 'vip', 'state'],
  },
  vips: {
    name: 'lbha_vips',
    type: 'gauge',
    help: 'VIPs of the cluster by condition (state: in_place, diverged, split_brain, orphaned, unknown, foreign, healing).',
    labels: ['cluster', 'state'],
  },

  // Per cluster and fault check, computed at scrape time from the latest reconcile pass.
  checkFailingEverywhere: {
    name: 'lbha_check_failing_everywhere',
    type: 'gauge',
    help: '1 while the fault check fails on every active node of the cluster (a shared cause, such as the backends: the VIPs stay on their nodes), 0 otherwise.',
    labels: ['cluster', 'check'],
  },

  // Per VIP and node, computed at scrape time from the agents' readiness reports.
  standbyReady: {
    name: 'lbha_standby_ready',
    type: 'gauge',
    help: 'Standby readiness: 1 while the node proves its proxy would serve the VIP (config on disk valid, a request for the VIP through it answered without a 5xx), 0 while it does not; absent for nodes that do not report it.',
    labels: ['cluster', 'vip', 'node'],
  },

  // Counted from the agents' state changes as they arrive.
  vrrpTransitions: {
    name: 'lbha_vrrp_transitions_total',
    type: 'counter',
    help: 'VRRP state changes reported by the agents, by the state entered.',
    labels: ['cluster', 'vip', 'state'],
  },
  vrrpUnplanned: {
    name: 'lbha_vrrp_unplanned_transitions_total',
    type: 'counter',
    help: 'VRRP transitions nobody asked for, as the agents report them, by cause (kind: check, link, fault, recovered, master_down, preempted, flap, other).',
    labels: ['cluster', 'vip', 'kind'],
  },
  vipFlaps: {
    name: 'lbha_vip_flaps_total',
    type: 'counter',
    help: 'Flaps of the VIP: a node took it because the master went quiet and gave it back within 10 s (however short: a 3 ms MASTER episode counts).',
    labels: ['cluster', 'vip'],
  },
  failovers: {
    name: 'lbha_failovers_total',
    type: 'counter',
    help: 'Moves of the VIP from one holder to another, by why the old holder lost it.',
    labels: ['cluster', 'vip', 'reason'],
  },
  failoverDuration: {
    name: 'lbha_failover_duration_seconds',
    type: 'histogram',
    help: 'From the old holder losing a VIP (its health going bad, leaving VRRP master, or its last message when lost) to the new holder reporting master; all clusters.',
    labels: ['reason'],
    buckets: FAILOVER_BUCKETS_SECONDS,
  },
  vipLastFailoverDuration: {
    name: 'lbha_vip_last_failover_duration_seconds',
    type: 'gauge',
    help: 'Duration of the latest failover of the VIP (measured as lbha_failover_duration_seconds), labelled with its reason.',
    labels: ['cluster', 'vip', 'reason'],
  },
  vipLastFailoverTime: {
    name: 'lbha_vip_last_failover_timestamp_seconds',
    type: 'gauge',
    help: 'Unix time the coordinator recognised the latest failover of the VIP.',
    labels: ['cluster', 'vip'],
  },
  desiredStateNacks: {
    name: 'lbha_desired_state_nacks_total',
    type: 'counter',
    help: 'Desired states refused (NACKed) by the node agent.',
    labels: NODE,
  },
  handoverFailures: {
    name: 'lbha_handover_failures_total',
    type: 'counter',
    help: 'Connection handovers the node agent could not start (no nft, no CAP_NET_ADMIN, ARP settings): planned moves of its VIPs then reset the open connections.',
    labels: NODE,
  },

  // The backend pool, read from the control plane at scrape time (backend-samples.ts).
  backendServerState: {
    name: 'lbha_backend_server_state',
    type: 'gauge',
    help: 'Admin state of a backend server as the LB node\'s proxy runs it (state: ready, drain, maint); 1 for the current state.',
    labels: ['cluster', 'pool', 'server', 'node', 'state'],
  },
  backendServerSessions: {
    name: 'lbha_backend_server_sessions',
    type: 'gauge',
    help: 'Current sessions (haproxy) or open connections (nginx, from the socket table) from the LB node to the backend server.',
    labels: ['cluster', 'pool', 'server', 'node'],
  },
  backendServerUp: {
    name: 'lbha_backend_server_up',
    type: 'gauge',
    help: '1 when the LB node\'s proxy checks the backend server up, 0 when down; absent when the proxy does not check it (nginx).',
    labels: ['cluster', 'pool', 'server', 'node'],
  },
  backendServerWeight: {
    name: 'lbha_backend_server_weight',
    type: 'gauge',
    help: 'Weight of the backend server as the LB node\'s proxy runs it.',
    labels: ['cluster', 'pool', 'server', 'node'],
  },
  backendServerDisagreement: {
    name: 'lbha_backend_server_disagreement',
    type: 'gauge',
    help: '1 when the LB nodes run the backend server differently from each other or from what is wanted, 0 otherwise.',
    labels: ['cluster', 'pool', 'server'],
  },
  backendPoolHealthyServers: {
    name: 'lbha_backend_pool_healthy_servers',
    type: 'gauge',
    help: 'Servers of the pool wanted ready and running ready, weighted and not down on every LB node.',
    labels: ['cluster', 'pool'],
  },
  backendPoolMinHealthyServers: {
    name: 'lbha_backend_pool_min_healthy_servers',
    type: 'gauge',
    help: 'The fewest healthy servers an operation may leave in the pool (backends.min_healthy).',
    labels: ['cluster', 'pool'],
  },
  backendConfigDrift: {
    name: 'lbha_backend_config_drift',
    type: 'gauge',
    help: '1 when the LB nodes of the cluster run different proxy configurations (or spec-listed files) where the spec does not let them differ.',
    labels: ['cluster'],
  },
  backendConfigDiffers: {
    name: 'lbha_backend_config_differs',
    type: 'gauge',
    help: '1 for an LB node whose proxy configuration differs from the one most of its cluster\'s nodes run, 0 otherwise.',
    labels: NODE,
  },

  // Drills, read from the control plane at scrape time (drill-samples.ts).
  drillLastSuccess: {
    name: 'lbha_drill_last_success_timestamp_seconds',
    type: 'gauge',
    help: 'When a drill of the cluster last passed (every VIP moved to its standby and back with no failed probe); absent until one has.',
    labels: ['cluster'],
  },
  drillLastPassed: {
    name: 'lbha_drill_last_passed',
    type: 'gauge',
    help: '1 when the cluster\'s latest drill passed, 0 when it failed.',
    labels: ['cluster'],
  },
  drillProbes: {
    name: 'lbha_drill_probes',
    type: 'gauge',
    help: 'Probes sent to the VIP during its latest drill (both moves).',
    labels: ['cluster', 'vip'],
  },
  drillFailedProbes: {
    name: 'lbha_drill_failed_probes',
    type: 'gauge',
    help: 'Probes of the VIP that failed during its latest drill (both moves).',
    labels: ['cluster', 'vip'],
  },
  drillLongestGap: {
    name: 'lbha_drill_longest_gap_seconds',
    type: 'gauge',
    help: 'Longest time without a successful probe of the VIP during either move of its latest drill.',
    labels: ['cluster', 'vip'],
  },

  // Fixed cardinality, kept by prom-client.
  desiredStatePushDuration: {
    name: 'lbha_desired_state_push_duration_seconds',
    type: 'histogram',
    help: 'From pushing a desired state to an agent to its ACK or NACK.',
    labels: [],
    buckets: PUSH_BUCKETS_SECONDS,
  },
  commandResults: {
    name: 'lbha_node_command_results_total',
    type: 'counter',
    help: 'Final results of commands run by node agents (state: succeeded, failed, rejected).',
    labels: ['cluster', 'state'],
  },
  operations: {
    name: 'lbha_operations_total',
    type: 'counter',
    help: 'Finished operations (operation: drain, undrain, restart, reload, rolling_restart, move, drill, backend_drain, backend_undrain, backend_disable, backend_enable, backend_weight) by outcome (state).',
    labels: ['cluster', 'operation', 'state'],
  },
  events: {
    name: 'lbha_events_total',
    type: 'counter',
    help: 'Events written to the event log, by severity.',
    labels: ['severity'],
  },
  webhookDeliveries: {
    name: 'lbha_webhook_deliveries_total',
    type: 'counter',
    help: 'Webhook deliveries by outcome (state: delivered, failed after retries, dropped from a full queue, retried).',
    labels: ['webhook', 'state'],
  },
  webhookQueued: {
    name: 'lbha_webhook_queued_events',
    type: 'gauge',
    help: 'Events waiting to be delivered to the webhook.',
    labels: ['webhook'],
  },
  metricsRenderDuration: {
    name: 'lbha_metrics_render_duration_seconds',
    type: 'gauge',
    help: 'Work of the previous /metrics render, in seconds (the pauses between its slices, while the event loop runs, left out).',
    labels: [],
  },
  // ---- the limits that keep one caller from starving the others (docs/design/auth.md)
  apiConnections: {
    name: 'lbha_api_connections',
    type: 'gauge',
    help: 'Open connections to the gRPC (agents and API) and HTTP listeners.',
    labels: ['api'],
  },
  apiConnectionsRefused: {
    name: 'lbha_api_connections_refused_total',
    type: 'counter',
    help: 'Connections closed at once for going over limits.connections (reason="total") or limits.connectionsPerAddress (reason="per_address").',
    labels: ['api', 'reason'],
  },
  grpcHandshakes: {
    name: 'lbha_grpc_tls_handshakes',
    type: 'gauge',
    help: 'TLS handshakes on the gRPC port running (state="running", at most limits.tlsHandshakes) and connections waiting for one (state="queued").',
    labels: ['state'],
  },
  grpcHandshakeSlotsTimedOut: {
    name: 'lbha_grpc_tls_handshake_slots_timed_out_total',
    type: 'counter',
    help: 'TLS handshakes on the gRPC port that held their slot too long (a client that sends nothing, or answers slowly) and went on outside limits.tlsHandshakes so that the next could start.',
    labels: [],
  },
  grpcHandshakesStarted: {
    name: 'lbha_grpc_tls_handshakes_started_total',
    type: 'counter',
    help: 'TLS handshakes started on the gRPC port (a connection that closed while it waited for a slot starts none).',
    labels: [],
  },
  grpcHandshakesCompleted: {
    name: 'lbha_grpc_tls_handshakes_completed_total',
    type: 'counter',
    help: 'TLS handshakes on the gRPC port that completed. After a coordinator restart about one per agent that came back: more are connections opened and not used.',
    labels: [],
  },
  grpcHandshakesFailed: {
    name: 'lbha_grpc_tls_handshakes_failed_total',
    type: 'counter',
    help: 'TLS handshakes on the gRPC port that failed: not finished within 20 s (reason="timeout"), a certificate refused by the client\'s alert, e.g. an unknown CA (reason="certificate"), anything else TLS refused, e.g. not TLS or no common protocol (reason="protocol"), or the connection closed first (reason="closed"). A client certificate the coordinator does not trust fails no handshake: lbha_auth_failures_total counts the calls refused.',
    labels: ['reason'],
  },
  grpcHandshakeDuration: {
    name: 'lbha_grpc_tls_handshake_duration_seconds',
    type: 'histogram',
    help: 'Time a completed TLS handshake on the gRPC port took from its start (its wait for a slot left out: lbha_grpc_tls_handshakes{state="queued"} shows the wait).',
    labels: [],
    buckets: HANDSHAKE_BUCKETS_SECONDS,
  },
  authFailures: {
    name: 'lbha_auth_failures_total',
    type: 'counter',
    help: 'Failed authentications (unknown token, no credentials, untrusted certificate), by API.',
    labels: ['api'],
  },
  authThrottled: {
    name: 'lbha_auth_throttled_total',
    type: 'counter',
    help: 'Token attempts refused without a look because their address failed too often (limits.failedAuthPerMinute).',
    labels: [],
  },
  authThrottledAddresses: {
    name: 'lbha_auth_throttled_addresses',
    type: 'gauge',
    help: 'Client addresses whose token attempts are refused right now.',
    labels: [],
  },
  apiRateLimited: {
    name: 'lbha_api_rate_limited_total',
    type: 'counter',
    help: 'API calls refused for going over limits.requestsPerSecond of their caller.',
    labels: [],
  },
  eventWatchers: {
    name: 'lbha_event_watchers',
    type: 'gauge',
    help: 'Open event watchers (WatchEvents and the HTTP event stream).',
    labels: [],
  },
  eventWatchersDisconnected: {
    name: 'lbha_event_watchers_disconnected_total',
    type: 'counter',
    help: 'Event watchers disconnected for reading nothing for a minute (reason="too_slow") or for asking for events no longer kept (reason="behind").',
    labels: ['reason'],
  },
  agentLimitRefusals: {
    name: 'lbha_agent_limit_refusals_total',
    type: 'counter',
    help: 'Agent streams refused for reconnecting too often (reason="reconnects") or ended for sending too many messages (reason="messages").',
    labels: ['reason'],
  },
  historyPending: {
    name: 'lbha_history_pending_records',
    type: 'gauge',
    help: 'Events and audit records not yet written to the store.',
    labels: ['log'],
  },
  historyDropped: {
    name: 'lbha_history_dropped_records_total',
    type: 'counter',
    help: 'Events and audit records dropped because the store could not take them in time.',
    labels: ['log'],
  },
  // ---- the store's writes (docs/design/file-store.md)
  storeWriteDuration: {
    name: 'lbha_store_write_duration_seconds',
    type: 'histogram',
    help: 'Time a store transaction took to become durable once its turn came (store="file": its wal line appended and fsynced; store="etcd": the transaction\'s round trips, retries included).',
    labels: ['store'],
    buckets: STORE_WRITE_BUCKETS_SECONDS,
  },
  storeCompactionDuration: {
    name: 'lbha_store_compaction_duration_seconds',
    type: 'histogram',
    help: 'Time a compaction of the file store took: the snapshot serialized, written, fsynced and renamed, and the wal segments it holds deleted.',
    labels: [],
    buckets: COMPACTION_BUCKETS_SECONDS,
  },
  storeCompactionFailures: {
    name: 'lbha_store_compaction_failures_total',
    type: 'counter',
    help: 'Compactions of the file store that failed (the wal keeps every write; the next try waits 1 s, doubling up to a minute).',
    labels: [],
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricId = keyof typeof METRICS;

/** Prefix of the coordinator's process metrics (CPU, memory, event loop lag), from prom-client. */
export const PROCESS_METRICS_PREFIX = 'lbha_coordinator_';

/**
 * Every sample name the catalog can produce (histograms as _bucket, _sum and _count), for
 * checking dashboards and alert rules against it. Process metrics are not listed: they start
 * with PROCESS_METRICS_PREFIX.
 */
export function sampleNames(): Set<string> {
  const out = new Set<string>();
  for (const def of Object.values(METRICS) as MetricDefinition[]) {
    if (def.type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(def.name + s);
    else out.add(def.name);
  }
  return out;
}
