// What the metrics read at scrape time. Components expose small views; the metrics module pulls
// from them when Prometheus scrapes, so no component has to push values as they change.
import type { LbhaEvent, NodeMode } from '@lbha/shared';
import type { AgentOutbox } from '../agent-outbox.js';
import type { BackendPoolView } from '../backends/backend-pool-view.js';
import type { DriftView } from '../backends/config-drift.js';
import type { Registry, RegistryEvent } from '../registry.js';
import type { DrillRecord } from '../store/coordinator-state.js';
import type { GuardStats } from './guard-samples.js';
import type { VipCondition } from './metric-definitions.js';

/** Where placement wants one VIP. */
export interface VipPlacementView {
  readonly cluster: string;
  /** The VIP's name (the keepalived instance name the agents report). */
  readonly vip: string;
  /** Node that should hold the VIP; '' when no node is eligible. */
  readonly desired: string;
  /** The reconciler's verdict; when absent it is derived from the holders the agents report. */
  readonly status?: VipCondition;
}

/** A fault check of a cluster's spec, and whether it fails on every active node. */
export interface CheckEverywhereView {
  readonly cluster: string;
  readonly check: string;
  readonly failing: boolean;
}

/** One live node's standby readiness for one VIP. */
export interface StandbyReadinessView {
  readonly cluster: string;
  readonly vip: string;
  readonly node: string;
  readonly ready: boolean;
}

/** A node the cluster spec declares. */
export interface SpecNodeView {
  readonly cluster: string;
  readonly node: string;
}

/** Delivery counts of one configured webhook. */
export interface WebhookStats {
  readonly name: string;
  readonly queued: number;
  readonly delivered: number;
  readonly failed: number;
  readonly dropped: number;
  readonly retried: number;
}

export interface MetricsSources {
  /** Node records and their agents' last reports; its events drive the counters. */
  readonly registry: Pick<Registry, 'records' | 'get'> & { subscribe(listener: (e: RegistryEvent) => void): () => void };
  /** Desired states sent: with the registry's ACKs, the push latency. */
  readonly outbox?: Pick<AgentOutbox, 'onPushed'>;
  /** Event log: counts events and finished operations. */
  readonly events?: { subscribe(listener: (e: LbhaEvent) => void): () => void };
  /** The coordinator-owned mode of a node; default: every node active. */
  readonly modeOf?: (node: string) => NodeMode;
  /** Desired holder per VIP (the reconciler's latest placement); default: none known. */
  readonly placementView?: () => Iterable<VipPlacementView>;
  /** Nodes of the cluster spec: those whose agent never connected are exported as disconnected. */
  readonly specNodes?: () => Iterable<SpecNodeView>;
  /** Every cluster's backend pool and whether its LB nodes run the same configuration. */
  readonly backendPools?: () => Iterable<{ readonly pool: BackendPoolView; readonly drift: DriftView }>;
  /** The latest drill of each cluster that has had one. */
  readonly drills?: () => Iterable<{ readonly cluster: string; readonly drill: DrillRecord }>;
  /** Fault checks of each cluster and whether they fail on every active node. */
  readonly checksEverywhere?: () => Iterable<CheckEverywhereView>;
  /** Each live node's standby readiness per VIP. */
  readonly standbyReadiness?: () => Iterable<StandbyReadinessView>;
  /** Configured webhooks and their delivery counts. */
  readonly webhooks?: () => Iterable<WebhookStats>;
  /** What the limits counted (connections, authentication, rates, watchers, history); none when left out. */
  readonly guards?: () => GuardStats;
  readonly clock?: () => number;
  /** Export the coordinator's own process metrics (CPU, memory, event loop); default true. */
  readonly processMetrics?: boolean;
}
