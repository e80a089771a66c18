// Whether a VIP may be moved to a node, and why not: checked before a move starts, so a refused
// move changes nothing. Pure over the fleet view's latest pass.
import { cidrContains, nameProblem, parseCidr } from '@lbha/shared';
import { InvalidArgumentError, NotFoundError, PreconditionError } from '../errors.js';
import { classify, UNKNOWN_NODE } from '../placement.js';
import type { ClusterSpec, VipSpec } from '../spec/cluster-spec.js';
import type { OperationEnv } from './operation-env.js';

export interface MoveTarget {
  readonly cluster: ClusterSpec;
  readonly vip: VipSpec;
}

/** The VIP named `vip` (in `cluster` when given; VIP names are unique only per cluster). */
export function findVip(spec: { readonly clusters: readonly ClusterSpec[] }, vip: string, cluster: string): MoveTarget {
  const p = nameProblem(vip);
  if (p) throw new InvalidArgumentError('vip', p);
  if (cluster !== '') {
    const cp = nameProblem(cluster);
    if (cp) throw new InvalidArgumentError('cluster', cp);
  }
  const found = spec.clusters.flatMap((c) => (cluster !== '' && c.name !== cluster ? [] : c.vips.filter((v) => v.name === vip).map((v) => ({ cluster: c, vip: v }))));
  if (found.length === 0) throw new NotFoundError(`VIP ${vip} is not in the cluster spec${cluster ? ` (cluster ${cluster})` : ''}`);
  if (found.length > 1) throw new InvalidArgumentError('cluster', `VIP ${vip} is in clusters ${found.map((f) => f.cluster.name).join(', ')}; say which`);
  return found[0] as MoveTarget;
}

/** The subnet of `node` on the VIP's interface that holds the VIP address, or why there is none. */
function segmentProblem(cluster: ClusterSpec, vip: VipSpec, node: string): string | undefined {
  const n = cluster.nodes.find((x) => x.name === node);
  const iface = n?.interfaces.find((i) => i.name === vip.interface);
  if (!iface) return `${node} has no interface ${vip.interface}, the interface of ${vip.name}`;
  const cidr = iface.address === null ? undefined : parseCidr(iface.address);
  if (cidr === undefined || typeof cidr === 'string' || !cidrContains(cidr, vip.address)) {
    return `${node}'s ${vip.interface} (${iface.address ?? 'no address'}) is not on the segment of ${vip.name} (${vip.address})`;
  }
  return undefined;
}

/**
 * Resolves a move request and refuses it, with the reason, when the node is not in the VIP's
 * cluster, not on its segment, or could not hold it now (not healthy, not active, or with a
 * failing penalty check while another node has none).
 */
export function checkMove(view: OperationEnv['view'], vip: string, cluster: string, node: string): MoveTarget {
  const target = findVip(view.currentSpec(), vip, cluster);
  const np = nameProblem(node);
  if (np) throw new InvalidArgumentError('node', np);
  const c = target.cluster;
  if (!c.nodes.some((n) => n.name === node)) throw new NotFoundError(`node ${node} is not in cluster ${c.name}, the cluster of ${vip}`);
  const seg = segmentProblem(c, target.vip, node);
  if (seg) throw new PreconditionError(`refused: ${seg}`);
  const cond = view.interlockInput().nodes.get(node) ?? UNKNOWN_NODE;
  const cls = classify(cond);
  const why: Record<typeof cls, string | undefined> = {
    preferred: undefined,
    degraded: view.placement().clusters.get(c.name)?.classes.get(node) === 'degraded' && [...(view.placement().clusters.get(c.name)?.classes.values() ?? [])].includes('preferred') ? `${node} has a failing penalty check (e.g. its maintenance file) while other nodes have none` : undefined,
    unknown: `${node}'s agent is not connected, so its health is unknown`,
    standby: `${node} is ${cond.mode}`,
    unreachable: `${node} is ${cond.mode} and its agent is not connected`,
    unhealthy: `${node} is unhealthy`,
  };
  const problem = why[cls];
  if (problem) throw new PreconditionError(`refused: ${problem}; ${vip} can only move to a healthy, active node`);
  const unready = view.vips(c.name).find((v) => v.name === target.vip.name)?.perNode.find((p) => p.node === node)?.readiness;
  if (unready && unready.result.kind !== 'healthy') throw new PreconditionError(`refused: ${node} would not serve ${target.vip.name} (standby readiness): ${unready.result.reason}`);
  return target;
}
