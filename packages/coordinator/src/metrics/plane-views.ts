// Adapts the control plane's fleet view (spec, placement, VIP status, backend pools) to the views the metrics pull.
import type { ControlPlane } from '../control-plane.js';
import type { VipStatus } from '../vip-observation.js';
import type { VipCondition } from './metric-definitions.js';
import type { CheckEverywhereView, MetricsSources, SpecNodeView, StandbyReadinessView, VipPlacementView } from './metrics-sources.js';

const CONDITION: Readonly<Record<VipStatus, VipCondition>> = {
  ok: 'in_place',
  divergent: 'diverged',
  split_brain: 'split_brain',
  orphan: 'orphaned',
  unknown: 'unknown',
  foreign: 'foreign',
  healing: 'healing',
};

/**
 * Placement and spec views of a control plane that may not be started yet. VIPs and spec nodes
 * are read lazily: /metrics pauses between slices of them, so at 10,000 VIPs no single step
 * builds them all (and no VIP's full view is built at all).
 */
export function planeViews(plane: () => ControlPlane | undefined): Pick<MetricsSources, 'placementView' | 'specNodes' | 'backendPools' | 'checksEverywhere' | 'standbyReadiness' | 'drills'> {
  return {
    backendPools: () => plane()?.backendPools() ?? [],
    drills: () => plane()?.drillRecords() ?? [],
    placementView: function* (): Generator<VipPlacementView, void, undefined> {
      const view = plane()?.view;
      if (!view) return;
      for (const v of view.vipStates()) yield { cluster: v.cluster, vip: v.vip, desired: v.desired, status: CONDITION[v.status] };
    },
    specNodes: function* (): Generator<SpecNodeView, void, undefined> {
      const view = plane()?.view;
      if (view) yield* view.specNodes();
    },
    checksEverywhere: (): CheckEverywhereView[] => {
      const p = plane();
      const out: CheckEverywhereView[] = [];
      for (const c of p?.currentSpec().spec.clusters ?? []) {
        const failing = p?.view.failingEverywhere(c.name) ?? [];
        for (const check of c.checks) if (check.effect === 'fault') out.push({ cluster: c.name, check: check.name, failing: failing.includes(check.name) });
      }
      return out;
    },
    standbyReadiness: function* (): Generator<StandbyReadinessView, void, undefined> {
      const view = plane()?.view;
      if (view) yield* view.standbyReadiness();
    },
  };
}
