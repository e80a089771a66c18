export { CoordinatorMetrics, METRICS_CONTENT_TYPE } from './coordinator-metrics.js';
export { operationOutcome } from './operation-outcome.js';
export { HandshakeTimings } from './handshake-timings.js';
export { StoreTimings, type StoreKind } from './store-timings.js';
export {
  METRICS,
  FAILOVER_REASONS,
  FAILOVER_BUCKETS_SECONDS,
  VIP_CONDITIONS,
  PROCESS_METRICS_PREFIX,
  sampleNames,
  type FailoverReason,
  type MetricDefinition,
  type MetricId,
  type MetricType,
  type VipCondition,
} from './metric-definitions.js';
export { FailoverTracker, type Failover, type InstanceObservation, type LossExplanation, type VrrpTransition } from './failover-tracker.js';
export type { MetricsSources, VipPlacementView, WebhookStats } from './metrics-sources.js';
