// The lab's public surface, for the end-to-end tests, the demo and the benchmarks.
export { Lab, startLab, labUnavailableReason, type LabControl, type LabOptions, type ProbeOptions, type ProbeSession, type ProxyFaultOptions } from './lab.js';
export { TOPOLOGY_A, TOPOLOGY_B, topologyPlan, webNodeOfPage, type TopologyName, type TopologyPlan, type VipPlan, type ProxyKind } from './topology.js';
export { LB_NODES, WEB_NODES, NODE_ROLES, scratchNamespace, type LbNode, type WebNode, type NodeRole } from './lab-names.js';
export {
  parseProbeOutput,
  readProbeFile,
  summarizeProbe,
  describeSummary,
  percentile,
  type ProbeRecord,
  type ProbeSummary,
  type OutageWindow,
  type LatencySummary,
  type SummaryOptions,
} from './probe-records.js';
export { cleanupRuns, removeLeftoverNamespaces, removeRun, runLeftovers } from './cleanup.js';
export { LabCommandError, LabUsageError } from './errors.js';
export { LB_NODE_HEADER, LB_STATUS_PORT } from './daemon-configs.js';
export { clientFigures, describeFigures, type ClientFigures, type FigureOptions } from './client-figures.js';
export { neighbourEntry, linkMac, runWrk, parseWrk, type NeighbourEntry, type WrkOptions, type WrkResult } from './client-tools.js';
export type { LabProcess } from './lab-process.js';
