// The rest of the coordinator as the operation procedures see it, faked at the OperationEnv port
// with a fake clock: every wait (for a condition or an agent's answer) takes as long as the test
// says, within the time it is given, so a whole restart runs in microseconds and the budget of
// each step can be read off.
import type { CommandAction, NodeMode } from '@lbha/shared';
import type { IssueRequest } from '../../src/command-dispatcher.js';
import type { VipView } from '../../src/fleet-view.js';
import type { OperationEnv } from '../../src/operations/operation-env.js';
import type { NodeRecord } from '../../src/registry.js';
import type { JournalEntry } from '../../src/store/coordinator-state.js';
import { LB1, LB2, seed1, T0 } from './pass-world.js';

/** How long something takes, given the time it is allowed: a duration, or never. */
export type Delay = (allowedMs: number) => number | 'never';

export interface Wait {
  readonly what: string;
  readonly atMs: number;
  readonly timeoutMs: number;
}

export class FakeOperationWorld {
  now = T0;
  readonly cluster = seed1();
  readonly modes = new Map<string, NodeMode>();
  /** VIPs each node holds (and should hold: keepalived follows at once here). */
  readonly holds = new Map<string, Set<string>>([
    [LB1, new Set(['vip-28'])],
    [LB2, new Set(['vip-29'])],
  ]);
  readonly pids = new Map<string, number>([
    [LB1, 100],
    [LB2, 200],
  ]);
  readonly waits: Wait[] = [];
  readonly issued: IssueRequest[] = [];
  conditionDelay: Delay = () => 0;
  commandDelay: (action: CommandAction) => Delay = () => () => 0;

  private other(node: string): string {
    return node === LB1 ? LB2 : LB1;
  }

  /** Sets a mode as an earlier run of an operation did. */
  setModeForTest(node: string, mode: NodeMode): void {
    this.setMode(node, mode);
  }

  private setMode(node: string, mode: NodeMode): void {
    this.modes.set(node, mode);
    const mine = this.holds.get(node) ?? new Set<string>();
    const theirs = this.holds.get(this.other(node)) ?? new Set<string>();
    if (mode === 'active') {
      for (const v of this.cluster.vips) if (v.home === node && theirs.delete(v.name)) mine.add(v.name);
    } else {
      for (const v of mine) theirs.add(v);
      mine.clear();
    }
  }

  private spend(what: string, timeoutMs: number, delay: number | 'never'): boolean {
    this.waits.push({ what, atMs: this.now, timeoutMs });
    if (delay === 'never' || delay > timeoutMs) {
      this.now += timeoutMs;
      return false;
    }
    this.now += delay;
    return true;
  }

  private record(node: string): NodeRecord {
    return {
      name: node,
      cluster: this.cluster.name,
      link: 'connected',
      lastSeenMs: this.now,
      connectedSinceMs: T0,
      agentVersion: '0.1.0',
      capabilities: [],
      bootId: `boot-${node}`,
      peer: '',
      snapshot: {
        services: [{ name: 'nginx', kind: 'nginx', state: 'running', pid: this.pids.get(node) ?? 0, restarts: 0, lastError: '', stats: undefined, sinceMs: T0, supervisor: 'direct' }],
        checks: [],
        instances: [],
        healthy: true,
        appliedVersion: 1,
        localMode: 'active',
      },
      appliedVersion: 1,
      nackError: '',
      session: undefined,
    };
  }

  private vipViews(): VipView[] {
    return this.cluster.vips.map(
      (v) =>
        ({
          cluster: this.cluster.name,
          name: v.name,
          actualHolders: [...this.holds].filter(([, s]) => s.has(v.name)).map(([n]) => n),
          status: 'ok',
        }) as unknown as VipView,
    );
  }

  env(): OperationEnv {
    const spec = { clusters: [this.cluster] };
    const vipsOf = (node: string) => [...(this.holds.get(node) ?? [])];
    const entry = (req: IssueRequest, state: JournalEntry['state']): JournalEntry => ({ ...req, state, message: `${req.action.kind} ${state}`, activeConnections: 0, createdMs: this.now, updatedMs: this.now });
    return {
      view: {
        currentSpec: () => spec,
        clusterOfNode: (node) => (this.cluster.nodes.some((n) => n.name === node) ? this.cluster : undefined),
        vips: () => this.vipViews(),
        vipsOf,
        placement: () => ({ clusters: new Map(), nextChangeMs: null }),
        interlockInput: () => ({ spec, nodes: new Map(), holders: new Map(), nowMs: this.now }),
        desiredOf: (node) => ({ mode: this.modes.get(node) ?? 'active', version: 1 }) as never,
        waitUntil: async (predicate, timeoutMs) => this.spend('condition', timeoutMs, this.conditionDelay(timeoutMs)) && predicate(),
      },
      nodes: { get: (node) => this.record(node) },
      commands: {
        issue: async (req) => {
          this.issued.push(req);
          return entry(req, 'pending');
        },
        wait: async (id, timeoutMs) => {
          const req = this.issued.find((r) => r.id === id) as IssueRequest;
          const answered = this.spend(`command ${req.action.kind}`, timeoutMs, this.commandDelay(req.action)(timeoutMs));
          if (!answered) return entry(req, 'pending');
          if (req.action.kind === 'restart') this.pids.set(req.node, (this.pids.get(req.node) ?? 0) + 1);
          return entry(req, 'succeeded');
        },
      },
      handovers: { extendHandovers: () => {}, endHandovers: () => {} },
      pins: { pinOf: () => undefined, setPin: async () => {} },
      modeOf: (node) => this.modes.get(node) ?? 'active',
      setMode: async (node, mode) => this.setMode(node, mode),
      clock: () => this.now,
      backends: { view: () => ({ servers: [], pools: [] }), set: async () => [], intentsOf: () => ({}), reports: () => [] },
      events: { record: (e) => ({ seq: 0, timeMs: this.now, cluster: '', node: '', vip: '', reason: '', actor: '', severity: 'info', operationId: '', ...e }) },
      drill: { prober: { where: 'nowhere', start: () => ({ ready: async () => {}, stop: async () => ({ results: [], problem: '' }) }) }, holdMs: 0 },
      drills: { finished: async () => {} },
    };
  }
}
