// Rules that relate fields of the spec to each other. Each problem names the field by its
// YAML path (snake_case, array indexes as in the document) so the parser can add the line.
import { MAX_PENALTY, subnetText, vipAddressProblem, vipSubnetProblem, type Cidr } from '@lbha/shared';
import { isIPv4 } from 'node:net';
import type { ClusterSpec, Spec, VipSpec } from './cluster-spec.js';
import { backendProblems } from './backend-rules.js';
import { InterfaceIndex, listNodes } from './interface-index.js';

export interface SpecProblem {
  readonly path: ReadonlyArray<string | number>;
  readonly message: string;
}

interface VipRef {
  readonly ci: number;
  readonly vi: number;
  readonly cluster: ClusterSpec;
  readonly vip: VipSpec;
  /** The L2 segment the VIP is announced on: its interface's subnet (or its own prefix). */
  readonly segment: Cidr;
}

/** One spelling per address, so equal IPv6 addresses written differently compare equal. */
function canonical(a: string): string {
  if (isIPv4(a)) return a;
  try {
    return new URL(`http://[${a}]/`).hostname;
  } catch {
    return a.toLowerCase();
  }
}

function isMulticastV4(a: string): boolean {
  if (!isIPv4(a)) return false;
  const first = Number(a.split('.')[0]);
  return first >= 224 && first <= 239;
}

function duplicates<T>(items: readonly T[], key: (t: T) => string, report: (t: T, index: number, firstIndex: number) => void): void {
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const k = key(item);
    const first = seen.get(k);
    if (first === undefined) seen.set(k, i);
    else report(item, i, first);
  });
}

function clusterProblems(c: ClusterSpec, ci: number, out: SpecProblem[], index: InterfaceIndex): void {
  const at = (...p: Array<string | number>) => ['clusters', ci, ...p];
  const nodeNames = new Set(c.nodes.map((n) => n.name));
  const nodeList = listNodes(c.nodes.slice(0, 5).map((n) => n.name), c.nodes.length);
  const pol = c.policy;

  // Policy.
  if (pol.vrrpVersion === 2 && pol.advertIntervalMs % 1000 !== 0) {
    out.push({ path: at('policy', 'advert_interval'), message: `VRRP version 2 advertises in whole seconds; got ${pol.advertIntervalMs}ms (use vrrp_version: 3 for sub-second intervals)` });
  }
  if (pol.vrrpVersion === 2 && pol.timing === 'fast') {
    out.push({ path: at('policy', 'timing'), message: 'the fast timing profile needs VRRP version 3 (sub-second adverts)' });
  }
  if (pol.vrrpVersion === 3 && pol.advertIntervalMs % 10 !== 0) {
    out.push({ path: at('policy', 'advert_interval'), message: `VRRP version 3 advertises in centiseconds; got ${pol.advertIntervalMs}ms (use a multiple of 10ms)` });
  }
  if (pol.authPass !== '' && pol.vrrpVersion === 3) {
    out.push({ path: at('policy', 'auth_pass'), message: 'PASS authentication exists only in VRRP version 2; set vrrp_version: 2 or remove auth_pass' });
  }
  if (pol.transport === 'multicast' && !isMulticastV4(pol.mcastGroup)) {
    out.push({ path: at('policy', 'mcast_group'), message: `${JSON.stringify(pol.mcastGroup)} is not an IPv4 multicast address (224.0.0.0/4)` });
  }

  // Nodes and their interfaces.
  c.nodes.forEach((n, ni) => {
    duplicates(n.interfaces, (i) => i.name, (i, ii) =>
      out.push({ path: at('nodes', ni, 'interfaces', ii, 'name'), message: `interface ${i.name} is declared twice on node ${n.name}` }),
    );
  });

  const notDeclared = (iface: string): string | undefined => {
    const m = index.missing(iface);
    return m.count === 0 ? undefined : `interface ${iface} is not declared on node ${listNodes(m.sample, m.count)}`;
  };
  const trackProblems = (list: readonly string[], path: Array<string | number>) => {
    list.forEach((iface, ti) => {
      const problem = notDeclared(iface);
      if (problem) out.push({ path: [...path, ti], message: problem });
    });
  };
  trackProblems(c.trackInterfaces, at('track_interfaces'));

  // VIPs.
  duplicates(c.vips, (v) => v.name, (v, vi) =>
    out.push({ path: at('vips', vi, 'name'), message: `VIP name ${v.name} is used twice in cluster ${c.name}` }),
  );
  const groupHome = new Map<string, { home: string; vi: number }>();
  c.vips.forEach((v, vi) => {
    if (v.authPass !== null && v.authPass !== '' && pol.vrrpVersion === 3) {
      out.push({ path: at('vips', vi, 'auth_pass'), message: 'PASS authentication exists only in VRRP version 2; set policy.vrrp_version: 2 or remove auth_pass' });
    }
    if (v.home !== null && !nodeNames.has(v.home)) {
      out.push({ path: at('vips', vi, 'home'), message: `unknown node ${v.home} (nodes of cluster ${c.name}: ${nodeList})` });
    }
    if (v.group !== '' && v.home !== null) {
      const first = groupHome.get(v.group);
      if (!first) groupHome.set(v.group, { home: v.home, vi });
      else if (first.home !== v.home) {
        out.push({ path: at('vips', vi, 'home'), message: `VIPs of group ${v.group} share one holder, but vips[${first.vi}] has home ${first.home} and this one ${v.home}` });
      }
    }
    // One problem per VIP and kind, naming a few nodes, so a fleet-wide mistake stays one line each.
    const undeclared = index.missing(v.interface);
    if (undeclared.count > 0) {
      out.push({ path: at('vips', vi, 'interface'), message: `interface ${v.interface} is not declared on node ${listNodes(undeclared.sample, undeclared.count)}` });
    }
    const unaddressed = index.unaddressed(v.interface);
    if (unaddressed.length > 0) {
      out.push({ path: at('vips', vi, 'interface'), message: `interface ${v.interface} has no address on node ${listNodes(unaddressed)}; VRRP needs one to advertise from` });
    }
    const vipCidr: Cidr = { address: v.address, prefix: v.prefix, family: isIPv4(v.address) ? 4 : 6 };
    const reserved = vipAddressProblem(vipCidr);
    if (reserved) out.push({ path: at('vips', vi, 'address'), message: reserved });
    const holding = index.holding(v.interface, v.address);
    const outside = index.outside(v.interface, holding);
    if (outside.count > 0) {
      out.push({ path: at('vips', vi, 'address'), message: `${v.address} is outside the subnet of interface ${v.interface} on node ${listNodes(outside.sample, outside.count)}` });
    }
    for (const h of holding) {
      const problem = vipSubnetProblem(vipCidr, h.subnet);
      if (problem) {
        out.push({ path: at('vips', vi, 'address'), message: `${problem} (interface ${v.interface} on node ${listNodes(h.nodes)})` });
        break;
      }
    }
    if (!isIPv4(v.address) && pol.vrrpVersion === 2) {
      out.push({ path: at('vips', vi, 'address'), message: 'IPv6 VIPs need VRRP version 3 (policy.vrrp_version: 3)' });
    }
    trackProblems(v.trackInterfaces === c.trackInterfaces ? [] : v.trackInterfaces, at('vips', vi, 'track_interfaces'));
  });
  if (pol.transport === 'unicast') {
    const ifaces = new Set(c.vips.map((v) => v.interface));
    if (ifaces.size > 1) {
      out.push({ path: at('policy', 'transport'), message: `unicast peers are per node, so every VIP of the cluster must use one interface; found ${[...ifaces].join(', ')}` });
    }
  }

  // Checks.
  duplicates(c.checks, (k) => k.name, (k, ki) =>
    out.push({ path: at('checks', ki, 'name'), message: `check name ${k.name} is used twice in cluster ${c.name}` }),
  );
  c.checks.forEach((k, ki) => {
    if (k.timeoutMs > k.intervalMs) {
      out.push({ path: at('checks', ki, 'timeout'), message: `timeout (${k.timeoutMs}ms) must not be longer than interval (${k.intervalMs}ms)` });
    }
    if (k.effect === 'penalty' && k.penalty === 0) {
      out.push({ path: at('checks', ki, 'penalty'), message: `effect penalty needs a penalty between 1 and ${MAX_PENALTY}` });
    }
    if (k.effect !== 'penalty' && k.penalty !== 0) {
      out.push({ path: at('checks', ki, 'penalty'), message: `penalty applies only with effect: penalty (this check has effect: ${k.effect})` });
    }
    if (k.params.kind === 'interface') {
      const problem = notDeclared(k.params.interface);
      if (problem) out.push({ path: at('checks', ki, 'interface'), message: problem });
    }
  });

  backendProblems(c, ci, out);
}

/** Every rule violation in the spec; empty when the spec is valid. */
export function specProblems(spec: Spec): SpecProblem[] {
  const out: SpecProblem[] = [];
  duplicates(spec.clusters, (c) => c.name, (c, ci) =>
    out.push({ path: ['clusters', ci, 'name'], message: `cluster name ${c.name} is used twice` }),
  );

  // Node names identify agents, so they are unique across clusters.
  const nodeOwner = new Map<string, string>();
  spec.clusters.forEach((c, ci) =>
    c.nodes.forEach((n, ni) => {
      const owner = nodeOwner.get(n.name);
      if (owner !== undefined) {
        out.push({ path: ['clusters', ci, 'nodes', ni, 'name'], message: `node ${n.name} is already declared${owner === c.name ? '' : ` in cluster ${owner}`}; node names must be unique` });
      } else nodeOwner.set(n.name, c.name);
    }),
  );

  const indexes = spec.clusters.map((c) => new InterfaceIndex(c));
  spec.clusters.forEach((c, ci) => clusterProblems(c, ci, out, indexes[ci] as InterfaceIndex));

  // Addresses across the whole spec: duplicate VIPs, VIPs on a node's address, VRIDs per segment.
  const refs: VipRef[] = [];
  spec.clusters.forEach((c, ci) =>
    c.vips.forEach((v, vi) => {
      const own: Cidr = { address: v.address, prefix: v.prefix, family: isIPv4(v.address) ? 4 : 6 };
      const segment = indexes[ci]?.holding(v.interface, v.address)[0]?.subnet ?? own;
      refs.push({ ci, vi, cluster: c, vip: v, segment });
    }),
  );

  // Keyed by canonical address, so the checks stay linear at thousands of VIPs and nodes.
  const byAddress = new Map<string, VipRef>();
  for (const r of refs) {
    const key = canonical(r.vip.address);
    const first = byAddress.get(key);
    if (first) {
      out.push({ path: ['clusters', r.ci, 'vips', r.vi, 'address'], message: `VIP ${r.vip.address} is already used by VIP ${first.vip.name} of cluster ${first.cluster.name}` });
    } else byAddress.set(key, r);
  }

  const nodeByAddress = new Map<string, string[]>();
  for (const c of spec.clusters) {
    for (const n of c.nodes) {
      for (const a of n.addresses) {
        const k = canonical(a);
        const list = nodeByAddress.get(k);
        if (!list) nodeByAddress.set(k, [n.name]);
        else if (!list.includes(n.name)) list.push(n.name);
      }
    }
  }
  for (const r of refs) {
    for (const node of nodeByAddress.get(canonical(r.vip.address)) ?? []) {
      out.push({ path: ['clusters', r.ci, 'vips', r.vi, 'address'], message: `VIP ${r.vip.address} collides with an address of node ${node}` });
    }
  }

  // VRIDs: one per segment and address family (VRRP for IPv4 and IPv6 are separate protocols).
  // A segment is a network and prefix, so the first VIP of a key is the one a later VIP clashes with.
  const byVrid = new Map<string, VipRef>();
  for (const r of refs) {
    const segment = subnetText(r.segment);
    const k = `${r.segment.family}:${r.vip.vrid}:${segment}`;
    const clash = byVrid.get(k);
    if (!clash) byVrid.set(k, r);
    else {
      out.push({
        path: ['clusters', r.ci, 'vips', r.vi, 'vrid'],
        message: `VRID ${r.vip.vrid} is already used on segment ${segment} by VIP ${clash.vip.name} of cluster ${clash.cluster.name}`,
      });
    }
  }
  return out;
}
