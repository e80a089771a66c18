// Adapts the control plane's fleet view (spec, placement, VIP status, backend pools) to the views the metrics pull.
import type { ControlPlane } from '../control-plane.js';
import type { VipStatus } from '../vip-observation.js';
import type { VipCondition } from './metric-definitions.js';
import type { MetricsSources, SpecNodeView, VipPlacementView } from './metrics-sources.js';

const CONDITION: Readonly<Record<VipStatus, VipCondition>> = {
  ok: 'in_place',
  divergent: 'diverged',
  split_brain: 'split_brain',
  orphan: 'orphaned',
  unknown: 'unknown',
  foreign: 'foreign',
  healing: 'healing',
};

/** Placement and spec views of a control plane that may not be started yet. */
export function planeViews(plane: () => ControlPlane | undefined): Pick<MetricsSources, 'placementView' | 'specNodes' | 'backendPools'> {
  return {
    backendPools: () => plane()?.backendPools() ?? [],
    placementView: (): VipPlacementView[] =>
      (plane()?.view.vips() ?? []).map((v) => ({ cluster: v.cluster, vip: v.name, desired: v.desiredHolder, status: CONDITION[v.status] })),
    specNodes: (): SpecNodeView[] => {
      const out: SpecNodeView[] = [];
      for (const c of plane()?.currentSpec().spec.clusters ?? []) for (const n of c.nodes) out.push({ cluster: c.name, node: n.name });
      return out;
    },
  };
}
