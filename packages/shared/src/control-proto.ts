// The operator API's generated protobuf code (control.proto), for the coordinator and the CLI:
// `@lbha/shared/control`. The package's index does not re-export it, so that the agent, which
// never talks to that API, does not load it (0.46 MB of its heap, docs/benchmarks.md).
export * as pbControl from '../generated/lbha/v1/control.js';
export { ControlServiceClient, ControlServiceService, type ControlServiceServer } from '../generated/lbha/v1/control.js';
