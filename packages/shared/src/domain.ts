// Hand-written domain types. Wire (protobuf) types are converted to these in wire.ts only
// (backend-wire.ts for the backend pool's types, which live in backends.ts).
import type { BackendReport, DesiredBackends } from './backends.js';
import type { ReadinessProbe, ReadinessReport } from './readiness.js';

/**
 * Operating mode of a node, owned by the coordinator.
 * active -> draining (drain requested) -> drained (VIPs gone, connections at zero or deadline)
 * drained|draining -> active (undrain); any -> maintenance (operator) -> active (undrain).
 */
export type NodeMode = 'active' | 'draining' | 'drained' | 'maintenance';
export const NODE_MODES: readonly NodeMode[] = ['active', 'draining', 'drained', 'maintenance'];

/** VRRP state of a keepalived instance, as its notify FIFO reports it. */
export type VrrpState = 'init' | 'backup' | 'master' | 'fault' | 'stop' | 'deleted' | 'unknown';

/** Outcome of one health check run (or of a check after fall/rise). */
export type CheckResult =
  | { readonly kind: 'healthy' }
  | { readonly kind: 'unhealthy'; readonly reason: string }
  | { readonly kind: 'unknown'; readonly reason: string };

export const HEALTHY: CheckResult = Object.freeze({ kind: 'healthy' });
export function unhealthy(reason: string): CheckResult {
  return { kind: 'unhealthy', reason };
}
export function unknown(reason: string): CheckResult {
  return { kind: 'unknown', reason };
}

/**
 * Lifecycle of a supervised service.
 * stopped -> starting -> running -> (exit) -> starting (restart with backoff) | failed (gave up)
 */
export type ServiceState = 'running' | 'starting' | 'stopped' | 'failed' | 'unknown';
export type ServiceKind = 'nginx' | 'haproxy' | 'keepalived';
export const SERVICE_KINDS: readonly ServiceKind[] = ['nginx', 'haproxy', 'keepalived'];

export type CheckKind = 'process' | 'http' | 'tcp' | 'interface' | 'maintenance_file' | 'config';
export const CHECK_KINDS: readonly CheckKind[] = ['process', 'http', 'tcp', 'interface', 'maintenance_file', 'config'];

/** What a failing check does: FAULT every instance, lower priorities, or nothing. */
export type CheckEffect = 'fault' | 'penalty' | 'none';
export type FailbackPolicy = 'immediate' | 'hold_down' | 'never';

export type CheckParams =
  | { readonly kind: 'process'; readonly service: string }
  | {
      readonly kind: 'http';
      readonly url: string;
      readonly method: string;
      readonly host: string;
      readonly expectStatus: number;
      readonly bodyContains: string;
      readonly tlsVerify: boolean;
    }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'interface'; readonly interface: string }
  | { readonly kind: 'maintenance_file'; readonly path: string }
  | { readonly kind: 'config'; readonly service: string };

export interface CheckSpec {
  readonly name: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly fall: number;
  readonly rise: number;
  readonly effect: CheckEffect;
  readonly penalty: number;
  readonly params: CheckParams;
}

export interface CheckStatus {
  readonly name: string;
  readonly kind: CheckKind;
  readonly result: CheckResult;
  readonly effect: CheckEffect;
  readonly penalty: number;
  readonly sinceMs: number;
  readonly durationMs: number;
  readonly streak: number;
}

export interface ServiceStats {
  readonly activeConnections: number;
  readonly requestsTotal: number;
  readonly currentSessions: number;
  readonly serverStates: Readonly<Record<string, string>>;
}

export interface ServiceStatus {
  readonly name: string;
  readonly kind: ServiceKind;
  readonly state: ServiceState;
  readonly pid: number;
  readonly restarts: number;
  /** Why it last exited or failed to start (kept after the restart that followed). */
  readonly lastError: string;
  readonly stats: ServiceStats | undefined;
  readonly sinceMs: number;
  readonly supervisor: 'direct' | 'systemd';
}

/** One term of an instance's effective priority: base, placement, a failing check, the mode. */
export interface PriorityTerm {
  readonly source: string;
  readonly delta: number;
  readonly reason: string;
}

export interface InstanceStatus {
  readonly name: string;
  readonly vrid: number;
  readonly vip: string;
  readonly interface: string;
  readonly state: VrrpState;
  readonly basePriority: number;
  readonly effectivePriority: number;
  readonly vipPresent: boolean;
  readonly sinceMs: number;
  readonly priorityTerms: readonly PriorityTerm[];
  readonly faultedByHealth: boolean;
  /** The connection handover the node runs for this VIP. */
  readonly handover?: Handover;
  /** Why the node could not start the handover it was given. */
  readonly handoverError?: string;
  /**
   * Outgoing handover, the VIP off the interface: TCP connections the node still has open on
   * the VIP, which the new holder forwards to it. Unset while not counted.
   */
  readonly handoverConnections?: number;
  /** The last `announce` request (DesiredInstance.announce) the node carried out; 0 if none. */
  readonly announced?: number;
  /** Routers that are not nodes of the cluster advertising this VRID, seen within the last minute. */
  readonly foreignRouters?: readonly ForeignRouter[];
  /** The last few VRRP transitions of this instance nobody asked for, oldest first. */
  readonly unplanned?: readonly UnplannedTransition[];
}

/**
 * Why a VRRP transition nobody asked for happened, as far as the node can tell. check: a failing
 * fault check put the instance in FAULT; link: a tracked interface went down; fault: keepalived's
 * own FAULT; recovered: it left FAULT; master_down: it took the VIP because the master's adverts
 * stopped; preempted: it yielded to a higher priority; flap: a MASTER episode that began with
 * master_down ended within 10 s with the master back; other: anything else.
 */
export type UnplannedKind = 'check' | 'link' | 'fault' | 'recovered' | 'master_down' | 'preempted' | 'flap' | 'other';
export const UNPLANNED_KINDS: readonly UnplannedKind[] = ['check', 'link', 'fault', 'recovered', 'master_down', 'preempted', 'flap', 'other'];

export interface UnplannedTransition {
  /** Increases with every one the agent records (a restarted agent starts from its start time). */
  readonly seq: number;
  readonly from: VrrpState;
  readonly to: VrrpState;
  readonly kind: UnplannedKind;
  readonly cause: string;
  /** Agent clock. */
  readonly atMs: number;
  /** For a flap: how long the node was MASTER. */
  readonly masterMs?: number;
}

/** A VRRP speaker on a VIP's segment that is not a node of the cluster. */
export interface ForeignRouter {
  /** Source address of its adverts. */
  readonly source: string;
  readonly priority: number;
  /** When its last advert was seen (agent clock). */
  readonly lastSeenMs: number;
}

export interface NodeSnapshot {
  readonly services: readonly ServiceStatus[];
  readonly checks: readonly CheckStatus[];
  readonly instances: readonly InstanceStatus[];
  readonly healthy: boolean;
  readonly appliedVersion: number;
  readonly localMode: NodeMode;
  /** The proxy's backends and configuration digests; absent until the agent has read them. */
  readonly backends?: BackendReport;
  /** Standby readiness per VIP; absent from agents that probe none. */
  readonly readiness?: ReadinessReport;
}

export interface NodeDelta {
  readonly services: readonly ServiceStatus[];
  readonly checks: readonly CheckStatus[];
  readonly instances: readonly InstanceStatus[];
  readonly removedChecks: readonly string[];
  readonly removedInstances: readonly string[];
  readonly healthy?: boolean;
  readonly appliedVersion?: number;
  readonly localMode?: NodeMode;
  /** Replaces the whole backend report. */
  readonly backends?: BackendReport;
  /** Replaces the whole readiness report. */
  readonly readiness?: ReadinessReport;
}

export interface KeepalivedSettings {
  readonly advertIntMs: number;
  readonly unicast: boolean;
  readonly unicastSrc: string;
  readonly unicastPeers: readonly string[];
  readonly authPass: string;
  readonly vrrpVersion: 2 | 3;
  readonly mcastGroup: string;
  /** keepalived's VRRP process runs with real-time scheduling and locked memory (the fast timing profile). */
  readonly realtime?: boolean;
  /**
   * Every address of every node of the cluster: adverts for the cluster's VRIDs from other
   * sources come from routers that are not nodes. Absent (an older coordinator): not watched.
   */
  readonly clusterAddresses?: readonly string[];
  /** Drop those adverts and outbid their routers on the VIP's holder (policy foreign_routers: block). */
  readonly blockForeignRouters?: boolean;
}

export interface DesiredInstance {
  readonly name: string;
  readonly vrid: number;
  readonly interface: string;
  /** Address with prefix, e.g. "192.168.20.28/24". */
  readonly vip: string;
  readonly basePriority: number;
  readonly placementWeight: number;
  readonly rank: number;
  readonly trackInterfaces: readonly string[];
  readonly stepDown: boolean;
  readonly group: string;
  /** PASS authentication of this instance when it differs from keepalived.authPass ('' turns it off). */
  readonly authPass?: string;
  /** Set while a planned move of this VIP hands its open connections over. */
  readonly handover?: Handover;
  /**
   * The node that takes the VIP from this one (its address on the VIP's interface): new
   * connections go there the moment this node cannot serve them. Absent: no such node.
   */
  readonly failoverPeer?: string;
  /**
   * Announce the VIP (gratuitous ARP / unsolicited neighbour advertisement) once for each new
   * value, if this node holds it: after a split brain, clients may still send to the node that
   * let go. The coordinator's clock when it asked; absent: nothing asked.
   */
  readonly announce?: number;
  /** How this node proves it would serve the VIP without holding it; absent: not probed. */
  readonly readiness?: ReadinessProbe;
}

/**
 * incoming: this node takes the VIP and forwards TCP packets of flows it did not see start to
 * `peer`, the old holder. outgoing: this node gives the VIP up and keeps it as a local,
 * unannounced address to answer those packets.
 */
export type HandoverRole = 'incoming' | 'outgoing';

export interface Handover {
  readonly role: HandoverRole;
  /** The other node's address on the VIP's interface (of the VIP's family). */
  readonly peer: string;
  /** Unix milliseconds; both nodes end the handover then on their own. */
  readonly untilMs: number;
}

export interface DesiredState {
  readonly version: number;
  readonly cluster: string;
  readonly node: string;
  readonly mode: NodeMode;
  readonly keepalived: KeepalivedSettings;
  readonly instances: readonly DesiredInstance[];
  readonly checks: readonly CheckSpec[];
  readonly proxyService: string;
  /** The backend pool; absent from coordinators that know none (the agent then only reports). */
  readonly backends?: DesiredBackends;
  /**
   * Every other active node of the cluster is unhealthy: a fault check failing here too leaves
   * this node a candidate of last resort instead of FAULT (a failure every node shares must not
   * remove the VIPs).
   */
  readonly lastResort?: boolean;
  /**
   * The coordinator decides held faults (DesiredState.fault_verdicts): a fault check a shared
   * cause can fail on every node stays held until it says whose failure it is.
   */
  readonly faultVerdicts?: boolean;
  /** Fault checks failing since this time or before (the agent's clock) are this node's own failure. */
  readonly ownFailureSinceMs?: number;
}

export type CommandAction =
  | { readonly kind: 'drain'; readonly timeoutMs: number }
  | { readonly kind: 'undrain' }
  | { readonly kind: 'restart'; readonly service: string }
  | { readonly kind: 'reload'; readonly service: string }
  /** Runs the service's config test (`nginx -t`, `haproxy -c`): changes nothing. */
  | { readonly kind: 'validate'; readonly service: string };

export interface Command {
  readonly id: string;
  readonly deadlineMs: number;
  readonly action: CommandAction;
}

export type CommandState = 'accepted' | 'running' | 'succeeded' | 'failed' | 'rejected';

export interface CommandResult {
  readonly commandId: string;
  readonly state: CommandState;
  readonly message: string;
  readonly activeConnections: number;
  readonly finishedMs: number;
}

export interface AgentHello {
  readonly node: string;
  readonly cluster: string;
  readonly agentVersion: string;
  readonly bootId: string;
  readonly protocol: number;
  readonly appliedVersion: number;
  readonly recentResults: readonly CommandResult[];
  /** See AGENT_CAPABILITIES; missing: none. */
  readonly capabilities?: readonly string[];
}

/** The agent runs connection handovers (docs/design/handover.md). */
export const CAPABILITY_HANDOVER = 'handover';
/** The agent runs the `validate` command (a restart checks the config before anything moves). */
export const CAPABILITY_VALIDATE = 'validate';
/** What this agent build can do, sent in its Hello. */
export const AGENT_CAPABILITIES: readonly string[] = [CAPABILITY_HANDOVER, CAPABILITY_VALIDATE];

export interface LbhaEvent {
  readonly seq: number;
  readonly timeMs: number;
  readonly cluster: string;
  readonly node: string;
  readonly vip: string;
  /** Stable dotted code, e.g. "vip.moved". */
  readonly type: string;
  readonly message: string;
  readonly reason: string;
  readonly actor: string;
  readonly severity: 'info' | 'warning' | 'critical';
  readonly operationId: string;
}

export const PROTOCOL_VERSION = 1;
