// Turns the spec and a placement into what one node's agent should run. Pure: the reconcile
// loop adds the version and decides when to push.
import { isIP } from 'node:net';
import type { DesiredBackends, DesiredInstance, DesiredState, Handover, KeepalivedSettings, NodeMode } from '@lbha/shared';
import { weightOf, type ClusterPlacement } from './placement.js';
import type { ClusterSpec, NodeSpec } from './spec/cluster-spec.js';

export type DesiredContent = Omit<DesiredState, 'version'>;

/** VRRPv2 PASS authentication carries 8 bytes; keepalived uses the first 8 characters too. */
const AUTH_PASS_BYTES = 8;

function addressOn(node: NodeSpec, iface: string): string {
  const a = node.interfaces.find((i) => i.name === iface)?.address;
  return a ? a.slice(0, a.indexOf('/')) : '';
}

/**
 * Who takes the VIP from `node`: the best-ranked other node with an address of the VIP's family
 * on its interface (the holder, for a node that does not hold it). Its address, or ''. The nodes
 * in the ranking first, then the others in the spec's order.
 */
function failoverPeerOf(cluster: ClusterSpec, ranking: readonly string[], node: string, iface: string, cidr: string): string {
  const family = isIP(cidr.slice(0, cidr.indexOf('/')));
  const peer = (name: string): string => {
    if (name === node) return '';
    const spec = cluster.nodes.find((n) => n.name === name);
    const a = spec ? addressOn(spec, iface) : '';
    return a !== '' && isIP(a) === family ? a : '';
  };
  for (const name of ranking) {
    const a = peer(name);
    if (a !== '') return a;
  }
  for (const n of cluster.nodes) {
    if (ranking.includes(n.name)) continue;
    const a = peer(n.name);
    if (a !== '') return a;
  }
  return '';
}

/**
 * Per cluster spec, per node: its keepalived settings, which depend on nothing else. A pass
 * rebuilds a node's desired state on every change of its placement; the settings (the cluster's
 * addresses sorted, the unicast peers) were built anew each time, for the same result. A spec is
 * not changed once parsed (a new spec is new objects), so its objects are the keys; frozen, as every
 * desired state of the node shares them.
 */
const settingsBySpec = new WeakMap<ClusterSpec, Map<NodeSpec, KeepalivedSettings>>();

function keepalivedSettingsOf(cluster: ClusterSpec, node: NodeSpec): KeepalivedSettings {
  let byNode = settingsBySpec.get(cluster);
  if (!byNode) settingsBySpec.set(cluster, (byNode = new Map()));
  let s = byNode.get(node);
  if (!s) {
    const built = keepalivedSettings(cluster, node);
    Object.freeze(built.unicastPeers);
    Object.freeze(built.clusterAddresses);
    byNode.set(node, (s = Object.freeze(built)));
  }
  return s;
}

function keepalivedSettings(cluster: ClusterSpec, node: NodeSpec): KeepalivedSettings {
  const p = cluster.policy;
  const unicast = p.transport === 'unicast';
  // Validation guarantees one VIP interface per cluster in unicast mode.
  const iface = cluster.vips[0]?.interface ?? node.interfaces.find((i) => i.address !== null)?.name ?? '';
  return {
    advertIntMs: p.advertIntervalMs,
    unicast,
    unicastSrc: unicast ? addressOn(node, iface) : '',
    unicastPeers: unicast ? cluster.nodes.filter((n) => n.name !== node.name).map((n) => addressOn(n, iface)).filter((a) => a !== '') : [],
    authPass: p.authPass.slice(0, AUTH_PASS_BYTES),
    vrrpVersion: p.vrrpVersion,
    ...(p.timing === 'fast' ? { realtime: true } : {}),
    mcastGroup: unicast ? '' : p.mcastGroup,
    clusterAddresses: clusterAddresses(cluster),
    ...(p.foreignRouters === 'block' ? { blockForeignRouters: true } : {}),
  };
}

/** Every address of every node (interfaces and declared addresses), without prefix. */
function clusterAddresses(cluster: ClusterSpec): string[] {
  const out = new Set<string>();
  for (const n of cluster.nodes) {
    for (const i of n.interfaces) if (i.address) out.add(i.address.slice(0, i.address.indexOf('/')));
    for (const a of n.addresses) out.add(a.includes('/') ? a.slice(0, a.indexOf('/')) : a);
  }
  return [...out].sort();
}

/** Per VIP, what a node is asked beyond placement. */
export interface InstanceExtras {
  /** The node's part in the VIP's handover. */
  readonly handoverOf?: (vip: string) => Handover | undefined;
  /** The announcement asked of the node (after a split brain). */
  readonly announceOf?: (vip: string) => number | undefined;
  /** Every other active node is unhealthy (shared-failure.ts). */
  readonly lastResort?: boolean;
  /** The node's failure was found to be its own, up to this start of its failing checks (shared-failure.ts). */
  readonly ownFailureSinceMs?: number;
}

/**
 * The desired state of `node` (without version). `stepDown` names the VIPs this node must leave
 * MASTER for (split-brain arbitration); `backends` is the cluster's backend pool, the same for
 * every node.
 */
export function buildDesiredState(
  cluster: ClusterSpec,
  placement: ClusterPlacement,
  node: NodeSpec,
  mode: NodeMode,
  stepDown: ReadonlySet<string>,
  extras: InstanceExtras = {},
  backends?: DesiredBackends,
): DesiredContent {
  const instances: DesiredInstance[] = cluster.vips.map((v, i) => {
    // Placement lists the VIPs in the spec's order; found by name otherwise.
    const at = placement.vips[i];
    const vp = at?.vip === v.name ? at : placement.vips.find((x) => x.vip === v.name);
    const w = vp ? weightOf(placement, vp, node.name) : { rank: cluster.nodes.length, weight: 0 };
    const handover = extras.handoverOf?.(v.name);
    const announce = extras.announceOf?.(v.name);
    const failoverPeer = vp ? failoverPeerOf(cluster, vp.ranking, node.name, v.interface, v.cidr) : '';
    return {
      name: v.name,
      vrid: v.vrid,
      interface: v.interface,
      vip: v.cidr,
      basePriority: cluster.policy.basePriority,
      placementWeight: w.weight,
      rank: w.rank,
      trackInterfaces: [...v.trackInterfaces],
      stepDown: stepDown.has(v.name),
      group: v.group,
      ...(v.authPass !== null ? { authPass: v.authPass.slice(0, AUTH_PASS_BYTES) } : {}),
      ...(handover ? { handover } : {}),
      ...(failoverPeer ? { failoverPeer } : {}),
      ...(announce ? { announce } : {}),
      ...(v.readiness ? { readiness: v.readiness } : {}),
    };
  });
  return {
    cluster: cluster.name,
    node: node.name,
    mode,
    keepalived: keepalivedSettingsOf(cluster, node),
    instances,
    checks: cluster.checks,
    proxyService: cluster.service,
    ...(backends ? { backends } : {}),
    ...(extras.lastResort ? { lastResort: true } : {}),
    // This coordinator decides held faults: the agent waits for its word, not for a fixed time.
    faultVerdicts: true,
    ...(extras.ownFailureSinceMs ? { ownFailureSinceMs: extras.ownFailureSinceMs } : {}),
  };
}
