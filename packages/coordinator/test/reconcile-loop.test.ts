// The reconcile loop between its ports: a real registry (what agents report) and outbox (what
// is sent), a store in memory, a fake clock. Passes are run one at a time (runNow), so what is
// pushed can be counted exactly: no server, no sleeps.
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { CAPABILITY_HANDOVER, silentLogger, type DesiredState, type NodeMode } from '@lbha/shared';
import { eventually } from '@lbha/test-support';
import { AgentOutbox } from '../src/agent-outbox.js';
import { EventLog } from '../src/event-log.js';
import { FleetView } from '../src/fleet-view.js';
import { desiredBackends } from '../src/backends/desired-backends.js';
import { ReconcileLoop } from '../src/reconcile-loop.js';
import type { ClusterSpec } from '../src/spec/cluster-spec.js';
import { Registry, type AgentSession } from '../src/registry.js';
import { CoordinatorState } from '../src/store/coordinator-state.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { StoreError } from '../src/errors.js';
import type { StoreCompare, StoreOp, TxnResult } from '../src/store/store.js';
import { hello, instance, snapshot } from './support/fake-fleet.js';
import { LB1, LB2, seed1, T0 } from './support/pass-world.js';

const SPEC = { clusters: [seed1()] };

/** Seed 1 as cluster `name`, its nodes renamed after it (VIPs as in SPEC, so report() fits). */
const renamedSeed = (name: string): ClusterSpec => seed1((y) => y.replace('name: web', `name: ${name}`).replaceAll('nginx-lb0', `${name}-lb0`));
const rigs: Rig[] = [];

class Rig {
  now = T0;
  readonly registry = new Registry(3500, () => this.now);
  readonly outbox = new AgentOutbox((n) => this.registry.get(n)?.session);
  readonly events = new EventLog(1000, () => this.now);
  readonly view = new FleetView(() => this.now);
  readonly state: CoordinatorState;
  readonly modes = new Map<string, NodeMode>();
  readonly sent = new Map<string, DesiredState[]>();
  readonly loop: ReconcileLoop;
  private sessions = 0;

  /** `debounceMs`: 60 s runs passes only when the test says (runNow); 0 runs them as the coordinator does. */
  constructor(store = new MemoryStore(), passSliceMs?: number, debounceMs = 60_000) {
    rigs.push(this);
    this.state = new CoordinatorState(store);
    this.loop = new ReconcileLoop({
      registry: this.registry,
      outbox: this.outbox,
      view: this.view,
      events: this.events,
      state: this.state,
      logger: silentLogger(),
      modeOf: (n) => this.modes.get(n) ?? 'active',
      backendsOf: (c) => desiredBackends(c, undefined),
      clock: () => this.now,
      debounceMs,
      ...(passSliceMs === undefined ? {} : { passSliceMs }),
    });
  }

  /** Sets the spec and follows the registry, as the control plane does at start. */
  start(): this {
    this.loop.setSpec(SPEC);
    this.loop.start();
    return this;
  }

  session(node: string): AgentSession {
    const id = `${node}-${++this.sessions}`;
    return { id, peer: id, sendDesiredState: (d) => this.sent.set(node, [...(this.sent.get(node) ?? []), d]), sendCommand: () => {}, close: () => {} };
  }

  /** The agent of `node` connects (new stream) and, unless told otherwise, reports at once. */
  connect(node: string, opts: { cluster?: string; applied?: number; report?: boolean } = {}): string {
    const s = this.session(node);
    const r = this.registry.attach({ ...hello(node, opts.cluster ?? 'web'), appliedVersion: opts.applied ?? 0, capabilities: [CAPABILITY_HANDOVER] }, s);
    assert.ok(r.ok);
    if (opts.report ?? true) this.report(node, opts.applied ?? 0);
    return s.id;
  }

  report(node: string, applied: number): void {
    const home = SPEC.clusters[0]?.vips.filter((v) => v.home === node).map((v) => v.name) ?? [];
    const s = this.registry.get(node)?.session?.id as string;
    this.registry.setSnapshot(node, s, snapshot(SPEC.clusters[0]?.vips.map((v) => instance(v.name, home.includes(v.name) ? 'master' : 'backup', 1, { vrid: v.vrid, interface: v.interface })) ?? [], { appliedVersion: applied }));
  }

  /** Lets the event loop turn `n` times (passes scheduled by events run meanwhile, with debounceMs 0). */
  async turns(n = 20): Promise<void> {
    for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
  }

  /** Records the nodes each pass looks at (a pass asks for the mode of each node of each cluster it passes). */
  watchPasses(): Set<string> {
    const asked = new Set<string>();
    const get = this.modes.get.bind(this.modes);
    this.modes.get = (n: string) => (asked.add(n), get(n));
    return asked;
  }

  ack(node: string, version: number): void {
    this.registry.recordAck(node, this.registry.get(node)?.session?.id as string, version, true, '');
  }

  pushes(node: string): number[] {
    return (this.sent.get(node) ?? []).map((d) => d.version);
  }
}

describe('reconcile loop', () => {
  afterEach(async () => {
    for (const r of rigs.splice(0)) await r.loop.stop();
  });

  it('numbers each desired state and pushes it once; a pass with nothing new pushes nothing', async () => {
    const r = new Rig().start();
    r.connect(LB1);
    r.connect(LB2);
    await r.loop.runNow();
    const [v1] = r.pushes(LB1);
    const [v2] = r.pushes(LB2);
    assert.ok(v1 !== undefined && v2 !== undefined && v1 !== v2, 'each node its own version');
    assert.equal(r.outbox.sentVersion(LB1), v1);
    assert.deepEqual(r.view.desiredOf(LB1)?.version, v1, 'the view has the desired state with its version');
    await r.loop.runNow();
    assert.deepEqual([r.pushes(LB1), r.pushes(LB2)], [[v1], [v2]]);
    // A change for one node: only its desired state gets a new version.
    r.modes.set(LB2, 'maintenance');
    r.loop.schedule();
    await r.loop.runNow();
    assert.equal(r.pushes(LB2).length, 2);
    assert.ok((r.pushes(LB2)[1] ?? 0) > (v2 ?? 0));
  });

  it('a spec applied again with the same content pushes nothing; one that changes what the nodes run pushes a new version to each', async () => {
    const r = new Rig().start();
    r.connect(LB1);
    r.connect(LB2);
    await r.loop.runNow();
    const before = [r.pushes(LB1), r.pushes(LB2)];
    r.loop.setSpec({ clusters: [seed1()] });
    await r.loop.runNow();
    assert.deepEqual([r.pushes(LB1), r.pushes(LB2)], before, 'equal desired states keep their versions');
    r.loop.setSpec({ clusters: [seed1((y) => y.replace(/base_priority: \d+/, 'base_priority: 77'))] });
    await r.loop.runNow();
    for (const n of [LB1, LB2]) {
      const sent = r.sent.get(n) ?? [];
      assert.equal(sent.length, 2, `${n}: one more push`);
      assert.ok((sent[1]?.version ?? 0) > (sent[0]?.version ?? 0));
      assert.ok(sent[1]?.instances.every((i) => i.basePriority === 77));
    }
  });

  it('sends nothing to an agent before its first report', async () => {
    const r = new Rig().start();
    r.connect(LB1, { report: false });
    await r.loop.runNow();
    assert.deepEqual(r.pushes(LB1), []);
    r.report(LB1, 0);
    await r.loop.runNow();
    assert.equal(r.pushes(LB1).length, 1);
  });

  it('does not send an agent that reconnects the version it already runs, and does send a newer one', async () => {
    const r = new Rig().start();
    r.connect(LB1);
    r.connect(LB2);
    await r.loop.runNow();
    const [v1] = r.pushes(LB1);
    r.registry.detach(LB1, r.registry.get(LB1)?.session?.id as string, 'gone');
    r.connect(LB1, { applied: v1 });
    await r.loop.runNow();
    assert.deepEqual(r.pushes(LB1), [v1], 'it runs it already');
    r.registry.detach(LB1, r.registry.get(LB1)?.session?.id as string, 'gone');
    r.connect(LB1, { applied: (v1 ?? 0) - 1 });
    await r.loop.runNow();
    assert.deepEqual(r.pushes(LB1), [v1, v1], 'it runs an older one: sent again on the new stream');
  });

  it('withholds the desired state of an agent in the wrong cluster, and names a node the spec lacks', async () => {
    const r = new Rig().start();
    r.connect(LB1, { cluster: 'db' });
    r.connect('nginx-lb09');
    await r.loop.runNow();
    assert.deepEqual(r.pushes(LB1), []);
    assert.deepEqual(r.pushes('nginx-lb09'), []);
    const types = r.events.list(0, 100).map((e) => [e.type, e.node]);
    assert.ok(types.some(([t, n]) => t === 'node.cluster_mismatch' && n === LB1));
    assert.ok(types.some(([t, n]) => t === 'node.unknown' && n === 'nginx-lb09'));
  });

  it('stores the desired holders, and a new loop started from them moves nothing', async () => {
    const store = new MemoryStore();
    const r = new Rig(store).start();
    r.connect(LB1);
    r.connect(LB2);
    await r.loop.runNow();
    await r.loop.stop();
    const stored = await r.state.holders();
    assert.deepEqual(Object.fromEntries(stored), { web: { 'vip-28': LB1, 'vip-29': LB2 } });

    const again = new Rig(store);
    again.loop.restore(stored);
    again.start();
    again.connect(LB2); // only lb02's agent is back: lb01 may well still serve vip-28
    await again.loop.runNow();
    assert.deepEqual(again.view.vips().map((v) => [v.name, v.desiredHolder]), [['vip-28', LB1], ['vip-29', LB2]]);
    assert.deepEqual(again.events.list(0, 100).filter((e) => e.type === 'placement.changed'), []);
  });

  it('stores the handovers in progress: a new loop gives the first agent back its part before the other reports', async () => {
    const store = new MemoryStore();
    const r = new Rig(store).start();
    r.connect(LB1);
    r.connect(LB2);
    await r.loop.runNow();
    r.modes.set(LB1, 'draining');
    r.loop.schedule();
    await r.loop.runNow();
    const started = r.sent.get(LB1)?.at(-1)?.instances.find((i) => i.name === 'vip-28')?.handover;
    assert.equal(started?.role, 'outgoing', 'the drain moves vip-28 with a handover');
    await r.loop.stop();
    const stored = await r.state.handovers();
    assert.deepEqual([...stored].map(([c, list]) => [c, list.map((e) => [e.vip, e.from, e.to, e.untilMs])]), [['web', [['vip-28', LB1, LB2, started.untilMs]]]]);

    const again = new Rig(store);
    again.modes.set(LB1, 'draining');
    again.loop.restore(await again.state.holders(), stored);
    again.start();
    again.now += 1000;
    again.connect(LB1); // lb02's agent, which reports the incoming side, is not back yet
    await again.loop.runNow();
    assert.deepEqual(again.sent.get(LB1)?.at(-1)?.instances.find((i) => i.name === 'vip-28')?.handover, started, 'lb01 keeps answering its connections');
    assert.deepEqual(again.view.vips().find((v) => v.name === 'vip-28')?.handover, { from: LB1, to: LB2, startedMs: T0, untilMs: started.untilMs });

    // Once it is over, it is gone from the store too.
    again.now = started.untilMs;
    again.loop.schedule();
    await again.loop.runNow();
    await again.loop.stop();
    assert.deepEqual([...(await again.state.handovers())], []);
  });

  it('lets the event loop turn during a pass over many clusters, and still passes every one', async () => {
    const clusters = ['a', 'b', 'c'].map(renamedSeed);
    const r = new Rig(new MemoryStore(), 0);
    r.loop.setSpec({ clusters });
    r.loop.start();
    for (const c of clusters) for (const n of c.nodes) r.connect(n.name, { cluster: c.name });
    let turns = 0;
    let passing = true;
    const spin = (): void => {
      if (!passing) return;
      turns++;
      setImmediate(spin);
    };
    setImmediate(spin);
    await r.loop.runNow();
    passing = false;
    assert.ok(turns >= clusters.length, `the loop turned ${turns} times during a pass over ${clusters.length} clusters`);
    for (const c of clusters) for (const n of c.nodes) assert.equal(r.pushes(n.name).length, 1, `${n.name} got its desired state`);
  });

  it('stores the holders of many clusters in writes a store that takes 128 operations at most accepts', async () => {
    // As etcd does with its default --max-txn-ops.
    class SmallTxnStore extends MemoryStore {
      override txn(compares: readonly StoreCompare[], ops: readonly StoreOp[]): Promise<TxnResult> {
        if (ops.length > 128) return Promise.reject(new StoreError(`too many operations in txn request: ${ops.length}`));
        return super.txn(compares, ops);
      }
    }
    const store = new SmallTxnStore();
    const clusters = Array.from({ length: 150 }, (_, i) => renamedSeed(`c${i}`));
    const r = new Rig(store, 1000);
    r.loop.setSpec({ clusters });
    r.loop.start();
    for (const c of clusters) for (const n of c.nodes) r.connect(n.name, { cluster: c.name });
    await r.loop.runNow();
    await r.loop.stop();
    const stored = await r.state.holders();
    assert.equal(stored.size, 150, 'every cluster\'s desired holders are stored');
    assert.deepEqual(stored.get('c149'), { 'vip-28': 'c149-lb01', 'vip-29': 'c149-lb02' });
  });

  it('ends a pass that a new spec overtakes: clusters the new spec dropped get nothing', async () => {
    const clusters = ['a', 'b', 'c'].map(renamedSeed);
    const r = new Rig(new MemoryStore(), 0);
    r.loop.setSpec({ clusters });
    r.loop.start();
    for (const c of clusters) for (const n of c.nodes) r.connect(n.name, { cluster: c.name });
    // Runs at the pass's first turn of the loop, after the first cluster.
    setImmediate(() => r.loop.setSpec({ clusters: clusters.slice(0, 1) }));
    await r.loop.runNow();
    for (const n of clusters[0]?.nodes ?? []) assert.equal(r.pushes(n.name).length, 1, `${n.name} (kept) got its desired state`);
    for (const c of clusters.slice(1)) for (const n of c.nodes) assert.deepEqual(r.pushes(n.name), [], `${n.name} (dropped) got nothing`);
    await r.loop.runNow();
    assert.deepEqual([...r.sent.keys()].sort(), (clusters[0]?.nodes ?? []).map((n) => n.name).sort());
  });

  it('a change that arrives during a pass gets a pass over its own cluster, not over every cluster', async () => {
    const clusters = ['a', 'b', 'c'].map(renamedSeed);
    const r = new Rig(new MemoryStore(), 0);
    r.loop.setSpec({ clusters });
    r.loop.start();
    for (const c of clusters) for (const n of c.nodes) r.connect(n.name, { cluster: c.name });
    await r.loop.runNow();
    const asked = r.watchPasses();
    r.report('a-lb01', 1);
    // Runs at the pass's first turn of the loop, while it is still in progress.
    setImmediate(() => r.report('c-lb02', 1));
    await r.loop.runNow();
    assert.deepEqual([...asked].sort(), ['a-lb01', 'a-lb02']);
    asked.clear();
    await r.loop.runNow();
    assert.deepEqual([...asked].sort(), ['c-lb01', 'c-lb02'], 'the next pass covers the cluster that changed meanwhile, and only it');
  });

  it('runs a pass in the turn of the event loop in which a report arrived, with no debounce', async () => {
    const r = new Rig(new MemoryStore(), undefined, 0).start();
    r.connect(LB1);
    r.connect(LB2);
    await r.turns();
    const [v1] = r.pushes(LB1);
    assert.ok(v1 !== undefined, 'the first reports got a pass and a push');
    // lb01 fails: its VIP goes to lb02 without anyone calling for a pass.
    const s = r.registry.get(LB1)?.session?.id as string;
    r.registry.applyDelta(LB1, s, { services: [], checks: [], instances: [], removedChecks: [], removedInstances: [], healthy: false });
    await r.turns(2);
    assert.equal(r.pushes(LB2).length, 2, 'lb02 was told to take vip-28 within two turns of the report');
  });

  it('an ACK gets no pass when no handover waits for it, and a report of the applied version does', async () => {
    const r = new Rig(new MemoryStore(), undefined, 0).start();
    r.connect(LB1);
    r.connect(LB2);
    await r.turns();
    const [v1] = r.pushes(LB1);
    const asked = r.watchPasses();
    r.ack(LB1, v1 ?? 0);
    await r.turns();
    assert.deepEqual([...asked], [], 'nothing a pass reads changed');
    assert.equal(r.registry.get(LB1)?.appliedVersion, v1, 'the registry has the ACK');
    r.report(LB1, v1 ?? 0);
    await r.turns();
    assert.deepEqual([...asked].sort(), [LB1, LB2], 'a report may change what a pass sees');
  });

  it('an ACK during a handover hold gets the pass that ends the hold and pushes the move', async () => {
    const r = new Rig(new MemoryStore(), undefined, 0).start();
    r.connect(LB1);
    r.connect(LB2);
    await r.turns();
    r.modes.set(LB1, 'draining');
    r.loop.schedule();
    await r.turns();
    const prepare = r.sent.get(LB2)?.at(-1);
    const vip28 = prepare?.instances.find((i) => i.name === 'vip-28');
    assert.equal(vip28?.handover?.role, 'incoming', 'the first push of the move carries the handover');
    assert.notEqual(vip28?.rank, 0, 'and holds the move back: lb02 does not take vip-28 yet');
    const before = r.pushes(LB2).length;
    r.ack(LB1, r.sent.get(LB1)?.at(-1)?.version ?? 0);
    r.ack(LB2, prepare?.version ?? 0);
    await r.turns();
    assert.equal(r.pushes(LB2).length, before + 1, 'the ACKs alone got a pass and a push');
    assert.equal(r.sent.get(LB2)?.at(-1)?.instances.find((i) => i.name === 'vip-28')?.rank, 0, 'lb02 now takes vip-28');
  });

  it('writes what passes change while a write of holders is in flight in one write after it, and loses none', async () => {
    class GatedStore extends MemoryStore {
      holderWrites: string[][] = [];
      gate: Promise<void> | undefined;
      override async txn(compares: readonly StoreCompare[], ops: readonly StoreOp[]): Promise<TxnResult> {
        if (ops.some((o) => o.key.startsWith('holders/'))) {
          this.holderWrites.push(ops.map((o) => o.key));
          await this.gate;
        }
        return super.txn(compares, ops);
      }
    }
    const store = new GatedStore();
    let open = (): void => {};
    store.gate = new Promise((resolve) => (open = resolve));
    const clusters = ['a', 'b', 'c'].map(renamedSeed);
    const r = new Rig(store);
    r.loop.setSpec({ clusters });
    r.loop.start();
    for (const c of clusters) for (const n of c.nodes) r.connect(n.name, { cluster: c.name });
    await r.loop.runNow();
    assert.equal(store.holderWrites.length, 1, 'the first pass\'s holders are being written');
    // Two passes while that write is held: b's and c's first nodes go into maintenance.
    r.modes.set('b-lb01', 'maintenance');
    r.loop.schedule('b');
    await r.loop.runNow();
    r.modes.set('c-lb01', 'maintenance');
    r.loop.schedule('c');
    await r.loop.runNow();
    assert.equal(store.holderWrites.length, 1, 'no second write while the first is in flight');
    open();
    await r.loop.stop();
    assert.deepEqual(store.holderWrites.slice(1), [['holders/b', 'holders/c']], 'then one write with both');
    const stored = await r.state.holders();
    assert.deepEqual([stored.get('b'), stored.get('c')], [{ 'vip-28': 'b-lb02', 'vip-29': 'b-lb02' }, { 'vip-28': 'c-lb02', 'vip-29': 'c-lb02' }]);
  });

  it('after resync, sends again what a fence held back, and nothing to an agent that runs it', async () => {
    const r = new Rig().start();
    r.connect(LB1);
    r.connect(LB2);
    // LB1's push goes nowhere (held back: this coordinator was not the leader for a moment).
    const held = r.registry.get(LB1)?.session as AgentSession;
    const deliver = held.sendDesiredState;
    (held as { sendDesiredState: AgentSession['sendDesiredState'] }).sendDesiredState = () => {};
    await r.loop.runNow();
    const [v2] = r.pushes(LB2);
    assert.deepEqual(r.pushes(LB1), []);
    r.report(LB2, v2 ?? 0);
    await r.loop.runNow();
    assert.deepEqual(r.pushes(LB1), [], 'counted as sent: a pass alone does not resend it');
    (held as { sendDesiredState: AgentSession['sendDesiredState'] }).sendDesiredState = deliver;
    r.loop.resync();
    await r.loop.runNow();
    assert.equal(r.pushes(LB1).length, 1, 'sent again after resync');
    assert.deepEqual(r.pushes(LB2), [v2], 'LB2 runs its version: not sent again');
  });

  it('passes again, a moment later, the clusters of a pass that failed, and pushes what they held', async () => {
    class FailingOnce extends MemoryStore {
      fail = true;
      override async txn(compares: readonly StoreCompare[], ops: readonly StoreOp[]): Promise<TxnResult> {
        if (this.fail && ops.some((o) => o.key === 'counters/desired-version')) {
          this.fail = false;
          throw new StoreError('etcd transaction failed: deadline exceeded');
        }
        return super.txn(compares, ops);
      }
    }
    const store = new FailingOnce();
    // Passes only when the test runs one, or when the loop retries on its own.
    const r = new Rig(store).start();
    r.connect(LB1);
    r.connect(LB2);
    await r.loop.runNow();
    assert.equal(store.fail, false, 'the first version reservation failed');
    assert.deepEqual([r.pushes(LB1), r.pushes(LB2)], [[], []]);
    await eventually(() => r.pushes(LB1).length === 1 && r.pushes(LB2).length === 1, 'pushed after the retry', 5000);
  });

  it('tells waiters after a pass', async () => {
    const r = new Rig().start();
    r.connect(LB1);
    r.connect(LB2);
    const placed = r.view.waitUntil(() => r.view.vips().every((v) => v.status === 'ok'), 60_000);
    await r.loop.runNow();
    assert.equal(await placed, true);
  });
});
