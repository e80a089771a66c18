// The validated cluster spec: what the operator declared, with every default filled in.
// Produced only by parseSpec (spec-schema.ts), so later code never tests for undefined.
import type { CheckSpec, DesiredPoolServer, ReadinessProbe } from '@lbha/shared';

export type ProxyService = 'nginx' | 'haproxy';

/**
 * When a VIP goes back to its home node after the home node recovers.
 * immediate: as soon as the home node is healthy and active again.
 * hold_down: once the home node has been healthy for `holdDownMs` (damps a flapping node).
 * never: the VIP stays where it is; an operator moves it (drain/undrain) when convenient.
 */
export type Failback =
  | { readonly kind: 'immediate' }
  | { readonly kind: 'hold_down'; readonly holdDownMs: number }
  | { readonly kind: 'never' };

export type VrrpTransport = 'multicast' | 'unicast';

/** default: 100 ms adverts. fast: 20 ms adverts and keepalived scheduled in real time. */
export type TimingProfile = 'default' | 'fast';

export interface ClusterPolicy {
  readonly failback: Failback;
  readonly advertIntervalMs: number;
  readonly timing: TimingProfile;
  readonly vrrpVersion: 2 | 3;
  readonly transport: VrrpTransport;
  readonly mcastGroup: string;
  /** VRRPv2 PASS authentication; empty when off. */
  readonly authPass: string;
  /** keepalived priority before placement weights and penalties. */
  readonly basePriority: number;
  /** Connection handover window of a planned VIP move (docs/design/handover.md); 0: off. */
  readonly handoverMs: number;
  /** Routers that are not nodes advertising the cluster's VRIDs: reported, or also blocked and outbid. */
  readonly foreignRouters: 'report' | 'block';
}

export interface InterfaceSpec {
  readonly name: string;
  /** "192.168.20.19/24", or null for an interface that carries no address of interest. */
  readonly address: string | null;
}

export interface NodeSpec {
  readonly name: string;
  /** Interface addresses plus any extra addresses declared under `addresses`. */
  readonly addresses: readonly string[];
  readonly interfaces: readonly InterfaceSpec[];
}

export interface VipSpec {
  readonly name: string;
  /** The address alone, e.g. "192.168.20.28". */
  readonly address: string;
  readonly prefix: number;
  /** Address with prefix as keepalived takes it, e.g. "192.168.20.28/24". */
  readonly cidr: string;
  readonly interface: string;
  readonly vrid: number;
  /** Preferred node, or null when the VIP may live anywhere. */
  readonly home: string | null;
  /** VIPs of one group always share a holder; empty string when ungrouped. */
  readonly group: string;
  readonly trackInterfaces: readonly string[];
  /** PASS authentication of this VIP's instance when it differs from policy.authPass; null: the cluster's. */
  readonly authPass: string | null;
  /** How a node that does not hold the VIP proves it would serve it; null: not probed. */
  readonly readiness: ReadinessProbe | null;
}

/** A pool of backend servers: for nginx, the servers lbha renders into its upstream's include. */
export interface PoolSpec {
  readonly name: string;
  /** The fewest servers that must stay healthy (the cluster's min_healthy unless set). */
  readonly minHealthy: number;
  /** The spec says the upstream block has a `zone` (nginx's workers share the servers' state). */
  readonly sharedZone: boolean;
  /** nginx only (haproxy's come from haproxy.cfg). */
  readonly servers: readonly DesiredPoolServer[];
}

export interface BackendsSpec {
  /** For pools the spec does not list. 0 turns the interlock off. */
  readonly minHealthy: number;
  readonly reportIntervalMs: number;
  readonly pools: readonly PoolSpec[];
  /** Directives whose lines may differ between the LB nodes. */
  readonly driftIgnore: readonly string[];
  /** Other files that must be the same on every LB node. */
  readonly driftFiles: readonly string[];
}

/** What a cluster without a `backends` section gets. */
export const DEFAULT_BACKENDS: BackendsSpec = Object.freeze({ minHealthy: 1, reportIntervalMs: 5_000, pools: [], driftIgnore: [], driftFiles: [] });

export interface ClusterSpec {
  readonly name: string;
  readonly service: ProxyService;
  readonly policy: ClusterPolicy;
  readonly nodes: readonly NodeSpec[];
  readonly vips: readonly VipSpec[];
  readonly checks: readonly CheckSpec[];
  readonly trackInterfaces: readonly string[];
  readonly backends: BackendsSpec;
}

export interface Spec {
  readonly clusters: readonly ClusterSpec[];
}

export const EMPTY_SPEC: Spec = Object.freeze({ clusters: Object.freeze([]) as readonly ClusterSpec[] });

/** Stable key of a VIP across clusters. */
export function vipKey(cluster: string, vip: string): string {
  return `${cluster}/${vip}`;
}
