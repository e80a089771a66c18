// What the agents of a cluster are told of its backend pool: the pools lbha renders (nginx),
// what is wanted of each server lbha ever changed, how often to report, and what may differ.
// Pure: the same for every node of the cluster.
import type { DesiredBackends, ServerIntent } from '@lbha/shared';
import type { ClusterSpec } from '../spec/cluster-spec.js';
import type { BackendIntents } from '../store/coordinator-state.js';

export function desiredBackends(cluster: ClusterSpec, intents: BackendIntents | undefined): DesiredBackends {
  const b = cluster.backends;
  const list: ServerIntent[] = Object.values(intents ?? {})
    .map((i): ServerIntent => ({ pool: i.pool, server: i.server, admin: i.admin, ...(i.weight === null ? {} : { weight: i.weight }) }))
    .sort((x, y) => (x.pool === y.pool ? (x.server < y.server ? -1 : 1) : x.pool < y.pool ? -1 : 1));
  return {
    pools: cluster.service === 'nginx' ? b.pools.map((p) => ({ name: p.name, servers: p.servers })) : [],
    intents: list,
    reportIntervalMs: b.reportIntervalMs,
    driftIgnore: b.driftIgnore,
    driftFiles: b.driftFiles,
  };
}
