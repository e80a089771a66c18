// The two seed topologies as data: addresses, VIPs and which proxy runs on the LB nodes.
// Addresses are the seed's; they exist only inside the lab's namespaces.
import type { LbNode, WebNode } from './lab-names.js';

export type TopologyName = 'a' | 'b';
export type ProxyKind = 'nginx' | 'haproxy';

export interface VipPlan {
  /** Name of the VIP in the cluster spec (also the keepalived instance name). */
  readonly name: string;
  readonly address: string;
  readonly prefix: number;
  readonly vrid: number;
  /** The LB node that should hold the VIP when everything is healthy. */
  readonly home: LbNode;
  readonly interface: 'eth1';
}

export interface LbPlan {
  /** Outer (client side, VIP side) address on eth1. */
  readonly outer: string;
  /** Inner (backend side) address on eth2. */
  readonly inner: string;
}

export interface WebPlan {
  readonly address: string;
  /** Body of the page the web node serves; the probe tells web nodes apart by it. */
  readonly page: string;
}

export interface TopologyPlan {
  readonly name: TopologyName;
  readonly cluster: string;
  readonly proxy: ProxyKind;
  readonly prefix: number;
  readonly client: string;
  readonly lbs: Readonly<Record<LbNode, LbPlan>>;
  readonly webs: Readonly<Record<WebNode, WebPlan>>;
  readonly vips: readonly VipPlan[];
  /** Host header the seed's clients send. */
  readonly host: string;
  /** haproxy stats page port (topology b). */
  readonly statsPort: number;
}

const lbs: Record<LbNode, LbPlan> = {
  lb1: { outer: '192.168.20.19', inner: '192.168.50.19' },
  lb2: { outer: '192.168.20.20', inner: '192.168.50.20' },
};

const webs: Record<WebNode, WebPlan> = {
  web1: { address: '192.168.50.22', page: 'node1.xuzhichao.com page' },
  web2: { address: '192.168.50.23', page: 'node2.xuzhichao.com page' },
};

/** Seed 1: nginx on both LB nodes, two VIPs active/active, each node the home of one. */
export const TOPOLOGY_A: TopologyPlan = {
  name: 'a',
  cluster: 'nginx-lb',
  proxy: 'nginx',
  prefix: 24,
  client: '192.168.20.1',
  lbs,
  webs,
  vips: [
    { name: 'vip1', address: '192.168.20.28', prefix: 24, vrid: 51, home: 'lb1', interface: 'eth1' },
    { name: 'vip2', address: '192.168.20.29', prefix: 24, vrid: 52, home: 'lb2', interface: 'eth1' },
  ],
  host: 'www.xuzhichao.com',
  statsPort: 1080,
};

/** Seed 2: haproxy on both LB nodes, one VIP, master lb1 / backup lb2, stats page enabled. */
export const TOPOLOGY_B: TopologyPlan = {
  name: 'b',
  cluster: 'haproxy-lb',
  proxy: 'haproxy',
  prefix: 24,
  client: '192.168.20.1',
  lbs,
  webs,
  vips: [{ name: 'vip', address: '192.168.20.100', prefix: 24, vrid: 51, home: 'lb1', interface: 'eth1' }],
  host: 'www.xuzhichao.com',
  statsPort: 1080,
};

export function topologyPlan(name: TopologyName): TopologyPlan {
  return name === 'a' ? TOPOLOGY_A : TOPOLOGY_B;
}

/** Which web node served a page body, or undefined when the body is not one of the lab's pages. */
export function webNodeOfPage(plan: TopologyPlan, body: string): WebNode | undefined {
  const text = body.trim();
  for (const [node, web] of Object.entries(plan.webs) as [WebNode, WebPlan][]) {
    if (text === web.page) return node;
  }
  return undefined;
}
