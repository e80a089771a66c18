export { StreamClient, type StreamClientOptions, type StreamClientState } from './stream-client.js';
export { loadAgentConfig, agentConfigSchema, type AgentConfig } from './agent-config.js';
export { NullCore } from './null-core.js';
export type { AgentStateSource, CoordinatorHandler, DesiredStateOutcome } from './ports.js';
export { AGENT_VERSION } from './version.js';
