// Re-exports of the generated protobuf code that the rest of the code base may use:
// service definitions, clients and message types for adapters. Domain code uses domain.ts.
export {
  AgentServiceClient,
  AgentServiceService,
  type AgentServiceServer,
  ConnectRequest,
  ConnectResponse,
} from '../generated/lbha/v1/agent.js';
export * as pbBackends from '../generated/lbha/v1/backends.js';
export * as pbAgent from '../generated/lbha/v1/agent.js';
export * as pbControl from '../generated/lbha/v1/control.js';
export * as pbTypes from '../generated/lbha/v1/types.js';
export { ControlServiceClient, ControlServiceService, type ControlServiceServer } from '../generated/lbha/v1/control.js';
