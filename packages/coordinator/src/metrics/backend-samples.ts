// The backend pool samples of /metrics: each server's state, sessions, health and weight on
// every LB node that reports it, whether the nodes disagree, each pool's healthy count and
// minimum, and whether the cluster's LB nodes run the same proxy configuration.
import { BACKEND_ADMINS } from '@lbha/shared';
import type { BackendPoolView } from '../backends/backend-pool-view.js';
import type { DriftView } from '../backends/config-drift.js';
import { Family, pair } from './exposition-writer.js';
import { METRICS } from './metric-definitions.js';

export function backendSamples(pools: Iterable<{ readonly pool: BackendPoolView; readonly drift: DriftView }>): string {
  const d = METRICS;
  const state = new Family(d.backendServerState);
  const sessions = new Family(d.backendServerSessions);
  const up = new Family(d.backendServerUp);
  const weight = new Family(d.backendServerWeight);
  const disagreement = new Family(d.backendServerDisagreement);
  const healthy = new Family(d.backendPoolHealthyServers);
  const minHealthy = new Family(d.backendPoolMinHealthyServers);
  const drift = new Family(d.backendConfigDrift);
  const differs = new Family(d.backendConfigDiffers);
  for (const { pool, drift: dv } of pools) {
    for (const s of pool.servers) {
      const labels = `${pair('cluster', s.cluster)},${pair('pool', s.pool)},${pair('server', s.server)}`;
      disagreement.add(labels, s.disagreement ? 1 : 0);
      for (const n of s.nodes) {
        if (!n.live || !n.reported) continue;
        const nl = `${labels},${pair('node', n.node)}`;
        for (const a of BACKEND_ADMINS) state.add(`${nl},state="${a}"`, n.admin === a ? 1 : 0);
        sessions.add(nl, n.sessions);
        weight.add(nl, n.weight);
        if (n.health !== 'unknown') up.add(nl, n.health === 'up' ? 1 : 0);
      }
    }
    for (const p of pool.pools) {
      const pl = `${pair('cluster', p.cluster)},${pair('pool', p.pool)}`;
      healthy.add(pl, p.healthy);
      minHealthy.add(pl, p.minHealthy);
    }
    drift.add(pair('cluster', dv.cluster), dv.drift ? 1 : 0);
    for (const n of dv.nodes) if (n.error === '') differs.add(`${pair('cluster', dv.cluster)},${pair('node', n.node)}`, n.differs ? 1 : 0);
  }
  return [state, sessions, up, weight, disagreement, healthy, minHealthy, drift, differs].map((f) => f.text()).join('');
}
