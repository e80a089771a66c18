export { CoordinatorServer, type CoordinatorServerOptions } from './server.js';
export { COORDINATOR_NODE_FLAGS, COORDINATOR_OPENSSL_CONFIG, COORDINATOR_OPENSSL_FLAG } from './node-flags.js';
export { loadCoordinatorConfig, coordinatorConfigSchema, type CoordinatorConfig } from './coordinator-config.js';
export { Registry, type NodeRecord, type AgentSession, type RegistryEvent } from './registry.js';
export { AgentOutbox, type Pushed } from './agent-outbox.js';
export { EventLog, type EventInput, type EventFilter } from './event-log.js';
export { ApiError, toApiError, InvalidArgumentError, NotFoundError, PermissionError, PreconditionError, ResourceExhaustedError, type ApiErrorCode } from './errors.js';
export {
  AgentRelay,
  ControlForwarder,
  createEtcdClient,
  EtcdCoordination,
  EtcdStore,
  LeaderElection,
  LeaseKeeper,
  storeConfigSchema,
  StoreHealth,
  type EtcdStoreConfig,
  type Fence,
  type LeaderDuties,
  type LeaderInfo,
  type Leadership,
  type LeadershipEvent,
  type StoreConfig,
  type StoreStatus,
} from './etcd/index.js';
export { CONTROL_METHODS, decorate, type Caller, type ControlApi, type ControlDecorator, type ControlMethod, type ForwardedClaim, type StreamSink } from './control-api.js';
export { controlHandlers, type ControlHandlersOptions } from './control-handlers.js';
export { grpcControlService } from './grpc-control-service.js';
export { ControlPlane, type ControlPlaneOptions, type ApplySpecOptions, type ApplySpecResult, type SpecCheck } from './control-plane.js';
export { ReconcileLoop, type ReconcileLoopOptions } from './reconcile-loop.js';
export { desiredBackends } from './backends/desired-backends.js';
export { passCluster, type ClusterPassInput, type ClusterPassResult } from './cluster-pass.js';
export { EMPTY_MEMORY, restoredMemory, type ClusterMemory, type DesiredEntry } from './cluster-memory.js';
export { FleetView, type VipView, type VipNodeView } from './fleet-view.js';
export { type NodeObservation } from './node-observation.js';
export { OperationRunner, type OperationRequest } from './operations/operation-runner.js';
export { DEFAULT_TIMEOUT_MS } from './operations/operation-kinds.js';
export { CommandDispatcher } from './command-dispatcher.js';
export { hash32 } from './placement-layout.js';
export { place, classify, weightOf, UNKNOWN_NODE, type Placement, type PlacementInput, type ClusterPlacement, type VipPlacement, type NodeCondition, type NodeClass, type NodeHealth } from './placement.js';
export { placementWeight, HOLDER_WEIGHT, BACKUP_WEIGHT, MAX_BASE_PRIORITY } from './priority-scheme.js';
export { interlockProblems } from './interlock.js';
export { observeCluster, vipStatus, type VipObservation, type VipStatus, type NodeReport } from './vip-observation.js';
export { buildDesiredState, type DesiredContent } from './desired-state-builder.js';
export { parseSpec, parseSpecWith } from './spec/parse-spec.js';
export { specSchema } from './spec/spec-schema.js';
export { specProblems, type SpecProblem } from './spec/spec-rules.js';
export { specWarnings, locatedWarnings, type SpecWarning, type LocatedWarning } from './spec/spec-warnings.js';
export { checkSpec, SpecChecker, type SpecCheckRequest, type SpecCheckResult, type SpecParser } from './spec/spec-check.js';
export { diffSpecs } from './spec/diff-specs.js';
export { redactSpecYaml } from './spec/redact-spec.js';
export { SPEC_WORKER_HEAP_MB } from './spec/spec-validator.js';
export { vipKey, EMPTY_SPEC, type Spec, type ClusterSpec, type ClusterPolicy, type NodeSpec, type VipSpec, type InterfaceSpec, type Failback, type ProxyService, type VrrpTransport } from './spec/cluster-spec.js';
export { FileStore, type FileStoreOptions } from './store/file-store.js';
export { MemoryStore } from './store/memory-store.js';
export { put as storePut, del as storeDelete, type Store, type StoreEntry, type StoreCompare, type StoreOp, type TxnResult } from './store/store.js';
export {
  CoordinatorState,
  type SpecRecord,
  type ModeRecord,
  type OperationRecord,
  type OperationKind,
  type OperationState,
  type OperationStep,
  type JournalEntry,
} from './store/coordinator-state.js';
export { OperationFailedError, StoreError } from './errors.js';
export { CoordinatorMetrics, METRICS, sampleNames, type MetricsSources, type VipPlacementView, type WebhookStats } from './metrics/index.js';
export { WebhookDispatcher, webhooksSchema, type WebhookConfig, type WebhookPayload } from './webhooks/index.js';
export { STORE_METRICS } from './etcd/etcd-coordination.js';
export { createDevCa, type DevCa, type DevCaOptions } from './auth/dev-ca.js';
export { certificateIdentity } from './auth/peer-identity.js';
export { COORDINATOR_PROGRAM } from './coordinator-program.js';
export { COORDINATOR_RELOADABLE, reloadCoordinator } from './coordinator-reload.js';
