// The backend reports of a cluster's nodes as the pool view and the drift check read them: in
// spec order, with whether each node's agent is live (a silent agent's last report is history).
import { isLive, type BackendReport } from '@lbha/shared';
import type { ClusterSpec } from '../spec/cluster-spec.js';

export interface NodeReport {
  readonly node: string;
  readonly live: boolean;
  readonly report: BackendReport | undefined;
}

/** Reads each node of the cluster through `get` (the registry, or a pass's observations). */
export function nodeReports(cluster: ClusterSpec, get: (node: string) => { readonly link: Parameters<typeof isLive>[0]; readonly snapshot: { readonly backends?: BackendReport } | undefined } | undefined): NodeReport[] {
  return cluster.nodes.map((n) => {
    const r = get(n.name);
    const live = r !== undefined && isLive(r.link);
    return { node: n.name, live, report: live ? r?.snapshot?.backends : undefined };
  });
}
