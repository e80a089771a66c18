// Fake agents for integration tests: real gRPC clients speaking the agent protocol (Hello,
// Snapshot, Deltas, Heartbeats, ACK/NACK, command results), over a simulated VRRP segment that
// elects a MASTER per VIP from the desired priorities the coordinator pushed (the port here is
// keepalived; the coordinator under test is real).
import { credentials, type ClientDuplexStream } from '@grpc/grpc-js';
import {
  AgentServiceClient,
  commandFromWire,
  commandResultToWire,
  deltaToWire,
  desiredStateFromWire,
  AGENT_CAPABILITIES,
  helloToWire,
  snapshotToWire,
  type BackendReport,
  type BackendServer,
  type Command,
  type CommandResult,
  type ConnectRequest,
  type ConnectResponse,
  type DesiredState,
  type InstanceStatus,
  type NodeSnapshot,
  type VrrpState,
} from '@lbha/shared';

function clamp(p: number): number {
  return Math.min(254, Math.max(1, p));
}

/** The VRRP domain of one cluster: elects a holder per VIP among the nodes whose keepalived runs. */
export class FakeSegment {
  readonly members = new Map<string, FakeAgent>();
  /** vip name -> current master. */
  private readonly masters = new Map<string, string>();
  /** Nodes cut off from the others: each elects on its own (a split brain in the making). */
  readonly partitioned = new Set<string>();

  add(agent: FakeAgent): void {
    this.members.set(agent.node, agent);
  }

  /** Elects a master per VIP like keepalived: highest effective priority wins; a tie keeps the master. */
  recompute(): void {
    const vips = new Set<string>();
    for (const a of this.members.values()) for (const i of a.desired?.instances ?? []) vips.add(i.name);
    const states = new Map<string, Map<string, { state: VrrpState; present: boolean; priority: number }>>();
    for (const vip of vips) {
      const prio = (a: FakeAgent) => {
        const inst = a.desired?.instances.find((i) => i.name === vip);
        if (!inst || !a.keepalivedRunning) return -1;
        if (!a.healthy || inst.stepDown) return 0;
        return clamp(inst.basePriority + inst.placementWeight - a.penalty);
      };
      const alive = [...this.members.values()].filter((a) => prio(a) >= 0);
      const elect = (group: FakeAgent[]): string | undefined => {
        const live = group.filter((a) => prio(a) > 0);
        if (live.length === 0) return undefined;
        const top = Math.max(...live.map(prio));
        const current = this.masters.get(vip);
        const tops = live.filter((a) => prio(a) === top);
        return (tops.find((a) => a.node === current) ?? tops.sort((a, b) => (a.node < b.node ? 1 : -1))[0])?.node;
      };
      const connected = alive.filter((a) => !this.partitioned.has(a.node));
      const masters = new Set<string>();
      const m = elect(connected);
      if (m) masters.add(m);
      for (const a of alive.filter((x) => this.partitioned.has(x.node))) if (prio(a) > 0) masters.add(a.node);
      if (m) this.masters.set(vip, m);
      for (const a of this.members.values()) {
        let per = states.get(a.node);
        if (!per) states.set(a.node, (per = new Map()));
        const p = prio(a);
        if (p < 0) continue;
        const master = masters.has(a.node);
        per.set(vip, { state: p === 0 ? 'fault' : master ? 'master' : 'backup', present: master, priority: p });
      }
    }
    for (const a of this.members.values()) a.setVrrp(states.get(a.node) ?? new Map());
  }
}

export interface FakeAgentOptions {
  readonly proxy?: string;
  /** Refuse desired states with this error. */
  nack?: string;
  /** How long a drain command takes before it reports success (default 50ms). */
  drainMs?: number;
  /** Report restart of this service as failed. */
  failRestart?: string;
  /** Report reload of this service as failed (the config check refused it). */
  failReload?: string;
  /** The backend servers its proxy runs (none: it reports no backends). */
  backends?: readonly BackendServer[];
  /** Configuration digests it reports (default: the same on every agent). */
  configDigest?: string;
  /** How long its proxy may take to send to the backends again once they answer (haproxy's checks; default 0). */
  readmitMs?: number;
  /** This service's config does not validate: validate, reload and restart of it fail. */
  invalidConfig?: string;
}

export class FakeAgent {
  desired: DesiredState | undefined;
  healthy = true;
  penalty = 0;
  keepalivedRunning = true;
  appliedVersion = 0;
  readonly bootId = `boot-${Math.random().toString(36).slice(2)}`;
  /** Every command message received, in order (ids may repeat on resends). */
  readonly received: Command[] = [];
  /** Ids actually executed; a repeated id is never executed twice. */
  readonly executed: string[] = [];
  readonly desiredSeen: DesiredState[] = [];
  /** What its proxy runs of the backend servers; desired states apply their wanted states. */
  servers: BackendServer[];
  /** Refuse to apply the backend settings, with this error (as nginx -t would). */
  backendError = '';
  private backendApplied = 0;
  private backendErrorVersion = 0;
  private readonly results = new Map<string, CommandResult>();
  private instances = new Map<string, InstanceStatus>();
  private pid = 1000;
  private client: AgentServiceClient | undefined;
  private call: ClientDuplexStream<ConnectRequest, ConnectResponse> | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private welcomed = false;
  /** Drains in progress; finish() completes them early (tests that hold a drain open set drainMs high). */
  private readonly drains = new Map<string, () => void>();

  constructor(
    readonly address: string,
    readonly node: string,
    readonly cluster: string,
    readonly segment: FakeSegment,
    readonly opts: FakeAgentOptions = {},
  ) {
    segment.add(this);
    this.servers = [...(opts.backends ?? [])];
  }

  /** The backend report, as a real agent builds it after applying its desired state. */
  backendReport(): BackendReport | undefined {
    if (!this.opts.backends) return undefined;
    const files = [{ path: '/etc/nginx/nginx.conf', digest: this.opts.configDigest ?? 'same' }];
    return {
      service: this.opts.proxy ?? 'nginx',
      servers: this.servers,
      appliedVersion: this.backendApplied,
      error: this.backendError,
      errorVersion: this.backendErrorVersion,
      configDigest: this.opts.configDigest ?? 'same',
      filesDigest: '',
      configFiles: files,
      observeError: '',
      observedMs: Date.now(),
      readmitMs: this.opts.readmitMs ?? 0,
    };
  }

  /** Sessions the proxy has open to a server now. */
  setSessions(pool: string, server: string, sessions: number): void {
    this.servers = this.servers.map((s) => (s.pool === pool && s.server === server ? { ...s, sessions } : s));
    this.sendDelta();
  }

  /** Changes what the proxy runs by hand (someone on the node, behind lbha's back). */
  setServer(pool: string, server: string, change: Partial<BackendServer>): void {
    this.servers = this.servers.map((s) => (s.pool === pool && s.server === server ? { ...s, ...change } : s));
    this.sendDelta();
  }

  /** Reports another configuration digest (a hand edit on the node). */
  setConfigDigest(digest: string): void {
    (this.opts as { configDigest?: string }).configDigest = digest;
    this.sendDelta();
  }

  private applyBackends(d: DesiredState): void {
    if (!this.opts.backends || !d.backends) return;
    if (this.backendError) {
      this.backendErrorVersion = d.version;
      return;
    }
    for (const i of d.backends.intents) {
      this.servers = this.servers.map((s) => (s.pool === i.pool && s.server === i.server ? { ...s, admin: i.admin, weight: i.weight ?? 1 } : s));
    }
    this.backendApplied = d.version;
  }

  get connected(): boolean {
    return this.welcomed && this.call !== undefined;
  }

  snapshot(): NodeSnapshot {
    const proxy = this.opts.proxy ?? 'nginx';
    return {
      services: [{ name: proxy, kind: proxy === 'haproxy' ? 'haproxy' : 'nginx', state: 'running', pid: this.pid, restarts: 0, lastError: '', stats: undefined, sinceMs: 1, supervisor: 'direct' }],
      checks: [
        { name: 'proxy', kind: 'process', result: this.healthy ? { kind: 'healthy' } : { kind: 'unhealthy', reason: 'not running' }, effect: 'fault', penalty: 0, sinceMs: 1, durationMs: 1, streak: 1 },
        { name: 'down-file', kind: 'maintenance_file', result: this.penalty > 0 ? { kind: 'unhealthy', reason: 'file exists' } : { kind: 'healthy' }, effect: 'penalty', penalty: this.penalty || 50, sinceMs: 1, durationMs: 1, streak: 1 },
      ],
      instances: [...this.instances.values()],
      healthy: this.healthy,
      appliedVersion: this.appliedVersion,
      localMode: 'active',
      ...(this.backendReport() ? { backends: this.backendReport() } : {}),
    };
  }

  /** Called by the segment after an election. */
  setVrrp(states: Map<string, { state: VrrpState; present: boolean; priority: number }>): void {
    const next = new Map<string, InstanceStatus>();
    for (const inst of this.desired?.instances ?? []) {
      const s = states.get(inst.name);
      // Like the agent: an announcement asked for is carried out by the node holding the VIP.
      const before = this.instances.get(inst.name)?.announced ?? 0;
      const announced = inst.announce !== undefined && s?.present ? Math.max(before, inst.announce) : before;
      next.set(inst.name, {
        name: inst.name,
        vrid: inst.vrid,
        vip: inst.vip,
        interface: inst.interface,
        state: s?.state ?? 'stop',
        basePriority: inst.basePriority,
        effectivePriority: s?.priority ?? 0,
        vipPresent: s?.present ?? false,
        sinceMs: Date.now(),
        priorityTerms: [
          { source: 'base', delta: inst.basePriority, reason: 'base' },
          { source: 'placement', delta: inst.placementWeight, reason: `rank ${inst.rank}` },
          ...(this.penalty > 0 ? [{ source: 'check:down-file', delta: -this.penalty, reason: 'maintenance file' }] : []),
        ],
        faultedByHealth: !this.healthy,
        announced,
      });
    }
    const key = (m: Map<string, InstanceStatus>) => JSON.stringify([...m.values()].map((i) => [i.name, i.state, i.vipPresent, i.effectivePriority, i.announced]));
    const changed = key(next) !== key(this.instances);
    this.instances = next;
    if (changed) this.sendDelta();
  }

  private send(msg: ConnectRequest['msg']): void {
    if (this.call && !this.call.writableEnded) this.call.write({ msg });
  }

  private sendDelta(): void {
    if (!this.connected) return;
    const s = this.snapshot();
    this.send({
      $case: 'delta',
      value: deltaToWire({ services: s.services, checks: s.checks, instances: s.instances, removedChecks: [], removedInstances: [], healthy: s.healthy, appliedVersion: s.appliedVersion, ...(s.backends ? { backends: s.backends } : {}) }),
    });
  }

  connect(): Promise<void> {
    this.client = new AgentServiceClient(this.address, credentials.createInsecure());
    const call = this.client.connect();
    this.call = call;
    return new Promise((resolve, reject) => {
      call.on('data', (res: ConnectResponse) => {
        const m = res.msg;
        if (!m) return;
        switch (m.$case) {
          case 'welcome':
            this.welcomed = true;
            this.send({ $case: 'snapshot', value: { state: snapshotToWire(this.snapshot()) } });
            this.heartbeat = setInterval(() => this.send({ $case: 'heartbeat', value: { seq: 1, sentMs: Date.now() } }), 100);
            resolve();
            return;
          case 'desiredState': {
            const d = desiredStateFromWire(m.value, 'desiredState');
            this.desiredSeen.push(d);
            if (this.opts.nack) {
              this.send({ $case: 'desiredStateAck', value: { version: d.version, accepted: false, error: this.opts.nack } });
              return;
            }
            this.desired = d;
            this.appliedVersion = d.version;
            this.applyBackends(d);
            this.send({ $case: 'desiredStateAck', value: { version: d.version, accepted: true, error: '' } });
            this.segment.recompute();
            this.sendDelta();
            return;
          }
          case 'command':
            this.onCommand(commandFromWire(m.value, 'command'));
            return;
          case 'ping':
            this.send({ $case: 'pong', value: { seq: m.value.seq } });
            return;
        }
      });
      call.on('error', (err) => {
        if (!this.welcomed) reject(err);
        this.teardown();
      });
      call.on('end', () => this.teardown());
      call.write({
        msg: {
          $case: 'hello',
          value: helloToWire({
            node: this.node,
            cluster: this.cluster,
            agentVersion: 'fake',
            bootId: this.bootId,
            protocol: 1,
            appliedVersion: this.appliedVersion,
            recentResults: [...this.results.values()].filter((r) => r.state === 'succeeded' || r.state === 'failed' || r.state === 'rejected'),
            capabilities: AGENT_CAPABILITIES,
          }),
        },
      });
    });
  }

  private teardown(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    this.welcomed = false;
    this.call = undefined;
    this.client?.close();
    this.client = undefined;
  }

  /** The agent process goes away; keepalived keeps running with what it has. */
  disconnect(): void {
    const call = this.call;
    this.teardown();
    call?.cancel();
  }

  setHealth(healthy: boolean): void {
    this.healthy = healthy;
    this.segment.recompute();
    this.sendDelta();
  }

  setPenalty(penalty: number): void {
    this.penalty = penalty;
    this.segment.recompute();
    this.sendDelta();
  }

  /** Completes running drains now. */
  finishDrains(): void {
    for (const f of [...this.drains.values()]) f();
  }

  private report(r: CommandResult): void {
    this.results.set(r.commandId, r);
    if (this.connected) this.send({ $case: 'commandResult', value: commandResultToWire(r) });
  }

  private onCommand(c: Command): void {
    this.received.push(c);
    const earlier = this.results.get(c.id);
    if (earlier) {
      // Idempotent by id: report what happened, run nothing.
      this.report(earlier);
      return;
    }
    this.executed.push(c.id);
    const result = (state: CommandResult['state'], message: string, activeConnections = 0): CommandResult => ({ commandId: c.id, state, message, activeConnections, finishedMs: Date.now() });
    this.report(result('running', 'running', 3));
    const a = c.action;
    switch (a.kind) {
      case 'drain': {
        const done = () => {
          this.drains.delete(c.id);
          clearTimeout(timer);
          this.report(result('succeeded', 'drained: 0 active connections'));
        };
        const timer = setTimeout(done, this.opts.drainMs ?? 50);
        this.drains.set(c.id, done);
        return;
      }
      case 'undrain':
        this.report(result('succeeded', 'undrained'));
        return;
      case 'validate':
        setTimeout(() => {
          if (this.opts.invalidConfig === a.service) this.report(result('failed', `${a.service}: the configuration does not validate: unknown directive "bogus"`));
          else this.report(result('succeeded', `${a.service}: the configuration is valid`));
        }, 10);
        return;
      case 'restart':
        setTimeout(() => {
          if (this.opts.failRestart === a.service || this.opts.invalidConfig === a.service) {
            this.report(result('failed', `${a.service} did not start: config test failed`));
            return;
          }
          this.pid += 1;
          this.report(result('succeeded', `${a.service} restarted`));
          this.sendDelta();
        }, 30);
        return;
      case 'reload':
        setTimeout(() => {
          if (this.opts.failReload === a.service || this.opts.invalidConfig === a.service) this.report(result('failed', `${a.service} configuration test failed: unknown directive "bogus"`));
          else this.report(result('succeeded', `${a.service} reloaded`));
        }, 10);
        return;
    }
  }
}
