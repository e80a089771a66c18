// The agent's one metrics registry. Names start with lbha_agent_; labels are names from the
// spec or the agent config (check, service, instance, state), never ids or free text.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CheckStatus, InstanceStatus, ServiceStatus, VrrpState } from '@lbha/shared';

const VRRP_STATES: readonly VrrpState[] = ['init', 'backup', 'master', 'fault', 'stop', 'deleted', 'unknown'];

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly checkHealthy = new Gauge({ name: 'lbha_agent_check_healthy', help: 'Check verdict: 1 healthy, 0 unhealthy, -1 unknown', labelNames: ['check', 'kind'], registers: [this.registry] });
  private readonly checkDuration = new Histogram({
    name: 'lbha_agent_check_duration_seconds',
    help: 'Duration of check probes',
    labelNames: ['check'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [this.registry],
  });
  private readonly serviceUp = new Gauge({ name: 'lbha_agent_service_up', help: '1 when the supervised service is running', labelNames: ['service', 'kind'], registers: [this.registry] });
  private readonly serviceConnections = new Gauge({ name: 'lbha_agent_service_active_connections', help: 'Active connections of the proxy', labelNames: ['service'], registers: [this.registry] });
  private readonly restarts = new Counter({ name: 'lbha_agent_service_restarts_total', help: 'Restarts of supervised services by the agent', labelNames: ['service', 'outcome'], registers: [this.registry] });
  private readonly vrrpState = new Gauge({ name: 'lbha_agent_vrrp_state', help: '1 for the current VRRP state of each instance', labelNames: ['instance', 'state'], registers: [this.registry] });
  private readonly transitions = new Counter({ name: 'lbha_agent_vrrp_transitions_total', help: 'VRRP state changes reported by keepalived', labelNames: ['instance', 'state'], registers: [this.registry] });
  private readonly priority = new Gauge({ name: 'lbha_agent_instance_priority', help: 'Effective priority of each instance (0 in FAULT)', labelNames: ['instance'], registers: [this.registry] });
  private readonly vipPresent = new Gauge({ name: 'lbha_agent_vip_present', help: '1 when the VIP is configured on this node', labelNames: ['instance'], registers: [this.registry] });
  private readonly healthy = new Gauge({ name: 'lbha_agent_healthy', help: '1 when no fault-effect check fails', registers: [this.registry] });
  private readonly desiredVersion = new Gauge({ name: 'lbha_agent_desired_state_version', help: 'Version of the applied desired state', registers: [this.registry] });
  private readonly reloads = new Counter({ name: 'lbha_agent_keepalived_reloads_total', help: 'keepalived reloads (config structure changes only)', registers: [this.registry] });
  private readonly trackWrites = new Counter({ name: 'lbha_agent_track_file_writes_total', help: 'Track file writes', labelNames: ['file'], registers: [this.registry] });
  private readonly commands = new Counter({ name: 'lbha_agent_commands_total', help: 'Commands finished', labelNames: ['action', 'state'], registers: [this.registry] });

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'lbha_agent_', eventLoopMonitoringPrecision: 100 });
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
    this.healthy.set(healthy ? 1 : 0);
    this.desiredVersion.set(version);
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
