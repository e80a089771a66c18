// Rules of a cluster's `backends` section that relate its fields to each other and to the
// cluster's service. Problems name the field by its YAML path.
import { serverAddressKey } from '@lbha/shared';
import type { ClusterSpec } from './cluster-spec.js';
import type { SpecProblem } from './spec-rules.js';

export function backendProblems(c: ClusterSpec, ci: number, out: SpecProblem[]): void {
  const at = (...p: Array<string | number>) => ['clusters', ci, 'backends', ...p];
  const seenPools = new Set<string>();
  c.backends.pools.forEach((p, pi) => {
    if (seenPools.has(p.name)) out.push({ path: at('pools', pi, 'name'), message: `pool ${p.name} is declared twice in cluster ${c.name}` });
    seenPools.add(p.name);
    if (c.service === 'haproxy' && p.servers.length > 0) {
      out.push({ path: at('pools', pi, 'servers'), message: `haproxy's servers come from haproxy.cfg: list pool ${p.name} here only to set its min_healthy` });
    }
    if (c.service === 'nginx' && p.servers.length === 0) {
      out.push({ path: at('pools', pi, 'servers'), message: `nginx pool ${p.name} needs its servers: lbha writes them into the upstream's managed include` });
    }
    const names = new Set<string>();
    const addresses = new Set<string>();
    p.servers.forEach((s, si) => {
      if (names.has(s.name)) out.push({ path: at('pools', pi, 'servers', si, 'name'), message: `server ${s.name} is declared twice in pool ${p.name}` });
      const key = serverAddressKey(s.address);
      if (addresses.has(key)) out.push({ path: at('pools', pi, 'servers', si, 'address'), message: `address ${s.address} is declared twice in pool ${p.name}` });
      names.add(s.name);
      addresses.add(key);
    });
  });
}
