// Followers relay agent streams to the leader and forward API calls; a coordinator that is not
// the leader never sends a desired state or a command. Real gRPC servers on 127.0.0.1:0, with
// leadership (the election's port) set by the test.
import assert from 'node:assert/strict';
import { createServer, connect as tcpConnect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { credentials, Metadata, Server, ServerCredentials, type ClientDuplexStream, type ServerDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { eventually } from '@lbha/test-support';
import { AgentServiceClient, AgentServiceService, commandResultToWire, deltaToWire, helloToWire, PROTOCOL_VERSION, silentLogger, snapshotToWire, type ConnectRequest, type ConnectResponse, type DesiredState } from '@lbha/shared';
import { ControlServiceClient, ControlServiceService, type pbControl } from '@lbha/shared/control';
import { AgentOutbox } from '../../src/agent-outbox.js';
import { createAgentService } from '../../src/agent-service.js';
import { controlHandlers } from '../../src/control-handlers.js';
import { ConnectionLiveness } from '../../src/connection-liveness.js';
import { AgentRelay, type AgentRelayOptions } from '../../src/etcd/agent-relay.js';
import { RELAY_LIVENESS } from '../../src/etcd/forwarded-identity.js';
import { ControlForwarder } from '../../src/etcd/control-forwarder.js';
import type { LeaderInfo, Leadership, LeadershipEvent } from '../../src/etcd/leadership.js';
import { EventLog } from '../../src/event-log.js';
import { grpcControlService } from '../../src/grpc-control-service.js';
import { Registry } from '../../src/registry.js';

const logger = silentLogger();

class TestLeadership implements Leadership {
  private leading = false;
  private current: LeaderInfo | undefined;
  private readonly listeners = new Set<(e: LeadershipEvent) => void>();
  constructor(private readonly self: LeaderInfo) {}
  set(leading: boolean, leader: LeaderInfo | undefined): void {
    this.leading = leading;
    this.current = leading ? this.self : leader;
    for (const l of this.listeners) l({ type: 'leader-changed', leader: this.current, term: 1 });
  }
  isLeader = () => this.leading;
  leader = () => this.current;
  fence = () => undefined;
  subscribe(l: (e: LeadershipEvent) => void) {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}

interface TestCoordinator {
  readonly info: LeaderInfo;
  readonly registry: Registry;
  readonly outbox: AgentOutbox;
  readonly leadership: TestLeadership;
  readonly relay: AgentRelay;
  readonly forwarder: ControlForwarder;
  readonly server: Server;
  fenced: number;
}

interface CoordinatorOptions {
  /** The server's HTTP/2 cap. */
  readonly streamsPerConnection?: number;
  /** What the relay assumes of the leader's cap. */
  readonly relayStreamsPerChannel?: number;
  readonly staleAfterMs?: number;
  /** Relayed liveness: the byte counter of a stream's agent connection (as a follower), and taking reports (as the leader). */
  readonly connectionOf?: AgentRelayOptions['connectionOf'];
  readonly livenessIntervalMs?: number;
  /** How long a relayed stream waits, open, for the next leader (AgentRelayOptions.keepForMs). */
  readonly keepForMs?: number;
  /** The relay's options for its connections to the leader. */
  readonly channelOptions?: Record<string, number>;
}

async function coordinator(id: string, opts: CoordinatorOptions = {}): Promise<TestCoordinator> {
  const registry = new Registry(opts.staleAfterMs ?? 5000);
  const outbox = new AgentOutbox((node) => registry.get(node)?.session);
  const server = new Server(opts.streamsPerConnection === undefined ? {} : { 'grpc.max_concurrent_streams': opts.streamsPerConnection });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const info = { id, grpc: `127.0.0.1:${port}`, http: '' };
  const leadership = new TestLeadership(info);
  const c = { info, registry, outbox, leadership, server, fenced: 0 } as TestCoordinator;
  const relay = new AgentRelay({
    local: createAgentService({
      registry,
      logger,
      coordinatorId: id,
      heartbeatIntervalMs: 1000,
      staleAfterMs: 5000,
      ...(opts.connectionOf ? { liveness: new ConnectionLiveness(), livenessOf: (call) => (call.metadata.get(RELAY_LIVENESS).length > 0 ? 'relayed' : undefined) } : {}),
    }),
    leadership,
    selfId: id,
    registry,
    credentials: credentials.createInsecure(),
    logger,
    onFencedPush: () => c.fenced++,
    ...(opts.relayStreamsPerChannel === undefined ? {} : { streamsPerChannel: opts.relayStreamsPerChannel }),
    ...(opts.connectionOf ? { connectionOf: opts.connectionOf, livenessIntervalMs: opts.livenessIntervalMs ?? 1000 } : {}),
    ...(opts.keepForMs === undefined ? {} : { keepForMs: opts.keepForMs }),
    ...(opts.channelOptions ? { channelOptions: opts.channelOptions } : {}),
  });
  const forwarder = new ControlForwarder({
    local: controlHandlers({ registry, outbox, events: new EventLog(), modeOf: () => 'active' }),
    leadership,
    selfId: id,
    credentials: credentials.createInsecure(),
    logger,
  });
  Object.assign(c, { relay, forwarder });
  server.addService(relay.definition, relay.service);
  server.addService(ControlServiceService, grpcControlService(forwarder.api, logger));
  return c;
}

/** A bare agent stream: records what it receives. */
class TestAgent {
  readonly received: ConnectResponse[] = [];
  readonly call: ClientDuplexStream<ConnectRequest, ConnectResponse>;
  error: (Error & { code?: number; details?: string }) | undefined;
  private readonly client: AgentServiceClient;
  constructor(address: string, node: string, bootId = `boot-${node}`) {
    this.client = new AgentServiceClient(address, credentials.createInsecure());
    const md = new Metadata();
    md.set('test-node', node);
    this.call = this.client.connect(md);
    this.call.on('data', (m: ConnectResponse) => this.received.push(m));
    this.call.on('error', (e) => (this.error = e));
    this.call.write({
      msg: { $case: 'hello', value: helloToWire({ node, cluster: 'web', agentVersion: 't', bootId, protocol: PROTOCOL_VERSION, appliedVersion: 0, recentResults: [] }) },
    });
  }
  sendSnapshot(): void {
    this.call.write({ msg: { $case: 'snapshot', value: { state: snapshotToWire({ services: [], checks: [], instances: [], healthy: true, appliedVersion: 0, localMode: 'active' }) } } });
  }
  sendHealth(healthy: boolean): void {
    this.call.write({ msg: { $case: 'delta', value: deltaToWire({ services: [], checks: [], instances: [], removedChecks: [], removedInstances: [], healthy }) } });
  }
  sendResult(commandId: string): void {
    this.call.write({ msg: { $case: 'commandResult', value: commandResultToWire({ commandId, state: 'succeeded', message: 'done', activeConnections: 0, finishedMs: Date.now() }) } });
  }
  /** The coordinator ids of the Welcomes received, in order. */
  welcomes(): string[] {
    return this.of('welcome').map((m) => (m.msg?.$case === 'welcome' ? m.msg.value.coordinatorId : ''));
  }
  of(kind: string): ConnectResponse[] {
    return this.received.filter((m) => m.msg?.$case === kind);
  }
  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

function closeAll(agents: readonly TestAgent[], coordinators: readonly TestCoordinator[]): void {
  for (const x of agents) x.close();
  for (const c of coordinators) {
    c.relay.close();
    c.forwarder.close();
    c.server.forceShutdown();
  }
}

const desired = (node: string, version: number): DesiredState => ({
  version,
  cluster: 'web',
  node,
  mode: 'active',
  keepalived: { advertIntMs: 100, unicast: false, unicastSrc: '', unicastPeers: [], authPass: '', vrrpVersion: 3, mcastGroup: '' },
  instances: [],
  checks: [],
  proxyService: 'nginx',
});

function listNodes(address: string): Promise<pbControl.ListNodesResponse> {
  const client = new ControlServiceClient(address, credentials.createInsecure());
  return new Promise((resolve, reject) =>
    client.listNodes({ cluster: '' }, new Metadata(), { deadline: Date.now() + 3000 }, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res);
    }),
  );
}

describe('several coordinators: relay, forwarding and the push gate', () => {
  let a: TestCoordinator;
  let b: TestCoordinator;
  const agents: TestAgent[] = [];

  before(async () => {
    a = await coordinator('a');
    b = await coordinator('b');
    a.leadership.set(true, undefined);
    b.leadership.set(false, a.info);
  });
  after(() => closeAll(agents, [a, b]));

  it('relays an agent stream from a follower to the leader', async () => {
    const agent = new TestAgent(b.info.grpc, 'lb1');
    agents.push(agent);
    const welcome = await eventually(() => agent.of('welcome')[0], 'welcome');
    assert.equal(welcome.msg?.$case === 'welcome' && welcome.msg.value.coordinatorId, 'a', 'welcomed by the leader');
    agent.sendSnapshot();
    await eventually(() => a.registry.get('lb1')?.snapshot, 'the leader to have the snapshot');
    assert.equal(b.registry.get('lb1'), undefined, 'the follower keeps no session of its own');
    assert.equal(b.relay.relayedStreams, 1);
    assert.equal(a.outbox.sendDesiredState(desired('lb1', 7)), true);
    const got = await eventually(() => agent.of('desiredState')[0], 'the desired state through the relay');
    assert.equal(got.msg?.$case === 'desiredState' && got.msg.value.version, 7);
  });

  it('forwards API calls from a follower to the leader', async () => {
    const viaFollower = await listNodes(b.info.grpc);
    assert.deepEqual(viaFollower.nodes.map((n) => n.name), ['lb1']);
  });

  it('holds back pushes once the coordinator is no longer the leader', async () => {
    const lb1 = agents[0]!;
    const before = lb1.received.length;
    // Deposed, nobody leads yet; b keeps relaying lb1's stream to a, so a push would get through.
    a.leadership.set(false, undefined);
    assert.equal(a.outbox.sendDesiredState(desired('lb1', 8)), true, 'the registry still has the session');
    a.outbox.sendCommand('lb1', { id: 'cmd-1', deadlineMs: Date.now() + 1000, action: { kind: 'undrain' } });
    assert.equal(a.fenced, 2, 'both held back at the gate');
    // Leading again, a pushes on the same stream: what arrives after the pushes above comes in
    // order behind them, so the marker arriving alone shows they were never sent.
    a.leadership.set(true, undefined);
    assert.equal(a.outbox.sendDesiredState(desired('lb1', 9)), true);
    await eventually(() => lb1.received.length > before, 'the marker through the relay');
    assert.deepEqual(
      lb1.received.slice(before).map((m) => (m.msg?.$case === 'desiredState' ? `desiredState ${m.msg.value.version}` : m.msg?.$case)),
      ['desiredState 9'],
      'only what was pushed while leading',
    );
    assert.equal(lb1.error, undefined, 'the stream stayed up');
    a.leadership.set(false, undefined);
    b.leadership.set(false, undefined);
  });

  it('serves agents locally without a leader, refusing mutations and answering reads', async () => {
    const agent = new TestAgent(b.info.grpc, 'lb2');
    agents.push(agent);
    const welcome = await eventually(() => agent.of('welcome')[0], 'welcome');
    assert.equal(welcome.msg?.$case === 'welcome' && welcome.msg.value.coordinatorId, 'b', 'served by the follower itself');
    const client = new ControlServiceClient(b.info.grpc, credentials.createInsecure());
    const err = await new Promise<ServiceError | null>((resolve) =>
      client.drain({ node: 'lb2', timeoutMs: 1000, force: false, maintenance: false, reason: '' }, new Metadata(), { deadline: Date.now() + 3000 }, (e) => resolve(e)),
    );
    client.close();
    assert.equal(err?.code, 14, 'UNAVAILABLE');
    assert.match(err?.details ?? '', /no coordinator is the leader/);
    assert.deepEqual((await listNodes(b.info.grpc)).nodes.map((n) => n.name), ['lb2']);
  });

  it('moves streams to the new leader when leadership changes', async () => {
    // b becomes the leader: a (deposed) ends the relayed stream of lb1 at b... and b ends its relay.
    const lb1 = agents[0]!;
    const lb2 = agents[1]!;
    a.leadership.set(false, b.info);
    b.leadership.set(true, undefined);
    await eventually(() => lb1.error, 'lb1 stream to end so the agent reconnects');
    assert.equal(lb1.error?.code, 14);
    assert.equal(b.relay.relayedStreams, 0);
    // lb2 was served by b locally and b now leads: it stays (a push after the change gets through).
    assert.equal(b.outbox.sendDesiredState(desired('lb2', 9)), true);
    await eventually(() => lb2.of('desiredState')[0], 'the new leader pushes');
    assert.equal(lb2.error, undefined);
    // A reconnecting agent at a (now a follower) is relayed to b.
    const again = new TestAgent(a.info.grpc, 'lb1');
    agents.push(again);
    const welcome = await eventually(() => again.of('welcome')[0], 'welcome');
    assert.equal(welcome.msg?.$case === 'welcome' && welcome.msg.value.coordinatorId, 'b');
  });
});

describe('a follower relaying more streams than the leader takes on one connection', () => {
  let leader: TestCoordinator;
  let follower: TestCoordinator;
  const agents: TestAgent[] = [];

  before(async () => {
    // The leader opens at most 4 streams per connection; the follower relays 10 agents.
    leader = await coordinator('leader', { streamsPerConnection: 4 });
    follower = await coordinator('follower', { relayStreamsPerChannel: 4 });
    leader.leadership.set(true, undefined);
    follower.leadership.set(false, leader.info);
  });
  after(() => closeAll(agents, [leader, follower]));

  it('opens another connection to the leader for every 4 streams, and every agent is welcomed', async () => {
    for (let i = 0; i < 10; i++) agents.push(new TestAgent(follower.info.grpc, `lb${i}`));
    for (const a of agents) {
      const welcome = await eventually(() => a.of('welcome')[0], 'welcome');
      assert.equal(welcome.msg?.$case === 'welcome' && welcome.msg.value.coordinatorId, 'leader');
    }
    assert.equal(follower.relay.relayedStreams, 10);
    assert.deepEqual(follower.relay.channels(leader.info.grpc).map((c) => c.streams), [4, 4, 2]);
    for (const a of agents) a.sendSnapshot();
    await eventually(() => Array.from({ length: 10 }, (_, i) => leader.registry.get(`lb${i}`)?.snapshot).every(Boolean), 'the leader to have every snapshot');
  });

  it('reuses the room a closed stream leaves, and closes a connection left empty', async () => {
    for (const a of agents.slice(0, 4)) a.close();
    await eventually(() => follower.relay.relayedStreams === 6, 'the four relays to end');
    assert.deepEqual(follower.relay.channels(leader.info.grpc).map((c) => c.streams), [4, 2], 'the emptied connection is closed');
    const more = [new TestAgent(follower.info.grpc, 'lb10'), new TestAgent(follower.info.grpc, 'lb11')];
    agents.push(...more);
    for (const a of more) await eventually(() => a.of('welcome')[0], 'welcome');
    assert.deepEqual(follower.relay.channels(leader.info.grpc).map((c) => c.streams), [4, 4]);
  });
});

describe('several coordinators: relayed agents kept fresh by the follower\'s reports', () => {
  // The follower reads each relayed agent's connection (here a counter per node the test moves,
  // as bytes arriving would) and reports to the leader once per interval; the leader touches the
  // sessions reported and no other.
  const INTERVAL_MS = 150;
  const bytes = new Map<string, { bytesRead: number; destroy(): void }>();
  let leader: TestCoordinator;
  let follower: TestCoordinator;
  const agents: TestAgent[] = [];
  const connectionOf: AgentRelayOptions['connectionOf'] = (call) => bytes.get(String(call.metadata.get('test-node')[0]));

  before(async () => {
    leader = await coordinator('leader', { staleAfterMs: 4 * INTERVAL_MS, connectionOf, livenessIntervalMs: INTERVAL_MS });
    follower = await coordinator('follower', { staleAfterMs: 4 * INTERVAL_MS, connectionOf, livenessIntervalMs: INTERVAL_MS });
    leader.leadership.set(true, undefined);
    follower.leadership.set(false, leader.info);
  });
  after(() => closeAll(agents, [leader, follower]));

  it('keeps a relayed agent whose connection sees bytes fresh, and lets a silent one go stale, with one report per interval', async () => {
    for (const n of ['busy', 'silent']) bytes.set(n, { bytesRead: 100, destroy: () => undefined });
    const busy = new TestAgent(follower.info.grpc, 'busy');
    const silent = new TestAgent(follower.info.grpc, 'silent');
    agents.push(busy, silent);
    for (const a of [busy, silent]) {
      const w = await eventually(() => a.of('welcome')[0], 'welcome');
      assert.equal(w.msg?.$case === 'welcome' && w.msg.value.livenessFromConnection, true, 'no heartbeats needed');
      a.sendSnapshot();
    }
    await eventually(() => leader.registry.get('busy')?.snapshot && leader.registry.get('silent')?.snapshot, 'both at the leader');
    const grow = setInterval(() => (bytes.get('busy') as { bytesRead: number }).bytesRead++, INTERVAL_MS / 3);
    const sweep = setInterval(() => leader.registry.sweep(), INTERVAL_MS / 3);
    const reportsBefore = { ...follower.relay.livenessReports };
    const started = Date.now();
    try {
      await eventually(() => leader.registry.get('silent')?.link === 'stale', 'the silent agent to go stale at the leader');
      const links = new Set<string | undefined>();
      const silentLinks = new Set<string | undefined>();
      while (Date.now() - started < 10 * INTERVAL_MS) {
        links.add(leader.registry.get('busy')?.link);
        silentLinks.add(leader.registry.get('silent')?.link);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual([...links], ['connected'], 'the busy agent never went stale');
      assert.deepEqual([...silentLinks], ['stale'], 'no report named the silent agent');
    } finally {
      clearInterval(grow);
      clearInterval(sweep);
    }
    const calls = follower.relay.livenessReports.calls - reportsBefore.calls;
    const sessions = follower.relay.livenessReports.sessions - reportsBefore.sessions;
    const intervals = Math.ceil((Date.now() - started) / INTERVAL_MS) + 1;
    assert.ok(calls > 0 && calls <= intervals, `${calls} reports in ${intervals} intervals`);
    // At most the busy agent in each: on a loaded machine its counter may not have moved between
    // two reports (the timer that moves it came late), and that report names nobody.
    assert.ok(sessions > 0 && sessions <= calls, `${sessions} sessions named in ${calls} reports`);
    assert.equal(follower.relay.livenessReports.failed, 0);
  });

  it('touches no stream the reporter did not relay with that promise', async () => {
    const direct = new TestAgent(leader.info.grpc, 'direct');
    agents.push(direct);
    const w = await eventually(() => direct.of('welcome')[0], 'welcome');
    assert.equal(w.msg?.$case === 'welcome' && w.msg.value.livenessFromConnection, false);
    const sessionId = w.msg?.$case === 'welcome' ? w.msg.value.sessionId : '';
    const client = new AgentServiceClient(leader.info.grpc, credentials.createInsecure());
    try {
      const res = await new Promise<{ touched: number }>((resolve, reject) =>
        client.reportRelayedLiveness({ sessions: [{ node: 'direct', sessionId }, { node: 'nobody', sessionId: 'made-up' }] }, (err, r) => (err ? reject(err) : resolve(r))),
      );
      assert.equal(res.touched, 0);
    } finally {
      client.close();
    }
  });
});

describe('several coordinators: a relayed stream outlives a change of leader', () => {
  // a, b and c as three coordinators; the agents connect to the followers. Leadership is set by
  // the test in the order the etcd watch may deliver it: each coordinator learns of it on its own.
  const KEEP_MS = 2000;
  let a: TestCoordinator;
  let b: TestCoordinator;
  let c: TestCoordinator;
  const agents: TestAgent[] = [];
  const lead = (leader: TestCoordinator) => {
    for (const x of [a, b, c]) x.leadership.set(x === leader, x === leader ? undefined : leader.info);
  };
  const results = (x: TestCoordinator) => {
    const seen: string[] = [];
    x.registry.subscribe((e) => {
      if (e.type === 'command-result') seen.push(`${e.node} ${e.result.commandId}`);
    });
    return seen;
  };
  /** A new agent at `via`, welcomed by `leader`, its snapshot there. */
  const connected = async (via: TestCoordinator, node: string, leader: TestCoordinator): Promise<TestAgent> => {
    const agent = new TestAgent(via.info.grpc, node);
    agents.push(agent);
    await eventually(() => agent.welcomes()[0], 'welcome');
    assert.deepEqual(agent.welcomes(), [leader.info.id]);
    agent.sendSnapshot();
    await eventually(() => leader.registry.get(node)?.snapshot, `the leader to have ${node}'s snapshot`);
    return agent;
  };

  before(async () => {
    a = await coordinator('a', { keepForMs: KEEP_MS });
    b = await coordinator('b', { keepForMs: KEEP_MS });
    c = await coordinator('c', { keepForMs: KEEP_MS });
  });
  after(() => closeAll(agents, [a, b, c]));

  it('moves the stream to the next leader: its Hello again, its Welcome to the agent, a flip after it pushed', async () => {
    lead(a);
    const agent = await connected(b, 'lb1', a);
    const atC = results(c);
    // The follower learns first; then the old leader stops leading (and closes its sessions).
    b.leadership.set(false, undefined);
    // Held while nobody leads: a result the agent sends now reaches the next leader.
    agent.sendResult('cmd-held');
    b.leadership.set(false, c.info);
    c.leadership.set(true, undefined);
    a.leadership.set(false, c.info);
    await eventually(() => agent.welcomes().length === 2, 'a second Welcome');
    assert.deepEqual(agent.welcomes(), ['a', 'c']);
    assert.equal(agent.error, undefined, 'the stream stayed open');
    assert.equal(c.registry.get('lb1')?.link, 'connected', 'the next leader knows the agent from its Hello');
    await eventually(() => atC.includes('lb1 cmd-held'), 'the held result at the next leader');
    // The agent answers a Welcome with its snapshot; then a health flip reaches the next leader.
    agent.sendSnapshot();
    await eventually(() => c.registry.get('lb1')?.snapshot?.healthy === true, 'the snapshot at c');
    agent.sendHealth(false);
    await eventually(() => c.registry.get('lb1')?.snapshot?.healthy === false, 'the flip at c');
    assert.equal(c.outbox.sendDesiredState(desired('lb1', 3)), true);
    const got = await eventually(() => agent.of('desiredState').at(-1), 'the push of the next leader');
    assert.equal(got.msg?.$case === 'desiredState' && got.msg.value.version, 3);
    assert.equal(a.registry.get('lb1')?.session, undefined, 'nothing left at the old leader');
    assert.equal(b.relay.relayedStreams, 1);
    assert.deepEqual(b.relay.kept, { moved: 1, servedHere: 0, ended: 0 });
  });

  it("waits when the leader's end of the stream ends first, and moves once the next leader is known", async () => {
    lead(a);
    const agent = await connected(b, 'lb2', a);
    // The old leader closes its sessions (it stops leading) before b has heard of the change.
    a.leadership.set(false, c.info);
    await eventually(() => a.registry.get('lb2')?.session === undefined, 'the old leader to end its side');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(agent.error, undefined, 'held open');
    assert.deepEqual(agent.welcomes(), ['a']);
    c.leadership.set(true, undefined);
    b.leadership.set(false, c.info);
    await eventually(() => agent.welcomes().length === 2, 'a second Welcome');
    assert.deepEqual(agent.welcomes(), ['a', 'c']);
    assert.equal(agent.error, undefined);
  });

  it('serves the stream itself when the follower becomes the leader', async () => {
    lead(c);
    const agent = await connected(b, 'lb3', c);
    c.leadership.set(false, undefined);
    b.leadership.set(true, undefined);
    await eventually(() => agent.welcomes().length === 2, 'a second Welcome');
    assert.deepEqual(agent.welcomes(), ['c', 'b']);
    assert.equal(b.registry.get('lb3')?.link, 'connected');
    agent.sendSnapshot();
    agent.sendHealth(false);
    await eventually(() => b.registry.get('lb3')?.snapshot?.healthy === false, 'the flip at b');
    assert.equal(b.outbox.sendDesiredState(desired('lb3', 4)), true);
    const got = await eventually(() => agent.of('desiredState').at(-1), 'the push of b');
    assert.equal(got.msg?.$case === 'desiredState' && got.msg.value.version, 4);
    assert.equal(agent.error, undefined);
    assert.ok(b.relay.kept.servedHere >= 1);
    // Served here, the stream is b's own: when another leads, it ends as a direct stream does.
    lead(a);
    const err = await eventually(() => agent.error, 'the stream to end');
    assert.equal(err.code, 10, 'ABORTED: reconnect to be relayed');
  });

  it('ends the stream when no leader comes within keepForMs', async () => {
    lead(a);
    const agent = await connected(b, 'lb4', a);
    const endedBefore = b.relay.kept.ended;
    const t0 = Date.now();
    for (const x of [a, b, c]) x.leadership.set(false, undefined);
    const err = await eventually(() => agent.error, 'the stream to end', 5 * KEEP_MS);
    const waited = Date.now() - t0;
    assert.equal(err.code, 14, 'UNAVAILABLE: the agent reconnects');
    assert.match(err.details ?? '', /no leader within/);
    assert.ok(waited >= KEEP_MS - 50, `ended after ${waited} ms`);
    assert.equal(b.relay.kept.ended, endedBefore + 1);
  });

  it('waits for a next leader that is slow to answer the Hello, however long past keepForMs', async () => {
    lead(a);
    const agent = await connected(b, 'lb6', a);
    // A leader whose loop is busy: it answers a Hello after three times keepForMs.
    const slow = new Server();
    slow.addService(AgentServiceService, {
      connect: (call: ServerDuplexStream<ConnectRequest, ConnectResponse>) => {
        call.on('data', (m: ConnectRequest) => {
          if (m.msg?.$case !== 'hello') return;
          setTimeout(() => call.write({ msg: { $case: 'welcome', value: { coordinatorId: 'slow', sessionId: 's', heartbeatIntervalMs: 1000, staleAfterMs: 5000, serverTimeMs: Date.now(), livenessFromConnection: false } } }), 3 * KEEP_MS);
        });
        call.on('error', () => undefined);
      },
      reportRelayedLiveness: (_call: unknown, cb: (e: null, r: { touched: number }) => void) => cb(null, { touched: 0 }),
    });
    const port = await new Promise<number>((resolve, reject) => slow.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    try {
      b.leadership.set(false, { id: 'slow', grpc: `127.0.0.1:${port}`, http: '' });
      await eventually(() => agent.welcomes().length === 2, 'the slow leader\'s Welcome', 10 * KEEP_MS);
      assert.deepEqual(agent.welcomes(), ['a', 'slow']);
      assert.equal(agent.error, undefined, 'the stream waited for it');
    } finally {
      slow.forceShutdown();
    }
  });

  it("ends the stream with the next leader's refusal", async () => {
    lead(a);
    const agent = await connected(b, 'lb5', a);
    a.leadership.set(false, c.info);
    c.leadership.set(true, undefined);
    // Before b hears of c: another agent (another boot id) holds lb5 at c, live.
    const other = new TestAgent(c.info.grpc, 'lb5', 'another-boot');
    agents.push(other);
    await eventually(() => other.welcomes()[0], 'the other agent welcomed at c');
    const endedBefore = b.relay.kept.ended;
    b.leadership.set(false, c.info);
    const err = await eventually(() => agent.error, 'the moved stream to be refused');
    assert.equal(err.code, 6, 'ALREADY_EXISTS, as a reconnect would be told');
    assert.equal(b.relay.kept.ended, endedBefore + 1);
    assert.equal(other.error, undefined, 'the agent holding the name keeps it');
  });
});

describe("a follower's connection to a leader that waits for its core", () => {
  // Three coordinators on one core at 10,000 agents: the leader's loop waited 4 s at a time for
  // the core, its connections unread. A TCP proxy between the follower and the leader stops
  // passing bytes either way for as long, as such a leader's socket would.
  let a: TestCoordinator;
  let b: TestCoordinator;
  const agents: TestAgent[] = [];
  const sockets: Socket[] = [];
  let stalled = false;
  const proxy = createServer((down) => {
    const up = tcpConnect(Number(a.info.grpc.split(':')[1]), '127.0.0.1');
    for (const [from, to] of [[down, up], [up, down]] as const) {
      from.pipe(to);
      from.on('error', () => to.destroy());
      sockets.push(from);
      if (stalled) from.pause();
    }
  });

  before(async () => {
    a = await coordinator('a');
    // A PING every second; what the relay waits for its answer is its own.
    b = await coordinator('b', { keepForMs: 10_000, channelOptions: { 'grpc.keepalive_time_ms': 1000 } });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    a.leadership.set(true, undefined);
    b.leadership.set(false, { id: 'a', grpc: `127.0.0.1:${(proxy.address() as { port: number }).port}`, http: '' });
  });
  after(() => {
    closeAll(agents, [a, b]);
    for (const x of sockets) x.destroy();
    proxy.close();
  });

  it('keeps the relayed streams through a 4.5-s stall: no PING timeout drops them, no second Welcome', async () => {
    const agent = new TestAgent(b.info.grpc, 'lb1');
    agents.push(agent);
    await eventually(() => agent.welcomes()[0], 'welcome');
    agent.sendSnapshot();
    await eventually(() => a.registry.get('lb1')?.snapshot, "the leader to have lb1's snapshot");
    const session = a.registry.get('lb1')?.session?.id;
    stalled = true;
    for (const x of sockets) x.pause();
    await new Promise((r) => setTimeout(r, 4500));
    stalled = false;
    for (const x of sockets) x.resume();
    agent.sendHealth(false);
    await eventually(() => a.registry.get('lb1')?.snapshot?.healthy === false, 'the flip at the leader');
    assert.deepEqual(agent.welcomes(), ['a'], 'welcomed once: the stream was not opened again');
    assert.equal(a.registry.get('lb1')?.session?.id, session, 'the same session at the leader');
    assert.equal(b.relay.kept.moved, 0);
    assert.equal(agent.error, undefined);
  });
});
