// Agent liveness from the connection (docs/design/agent-stream.md, Liveness), over real sockets
// and real grpc-js: a coordinator that can read an agent's connection says so in the Welcome;
// the agent then PINGs instead of sending Heartbeat messages, and the coordinator keeps a node
// fresh exactly while bytes arrive on its connection. A stream whose connection the
// coordinator cannot read (a unix socket) and an agent that ignores the Welcome's offer keep
// working with Heartbeat messages.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentials, type ChannelCredentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { NullCore, StreamClient } from '@lbha/agent';
import { CoordinatorServer, createDevCa, type DevCa } from '@lbha/coordinator';
import {
  AgentServiceClient,
  AGENT_CAPABILITIES,
  helloToWire,
  PROTOCOL_VERSION,
  silentLogger,
  snapshotToWire,
  type ConnectRequest,
  type ConnectResponse,
  type NodeLink,
} from '@lbha/shared';
import { eventually, sleep } from '@lbha/test-support';
import { BIN } from '../support/paths.js';
import { startNode, type Proc } from '../support/process.js';

const INTERVAL_MS = 200;
const STALE_AFTER_MS = 1000;
/** What the coordinator asks of a pinging agent with these settings (heartbeat.ping unset: half of staleAfter). */
const PING_MS = 500;
const NODES = ['lb1', 'lb2', 'silent', 'pinging', 'heartbeating', 'cut', 'unix', 'vanished', 'steady'];

/**
 * A TCP relay between an agent and the coordinator whose path can be cut (bytes held, sockets
 * kept open: while cut, neither side learns that the other closed) and mended.
 */
class CuttablePath {
  private readonly server: Server;
  private readonly pairs: Array<[Socket, Socket]> = [];
  private cut = false;
  /** Connections the coordinator closed while the path was cut. */
  closedByTarget = 0;

  constructor(private readonly target: number) {
    this.server = createServer((inbound) => {
      const outbound = connect(this.target, '127.0.0.1');
      this.pairs.push([inbound, outbound]);
      inbound.on('error', () => this.cut || outbound.destroy());
      outbound.on('error', () => this.cut || inbound.destroy());
      inbound.on('close', () => this.cut || outbound.destroy());
      outbound.on('close', () => {
        if (this.cut) this.closedByTarget++;
        else inbound.destroy();
      });
      inbound.on('data', (b) => this.cut || outbound.write(b));
      outbound.on('data', (b) => this.cut || inbound.write(b));
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as { port: number }).port;
  }

  /** From now on nothing passes either way, as on a path whose router died: the sockets stay open. */
  cutOff(): void {
    this.cut = true;
  }

  /** Bytes pass again; connections cut off before are closed (their streams have lost bytes). */
  mend(): void {
    for (const [a, b] of this.pairs.splice(0)) {
      a.destroy();
      b.destroy();
    }
    this.cut = false;
  }

  close(): void {
    this.mend();
    this.server.close();
  }
}

describe('agent liveness from the connection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-liveness-'));
  const unixPath = join(dir, 'coordinator.sock');
  let ca: DevCa;
  let server: CoordinatorServer;
  let tcp = '';
  const clients: StreamClient[] = [];
  const raw: AgentServiceClient[] = [];
  const procs: Proc[] = [];
  const timers: NodeJS.Timeout[] = [];

  const agentCreds = (node: string): ChannelCredentials => {
    const pair = ca.agents[node] as { cert: string; key: string };
    return credentials.createSsl(readFileSync(ca.ca.cert), readFileSync(pair.key), readFileSync(pair.cert));
  };
  const link = (node: string): NodeLink | undefined => server.registry.get(node)?.link;

  function agent(node: string, address: string, creds = agentCreds(node)): StreamClient {
    const core = new NullCore();
    const c = new StreamClient({
      addresses: [address],
      credentials: creds,
      node,
      cluster: 'web',
      agentVersion: 'test',
      bootId: `boot-${node}`,
      source: core,
      handler: core,
      logger: silentLogger(),
      heartbeatIntervalMs: INTERVAL_MS,
      backoffInitialMs: 50,
      backoffMaxUnreachableMs: 200,
    });
    clients.push(c);
    c.start();
    return c;
  }

  /**
   * An agent stream driven by hand: Hello and Snapshot, then Heartbeat messages every interval
   * when `heartbeats` (as an agent that predates liveness from the connection), and PINGs every
   * `pingMs` when set (none otherwise). Resolves with the Welcome.
   */
  async function rawStream(node: string, opts: { heartbeats: boolean; pingMs?: number; address?: string }): Promise<ConnectResponse['msg'] & { $case: 'welcome' }> {
    const client = new AgentServiceClient(opts.address ?? tcp, agentCreds(node), {
      'grpc.use_local_subchannel_pool': 1,
      ...(opts.pingMs === undefined ? {} : { 'grpc.keepalive_time_ms': opts.pingMs, 'grpc.keepalive_permit_without_calls': 1 }),
    });
    raw.push(client);
    const call: ClientDuplexStream<ConnectRequest, ConnectResponse> = client.connect();
    call.on('error', () => undefined);
    const core = new NullCore();
    const welcome = new Promise<ConnectResponse['msg'] & { $case: 'welcome' }>((resolve) =>
      call.on('data', (res: ConnectResponse) => {
        if (res.msg?.$case === 'welcome') resolve(res.msg);
      }),
    );
    const hello = { node, cluster: 'web', agentVersion: 'test', bootId: `raw-${node}`, protocol: PROTOCOL_VERSION, appliedVersion: 0, recentResults: [], capabilities: AGENT_CAPABILITIES };
    call.write({ msg: { $case: 'hello', value: helloToWire(hello) } });
    const w = await welcome;
    call.write({ msg: { $case: 'snapshot', value: { state: snapshotToWire(core.snapshot()) } } });
    if (opts.heartbeats) {
      let seq = 0;
      const timer = setInterval(() => call.write({ msg: { $case: 'heartbeat', value: { seq: ++seq, sentMs: Date.now() } } }), INTERVAL_MS);
      timers.push(timer);
    }
    return w;
  }

  /** Samples `node`'s link (on `coordinator`) for `ms`: every link seen. */
  async function linksFor(node: string, ms: number, coordinator = server): Promise<Set<NodeLink | undefined>> {
    const seen = new Set<NodeLink | undefined>();
    const end = Date.now() + ms;
    while (Date.now() < end) {
      seen.add(coordinator.registry.get(node)?.link);
      await sleep(50);
    }
    return seen;
  }

  before(async () => {
    ca = createDevCa({ dir: join(dir, 'pki'), agents: NODES });
    server = new CoordinatorServer(
      {
        id: 'coord-test',
        grpc: { listen: ['127.0.0.1:0', `unix:${unixPath}`], maxMessageBytes: 4 * 1024 * 1024 },
        tls: { ca: ca.ca.cert, cert: ca.coordinator.cert, key: ca.coordinator.key },
        auth: { tokens: [], anonymous: 'none' },
        stateDir: join(dir, 'state'),
        heartbeat: { interval: INTERVAL_MS, staleAfter: STALE_AFTER_MS },
        log: { level: 'info' },
      } as never,
      silentLogger(),
    );
    await server.start();
    tcp = server.addresses[0] as string;
  });

  after(async () => {
    for (const p of procs) await p.stop();
    await Promise.all(clients.map((c) => c.stop()));
    for (const t of timers) clearInterval(t);
    for (const c of raw) c.close();
    await server.stop(200);
    rmSync(dir, { recursive: true, force: true });
  });

  it('an agent told so pings instead of heartbeating and stays fresh on its pings alone', async () => {
    const c = agent('lb1', tcp);
    await eventually(() => c.liveness, 'a Welcome');
    assert.equal(c.liveness, 'connection', 'the coordinator reads this TCP connection');
    const seen = server.registry.get('lb1')?.lastSeenMs ?? 0;
    const links = await linksFor('lb1', 3 * STALE_AFTER_MS);
    assert.deepEqual([...links], ['connected'], 'never stale');
    assert.ok((server.registry.get('lb1')?.lastSeenMs ?? 0) > seen, 'seen again since the Welcome');
  });

  it('touches only the streams whose connection saw bytes: a silent stream goes stale, a pinging one and an old heartbeating one stay fresh', async () => {
    const welcomes = await Promise.all([
      rawStream('silent', { heartbeats: false }),
      rawStream('pinging', { heartbeats: false, pingMs: INTERVAL_MS }),
      rawStream('heartbeating', { heartbeats: true }),
    ]);
    for (const w of welcomes) assert.equal(w.value.livenessFromConnection, true);
    // A stream whose liveness is read from its connection is asked for a PING every PING_MS, not
    // for a heartbeat every interval.
    for (const w of welcomes) assert.equal(w.value.heartbeatIntervalMs, PING_MS);
    await eventually(() => link('silent') === 'stale', 'the silent stream to go stale');
    const pinging = await linksFor('pinging', 2 * STALE_AFTER_MS);
    const heartbeating = await linksFor('heartbeating', 1);
    assert.deepEqual([...pinging], ['connected']);
    assert.deepEqual([...heartbeating], ['connected']);
    // Its stream is open all along: only its silence made it stale.
    assert.equal(link('silent'), 'stale');
  });

  it('a cut path makes the node stale; once mended the agent is back and fresh', async () => {
    const port = Number(tcp.split(':')[1]);
    const path = new CuttablePath(port);
    const c = agent('cut', `127.0.0.1:${await path.listen()}`);
    try {
      await eventually(() => c.liveness === 'connection' && link('cut') === 'connected', 'cut to connect through the path');
      path.cutOff();
      await eventually(() => link('cut') === 'stale', 'cut to go stale behind the cut path');
      path.mend();
      await eventually(() => link('cut') === 'connected', 'cut to be back');
      const links = await linksFor('cut', 2 * STALE_AFTER_MS);
      assert.deepEqual([...links], ['connected']);
    } finally {
      path.close();
    }
  });

  it("closes a connection that reads nothing, as when its agent's host vanished with the TCP connection open, and no other", async () => {
    // A coordinator of its own, whose bound is short enough for a test.
    const DEAD_MS = 5000;
    const own = new CoordinatorServer(
      {
        id: 'coord-dead',
        grpc: { listen: ['127.0.0.1:0'], maxMessageBytes: 4 * 1024 * 1024 },
        tls: { ca: ca.ca.cert, cert: ca.coordinator.cert, key: ca.coordinator.key },
        auth: { tokens: [], anonymous: 'none' },
        stateDir: join(dir, 'dead-state'),
        heartbeat: { interval: INTERVAL_MS, staleAfter: STALE_AFTER_MS },
        log: { level: 'info' },
      } as never,
      silentLogger(),
      { deadConnectionMs: DEAD_MS },
    );
    await own.start();
    const address = own.addresses[0] as string;
    const path = new CuttablePath(Number(address.split(':')[1]));
    const ownLink = (node: string) => own.registry.get(node)?.link;
    try {
      // Hand-driven streams, which do not reconnect: the one behind the path pings until the
      // cut, the other pings all along.
      const pathAddress = `127.0.0.1:${await path.listen()}`;
      await rawStream('vanished', { heartbeats: false, pingMs: INTERVAL_MS, address: pathAddress });
      await rawStream('steady', { heartbeats: false, pingMs: INTERVAL_MS, address });
      await eventually(() => ownLink('vanished') === 'connected' && ownLink('steady') === 'connected', 'both to connect');
      const steadySession = own.registry.get('steady')?.session?.id;
      path.cutOff();
      await eventually(() => ownLink('vanished') === 'stale', 'vanished to go stale behind the cut path');
      // (When it is closed is the unit test's: connection-liveness.test.ts.)
      assert.equal(path.closedByTarget, 0, 'stale, but its connection not closed yet');
      await eventually(() => path.closedByTarget === 1, 'the coordinator to close the silent connection', 3 * DEAD_MS);
      await eventually(() => ownLink('vanished') === 'disconnected', 'its stream to end with the connection');
      // The pinging one kept its connection and its stream the whole time.
      assert.deepEqual([...(await linksFor('steady', 1000, own))], ['connected']);
      assert.equal(own.registry.get('steady')?.session?.id, steadySession, 'the same stream as before the cut');
    } finally {
      path.close();
      await own.stop(200);
    }
  });

  it('over a unix socket, which it cannot read, the coordinator asks for heartbeats; the agent sends them and stays fresh', async () => {
    const c = agent('unix', `unix://${unixPath}`);
    await eventually(() => c.liveness, 'a Welcome');
    assert.equal(c.liveness, 'heartbeat');
    const links = await linksFor('unix', 2 * STALE_AFTER_MS);
    assert.deepEqual([...links], ['connected']);
  });

  it("an agent process whose event loop stops goes stale, and fresh again when it resumes (plaintext)", async () => {
    // A coordinator of its own, plaintext, with the default heartbeat settings: the real agent
    // binary's first connection PINGs as often as such a coordinator asks (every 1.75 s).
    const plain = new CoordinatorServer(
      {
        id: 'coord-plain',
        grpc: { listen: ['127.0.0.1:0'], maxMessageBytes: 4 * 1024 * 1024 },
        tls: { insecure: true },
        auth: { tokens: [], anonymous: 'none' },
        stateDir: join(dir, 'plain-state'),
        heartbeat: { interval: 1000, staleAfter: 3500 },
        log: { level: 'info' },
      } as never,
      silentLogger(),
    );
    await plain.start();
    try {
      const config = join(dir, 'lb2.yaml');
      writeFileSync(
        config,
        `node: lb2
cluster: web
coordinator:
  addresses: ["${plain.addresses[0]}"]
  backoff: { initial: 50ms, max: 500ms }
tls: { insecure: true }
stateDir: ${join(dir, 'lb2')}
runtimeDir: ${join(dir, 'lb2', 'run')}
metrics: { listen: "" }
`,
      );
      const p = startNode(BIN.agent, ['--config', config], { LBHA_LOG_LEVEL: 'info' });
      procs.push(p);
      const connected = await p.waitForLog((l) => l.event === 'stream.connected');
      assert.equal(connected['liveness'], 'connection');
      assert.equal(connected['pingMs'], 1750);
      const plainLink = () => plain.registry.get('lb2')?.link;
      await eventually(() => plainLink() === 'connected', 'lb2 to connect');
      assert.deepEqual([...(await linksFor('lb2', 4000, plain))], ['connected'], 'fresh on its pings, over more than the stale deadline');
      p.kill('SIGSTOP');
      await eventually(() => plainLink() === 'stale', 'lb2 to go stale while stopped');
      p.kill('SIGCONT');
      await eventually(() => plainLink() === 'connected', 'lb2 to be fresh again');
    } finally {
      await plain.stop(200);
    }
  });
});
