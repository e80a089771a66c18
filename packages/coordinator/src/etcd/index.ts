export { AgentRelay, forwardedMetadata, type AgentRelayOptions } from './agent-relay.js';
export { ControlForwarder, CONTROL_MUTATIONS, type ControlForwarderOptions } from './control-forwarder.js';
export { createEtcdClient } from './etcd-client.js';
export { EtcdCoordination, type EtcdCoordinationOptions, type LeaderDuties } from './etcd-coordination.js';
export { etcdStoreConfigSchema, fileStoreConfigSchema, storeConfigSchema, type EtcdStoreConfig, type StoreConfig } from './etcd-config.js';
export { EtcdStore, prefixEnd, type EtcdStoreOptions } from './etcd-store.js';
export { LeaderElection, type ElectionRole, type LeaderElectionOptions } from './leader-election.js';
export { type Fence, type LeaderInfo, type Leadership, type LeadershipEvent } from './leadership.js';
export { StoreHealth, type StoreHealthOptions, type StoreStatus } from './store-health.js';
