// A front relays an agent stream as bytes (etcd/agent-relay.ts, connectBytes): every message
// reaches the other side exactly as it was sent, in order, both ways, including what the
// coordinator's own decoding would drop (a field it does not know); the relay still reads the
// Hello's node and the Welcome's session (it reports that session's liveness); a reader that
// stops reading holds its sender back through the relay; ends, errors and cancellation go
// through. A follower of several coordinators (AgentRelay.service) relays the same way, and
// serves the same bytes decoded when it leads or nobody does. Real gRPC servers on 127.0.0.1:0:
// an agent of raw bytes, a front or a follower, and a stand-in for the coordinator that records
// the bytes it gets.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client, credentials, Metadata, Server, ServerCredentials, status, type ClientDuplexStream, type ServerDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { eventually, sleep } from '@lbha/test-support';
import { AgentServiceService, ConnectRequest, ConnectResponse, helloToWire, PROTOCOL_VERSION, silentLogger, snapshotToWire, type AgentServiceServer } from '@lbha/shared';
import { createAgentService } from '../src/agent-service.js';
import { AGENT_SERVICE_AS_BYTES, AgentRelay } from '../src/etcd/agent-relay.js';
import { FORWARDED_BY, RELAY_LIVENESS } from '../src/etcd/forwarded-identity.js';
import type { LeaderInfo, Leadership, LeadershipEvent } from '../src/etcd/leadership.js';
import { Registry } from '../src/registry.js';

const same = (b: Buffer): Buffer => b;
const PATH = AgentServiceService.connect.path;
const INTERVAL_MS = 50;

const helloBytes = (node: string): Buffer =>
  Buffer.from(ConnectRequest.encode({ msg: { $case: 'hello', value: helloToWire({ node, cluster: 'web', agentVersion: 't', bootId: `boot-${node}`, protocol: PROTOCOL_VERSION, appliedVersion: 0, recentResults: [], capabilities: [] }) } }).finish());
const welcomeBytes = (sessionId: string): Buffer =>
  Buffer.from(ConnectResponse.encode({ msg: { $case: 'welcome', value: { coordinatorId: 'c', sessionId, heartbeatIntervalMs: 1000, staleAfterMs: 5000, serverTimeMs: 1, livenessFromConnection: true } } }).finish());
/** Field 1000 as a varint: no message of agent.proto has it, so decoding and encoding again would drop it. */
const UNKNOWN_FIELD = Buffer.from([0xc0, 0x3e, 0x2a]);

function varint(n: number): Buffer {
  const out: number[] = [];
  for (; n > 0x7f; n = Math.floor(n / 128)) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return Buffer.from(out);
}

/** Field 1001, length-delimited, of `size` bytes: unknown too, and it makes the message large. */
function unknownBytes(size: number, fill: number): Buffer {
  return Buffer.concat([varint((1001 << 3) | 2), varint(size), Buffer.alloc(size, fill)]);
}

/** Agent messages after the Hello, each different: snapshots of growing versions, some with a field nobody knows, one large. */
function requests(n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => {
    const m = Buffer.from(ConnectRequest.encode({ msg: { $case: 'snapshot', value: { state: snapshotToWire({ services: [], checks: [], instances: [], healthy: i % 2 === 0, appliedVersion: i + 1, localMode: 'active' }) } } }).finish());
    if (i === n - 1) return Buffer.concat([m, unknownBytes(300_000, 7)]);
    return i % 3 === 0 ? Buffer.concat([m, UNKNOWN_FIELD]) : m;
  });
}

/** Coordinator messages after the Welcome: pings of growing ids, some with a field nobody knows. */
function responses(n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => {
    const m = Buffer.from(ConnectResponse.encode({ msg: { $case: 'ping', value: { seq: i + 1 } } }).finish());
    return i % 3 === 0 ? Buffer.concat([m, UNKNOWN_FIELD]) : m;
  });
}

/** The coordinator as the relay sees it: records each stream's bytes and metadata; `script` answers. */
class Upstream {
  readonly server = new Server();
  readonly streams: { metadata: Metadata; received: Buffer[]; ended: boolean; cancelled: boolean; call: ServerDuplexStream<Buffer, Buffer> }[] = [];
  readonly reported: string[] = [];
  address = '';
  script: (call: ServerDuplexStream<Buffer, Buffer>, first: Buffer) => void = (call) => call.write(welcomeBytes(`s${this.streams.length}`));

  async start(): Promise<void> {
    const impl = {
      connect: (call: ServerDuplexStream<Buffer, Buffer>) => {
        const s = { metadata: call.metadata, received: [] as Buffer[], ended: false, cancelled: false, call };
        this.streams.push(s);
        call.on('data', (b: Buffer) => {
          s.received.push(b);
          if (s.received.length === 1) this.script(call, b);
        });
        call.on('end', () => (s.ended = true));
        call.on('cancelled', () => (s.cancelled = true));
      },
      reportRelayedLiveness: ((call, callback) => {
        for (const x of call.request.sessions) this.reported.push(x.sessionId);
        callback(null, { touched: call.request.sessions.length });
      }) satisfies AgentServiceServer['reportRelayedLiveness'],
    };
    this.server.addService(AGENT_SERVICE_AS_BYTES, impl);
    const port = await new Promise<number>((resolve, reject) => this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    this.address = `127.0.0.1:${port}`;
  }
}

/** A front: AgentService as bytes, every stream relayed to `upstream`, each agent's connection a counter that always moves. */
async function front(upstream: string): Promise<{ relay: AgentRelay; server: Server; address: string }> {
  const leader = { id: 'coordinator', grpc: upstream, http: '' };
  const leadership: Leadership = { isLeader: () => false, leader: () => leader, fence: () => undefined, subscribe: () => () => undefined };
  const counter = { bytesRead: 0, destroy: () => undefined };
  const moving = setInterval(() => counter.bytesRead++, INTERVAL_MS / 2);
  moving.unref();
  const nowhere: AgentServiceServer = {
    connect: (call) => call.emit('error', { code: status.UNAVAILABLE, details: 'nowhere' }),
    reportRelayedLiveness: (_call, callback) => callback({ code: status.PERMISSION_DENIED }),
  };
  const relay = new AgentRelay({ local: nowhere, leadership, selfId: 'test-front', registry: new Registry(60_000), credentials: credentials.createInsecure(), logger: silentLogger(), connectionOf: () => counter, livenessIntervalMs: INTERVAL_MS });
  const server = new Server();
  server.addService(AGENT_SERVICE_AS_BYTES, { connect: relay.connectBytes, reportRelayedLiveness: nowhere.reportRelayedLiveness });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { relay, server, address: `127.0.0.1:${port}` };
}

/** An agent that sends and receives raw bytes. */
class RawAgent {
  readonly client: Client;
  readonly call: ClientDuplexStream<Buffer, Buffer>;
  readonly received: Buffer[] = [];
  error: ServiceError | undefined;
  ended = false;
  constructor(address: string) {
    this.client = new Client(address, credentials.createInsecure());
    this.call = this.client.makeBidiStreamRequest(PATH, same, same, new Metadata());
    this.call.on('data', (b: Buffer) => this.received.push(b));
    this.call.on('error', (e: ServiceError) => (this.error = e));
    this.call.on('end', () => (this.ended = true));
  }
  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

describe('a front relays agent streams as bytes', () => {
  const up = new Upstream();
  let f: Awaited<ReturnType<typeof front>>;
  const agents: RawAgent[] = [];
  const agent = () => {
    const a = new RawAgent(f.address);
    agents.push(a);
    return a;
  };

  before(async () => {
    await up.start();
    f = await front(up.address);
  });
  after(() => {
    for (const a of agents) a.close();
    f.relay.close();
    f.server.forceShutdown();
    up.server.forceShutdown();
  });

  it('passes every message as sent, in order, both ways, and reads the Hello and the Welcome', async () => {
    const sent = [helloBytes('lb1'), ...requests(300)];
    const answers = responses(300);
    up.script = (call, first) => {
      assert.equal(ConnectRequest.decode(first).msg?.$case, 'hello');
      call.write(welcomeBytes('session-lb1'));
      for (const b of answers) call.write(b);
    };
    const a = agent();
    for (const b of sent) a.call.write(b);
    const s = await eventually(() => (up.streams.length === 1 && up.streams[0]?.received.length === sent.length ? up.streams[0] : undefined), 'every message at the coordinator');
    assert.equal(s.received.length, sent.length);
    for (let i = 0; i < sent.length; i++) assert.ok(s.received[i]?.equals(sent[i] as Buffer), `agent message ${i} arrived as sent`);
    assert.equal(s.metadata.get(FORWARDED_BY)[0], 'test-front', 'the relay says who relays');
    assert.equal(s.metadata.get(RELAY_LIVENESS)[0], '1', 'and that it reports the liveness');
    await eventually(() => a.received.length === answers.length + 1, 'every answer at the agent');
    assert.ok(a.received[0]?.equals(welcomeBytes('session-lb1')));
    for (let i = 0; i < answers.length; i++) assert.ok(a.received[i + 1]?.equals(answers[i] as Buffer), `coordinator message ${i} arrived as sent`);
    // It read the Welcome: the session is named in its liveness reports.
    await eventually(() => up.reported.includes('session-lb1'), 'the Welcome’s session reported');
  });

  it('holds the agent back while the coordinator does not read, and loses nothing', async () => {
    const big = Array.from({ length: 200 }, (_, i) => Buffer.concat([Buffer.from(ConnectRequest.encode({ msg: { $case: 'heartbeat', value: { seq: i + 1, sentMs: 0 } } }).finish()), unknownBytes(64 * 1024, i % 251)]));
    let reading = true;
    up.script = (call) => {
      call.write(welcomeBytes('session-lb2'));
      call.pause();
      reading = false;
    };
    const a = agent();
    a.call.write(helloBytes('lb2'));
    await eventually(() => !reading, 'the coordinator stopped reading');
    // The agent writes as its stream lets it (waiting for 'drain'); stalled for 500 ms, it stops.
    let written = 0;
    const stalled = await (async () => {
      for (const b of big) {
        // Taken even when the stream says to wait (false): it is buffered.
        const more = a.call.write(b);
        written++;
        if (!more) {
          const drained = await Promise.race([new Promise<boolean>((r) => a.call.once('drain', () => r(true))), sleep(500).then(() => false)]);
          if (!drained) return true;
        }
      }
      return false;
    })();
    assert.ok(stalled, `the agent was held back (it wrote ${written} of ${big.length} 64 KB messages while nobody read)`);
    assert.ok(written < big.length);
    const s = up.streams.at(-1);
    assert.ok(s);
    s.call.resume();
    for (const b of big.slice(written)) a.call.write(b);
    await eventually(() => s.received.length === big.length + 1, 'every message at the coordinator once it reads');
    for (let i = 0; i < big.length; i++) assert.ok(s.received[i + 1]?.equals(big[i] as Buffer), `message ${i} arrived as sent`);
  });

  it('passes ends, errors and cancellation both ways', async () => {
    // The coordinator refuses: the agent gets its code, and what the relay adds names it.
    up.script = (call) => call.emit('error', { code: status.PERMISSION_DENIED, details: 'not this node' });
    const refused = agent();
    refused.call.write(helloBytes('lb3'));
    await eventually(() => refused.error, 'the refusal at the agent');
    assert.equal(refused.error?.code, status.PERMISSION_DENIED);
    assert.match(refused.error?.details ?? '', /not this node/);
    // The agent ends its side; the coordinator sees the end and ends its own; the agent sees it.
    up.script = (call) => call.write(welcomeBytes('session-lb4'));
    const ending = agent();
    ending.call.write(helloBytes('lb4'));
    const s4 = await eventually(() => up.streams.find((s) => s.received[0]?.equals(helloBytes('lb4'))), 'lb4 at the coordinator');
    ending.call.end();
    await eventually(() => s4.ended, 'the end at the coordinator');
    s4.call.end();
    await eventually(() => ending.ended, 'the end at the agent');
    assert.equal(ending.error, undefined);
    // The agent cancels: the coordinator's call is cancelled.
    const cancelling = agent();
    cancelling.call.write(helloBytes('lb5'));
    const s5 = await eventually(() => up.streams.find((s) => s.received[0]?.equals(helloBytes('lb5'))), 'lb5 at the coordinator');
    const relayed = f.relay.relayedStreams;
    cancelling.call.cancel();
    await eventually(() => s5.cancelled, 'the cancellation at the coordinator');
    await eventually(() => f.relay.relayedStreams === relayed - 1, 'its relay gone');
  });
});

/** A follower of several coordinators: its own AgentService as the coordinator registers it, the leader set by the test. */
async function follower(): Promise<{ relay: AgentRelay; server: Server; address: string; registry: Registry; lead(leader: LeaderInfo | undefined, self: boolean): void }> {
  const self: LeaderInfo = { id: 'test-follower', grpc: '', http: '' };
  let current: LeaderInfo | undefined;
  let leading = false;
  const listeners = new Set<(e: LeadershipEvent) => void>();
  const leadership: Leadership = {
    isLeader: () => leading,
    leader: () => current,
    fence: () => undefined,
    subscribe: (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
  };
  const registry = new Registry(60_000);
  const local = createAgentService({ registry, logger: silentLogger(), coordinatorId: 'test-follower', heartbeatIntervalMs: 1000, staleAfterMs: 5000 });
  const relay = new AgentRelay({ local, leadership, selfId: self.id, registry, credentials: credentials.createInsecure(), logger: silentLogger() });
  const server = new Server();
  server.addService(relay.definition, relay.service);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const lead = (leader: LeaderInfo | undefined, isSelf: boolean) => {
    leading = isSelf;
    current = isSelf ? self : leader;
    for (const l of listeners) l({ type: 'leader-changed', leader: current, term: 1 });
  };
  return { relay, server, address: `127.0.0.1:${port}`, registry, lead };
}

describe('a follower relays agent streams as bytes, and serves them decoded when it leads', () => {
  const up = new Upstream();
  let f: Awaited<ReturnType<typeof follower>>;
  const agents: RawAgent[] = [];
  const agent = () => {
    const a = new RawAgent(f.address);
    agents.push(a);
    return a;
  };

  before(async () => {
    await up.start();
    f = await follower();
  });
  after(() => {
    for (const a of agents) a.close();
    f.relay.close();
    f.server.forceShutdown();
    up.server.forceShutdown();
  });

  it('passes every message to the leader and back as sent, a field nobody knows included', async () => {
    f.lead({ id: 'leader', grpc: up.address, http: '' }, false);
    const sent = [helloBytes('f1'), ...requests(30)];
    const answers = responses(30);
    up.script = (call) => {
      call.write(welcomeBytes('session-f1'));
      for (const b of answers) call.write(b);
    };
    const a = agent();
    for (const b of sent) a.call.write(b);
    const s = await eventually(() => up.streams.find((x) => x.received[0]?.equals(helloBytes('f1')) && x.received.length === sent.length), 'every message at the leader');
    for (let i = 0; i < sent.length; i++) assert.ok(s.received[i]?.equals(sent[i] as Buffer), `agent message ${i} arrived as sent`);
    assert.equal(s.metadata.get(FORWARDED_BY)[0], 'test-follower', 'the relay says who relays');
    await eventually(() => a.received.length === answers.length + 1, 'every answer at the agent');
    for (let i = 0; i < answers.length; i++) assert.ok(a.received[i + 1]?.equals(answers[i] as Buffer), `leader message ${i} arrived as sent`);
    assert.equal(f.registry.get('f1'), undefined, 'nothing registered on the follower');
  });

  for (const role of ['leader', 'nobody leads'] as const) {
    it(`as ${role === 'leader' ? 'the leader' : 'the only one while nobody leads'}, decodes the stream for its own service and ends one that sends bytes that do not decode`, async () => {
      f.lead(undefined, role === 'leader');
      const node = role === 'leader' ? 'f2' : 'f3';
      const a = agent();
      a.call.write(helloBytes(node));
      a.call.write(requests(1)[0] as Buffer);
      const welcome = await eventually(() => a.received[0], 'the Welcome');
      const m = ConnectResponse.decode(welcome).msg;
      assert.equal(m?.$case, 'welcome', 'the answer is encoded as the agent expects');
      await eventually(() => f.registry.get(node)?.snapshot, 'the snapshot decoded and recorded here');
      assert.equal(f.relay.relayedStreams, 0);
      // A length-delimited field whose length runs past the message's end.
      a.call.write(Buffer.from([0x0a, 0x7f, 0x01]));
      const err = await eventually(() => a.error, 'the stream ended');
      assert.equal(err.code, status.INTERNAL);
      assert.match(err.details, /deserializing/);
      await eventually(() => f.registry.get(node)?.link === 'disconnected', 'its session ended');
    });
  }
});
