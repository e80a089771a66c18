// The one module that converts between generated protobuf types and domain types (with
// backend-wire.ts for the backend pool's messages). Incoming messages are checked here: an
// unknown enum value or a missing required field becomes a WireError naming the field, never a
// silently defaulted value.
//
// Over 400 lines on purpose: one flat, field-by-field converter pair per protocol message and
// the enum tables they share; each message crosses the wire in exactly one place, and a
// reader checking a field's conversion finds both directions side by side.
import { isIP } from 'node:net';
import * as pbAgent from '../generated/lbha/v1/agent.js';
import * as pb from '../generated/lbha/v1/types.js';
import type {
  AgentHello,
  CheckEffect,
  CheckKind,
  CheckParams,
  CheckResult,
  CheckSpec,
  CheckStatus,
  Command,
  CommandResult,
  CommandState,
  DesiredInstance,
  DesiredState,
  ForeignRouter,
  Handover,
  HandoverRole,
  InstanceStatus,
  KeepalivedSettings,
  LbhaEvent,
  NodeDelta,
  NodeMode,
  NodeSnapshot,
  PriorityTerm,
  ServiceKind,
  ServiceState,
  ServiceStats,
  ServiceStatus,
  UnplannedKind,
  UnplannedTransition,
  VrrpState,
} from './domain.js';
import type { VipReadiness } from './readiness.js';
import { backendReportFromWire, backendReportToWire, desiredBackendsFromWire, desiredBackendsToWire } from './backend-wire.js';
import { readinessProbeFromWire, readinessProbeToWire, readinessReportFromWire, readinessReportToWire } from './readiness-wire.js';
import { UNPLANNED_KINDS } from './domain.js';
import { enumMap } from './enum-map.js';
import { WireError } from './errors.js';
import { basePriorityProblem } from './keepalived-priority.js';

export const nodeModeWire = enumMap<NodeMode, pb.NodeMode>(
  [
    ['active', pb.NodeMode.NODE_MODE_ACTIVE],
    ['draining', pb.NodeMode.NODE_MODE_DRAINING],
    ['drained', pb.NodeMode.NODE_MODE_DRAINED],
    ['maintenance', pb.NodeMode.NODE_MODE_MAINTENANCE],
  ],
  'NodeMode',
);

export const handoverRoleWire = enumMap<HandoverRole, pb.HandoverRole>(
  [
    ['incoming', pb.HandoverRole.HANDOVER_ROLE_INCOMING],
    ['outgoing', pb.HandoverRole.HANDOVER_ROLE_OUTGOING],
  ],
  'HandoverRole',
);

export const vrrpStateWire = enumMap<VrrpState, pb.VrrpState>(
  [
    ['unknown', pb.VrrpState.VRRP_STATE_UNSPECIFIED],
    ['init', pb.VrrpState.VRRP_STATE_INIT],
    ['backup', pb.VrrpState.VRRP_STATE_BACKUP],
    ['master', pb.VrrpState.VRRP_STATE_MASTER],
    ['fault', pb.VrrpState.VRRP_STATE_FAULT],
    ['stop', pb.VrrpState.VRRP_STATE_STOP],
    ['deleted', pb.VrrpState.VRRP_STATE_DELETED],
  ],
  'VrrpState',
);

export const serviceStateWire = enumMap<ServiceState, pb.ServiceState>(
  [
    ['unknown', pb.ServiceState.SERVICE_STATE_UNSPECIFIED],
    ['running', pb.ServiceState.SERVICE_STATE_RUNNING],
    ['starting', pb.ServiceState.SERVICE_STATE_STARTING],
    ['stopped', pb.ServiceState.SERVICE_STATE_STOPPED],
    ['failed', pb.ServiceState.SERVICE_STATE_FAILED],
  ],
  'ServiceState',
);

export const serviceKindWire = enumMap<ServiceKind, pb.ServiceKind>(
  [
    ['nginx', pb.ServiceKind.SERVICE_KIND_NGINX],
    ['haproxy', pb.ServiceKind.SERVICE_KIND_HAPROXY],
    ['keepalived', pb.ServiceKind.SERVICE_KIND_KEEPALIVED],
  ],
  'ServiceKind',
);

export const checkKindWire = enumMap<CheckKind, pb.CheckKind>(
  [
    ['process', pb.CheckKind.CHECK_KIND_PROCESS],
    ['http', pb.CheckKind.CHECK_KIND_HTTP],
    ['tcp', pb.CheckKind.CHECK_KIND_TCP],
    ['interface', pb.CheckKind.CHECK_KIND_INTERFACE],
    ['maintenance_file', pb.CheckKind.CHECK_KIND_MAINTENANCE_FILE],
    ['config', pb.CheckKind.CHECK_KIND_CONFIG],
  ],
  'CheckKind',
);

export const checkEffectWire = enumMap<CheckEffect, pb.CheckEffect>(
  [
    ['fault', pb.CheckEffect.CHECK_EFFECT_FAULT],
    ['penalty', pb.CheckEffect.CHECK_EFFECT_PENALTY],
    ['none', pb.CheckEffect.CHECK_EFFECT_NONE],
  ],
  'CheckEffect',
);

export const commandStateWire = enumMap<CommandState, pbAgent.CommandState>(
  [
    ['accepted', pbAgent.CommandState.COMMAND_STATE_ACCEPTED],
    ['running', pbAgent.CommandState.COMMAND_STATE_RUNNING],
    ['succeeded', pbAgent.CommandState.COMMAND_STATE_SUCCEEDED],
    ['failed', pbAgent.CommandState.COMMAND_STATE_FAILED],
    ['rejected', pbAgent.CommandState.COMMAND_STATE_REJECTED],
  ],
  'CommandState',
);

const checkResultKindWire = enumMap<CheckResult['kind'], pb.CheckResultKind>(
  [
    ['healthy', pb.CheckResultKind.CHECK_RESULT_KIND_HEALTHY],
    ['unhealthy', pb.CheckResultKind.CHECK_RESULT_KIND_UNHEALTHY],
    ['unknown', pb.CheckResultKind.CHECK_RESULT_KIND_UNKNOWN],
  ],
  'CheckResultKind',
);

function required<T>(value: T | undefined, path: string): T {
  if (value === undefined || value === null) throw new WireError(path, 'missing');
  return value;
}

// ---- check results and specs ----

export function checkResultToWire(r: CheckResult): pb.CheckResult {
  return { kind: checkResultKindWire.toWire(r.kind), reason: r.kind === 'healthy' ? '' : r.reason };
}

export function checkResultFromWire(r: pb.CheckResult | undefined, path: string): CheckResult {
  const w = required(r, path);
  const kind = checkResultKindWire.fromWire(w.kind, `${path}.kind`);
  return kind === 'healthy' ? { kind } : { kind, reason: w.reason };
}

const RESULT_CODEC = { toWire: checkResultToWire, fromWire: checkResultFromWire };

/** One node's readiness for one VIP, as the control API shows it. */
export function vipReadinessToWire(r: VipReadiness): pb.VipReadiness {
  return readinessReportToWire({ vips: [r] }, RESULT_CODEC).vips[0] as pb.VipReadiness;
}

function checkParamsToWire(p: CheckParams): pb.CheckSpec['params'] {
  switch (p.kind) {
    case 'process':
      return { $case: 'process', value: { service: p.service } };
    case 'http':
      return {
        $case: 'http',
        value: {
          url: p.url,
          method: p.method,
          host: p.host,
          expectStatus: p.expectStatus,
          bodyContains: p.bodyContains,
          tlsVerify: p.tlsVerify,
        },
      };
    case 'tcp':
      return { $case: 'tcp', value: { host: p.host, port: p.port } };
    case 'interface':
      return { $case: 'interface', value: { interface: p.interface } };
    case 'maintenance_file':
      return { $case: 'maintenanceFile', value: { path: p.path } };
    case 'config':
      return { $case: 'config', value: { service: p.service } };
  }
}

function checkParamsFromWire(p: pb.CheckSpec['params'], path: string): CheckParams {
  const w = required(p, path);
  switch (w.$case) {
    case 'process':
      return { kind: 'process', service: w.value.service };
    case 'http':
      return {
        kind: 'http',
        url: w.value.url,
        method: w.value.method || 'GET',
        host: w.value.host,
        expectStatus: w.value.expectStatus || 200,
        bodyContains: w.value.bodyContains,
        tlsVerify: w.value.tlsVerify,
      };
    case 'tcp':
      return { kind: 'tcp', host: w.value.host, port: w.value.port };
    case 'interface':
      return { kind: 'interface', interface: w.value.interface };
    case 'maintenanceFile':
      return { kind: 'maintenance_file', path: w.value.path };
    case 'config':
      return { kind: 'config', service: w.value.service };
  }
}

export function checkSpecToWire(c: CheckSpec): pb.CheckSpec {
  return {
    name: c.name,
    kind: checkKindWire.toWire(c.params.kind),
    intervalMs: c.intervalMs,
    timeoutMs: c.timeoutMs,
    fall: c.fall,
    rise: c.rise,
    effect: checkEffectWire.toWire(c.effect),
    penalty: c.penalty,
    params: checkParamsToWire(c.params),
  };
}

export function checkSpecFromWire(c: pb.CheckSpec, path: string): CheckSpec {
  const params = checkParamsFromWire(c.params, `${path}.params`);
  const kind = checkKindWire.fromWire(c.kind, `${path}.kind`);
  if (kind !== params.kind) throw new WireError(`${path}.kind`, `kind ${kind} does not match params ${params.kind}`);
  return {
    name: c.name,
    intervalMs: c.intervalMs,
    timeoutMs: c.timeoutMs,
    fall: c.fall,
    rise: c.rise,
    effect: checkEffectWire.fromWire(c.effect, `${path}.effect`),
    penalty: c.penalty,
    params,
  };
}

// ---- agent state ----

export function checkStatusToWire(c: CheckStatus): pb.CheckStatus {
  return {
    name: c.name,
    kind: checkKindWire.toWire(c.kind),
    result: checkResultToWire(c.result),
    effect: checkEffectWire.toWire(c.effect),
    penalty: c.penalty,
    sinceMs: c.sinceMs,
    durationMs: c.durationMs,
    streak: c.streak,
  };
}

export function checkStatusFromWire(c: pb.CheckStatus, path: string): CheckStatus {
  return {
    name: c.name,
    kind: checkKindWire.fromWire(c.kind, `${path}.kind`),
    result: checkResultFromWire(c.result, `${path}.result`),
    effect: checkEffectWire.fromWire(c.effect, `${path}.effect`),
    penalty: c.penalty,
    sinceMs: c.sinceMs,
    durationMs: c.durationMs,
    streak: c.streak,
  };
}

function statsToWire(s: ServiceStats | undefined): pb.ServiceStats | undefined {
  if (!s) return undefined;
  return {
    activeConnections: s.activeConnections,
    requestsTotal: s.requestsTotal,
    currentSessions: s.currentSessions,
    serverStates: { ...s.serverStates },
  };
}

function statsFromWire(s: pb.ServiceStats | undefined): ServiceStats | undefined {
  if (!s) return undefined;
  return {
    activeConnections: s.activeConnections,
    requestsTotal: s.requestsTotal,
    currentSessions: s.currentSessions,
    serverStates: { ...s.serverStates },
  };
}

export function serviceStatusToWire(s: ServiceStatus): pb.ServiceStatus {
  return {
    name: s.name,
    kind: serviceKindWire.toWire(s.kind),
    state: serviceStateWire.toWire(s.state),
    pid: s.pid,
    restarts: s.restarts,
    lastError: s.lastError,
    stats: statsToWire(s.stats),
    sinceMs: s.sinceMs,
    supervisor: s.supervisor,
  };
}

export function serviceStatusFromWire(s: pb.ServiceStatus, path: string): ServiceStatus {
  if (s.supervisor !== 'direct' && s.supervisor !== 'systemd') {
    throw new WireError(`${path}.supervisor`, `must be "direct" or "systemd", got ${JSON.stringify(s.supervisor)}`);
  }
  return {
    name: s.name,
    kind: serviceKindWire.fromWire(s.kind, `${path}.kind`),
    state: serviceStateWire.fromWire(s.state, `${path}.state`),
    pid: s.pid,
    restarts: s.restarts,
    lastError: s.lastError,
    stats: statsFromWire(s.stats),
    sinceMs: s.sinceMs,
    supervisor: s.supervisor,
  };
}

function termToWire(t: PriorityTerm): pb.PriorityTerm {
  return { source: t.source, delta: t.delta, reason: t.reason };
}

export function instanceStatusToWire(i: InstanceStatus): pb.InstanceStatus {
  return {
    name: i.name,
    vrid: i.vrid,
    vip: i.vip,
    interface: i.interface,
    state: vrrpStateWire.toWire(i.state),
    basePriority: i.basePriority,
    effectivePriority: i.effectivePriority,
    vipPresent: i.vipPresent,
    sinceMs: i.sinceMs,
    priorityTerms: i.priorityTerms.map(termToWire),
    faultedByHealth: i.faultedByHealth,
    handover: i.handover ? handoverToWire(i.handover) : undefined,
    handoverError: i.handoverError ?? '',
    handoverConnections: i.handoverConnections,
    announced: i.announced ?? 0,
    foreignRouters: (i.foreignRouters ?? []).map((r) => ({ source: r.source, priority: r.priority, lastSeenMs: r.lastSeenMs })),
    unplanned: (i.unplanned ?? []).map((t) => ({ seq: t.seq, from: vrrpStateWire.toWire(t.from), to: vrrpStateWire.toWire(t.to), kind: t.kind, cause: t.cause, atMs: t.atMs, masterMs: t.masterMs ?? 0 })),
  };
}

export function instanceStatusFromWire(i: pb.InstanceStatus, path: string): InstanceStatus {
  return {
    name: i.name,
    vrid: i.vrid,
    vip: i.vip,
    interface: i.interface,
    state: vrrpStateWire.fromWire(i.state, `${path}.state`),
    basePriority: i.basePriority,
    effectivePriority: i.effectivePriority,
    vipPresent: i.vipPresent,
    sinceMs: i.sinceMs,
    priorityTerms: i.priorityTerms.map((t) => ({ source: t.source, delta: t.delta, reason: t.reason })),
    faultedByHealth: i.faultedByHealth,
    ...(i.handover ? { handover: handoverFromWire(i.handover, `${path}.handover`) } : {}),
    ...(i.handoverError ? { handoverError: i.handoverError } : {}),
    ...(i.handoverConnections !== undefined ? { handoverConnections: i.handoverConnections } : {}),
    ...(i.announced ? { announced: i.announced } : {}),
    ...(i.foreignRouters.length > 0 ? { foreignRouters: i.foreignRouters.map((r, n) => foreignRouterFromWire(r, `${path}.foreignRouters[${n}]`)) } : {}),
    ...(i.unplanned.length > 0 ? { unplanned: i.unplanned.map((t, n) => unplannedFromWire(t, `${path}.unplanned[${n}]`)) } : {}),
  };
}

function unplannedFromWire(t: pb.UnplannedTransition, path: string): UnplannedTransition {
  if (!(UNPLANNED_KINDS as readonly string[]).includes(t.kind)) throw new WireError(`${path}.kind`, `must be one of ${UNPLANNED_KINDS.join(', ')}, got ${JSON.stringify(t.kind)}`);
  return {
    seq: t.seq,
    from: vrrpStateWire.fromWire(t.from, `${path}.from`),
    to: vrrpStateWire.fromWire(t.to, `${path}.to`),
    kind: t.kind as UnplannedKind,
    cause: t.cause,
    atMs: t.atMs,
    ...(t.masterMs ? { masterMs: t.masterMs } : {}),
  };
}

function foreignRouterFromWire(r: pb.ForeignRouter, path: string): ForeignRouter {
  if (!isIP(r.source)) throw new WireError(`${path}.source`, `must be an IP address, got ${JSON.stringify(r.source)}`);
  if (!Number.isInteger(r.priority) || r.priority > 255) throw new WireError(`${path}.priority`, `must be 0..255, got ${r.priority}`);
  return { source: r.source, priority: r.priority, lastSeenMs: r.lastSeenMs };
}

export function snapshotToWire(s: NodeSnapshot): pb.NodeSnapshot {
  return {
    services: s.services.map(serviceStatusToWire),
    checks: s.checks.map(checkStatusToWire),
    instances: s.instances.map(instanceStatusToWire),
    healthy: s.healthy,
    appliedVersion: s.appliedVersion,
    localMode: nodeModeWire.toWire(s.localMode),
    backends: s.backends ? backendReportToWire(s.backends) : undefined,
    readiness: s.readiness ? readinessReportToWire(s.readiness, RESULT_CODEC) : undefined,
  };
}

export function snapshotFromWire(s: pb.NodeSnapshot | undefined, path: string): NodeSnapshot {
  const w = required(s, path);
  return {
    services: w.services.map((x, i) => serviceStatusFromWire(x, `${path}.services[${i}]`)),
    checks: w.checks.map((x, i) => checkStatusFromWire(x, `${path}.checks[${i}]`)),
    instances: w.instances.map((x, i) => instanceStatusFromWire(x, `${path}.instances[${i}]`)),
    healthy: w.healthy,
    appliedVersion: w.appliedVersion,
    localMode: nodeModeWire.fromWire(w.localMode, `${path}.localMode`),
    ...(w.backends ? { backends: backendReportFromWire(w.backends, `${path}.backends`) } : {}),
    ...(w.readiness ? { readiness: readinessReportFromWire(w.readiness, `${path}.readiness`, RESULT_CODEC) } : {}),
  };
}

export function deltaToWire(d: NodeDelta): pbAgent.Delta {
  return {
    services: d.services.map(serviceStatusToWire),
    checks: d.checks.map(checkStatusToWire),
    instances: d.instances.map(instanceStatusToWire),
    removedChecks: [...d.removedChecks],
    removedInstances: [...d.removedInstances],
    healthy: d.healthy,
    appliedVersion: d.appliedVersion,
    localMode: d.localMode === undefined ? undefined : nodeModeWire.toWire(d.localMode),
    backends: d.backends ? backendReportToWire(d.backends) : undefined,
    readiness: d.readiness ? readinessReportToWire(d.readiness, RESULT_CODEC) : undefined,
  };
}

export function deltaFromWire(d: pbAgent.Delta, path: string): NodeDelta {
  return {
    services: d.services.map((x, i) => serviceStatusFromWire(x, `${path}.services[${i}]`)),
    checks: d.checks.map((x, i) => checkStatusFromWire(x, `${path}.checks[${i}]`)),
    instances: d.instances.map((x, i) => instanceStatusFromWire(x, `${path}.instances[${i}]`)),
    removedChecks: [...d.removedChecks],
    removedInstances: [...d.removedInstances],
    ...(d.healthy === undefined ? {} : { healthy: d.healthy }),
    ...(d.appliedVersion === undefined ? {} : { appliedVersion: d.appliedVersion }),
    ...(d.localMode === undefined ? {} : { localMode: nodeModeWire.fromWire(d.localMode, `${path}.localMode`) }),
    ...(d.backends ? { backends: backendReportFromWire(d.backends, `${path}.backends`) } : {}),
    ...(d.readiness ? { readiness: readinessReportFromWire(d.readiness, `${path}.readiness`, RESULT_CODEC) } : {}),
  };
}

/** Applies a delta to a snapshot: entries replace those of the same name. */
export function applyDelta(s: NodeSnapshot, d: NodeDelta): NodeSnapshot {
  const merge = <T extends { name: string }>(base: readonly T[], changed: readonly T[], removed: readonly string[]): T[] => {
    const byName = new Map(base.map((x) => [x.name, x]));
    for (const r of removed) byName.delete(r);
    for (const c of changed) byName.set(c.name, c);
    return [...byName.values()];
  };
  return {
    services: merge(s.services, d.services, []),
    checks: merge(s.checks, d.checks, d.removedChecks),
    instances: merge(s.instances, d.instances, d.removedInstances),
    healthy: d.healthy ?? s.healthy,
    appliedVersion: d.appliedVersion ?? s.appliedVersion,
    localMode: d.localMode ?? s.localMode,
    ...(d.backends ? { backends: d.backends } : s.backends ? { backends: s.backends } : {}),
    ...(d.readiness ? { readiness: d.readiness } : s.readiness ? { readiness: s.readiness } : {}),
  };
}

export function helloToWire(h: AgentHello): pbAgent.Hello {
  return {
    node: h.node,
    cluster: h.cluster,
    agentVersion: h.agentVersion,
    bootId: h.bootId,
    protocol: h.protocol,
    appliedVersion: h.appliedVersion,
    recentResults: h.recentResults.map(commandResultToWire),
    capabilities: [...(h.capabilities ?? [])],
  };
}

export function helloFromWire(h: pbAgent.Hello, path: string): AgentHello {
  if (!h.node) throw new WireError(`${path}.node`, 'missing');
  if (!h.bootId) throw new WireError(`${path}.bootId`, 'missing');
  return {
    node: h.node,
    cluster: h.cluster,
    agentVersion: h.agentVersion,
    bootId: h.bootId,
    protocol: h.protocol,
    appliedVersion: h.appliedVersion,
    recentResults: h.recentResults.map((r, i) => commandResultFromWire(r, `${path}.recentResults[${i}]`)),
    capabilities: [...h.capabilities],
  };
}

// ---- desired state and commands ----

export function keepalivedSettingsToWire(k: KeepalivedSettings): pbAgent.KeepalivedSettings {
  return {
    advertIntMs: k.advertIntMs,
    unicast: k.unicast,
    unicastSrc: k.unicastSrc,
    unicastPeers: [...k.unicastPeers],
    authPass: k.authPass,
    vrrpVersion: k.vrrpVersion,
    mcastGroup: k.mcastGroup,
    realtime: k.realtime ?? false,
    clusterAddresses: [...(k.clusterAddresses ?? [])],
    blockForeignRouters: k.blockForeignRouters ?? false,
  };
}

export function keepalivedSettingsFromWire(k: pbAgent.KeepalivedSettings | undefined, path: string): KeepalivedSettings {
  const w = required(k, path);
  if (w.vrrpVersion !== 2 && w.vrrpVersion !== 3) throw new WireError(`${path}.vrrpVersion`, `must be 2 or 3, got ${w.vrrpVersion}`);
  return {
    advertIntMs: w.advertIntMs,
    unicast: w.unicast,
    unicastSrc: w.unicastSrc,
    unicastPeers: [...w.unicastPeers],
    authPass: w.authPass,
    vrrpVersion: w.vrrpVersion,
    mcastGroup: w.mcastGroup,
    ...(w.realtime ? { realtime: true } : {}),
    ...(w.clusterAddresses.length > 0 ? { clusterAddresses: addressList(w.clusterAddresses, `${path}.clusterAddresses`) } : {}),
    ...(w.blockForeignRouters ? { blockForeignRouters: true } : {}),
  };
}

function addressList(list: readonly string[], path: string): string[] {
  list.forEach((a, i) => {
    if (!isIP(a)) throw new WireError(`${path}[${i}]`, `must be an IP address, got ${JSON.stringify(a)}`);
  });
  return [...list];
}

export function desiredInstanceToWire(i: DesiredInstance): pbAgent.DesiredInstance {
  // Field by field: an object rest (`const { handover, ...rest } = i`) takes V8's slow path that
  // copies properties one by one with a list of exclusions, about 7 us an instance, paid for
  // every desired state pushed.
  return {
    name: i.name,
    vrid: i.vrid,
    interface: i.interface,
    vip: i.vip,
    basePriority: i.basePriority,
    placementWeight: i.placementWeight,
    rank: i.rank,
    trackInterfaces: [...i.trackInterfaces],
    stepDown: i.stepDown,
    group: i.group,
    authPass: i.authPass,
    handover: i.handover ? handoverToWire(i.handover) : undefined,
    failoverPeer: i.failoverPeer ?? '',
    announce: i.announce ?? 0,
    readiness: i.readiness ? readinessProbeToWire(i.readiness) : undefined,
  };
}

export function handoverToWire(h: Handover): pb.Handover {
  return { role: handoverRoleWire.toWire(h.role), peer: h.peer, untilMs: h.untilMs };
}

export function handoverFromWire(h: pb.Handover, path: string): Handover {
  if (!isIP(h.peer)) throw new WireError(`${path}.peer`, `must be an IP address, got ${JSON.stringify(h.peer)}`);
  if (!Number.isSafeInteger(h.untilMs) || h.untilMs <= 0) throw new WireError(`${path}.untilMs`, `must be a positive Unix time in ms, got ${h.untilMs}`);
  return { role: handoverRoleWire.fromWire(h.role, `${path}.role`), peer: h.peer, untilMs: h.untilMs };
}

export function desiredInstanceFromWire(i: pbAgent.DesiredInstance, path: string): DesiredInstance {
  if (i.vrid < 1 || i.vrid > 255) throw new WireError(`${path}.vrid`, `must be 1..255, got ${i.vrid}`);
  const baseProblem = basePriorityProblem(i.basePriority);
  if (baseProblem) throw new WireError(`${path}.basePriority`, baseProblem);
  return {
    name: i.name,
    vrid: i.vrid,
    interface: i.interface,
    vip: i.vip,
    basePriority: i.basePriority,
    placementWeight: i.placementWeight,
    rank: i.rank,
    trackInterfaces: [...i.trackInterfaces],
    stepDown: i.stepDown,
    group: i.group,
    ...(i.authPass !== undefined ? { authPass: i.authPass } : {}),
    ...(i.handover ? { handover: handoverFromWire(i.handover, `${path}.handover`) } : {}),
    ...(failoverPeerFromWire(i.failoverPeer, i.vip, `${path}.failoverPeer`)),
    ...(i.announce ? { announce: i.announce } : {}),
    ...(i.readiness ? { readiness: readinessProbeFromWire(i.readiness, `${path}.readiness`) } : {}),
  };
}

function failoverPeerFromWire(peer: string, vip: string, path: string): { failoverPeer?: string } {
  if (peer === '') return {};
  const address = vip.slice(0, vip.indexOf('/') < 0 ? undefined : vip.indexOf('/'));
  if (isIP(peer) === 0 || isIP(peer) !== isIP(address)) throw new WireError(path, `must be an IP address of the VIP's family, got ${JSON.stringify(peer)}`);
  return { failoverPeer: peer };
}

export function desiredStateToWire(d: DesiredState): pbAgent.DesiredState {
  return {
    version: d.version,
    cluster: d.cluster,
    node: d.node,
    mode: nodeModeWire.toWire(d.mode),
    keepalived: keepalivedSettingsToWire(d.keepalived),
    instances: d.instances.map(desiredInstanceToWire),
    checks: d.checks.map(checkSpecToWire),
    proxyService: d.proxyService,
    backends: d.backends ? desiredBackendsToWire(d.backends) : undefined,
    lastResort: d.lastResort ?? false,
    faultVerdicts: d.faultVerdicts ?? false,
    ownFailureSinceMs: d.ownFailureSinceMs ?? 0,
  };
}

export function desiredStateFromWire(d: pbAgent.DesiredState, path: string): DesiredState {
  return {
    version: d.version,
    cluster: d.cluster,
    node: d.node,
    mode: nodeModeWire.fromWire(d.mode, `${path}.mode`),
    keepalived: keepalivedSettingsFromWire(d.keepalived, `${path}.keepalived`),
    instances: d.instances.map((x, i) => desiredInstanceFromWire(x, `${path}.instances[${i}]`)),
    checks: d.checks.map((x, i) => checkSpecFromWire(x, `${path}.checks[${i}]`)),
    proxyService: d.proxyService,
    ...(d.backends ? { backends: desiredBackendsFromWire(d.backends, `${path}.backends`) } : {}),
    ...(d.lastResort ? { lastResort: true } : {}),
    ...(d.faultVerdicts ? { faultVerdicts: true } : {}),
    ...(d.ownFailureSinceMs > 0 ? { ownFailureSinceMs: d.ownFailureSinceMs } : {}),
  };
}

export function commandToWire(c: Command): pbAgent.Command {
  const a = c.action;
  const action: pbAgent.Command['action'] =
    a.kind === 'drain'
      ? { $case: 'drain', value: { timeoutMs: a.timeoutMs } }
      : a.kind === 'undrain'
        ? { $case: 'undrain', value: {} }
        : a.kind === 'restart'
          ? { $case: 'restart', value: { service: a.service } }
          : a.kind === 'validate'
            ? { $case: 'validate', value: { service: a.service } }
            : { $case: 'reload', value: { service: a.service } };
  return { id: c.id, deadlineMs: c.deadlineMs, action };
}

export function commandFromWire(c: pbAgent.Command, path: string): Command {
  if (!c.id) throw new WireError(`${path}.id`, 'missing');
  const a = required(c.action, `${path}.action`);
  switch (a.$case) {
    case 'drain':
      return { id: c.id, deadlineMs: c.deadlineMs, action: { kind: 'drain', timeoutMs: a.value.timeoutMs } };
    case 'undrain':
      return { id: c.id, deadlineMs: c.deadlineMs, action: { kind: 'undrain' } };
    case 'restart':
      return { id: c.id, deadlineMs: c.deadlineMs, action: { kind: 'restart', service: a.value.service } };
    case 'reload':
      return { id: c.id, deadlineMs: c.deadlineMs, action: { kind: 'reload', service: a.value.service } };
    case 'validate':
      return { id: c.id, deadlineMs: c.deadlineMs, action: { kind: 'validate', service: a.value.service } };
  }
}

export function commandResultToWire(r: CommandResult): pbAgent.CommandResult {
  return {
    commandId: r.commandId,
    state: commandStateWire.toWire(r.state),
    message: r.message,
    activeConnections: r.activeConnections,
    finishedMs: r.finishedMs,
  };
}

export function commandResultFromWire(r: pbAgent.CommandResult, path: string): CommandResult {
  if (!r.commandId) throw new WireError(`${path}.commandId`, 'missing');
  return {
    commandId: r.commandId,
    state: commandStateWire.fromWire(r.state, `${path}.state`),
    message: r.message,
    activeConnections: r.activeConnections,
    finishedMs: r.finishedMs,
  };
}

// ---- events ----

export function eventToWire(e: LbhaEvent): pb.Event {
  return { ...e };
}

export function eventFromWire(e: pb.Event): LbhaEvent {
  const severity = e.severity === 'warning' || e.severity === 'critical' ? e.severity : 'info';
  return { ...e, severity };
}
