export { CoordinatorServer, type CoordinatorServerOptions } from './server.js';
export { loadCoordinatorConfig, coordinatorConfigSchema, type CoordinatorConfig } from './coordinator-config.js';
export { Registry, type NodeRecord, type AgentSession, type RegistryEvent } from './registry.js';
export { EventLog, type EventInput, type EventFilter } from './event-log.js';
export { InvalidArgumentError, NotFoundError, PermissionError, PreconditionError } from './errors.js';
export {
  AgentRelay,
  ControlForwarder,
  createEtcdClient,
  EtcdCoordination,
  EtcdStore,
  LeaderElection,
  soleLeadership,
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
