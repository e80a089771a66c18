// Builds a registry full of agents with realistic snapshots, for metrics tests and benchmarks.
import type { AgentHello, CheckStatus, InstanceStatus, NodeSnapshot, ServiceStatus, VrrpState } from '@lbha/shared';
import { Registry, type AgentSession } from '../../src/registry.js';
import type { VipPlacementView } from '../../src/metrics/metrics-sources.js';

export function hello(node: string, cluster: string, bootId = `boot-${node}`): AgentHello {
  return { node, cluster, agentVersion: '0.1.0', bootId, protocol: 1, appliedVersion: 0, recentResults: [] };
}

export function fakeSession(id: string): AgentSession {
  return { id, peer: `127.0.0.1:${id}`, sendDesiredState: () => {}, sendCommand: () => {}, close: () => {} };
}

export function service(name: string, kind: ServiceStatus['kind'], over: Partial<ServiceStatus> = {}): ServiceStatus {
  return {
    name,
    kind,
    state: 'running',
    pid: 100,
    restarts: 0,
    lastError: '',
    stats: kind === 'keepalived' ? undefined : { activeConnections: 3, requestsTotal: 100, currentSessions: 3, serverStates: {} },
    sinceMs: 1,
    supervisor: 'direct',
    ...over,
  };
}

export function check(name: string, over: Partial<CheckStatus> = {}): CheckStatus {
  return { name, kind: 'process', result: { kind: 'healthy' }, effect: 'fault', penalty: 0, sinceMs: 1, durationMs: 2, streak: 1, ...over };
}

export function instance(name: string, state: VrrpState, sinceMs: number, over: Partial<InstanceStatus> = {}): InstanceStatus {
  return {
    name,
    vrid: 51,
    vip: '192.168.20.28/24',
    interface: 'eth0',
    state,
    basePriority: 100,
    effectivePriority: state === 'master' ? 150 : 100,
    vipPresent: state === 'master',
    sinceMs,
    priorityTerms: [],
    faultedByHealth: false,
    ...over,
  };
}

export function snapshot(instances: InstanceStatus[], over: Partial<NodeSnapshot> = {}): NodeSnapshot {
  return {
    services: [service('keepalived', 'keepalived'), service('nginx', 'nginx')],
    checks: [check('nginx-process'), check('nginx-http', { kind: 'http' }), check('inner-link', { kind: 'interface' })],
    instances,
    healthy: true,
    appliedVersion: 1,
    localMode: 'active',
    ...over,
  };
}

export interface Fleet {
  readonly registry: Registry;
  readonly placement: VipPlacementView[];
  readonly nodes: number;
}

/**
 * `clusters` two-node clusters as in the seed's active/active setup: each node the MASTER of
 * one of the cluster's two VIPs and BACKUP of the other.
 */
export function buildFleet(clusters: number, clock: () => number = Date.now): Fleet {
  const registry = new Registry(3500, clock);
  const placement: VipPlacementView[] = [];
  for (let c = 0; c < clusters; c++) {
    const cluster = `web-${String(c).padStart(4, '0')}`;
    const nodes = [`${cluster}-lb1`, `${cluster}-lb2`];
    nodes.forEach((node, i) => {
      const sid = `s-${node}`;
      registry.attach(hello(node, cluster), fakeSession(sid));
      registry.setSnapshot(
        node,
        sid,
        snapshot([instance('vip-a', i === 0 ? 'master' : 'backup', 1), instance('vip-b', i === 1 ? 'master' : 'backup', 1)]),
      );
    });
    placement.push({ cluster, vip: 'vip-a', desired: nodes[0] as string }, { cluster, vip: 'vip-b', desired: nodes[1] as string });
  }
  return { registry, placement, nodes: clusters * 2 };
}
