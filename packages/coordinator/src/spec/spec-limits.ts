// How big a cluster spec may be. Every check of a spec does work in proportion to its size, and
// ValidateSpec is open to read-only callers, so the size is bounded: these limits are far above
// any real fleet (the coordinator targets 10,000 agents) and far below what would take the spec
// worker more than a few seconds. Validation itself is linear (about 30 µs of CPU per VIP) and
// would carry 50,000 VIPs; the YAML parser would not: its transient memory for a 7 MB spec
// exceeds the worker's 512 MB heap (docs/benchmarks.md, "Placement and validation").
export const SPEC_LIMITS = {
  /** Bytes of YAML (the text, before parsing). */
  bytes: 4 * 1024 * 1024,
  clusters: 5_000,
  nodesPerCluster: 1_000,
  vipsPerCluster: 1_000,
  nodes: 20_000,
  vips: 20_000,
  interfacesPerNode: 32,
  addressesPerNode: 32,
  checksPerCluster: 64,
  trackInterfaces: 32,
  poolsPerCluster: 64,
  serversPerPool: 256,
  /** Ignored directives and drift files, each. */
  driftEntries: 64,
} as const;

/** The zod message for an array over its limit. */
export function tooMany(what: string, max: number): string {
  return `at most ${max.toLocaleString('en-US')} ${what}`;
}
