// Front processes (grpc.fronts, docs/design/fronts.md) over real sockets: agents connect to the
// coordinator's port with mutual TLS, a front takes the connection and relays the stream, and
// the coordinator registers the agent, pushes to it, and sees it go silent or go away. A
// certificate the CA did not sign or the CRL lists is refused by the front itself. A killed front
// is started again and its agents come back; operator calls on the port reach the coordinator
// as their callers'; the fronts stop with the coordinator, and exit when it is killed.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client, credentials, Metadata, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { NullCore, StreamClient } from '@lbha/agent';
import { coordinatorConfigSchema, CoordinatorServer, createDevCa, type CoordinatorConfig, type DevCa } from '@lbha/coordinator';
import { AgentServiceClient, helloToWire, PROTOCOL_VERSION, silentLogger, type ConnectResponse } from '@lbha/shared';
import { ControlServiceClient } from '@lbha/shared/control';
import { eventually, sleep } from '@lbha/test-support';
import { BIN } from '../support/paths.js';
import { startNode, type Proc } from '../support/process.js';

const INTERVAL_MS = 200;
const STALE_AFTER_MS = 1000;
const AGENTS = ['lb1', 'lb2', 'lb3', 'lb4', 'lb5', 'lb6'];
const OTHERS = ['silent', 'gone', 'revoked'];
/** Agents that PING every 500 ms, what a Welcome asks for with these settings (pingIntervalMs). */
const PINGERS = ['p1', 'p2', 'p3', 'p4'];
const TOKEN = 'ops-token-0123456789';

/** Whether a process is alive (signal 0). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Writes a CRL from the dev CA that lists `revoked` (openssl ca -gencrl). */
function writeCrl(ca: DevCa, dir: string, revoked: string): string {
  const serial = execFileSync('openssl', ['x509', '-in', revoked, '-noout', '-serial'], { encoding: 'utf8' }).trim().split('=')[1];
  writeFileSync(join(dir, 'index.txt'), `R\t301231235959Z\t251201000000Z\t${serial}\tunknown\t/O=lbha\n`);
  writeFileSync(join(dir, 'crlnumber'), '01\n');
  writeFileSync(join(dir, 'ca.cnf'), `[ca]\ndefault_ca = d\n[d]\ndatabase = ${join(dir, 'index.txt')}\ncrlnumber = ${join(dir, 'crlnumber')}\ndefault_md = sha256\ndefault_crl_days = 2\n`);
  const file = join(dir, 'crl.pem');
  execFileSync('openssl', ['ca', '-gencrl', '-config', join(dir, 'ca.cnf'), '-keyfile', ca.ca.key, '-cert', ca.ca.cert, '-out', file], { stdio: 'ignore' });
  return file;
}

/** Opens an agent stream by hand and sends its Hello; resolves with the Welcome or the refusal. */
function hello(address: string, creds: ChannelCredentials, node: string): Promise<{ ok: true; client: AgentServiceClient } | { ok: false; code: number; details: string }> {
  const client = new AgentServiceClient(address, creds, { 'grpc.use_local_subchannel_pool': 1 });
  const call = client.connect();
  return new Promise((resolve) => {
    call.on('data', (m: ConnectResponse) => {
      if (m.msg?.$case === 'welcome') resolve({ ok: true, client });
    });
    call.on('error', (e: ServiceError) => {
      client.close();
      resolve({ ok: false, code: e.code, details: e.details });
    });
    call.write({ msg: { $case: 'hello', value: helloToWire({ node, cluster: 'web', agentVersion: 'test', bootId: `raw-${node}`, protocol: PROTOCOL_VERSION, appliedVersion: 0, recentResults: [], capabilities: [] }) } });
  });
}

describe('grpc.fronts in the configuration', () => {
  const base = { grpc: { listen: ['127.0.0.1:0'] }, tls: { insecure: true } };
  const problem = (c: Record<string, unknown>) => {
    const r = coordinatorConfigSchema.safeParse({ ...base, ...c });
    return r.success ? undefined : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  };

  it('defaults to 0, takes a count, and refuses what it cannot serve, naming the setting', () => {
    assert.equal(coordinatorConfigSchema.parse(base).grpc.fronts, 0);
    assert.equal(coordinatorConfigSchema.parse({ ...base, grpc: { listen: ['127.0.0.1:0'], fronts: 3 } }).grpc.fronts, 3);
    assert.match(problem({ grpc: { listen: ['127.0.0.1:0'], fronts: -1 } }) ?? '', /^grpc\.fronts: /);
    assert.match(problem({ grpc: { listen: ['127.0.0.1:0'], fronts: 1.5 } }) ?? '', /^grpc\.fronts: /);
    assert.match(problem({ grpc: { listen: ['unix:/run/x.sock'], fronts: 2 } }) ?? '', /^grpc\.fronts: the fronts hold the TCP addresses of grpc\.listen, and it has none/);
    assert.match(
      problem({ grpc: { listen: ['127.0.0.1:0'], fronts: 2 }, store: { kind: 'etcd', endpoints: ['http://127.0.0.1:2379'] } }) ?? '',
      /grpc\.fronts: front processes are for a coordinator with the file store/,
    );
  });
});

describe('front processes (grpc.fronts)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-fronts-test-'));
  let ca: DevCa;
  let other: DevCa;
  let server: CoordinatorServer;
  let address = '';
  const clients = new Map<string, StreamClient>();
  const cores = new Map<string, NullCore>();
  const raw: AgentServiceClient[] = [];
  const procs: Proc[] = [];
  let stopped = false;

  const creds = (pki: DevCa, node: string): ChannelCredentials => {
    const pair = pki.agents[node] as { cert: string; key: string };
    return credentials.createSsl(readFileSync(ca.ca.cert), readFileSync(pair.key), readFileSync(pair.cert));
  };
  /** Starts `node`'s agent stream client (a NullCore behind it) towards the fronts' address. */
  const startAgent = (node: string, channelOptions?: Record<string, number>): void => {
    const core = new NullCore();
    const c = new StreamClient({
      addresses: [address],
      credentials: creds(ca, node),
      node,
      cluster: 'web',
      agentVersion: 'test',
      bootId: `boot-${node}`,
      source: core,
      handler: core,
      logger: silentLogger(),
      heartbeatIntervalMs: INTERVAL_MS,
      ...(channelOptions ? { channelOptions } : {}),
      backoffInitialMs: 50,
      backoffMaxUnreachableMs: 200,
    });
    clients.set(node, c);
    cores.set(node, core);
    c.start();
  };
  const link = (node: string) => server.registry.get(node)?.link;
  const session = (node: string) => server.registry.get(node)?.session?.id;

  before(async () => {
    ca = createDevCa({ dir: join(dir, 'pki'), agents: [...AGENTS, ...OTHERS, ...PINGERS], operators: ['alice'] });
    other = createDevCa({ dir: join(dir, 'other-pki'), agents: ['lb1'] });
    const crl = writeCrl(ca, join(dir, 'pki'), (ca.agents['revoked'] as { cert: string }).cert);
    const config = coordinatorConfigSchema.parse({
      id: 'coord-fronts',
      grpc: { listen: ['127.0.0.1:0'], fronts: 2 },
      tls: { ca: ca.ca.cert, cert: ca.coordinator.cert, key: ca.coordinator.key, crl },
      auth: { tokens: [{ name: 'ops', role: 'operator', sha256: createHash('sha256').update(TOKEN).digest('hex') }], anonymous: 'none' },
      stateDir: join(dir, 'state'),
      heartbeat: { interval: `${INTERVAL_MS}ms`, staleAfter: `${STALE_AFTER_MS}ms` },
      // The fronts write to this process's stdout: only what goes wrong.
      log: { level: 'error' },
    }) as CoordinatorConfig;
    server = new CoordinatorServer(config, silentLogger());
    await server.start();
    address = server.addresses[0] as string;
    for (const node of AGENTS) startAgent(node);
  });

  after(async () => {
    for (const p of procs) await p.stop();
    await Promise.all([...clients.values()].map((c) => c.stop()));
    for (const c of raw) c.close();
    if (!stopped) await server.stop(200);
    rmSync(dir, { recursive: true, force: true });
  });

  it('agents connect through the fronts with mutual TLS, register, ping, and take what is pushed to them', async () => {
    assert.equal(server.fronts?.pids().length, 2, 'two fronts run');
    for (const node of AGENTS) await eventually(() => link(node) === 'connected', `${node} registered`);
    for (const node of AGENTS) await eventually(() => clients.get(node)?.liveness, `${node}'s Welcome`);
    for (const node of AGENTS) assert.equal(clients.get(node)?.liveness, 'connection', `${node} was told to PING: its front reads its connection`);
    // The agents PING and send nothing else: they stay fresh through the fronts' reports alone.
    const end = Date.now() + 3 * STALE_AFTER_MS;
    while (Date.now() < end) {
      for (const node of AGENTS) assert.equal(link(node), 'connected', `${node} stays fresh`);
      await sleep(50);
    }
    const pushed = server.outbox.sendDesiredState({
      version: 7,
      cluster: 'web',
      node: 'lb1',
      mode: 'active',
      keepalived: { advertIntMs: 100, unicast: false, unicastSrc: '', unicastPeers: [], authPass: '', vrrpVersion: 3, mcastGroup: '' },
      instances: [],
      checks: [],
      proxyService: 'nginx',
    });
    assert.equal(pushed, true);
    await eventually(() => cores.get('lb1')?.appliedVersion() === 7, 'the agent applied the pushed state');
    await eventually(() => server.registry.get('lb1')?.appliedVersion === 7, 'the coordinator got the acknowledgement');
  });

  it('sees an agent go stale when nothing arrives on its connection, and gone when its connection closes', async () => {
    // Connected, told to PING, and silent: its front has nothing to report.
    const silent = await hello(address, creds(ca, 'silent'), 'silent');
    assert.equal(silent.ok, true);
    if (silent.ok) raw.push(silent.client);
    await eventually(() => link('silent') === 'stale', 'silent goes stale');
    const gone = await hello(address, creds(ca, 'gone'), 'gone');
    assert.equal(gone.ok, true);
    await eventually(() => link('gone') !== undefined && link('gone') !== 'disconnected', 'gone registered');
    if (gone.ok) gone.client.close();
    await eventually(() => link('gone') === 'disconnected', 'gone disconnected once its connection closed');
  });

  it('refuses at the front a certificate the CA did not sign or the CRL lists', async () => {
    for (const [pki, node] of [[other, 'lb1'], [ca, 'revoked']] as const) {
      const r = await hello(address, creds(pki, node), node);
      assert.equal(r.ok, false, `${node} refused`);
      if (r.ok) continue;
      // The front's own refusal (the coordinator's would be PERMISSION_DENIED).
      assert.equal(r.code, status.UNAUTHENTICATED, r.details);
      assert.match(r.details, /CA/);
    }
    assert.equal(server.registry.get('revoked'), undefined, 'the coordinator never saw it');
  });

  it('passes on a Hello the coordinator then refuses: a node its certificate does not name, and bytes that are no message', async () => {
    // The front reads the Hello's node and passes its bytes on; the coordinator judges it.
    const r = await hello(address, creds(ca, 'lb2'), 'not-lb2');
    assert.equal(r.ok, false, 'refused');
    if (!r.ok) {
      assert.equal(r.code, status.PERMISSION_DENIED, r.details);
      assert.match(r.details, /not-lb2/);
    }
    assert.equal(server.registry.get('not-lb2'), undefined);
    // Bytes that decode to nothing: the front passes them, the coordinator refuses them.
    const client = new Client(address, creds(ca, 'lb3'), { 'grpc.use_local_subchannel_pool': 1 });
    try {
      const call = client.makeBidiStreamRequest('/lbha.v1.AgentService/Connect', (b: Buffer) => b, (b: Buffer) => b, new Metadata());
      const err = await new Promise<ServiceError | undefined>((resolve) => {
        call.on('error', (e: ServiceError) => resolve(e));
        call.on('end', () => resolve(undefined));
        call.on('data', () => undefined);
        call.write(Buffer.from([0xff, 0xff, 0xff]));
      });
      assert.ok(err, 'refused');
      assert.equal(err.code, status.INTERNAL, err.details);
      assert.match(err.details, /deserializ/i);
    } finally {
      client.close();
    }
    assert.equal(link('lb3'), 'connected', "lb3's own stream is untouched");
  });

  it('serves operator calls on the port as their callers', async () => {
    const call = (c: InstanceType<typeof ControlServiceClient>, md = new Metadata()) =>
      new Promise<{ code: number; nodes?: unknown[] }>((resolve) =>
        c.listNodes({ cluster: '' }, md, { deadline: Date.now() + 5000 }, (err, res) => resolve(err ? { code: err.code } : { code: 0, nodes: res.nodes })),
      );
    const ssl = (cert?: { cert: string; key: string }) => credentials.createSsl(readFileSync(ca.ca.cert), cert ? readFileSync(cert.key) : null, cert ? readFileSync(cert.cert) : null);
    const byCert = new ControlServiceClient(address, ssl(ca.operators['alice']));
    const byToken = new ControlServiceClient(address, ssl());
    try {
      const r = await call(byCert);
      assert.equal(r.code, 0);
      assert.ok((r.nodes?.length ?? 0) >= AGENTS.length, 'the coordinator answered');
      const md = new Metadata();
      md.set('authorization', `Bearer ${TOKEN}`);
      assert.equal((await call(byToken, md)).code, 0, 'a bearer token goes along');
      assert.equal((await call(byToken)).code, status.UNAUTHENTICATED, 'nothing presented: refused');
      // A server-streaming call goes through the front too: the event log from its start.
      const events = byCert.watchEvents({ afterSeq: 0, cluster: '', node: '' });
      const first = await new Promise<{ code: number; type?: string }>((resolve) => {
        events.on('data', (r: { event?: { type: string } }) => resolve({ code: 0, type: r.event?.type }));
        events.on('error', (err: ServiceError) => resolve({ code: err.code }));
      });
      events.cancel();
      assert.equal(first.code, 0, 'events streamed through the front');
      assert.ok(first.type, 'an event with its type');
    } finally {
      byCert.close();
      byToken.close();
    }
  });

  it('keeps its agents fresh while the fronts stop for less than the stale deadline, and stale once they stay stopped', async () => {
    // A front that is busy (thousands of handshakes) or descheduled reports late: its agents'
    // silence is judged as of its last report, and what it read meanwhile arrives once it runs.
    // Stopped here for 0.6 s, six report intervals and more than a PING interval: an agent last
    // seen 0.4 s before the stop would be 1 s silent by the coordinator's own clock.
    const pids = server.fronts?.pids() ?? [];
    assert.equal(pids.length, 2);
    for (const node of PINGERS) startAgent(node, { 'grpc.keepalive_time_ms': 500 });
    const watched = [...AGENTS, ...PINGERS];
    for (const node of watched) await eventually(() => link(node) === 'connected' && clients.get(node)?.liveness === 'connection', `${node} connected, PINGing`);
    const stale: string[] = [];
    const unsubscribe = server.registry.subscribe((e) => {
      if (e.type === 'stale' && watched.includes(e.node)) stale.push(`${e.node} (${e.silentMs} ms)`);
    });
    const resume = () => {
      for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGCONT');
    };
    try {
      for (let round = 0; round < 3; round++) {
        for (const pid of pids) process.kill(pid, 'SIGSTOP');
        await sleep(600);
        resume();
        await sleep(STALE_AFTER_MS);
      }
      assert.deepEqual(stale, [], 'no agent went stale while its front was stopped for less than the stale deadline');
      // Stopped for good: no report comes, and every agent is stale within staleAfter of its
      // front's last report (the coordinator's sweep and this probe's interval apart).
      const stoppedAt = Date.now();
      for (const pid of pids) process.kill(pid, 'SIGSTOP');
      for (const node of watched) await eventually(() => link(node) === 'stale', `${node} stale behind a stopped front`, { timeoutMs: 3 * STALE_AFTER_MS });
      const took = Date.now() - stoppedAt;
      resume();
      for (const node of watched) await eventually(() => link(node) === 'connected', `${node} fresh again once its front runs (stale after ${took} ms)`);
    } finally {
      resume();
      unsubscribe();
    }
  });

  it("counts the fronts' connections and TLS handshakes in the coordinator's /metrics, and keeps a killed front's", async () => {
    const scrape = async (): Promise<string> => {
      const chunks: Buffer[] = [];
      await server.metricsWriter?.((c) => void chunks.push(c));
      return Buffer.concat(chunks).toString();
    };
    const sample = (text: string, series: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? NaN : Number(line.slice(series.length + 1));
    };
    const connected = [...AGENTS, ...PINGERS].length;
    // Every agent's connection is a front's: the coordinator's own listener took none.
    let text = await eventually(async () => {
      const t = await scrape();
      return sample(t, 'lbha_grpc_tls_handshakes_completed_total') >= connected && sample(t, 'lbha_api_connections{api="grpc"}') >= connected ? t : undefined;
    }, "the fronts' handshakes and connections in /metrics");
    const completed = sample(text, 'lbha_grpc_tls_handshakes_completed_total');
    assert.ok(sample(text, 'lbha_grpc_tls_handshakes_started_total') >= completed, 'started at least as many as completed');
    assert.equal(sample(text, 'lbha_grpc_tls_handshake_duration_seconds_count'), completed, 'each completed one in the histogram');
    assert.equal(sample(text, 'lbha_grpc_tls_handshake_duration_seconds_bucket{le="+Inf"}'), completed);
    // A front killed: what it counted stays counted, and its agents' new handshakes add to it.
    const victim = (server.fronts?.pids() ?? [])[0] as number;
    process.kill(victim, 'SIGKILL');
    await eventually(() => (server.fronts?.pids() ?? []).length === 2 && !server.fronts?.pids().includes(victim), 'the front started again');
    for (const node of AGENTS) await eventually(() => link(node) === 'connected', `${node} connected`);
    text = await eventually(async () => {
      const t = await scrape();
      return sample(t, 'lbha_api_connections{api="grpc"}') >= connected ? t : undefined;
    }, 'every connection counted again');
    assert.ok(sample(text, 'lbha_grpc_tls_handshakes_completed_total') >= completed, "the killed front's handshakes are still counted");
  });

  it('starts a killed front again, and its agents come back', async () => {
    // Each front in turn: every agent's connection is on one of them.
    const first = new Map(AGENTS.map((n) => [n, session(n)]));
    for (let round = 0; round < 2; round++) {
      const victim = (server.fronts?.pids() ?? [])[round] as number;
      process.kill(victim, 'SIGKILL');
      await eventually(() => {
        const now = server.fronts?.pids() ?? [];
        return now.length === 2 && !now.includes(victim);
      }, 'the front started again');
      for (const node of AGENTS) await eventually(() => link(node) === 'connected' && session(node) !== undefined, `${node} connected`);
    }
    assert.equal(server.fronts?.restarts, 3, 'the two here, and the one the metrics test killed');
    // Both fronts were killed once: every agent lost its connection once and is back, on a new stream.
    for (const node of AGENTS) {
      assert.equal(link(node), 'connected');
      assert.notEqual(session(node), first.get(node), `${node} reconnected`);
    }
  });

  it('stops the fronts when it stops', async () => {
    const pids = server.fronts?.pids() ?? [];
    const socketDir = server.fronts?.directory;
    assert.equal(pids.length, 2);
    assert.ok(socketDir !== undefined && existsSync(socketDir));
    assert.equal(statSync(socketDir).mode & 0o777, 0o700, "the fronts' socket is the coordinator's user's alone");
    stopped = true;
    await server.stop(200);
    for (const pid of pids) assert.equal(alive(pid), false, `front ${pid} exited`);
    assert.equal(existsSync(socketDir), false, 'the socket directory is removed');
  });

  it('fronts exit when their coordinator is killed', async () => {
    const cfg = join(dir, 'killed.yaml');
    writeFileSync(cfg, `grpc: { listen: ["127.0.0.1:0"], fronts: 2 }\ntls: { insecure: true }\nstateDir: ${join(dir, 'killed-state')}\n`);
    const p = startNode(BIN.coordinator, ['--config', cfg]);
    procs.push(p);
    const started = [await p.waitForLog((l) => l.event === 'front.started' && l['front'] === 1), await p.waitForLog((l) => l.event === 'front.started' && l['front'] === 2)];
    const pids = started.map((l) => l['pid'] as number);
    for (const pid of pids) assert.equal(alive(pid), true);
    p.kill('SIGKILL');
    await p.exited;
    for (const pid of pids) await eventually(() => !alive(pid), `front ${pid} exited with its coordinator`);
    // What the killed coordinator left in its stateDir is removed by the next start.
    const left = () => readdirSync(join(dir, 'killed-state')).filter((f) => f.startsWith('fronts-'));
    assert.equal(left().length, 1);
    const again = startNode(BIN.coordinator, ['--config', cfg]);
    procs.push(again);
    await again.waitForLog((l) => l.event === 'coordinator.started');
    await again.stop();
    assert.deepEqual(left(), [], 'the socket directory went with the coordinator that stopped');
  });
});
