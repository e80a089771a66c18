// The drill samples of /metrics: per cluster when a drill last passed and whether the latest
// did; per VIP of the latest drill its probes, failed probes and longest gap (both moves).
import type { DrillRecord } from '../store/coordinator-state.js';
import { Family, pair } from './exposition-writer.js';
import { METRICS } from './metric-definitions.js';

export function drillSamples(drills: Iterable<{ readonly cluster: string; readonly drill: DrillRecord }>): string {
  const d = METRICS;
  const lastSuccess = new Family(d.drillLastSuccess);
  const lastPassed = new Family(d.drillLastPassed);
  const probes = new Family(d.drillProbes);
  const failed = new Family(d.drillFailedProbes);
  const gap = new Family(d.drillLongestGap);
  for (const { cluster, drill } of drills) {
    const cl = pair('cluster', cluster);
    if (drill.lastPassedMs > 0) lastSuccess.add(cl, drill.lastPassedMs / 1000);
    lastPassed.add(cl, drill.passed ? 1 : 0);
    for (const r of drill.results) {
      const vl = `${cl},${pair('vip', r.vip)}`;
      probes.add(vl, r.to.sent + r.back.sent);
      failed.add(vl, r.to.failed + r.back.failed);
      gap.add(vl, Math.max(r.to.longestGapMs, r.back.longestGapMs) / 1000);
    }
  }
  return [lastSuccess, lastPassed, probes, failed, gap].map((f) => f.text()).join('');
}
