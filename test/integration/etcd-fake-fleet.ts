// LB nodes for the several-coordinators tests: the real agent stream client (reconnects,
// moves between coordinator addresses, resends snapshots) in front of a fake core at the
// agent's ports. The fake keepalived of the fleet elects, for each VIP, the MASTER the way
// VRRP does from what each node was told (base priority + placement weight, FAULT when
// unhealthy, lowest when draining), so a test sees every VIP move and every message each node
// received, tagged with the coordinator whose stream delivered it.
import { Writable } from 'node:stream';
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { computePriority, StreamClient, type AgentStateSource, type CoordinatorHandler, type DesiredStateOutcome } from '@lbha/agent';
import { createLogger, type Command, type CommandResult, type DesiredState, type InstanceStatus, type NodeDelta, type NodeSnapshot } from '@lbha/shared';

export interface Received {
  readonly kind: 'desiredState' | 'command';
  /** Desired-state version or command id. */
  readonly ref: string;
  /** Date.now() when the node got it. */
  readonly atMs: number;
  /** id of the coordinator that welcomed the stream it came on (the leader, also when relayed). */
  readonly coordinator: string;
}

export interface VipMove {
  readonly vip: string;
  readonly from: string;
  readonly to: string;
  readonly atMs: number;
}

export class FakeNode implements AgentStateSource, CoordinatorHandler {
  readonly received: Received[] = [];
  /** Command id -> how many times it was executed (a repeat of a known id is not executed). */
  readonly executions = new Map<string, number>();
  coordinator = '';
  healthy = true;
  desired: DesiredState | undefined;
  client: StreamClient | undefined;
  private applied = 0;
  private readonly results = new Map<string, CommandResult>();
  private readonly listeners = new Set<(d: NodeDelta) => void>();

  constructor(
    readonly name: string,
    private readonly fleet: FakeFleet,
  ) {}

  connect(addresses: readonly string[], tls?: { credentials: ChannelCredentials; options: Record<string, string> }): void {
    // The stream client logs which coordinator welcomed it; that tags what arrives next.
    const sink = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        for (const line of chunk.toString().split('\n')) {
          if (!line) continue;
          try {
            const l = JSON.parse(line) as { event?: string; coordinator?: string };
            if (l.event === 'stream.connected' && l.coordinator) this.coordinator = l.coordinator;
            if (l.event === 'stream.error' || l.event === 'stream.reconnect_scheduled') this.coordinator = '';
          } catch {
            // not JSON
          }
        }
        done();
      },
    });
    this.client = new StreamClient({
      addresses,
      credentials: tls?.credentials ?? credentials.createInsecure(),
      ...(tls ? { channelOptions: tls.options } : {}),
      node: this.name,
      cluster: this.fleet.cluster,
      agentVersion: 'fake',
      bootId: `fake-${this.name}-${process.pid}`,
      source: this,
      handler: this,
      logger: createLogger(`fake-${this.name}`, { level: 'info', destination: sink }),
      backoffInitialMs: 50,
      backoffMaxMs: 500,
    });
    this.client.start();
  }

  async disconnect(): Promise<void> {
    await this.client?.stop();
    this.client = undefined;
  }

  instances(): InstanceStatus[] {
    return (this.desired?.instances ?? []).map((i) => {
      const master = this.fleet.masterOf(i.name) === this.name;
      const p = this.priority(i.name);
      return {
        name: i.name,
        vrid: i.vrid,
        vip: i.vip,
        interface: i.interface,
        state: p.faulted ? 'fault' : master ? 'master' : 'backup',
        basePriority: i.basePriority,
        effectivePriority: p.effectivePriority,
        vipPresent: master,
        sinceMs: 0,
        priorityTerms: [],
        faultedByHealth: p.faulted,
      };
    });
  }

  /** This node's VRRP priority for an instance, from what it was told; undefined without it. */
  priority(instance: string): { effectivePriority: number; faulted: boolean } {
    const i = this.desired?.instances.find((x) => x.name === instance);
    if (!i) return { effectivePriority: 0, faulted: true };
    const mode = this.desired?.mode ?? 'active';
    return computePriority({
      instance: i,
      lowest: mode === 'active' ? undefined : `node is ${mode}`,
      penalties: [],
      faults: this.healthy ? [] : [{ source: 'check:fake', reason: 'made unhealthy by the test' }],
      downInterfaces: [],
    });
  }

  snapshot(): NodeSnapshot {
    return { services: [], checks: [], instances: this.instances(), healthy: this.healthy, appliedVersion: this.applied, localMode: this.desired?.mode ?? 'active' };
  }

  onDelta(listener: (d: NodeDelta) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emitDelta(): void {
    const d: NodeDelta = { services: [], checks: [], instances: this.instances(), removedChecks: [], removedInstances: [], healthy: this.healthy, appliedVersion: this.applied };
    for (const l of this.listeners) l(d);
  }

  appliedVersion(): number {
    return this.applied;
  }

  recentResults(): readonly CommandResult[] {
    return [...this.results.values()];
  }

  async applyDesiredState(desired: DesiredState): Promise<DesiredStateOutcome> {
    this.received.push({ kind: 'desiredState', ref: String(desired.version), atMs: Date.now(), coordinator: this.coordinator });
    if (desired.version < this.applied) return { accepted: false, error: `version ${desired.version} is older than the applied ${this.applied}` };
    this.desired = desired;
    this.applied = desired.version;
    this.fleet.recompute();
    return { accepted: true };
  }

  runCommand(command: Command, report: (r: CommandResult) => void): void {
    this.received.push({ kind: 'command', ref: command.id, atMs: Date.now(), coordinator: this.coordinator });
    const known = this.results.get(command.id);
    if (known || this.executions.has(command.id)) {
      // Idempotent: a command id already run (or running) only reports where it stands.
      if (known) report(known);
      return;
    }
    this.executions.set(command.id, 1);
    const done = (r: Omit<CommandResult, 'commandId' | 'finishedMs'>) => {
      const result = { ...r, commandId: command.id, finishedMs: Date.now() };
      this.results.set(command.id, result);
      report(result);
    };
    if (command.action.kind === 'drain') {
      // Connections take a while to finish, long enough for a test to kill a coordinator meanwhile.
      report({ commandId: command.id, state: 'running', message: 'waiting for 3 connections', activeConnections: 3, finishedMs: 0 });
      setTimeout(() => done({ state: 'succeeded', message: 'connections drained', activeConnections: 0 }), this.fleet.drainMs);
      return;
    }
    done({ state: 'succeeded', message: `${command.action.kind} done`, activeConnections: 0 });
  }

  setHealthy(healthy: boolean): void {
    this.healthy = healthy;
    this.fleet.recompute();
    this.emitDelta();
  }
}

export class FakeFleet {
  readonly nodes: FakeNode[];
  readonly moves: VipMove[] = [];
  private readonly masters = new Map<string, string>();
  drainMs = 4000;

  constructor(
    readonly cluster: string,
    names: readonly string[],
  ) {
    this.nodes = names.map((n) => new FakeNode(n, this));
  }

  node(name: string): FakeNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no fake node ${name}`);
    return n;
  }

  masterOf(instance: string): string | undefined {
    return this.masters.get(instance);
  }

  /** VRRP's election per VIP: the highest priority that is not in FAULT; ties to the higher name. */
  recompute(): void {
    const names = new Set(this.nodes.flatMap((n) => (n.desired?.instances ?? []).map((i) => i.name)));
    let changed = false;
    for (const vip of names) {
      let best: { node: string; p: number } | undefined;
      for (const n of this.nodes) {
        const p = n.priority(vip);
        if (p.faulted) continue;
        if (!best || p.effectivePriority > best.p || (p.effectivePriority === best.p && n.name > best.node)) best = { node: n.name, p: p.effectivePriority };
      }
      const before = this.masters.get(vip);
      const after = best?.node;
      if (before === after) continue;
      changed = true;
      if (after) this.masters.set(vip, after);
      else this.masters.delete(vip);
      this.moves.push({ vip, from: before ?? '', to: after ?? '', atMs: Date.now() });
    }
    if (changed) for (const n of this.nodes) n.emitDelta();
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.disconnect()));
  }
}
