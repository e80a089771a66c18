// Whether a drill may start, and on which VIPs: checked before it starts, so a refused drill
// changes nothing. The plan itself is pure (drill-plan.ts); this reads the fleet view's latest
// pass and asks the move's own checks which standby could take each VIP.
import { nameProblem } from '@lbha/shared';
import { InvalidArgumentError, NotFoundError, PreconditionError } from '../errors.js';
import type { ClusterSpec } from '../spec/cluster-spec.js';
import { encodePlan, planDrill } from './drill-plan.js';
import { checkMove } from './move-check.js';
import type { OperationEnv } from './operation-env.js';

/** Why `node` could not take `vip` of `cluster` now, or undefined when it could. */
export function whyNotMove(view: OperationEnv['view'], cluster: string, vip: string, node: string): string | undefined {
  try {
    checkMove(view, vip, cluster, node);
    return undefined;
  } catch (err) {
    if (err instanceof PreconditionError || err instanceof NotFoundError) return err.message.replace(/^refused: /, '').replace(/; \S+ can only move to a healthy, active node$/, '');
    throw err;
  }
}

/**
 * The cluster and the plan of a drill of `cluster` (or of its VIP `vip` alone). Throws
 * InvalidArgumentError or NotFoundError for a bad name, PreconditionError with every reason
 * when a VIP cannot be drilled now (pinned, not settled, no standby that could take it).
 */
export function checkDrill(view: OperationEnv['view'], pins: OperationEnv['pins'], clusterName: string, vip: string): { cluster: ClusterSpec; plan: string } {
  const cp = nameProblem(clusterName);
  if (cp) throw new InvalidArgumentError('cluster', cp);
  if (vip !== '') {
    const vp = nameProblem(vip);
    if (vp) throw new InvalidArgumentError('vip', vp);
  }
  const cluster = view.currentSpec().clusters.find((c) => c.name === clusterName);
  if (!cluster) throw new NotFoundError(`cluster ${clusterName} is not in the cluster spec`);
  if (vip !== '' && !cluster.vips.some((v) => v.name === vip)) throw new NotFoundError(`VIP ${vip} is not in cluster ${clusterName}`);
  const vips = view
    .vips(clusterName)
    .filter((v) => vip === '' || v.name === vip)
    .map((v) => {
      const pin = pins.pinOf(clusterName, v.name);
      return pin ? { ...v, pin } : v;
    });
  const plan = planDrill(vips, (v, n) => whyNotMove(view, clusterName, v, n));
  if (plan.kind === 'refused') throw new PreconditionError(`refused: ${plan.reasons.join('; ')}`);
  return { cluster, plan: encodePlan(plan.legs) };
}
