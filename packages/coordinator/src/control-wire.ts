// Converts the coordinator's domain views (VIPs, placement, operations, spec problems, backend
// pools and configuration drift) into
// ControlService messages. The gRPC and HTTP adapters use these and nothing else.
import { backendAdminWire, backendHealthToWire, handoverToWire, limitPriority, vipReadinessToWire, vrrpStateWire, type ConfigIssue, type PriorityTerm } from '@lbha/shared';
import { type pbControl } from '@lbha/shared/control';
import type { BackendPoolView } from './backends/backend-pool-view.js';
import type { DriftView } from './backends/config-drift.js';
import { weightOf, type ClusterPlacement } from './placement.js';
import type { VipView } from './fleet-view.js';
import { drillResultsOf, judgeVip, type PhaseFigures } from './operations/drill-figures.js';
import type { OperationRecord } from './store/coordinator-state.js';

/**
 * The priority explanation of one node for one VIP: what its agent reports keepalived uses,
 * or, while the agent has not reported it, the coordinator's part (base + placement weight).
 */
function termsOf(v: VipView, n: VipView['perNode'][number]): { terms: PriorityTerm[]; effective: number } {
  if (n.priorityTerms.length > 0) return { terms: [...n.priorityTerms], effective: n.effectivePriority };
  const rankText = n.desiredRank === 0 ? 'rank 0: should hold the VIP' : `rank ${n.desiredRank}`;
  const terms: PriorityTerm[] = [
    { source: 'base', delta: v.basePriority, reason: 'policy.base_priority' },
    { source: 'placement', delta: n.desiredWeight, reason: n.desiredWeight < 0 ? `${rankText}; not eligible (pushed to priority 1)` : rankText },
  ];
  return { terms, effective: n.effectivePriority > 0 ? n.effectivePriority : limitPriority(v.basePriority + n.desiredWeight) };
}

export function vipInfoToWire(v: VipView): pbControl.VipInfo {
  return {
    cluster: v.cluster,
    name: v.name,
    address: v.address,
    vrid: v.vrid,
    interface: v.interface,
    homeNode: v.home ?? '',
    desiredHolder: v.desiredHolder,
    actualHolders: [...v.actualHolders],
    ranking: [...v.ranking],
    perNode: v.perNode.map((n) => {
      const { terms, effective } = termsOf(v, n);
      return {
        node: n.node,
        state: vrrpStateWire.toWire(n.state),
        vipPresent: n.vipPresent,
        effectivePriority: effective,
        priorityTerms: terms,
        handover: n.handover ? handoverToWire(n.handover) : undefined,
        handoverError: n.handoverError ?? '',
        handoverConnections: n.handoverConnections,
        readiness: n.readiness ? vipReadinessToWire(n.readiness) : undefined,
      };
    }),
    status: v.status,
    reason: v.reason,
    group: v.group,
    handover: v.handover ? { fromNode: v.handover.from, toNode: v.handover.to, startedMs: v.handover.startedMs, untilMs: v.handover.untilMs } : undefined,
    foreignRouters: v.foreign.map((f) => ({ source: f.source, priority: f.priority, seenBy: [...f.seenBy], lastSeenMs: f.lastSeenMs })),
    pin: v.pin ? { node: v.pin.node, sticky: v.pin.sticky, actor: v.pin.actor, reason: v.pin.reason, sinceMs: v.pin.sinceMs, operationId: v.pin.operationId } : undefined,
  };
}

export function nodeWeightsToWire(cp: ClusterPlacement): pbControl.NodeWeights[] {
  return [...cp.classes.keys()].sort().map((node) => ({
    node,
    weights: Object.fromEntries(cp.vips.map((vp) => [vp.vip, weightOf(cp, vp, node).weight])),
  }));
}

export function operationToWire(o: OperationRecord): pbControl.Operation {
  return {
    id: o.id,
    kind: o.kind,
    cluster: o.cluster,
    node: o.node,
    service: o.service,
    state: o.state,
    message: o.message,
    createdMs: o.createdMs,
    updatedMs: o.updatedMs,
    steps: o.steps.map((s) => ({ name: s.name, state: s.state, message: s.message, startedMs: s.startedMs, finishedMs: s.finishedMs })),
    actor: o.actor,
    force: o.force,
    activeConnections: o.activeConnections,
    deadlineMs: o.deadlineMs,
    server: o.data['server'] ?? '',
    drillResults: o.kind !== 'drill' ? [] : drillResultsOf(o.data).map((r) => ({
      vip: r.vip,
      home: r.home,
      standby: r.standby,
      toStandby: figuresToWire(r.to),
      backHome: figuresToWire(r.back),
      error: r.error,
      endedOn: r.endedOn,
      passed: judgeVip(r).kind === 'passed',
    })),
  };
}

function figuresToWire(f: PhaseFigures): pbControl.DrillFigures {
  return { sent: f.sent, failed: f.failed, longestGapMs: f.longestGapMs, answeredMs: f.answeredMs ?? -1, complete: f.complete, firstError: f.firstError };
}

export function backendPoolToWire(view: BackendPoolView): Pick<pbControl.ListBackendsResponse, 'servers' | 'pools'> {
  return {
    servers: view.servers.map((s) => ({
      cluster: s.cluster,
      pool: s.pool,
      server: s.server,
      address: s.address,
      desiredAdmin: backendAdminWire.toWire(s.desiredAdmin),
      desiredWeight: s.desiredWeight ?? undefined,
      nodes: s.nodes.map((n) => ({
        node: n.node,
        reported: n.reported,
        admin: backendAdminWire.toWire(n.admin),
        health: backendHealthToWire(n.health),
        weight: n.weight,
        sessions: n.sessions,
        check: n.check,
      })),
      disagreement: s.disagreement,
      managed: s.managed,
    })),
    pools: view.pools.map((p) => ({ cluster: p.cluster, pool: p.pool, healthy: p.healthy, minHealthy: p.minHealthy })),
  };
}

export function configDriftToWire(d: DriftView): pbControl.ClusterConfigDrift {
  return {
    cluster: d.cluster,
    drift: d.drift,
    message: d.message,
    nodes: d.nodes.map((n) => ({ node: n.node, configDigest: n.configDigest, filesDigest: n.filesDigest, files: n.files.map((f) => ({ ...f })), differs: n.differs, error: n.error })),
  };
}

export function specErrorsToWire(issues: readonly ConfigIssue[]): pbControl.SpecError[] {
  return issues.map((i) => ({ path: i.path, line: i.line, column: i.column, message: i.message }));
}
