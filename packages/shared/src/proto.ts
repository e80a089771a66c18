// Re-exports of the generated protobuf code that the rest of the code base may use:
// service definitions, clients and message types for adapters. Domain code uses domain.ts. The
// operator API's code is in control-proto.ts (`@lbha/shared/control`), which the agent never loads.
export {
  AgentServiceClient,
  AgentServiceService,
  type AgentServiceServer,
  ConnectRequest,
  ConnectResponse,
} from '../generated/lbha/v1/agent.js';
export * as pbBackends from '../generated/lbha/v1/backends.js';
export * as pbAgent from '../generated/lbha/v1/agent.js';
export * as pbTypes from '../generated/lbha/v1/types.js';
