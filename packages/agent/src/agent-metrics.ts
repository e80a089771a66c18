// The agent's one metrics registry. Names start with lbha_agent_; labels are names from the
// spec or the agent config (check, service, instance, state), never ids or free text.
import type { CheckStatus, InstanceStatus, ServiceStatus, VrrpState } from '@lbha/shared';
import { probeSocketKind } from './checks/probe-socket.js';
import type { KillCause } from './services/supervised-service.js';
import { MetricRegistry } from './util/metric-registry.js';
import { registerProcessMetrics } from './util/process-metrics.js';
import { ticks } from './util/tick-scheduler.js';

const VRRP_STATES: readonly VrrpState[] = ['init', 'backup', 'master', 'fault', 'stop', 'deleted', 'unknown'];

export class AgentMetrics {
  readonly registry = new MetricRegistry();
  private readonly checkHealthy = this.registry.gauge('lbha_agent_check_healthy', 'Check verdict: 1 healthy, 0 unhealthy, -1 unknown', ['check', 'kind']);
  private readonly checkDuration = this.registry.histogram('lbha_agent_check_duration_seconds', 'Duration of check probes', ['check'], [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5]);
  private readonly serviceUp = this.registry.gauge('lbha_agent_service_up', '1 when the supervised service is running', ['service', 'kind']);
  private readonly serviceConnections = this.registry.gauge('lbha_agent_service_active_connections', 'Active connections of the proxy', ['service']);
  private readonly restarts = this.registry.counter('lbha_agent_service_restarts_total', 'Restarts of supervised services by the agent', ['service', 'outcome']);
  private readonly kills = this.registry.counter('lbha_agent_service_kills_total', 'Processes of supervised services the agent killed because they ran but did not work', ['service', 'cause']);
  private readonly vrrpState = this.registry.gauge('lbha_agent_vrrp_state', '1 for the current VRRP state of each instance', ['instance', 'state']);
  private readonly transitions = this.registry.counter('lbha_agent_vrrp_transitions_total', 'VRRP state changes reported by keepalived', ['instance', 'state']);
  private readonly priority = this.registry.gauge('lbha_agent_instance_priority', 'Effective priority of each instance (0 in FAULT)', ['instance']);
  private readonly vipPresent = this.registry.gauge('lbha_agent_vip_present', '1 when the VIP is configured on this node', ['instance']);
  private readonly healthy = this.registry.gauge('lbha_agent_healthy', '1 when no fault-effect check fails');
  private readonly desiredVersion = this.registry.gauge('lbha_agent_desired_state_version', 'Version of the applied desired state');
  private readonly reloads = this.registry.counter('lbha_agent_keepalived_reloads_total', 'keepalived reloads (config structure changes only)');
  private readonly trackWrites = this.registry.counter('lbha_agent_track_file_writes_total', 'Track file writes', ['file']);
  private readonly commands = this.registry.counter('lbha_agent_commands_total', 'Commands finished', ['action', 'state']);

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    // Which connections the HTTP and TCP checks use (checks/probe-socket.ts): node's TCP handle,
    // an internal API, or net.Socket where a node version lacks it; an operator sees after a
    // node upgrade whether the checks still take the cheap path.
    this.registry
      .gauge('lbha_agent_probe_socket_info', "1 for the connections the HTTP and TCP checks use: node's TCP handle (handle) or net.Socket (net)", ['implementation'])
      .set({ implementation: probeSocketKind() }, 1);
    if (opts.defaultMetrics ?? true) registerProcessMetrics(this.registry, { prefix: 'lbha_agent_', takeMaxLateMs: () => ticks.takeMaxLateMs() });
  }

  checkResult(name: string, durationMs: number): void {
    this.checkDuration.observe({ check: name }, durationMs / 1000);
  }

  check(c: CheckStatus): void {
    this.checkHealthy.set({ check: c.name, kind: c.kind }, c.result.kind === 'healthy' ? 1 : c.result.kind === 'unhealthy' ? 0 : -1);
  }

  removeCheck(name: string, kind: string): void {
    this.checkHealthy.remove({ check: name, kind });
  }

  service(s: ServiceStatus): void {
    this.serviceUp.set({ service: s.name, kind: s.kind }, s.state === 'running' ? 1 : 0);
    if (s.stats) this.serviceConnections.set({ service: s.name }, s.stats.activeConnections);
  }

  restart(service: string, outcome: 'ok' | 'failed'): void {
    this.restarts.inc({ service, outcome });
  }

  kill(service: string, cause: KillCause): void {
    this.kills.inc({ service, cause });
  }

  transition(instance: string, state: VrrpState): void {
    this.transitions.inc({ instance, state });
  }

  instance(i: InstanceStatus): void {
    for (const s of VRRP_STATES) this.vrrpState.set({ instance: i.name, state: s }, i.state === s ? 1 : 0);
    this.priority.set({ instance: i.name }, i.effectivePriority);
    this.vipPresent.set({ instance: i.name }, i.vipPresent ? 1 : 0);
  }

  removeInstance(name: string): void {
    for (const s of VRRP_STATES) this.vrrpState.remove({ instance: name, state: s });
    this.priority.remove({ instance: name });
    this.vipPresent.remove({ instance: name });
  }

  node(healthy: boolean, version: number): void {
    this.healthy.set({}, healthy ? 1 : 0);
    this.desiredVersion.set({}, version);
  }

  reload(): void {
    this.reloads.inc();
  }

  trackWrite(file: 'health' | 'placement'): void {
    this.trackWrites.inc({ file });
  }

  command(action: string, state: string): void {
    this.commands.inc({ action, state });
  }
}
