// The coordinator's own listening socket asks for a deep accept queue, so that a fleet
// reconnecting after a restart is queued by the kernel rather than dropped (a dropped SYN is
// retried only after 1, 3, 7 s). What the kernel granted is read back with `ss`. With TLS, the
// listener runs a bounded number of handshakes at a time, on real sockets and real handshakes,
// and reports how each ended (the metrics' counters), each by a client that ends it that way.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { Server } from '@grpc/grpc-js';
import { CertificateSource } from '@lbha/shared';
import { eventually } from '@lbha/test-support';
import { createDevCa, type DevCa } from '../src/auth/dev-ca.js';
import { HANDSHAKE_FAILURES, handshakeFailureOf, ServerTls, type HandshakeFailure } from '../src/auth/server-tls.js';
import { ConnectionLimiter } from '../src/limits/connection-limiter.js';
import { GrpcListener, LISTEN_BACKLOG } from '../src/limits/grpc-listener.js';
import { HandshakeTimings } from '../src/metrics/handshake-timings.js';

/** The backlog of the TCP socket listening on `port` (ss shows it as Send-Q of a LISTEN socket). */
function listenBacklog(port: number): number {
  const out = execFileSync('ss', ['-ltnH', 'sport', '=', `:${port}`], { encoding: 'utf8' });
  const fields = out.trim().split(/\s+/);
  return Number(fields[2]);
}

describe('gRPC listener', () => {
  it('listens with an accept queue as deep as the kernel allows, far above the default 511', async () => {
    const server = new Server();
    const listener = new GrpcListener(server, { tls: undefined, limiter: new ConnectionLimiter(100, 100), handshakes: 4 });
    try {
      const address = await listener.listen('127.0.0.1:0');
      const port = Number(address.split(':')[1]);
      const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
      assert.equal(listenBacklog(port), Math.min(LISTEN_BACKLOG, somaxconn));
      // And it accepts connections.
      await new Promise<void>((resolve, reject) => {
        const s = connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve();
        });
        s.once('error', reject);
      });
    } finally {
      listener.close();
      server.forceShutdown();
    }
  });
});

describe('gRPC listener with TLS: handshakes a few at a time', () => {
  let dir: string;
  let ca: DevCa;
  let source: CertificateSource;
  const open: Array<Socket | TLSSocket> = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lbha-handshakes-'));
    ca = createDevCa({ dir, agents: ['n1'] });
    source = new CertificateSource({ ca: ca.ca.cert, cert: ca.coordinator.cert, key: ca.coordinator.key }, { watchIntervalMs: 0 });
  });
  after(() => {
    for (const s of open) s.destroy();
    source.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(handshakes: number, slotMs: number) {
    const server = new Server();
    const tls = new ServerTls(source);
    const listener = new GrpcListener(server, { tls, limiter: new ConnectionLimiter(100, 100), handshakes, slotMs });
    const port = Number((await listener.listen('127.0.0.1:0')).split(':')[1]);
    const stop = () => {
      listener.close();
      tls.close();
      server.forceShutdown();
    };
    return { listener, port, stop };
  }

  /** A TCP connection that never sends a ClientHello: its handshake waits for it. */
  function silent(port: number): Socket {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    open.push(s);
    return s;
  }

  /** An agent's TLS client; resolves its ALPN protocol when the handshake is done. */
  function agent(port: number): { socket: TLSSocket; secure: Promise<string | false | null> } {
    const pair = ca.agents['n1'];
    assert.ok(pair);
    let socket!: TLSSocket;
    const secure = new Promise<string | false | null>((resolve, reject) => {
      socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(ca.ca.cert), cert: readFileSync(pair.cert), key: readFileSync(pair.key), ALPNProtocols: ['h2'] }, () =>
        resolve(socket.alpnProtocol),
      );
      socket.once('error', reject);
    });
    open.push(socket);
    return { socket, secure };
  }

  it('holds a connection beyond the limit until a slot frees: by a close, a finished handshake, a failed one', async () => {
    const { listener, port, stop } = await start(2, 60_000);
    try {
      const a = silent(port);
      silent(port);
      await eventually(() => listener.handshakeStats().inFlight === 2, 'both silent connections in handshake');
      let secured = false;
      const first = agent(port);
      void first.secure.then(() => (secured = true), () => undefined);
      await eventually(() => listener.handshakeStats().queued === 1, 'the agent waits for a slot');
      assert.equal(secured, false, 'no slot, no handshake');

      // Its peer gives up: the slot goes to the agent, which completes.
      a.destroy();
      assert.equal(await first.secure, 'h2');
      await eventually(() => listener.handshakeStats().inFlight === 1, "the agent's finished handshake gave its slot back");
      assert.equal(listener.handshakeStats().queued, 0);

      // A failed handshake (not TLS at all) gives its slot back too.
      const junk = connect(port, '127.0.0.1', () => junk.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      junk.on('error', () => undefined);
      open.push(junk);
      await eventually(() => listener.handshakeStats().started === 4, 'the junk connection started its handshake');
      await eventually(() => listener.handshakeStats().inFlight === 1, 'the failed handshake gave its slot back');
      assert.deepEqual(listener.handshakeStats(), { inFlight: 1, queued: 0, started: 4, slotsTimedOut: 0 });
    } finally {
      stop();
    }
  });

  it('lets the next handshake start when one holds its slot too long (a client that sends nothing)', async () => {
    const { listener, port, stop } = await start(1, 200);
    try {
      silent(port);
      await eventually(() => listener.handshakeStats().inFlight === 1, 'the silent connection in handshake');
      assert.equal(await agent(port).secure, 'h2');
      assert.equal(listener.handshakeStats().slotsTimedOut, 1);
    } finally {
      stop();
    }
  });

  it('drops the connections still waiting when it closes', async () => {
    const { listener, port, stop } = await start(1, 60_000);
    silent(port);
    await eventually(() => listener.handshakeStats().inFlight === 1, 'the silent connection in handshake');
    const waiting = agent(port);
    await eventually(() => listener.handshakeStats().queued === 1, 'the agent waits for a slot');
    stop();
    await assert.rejects(waiting.secure, /socket disconnected|ECONNRESET/);
    assert.equal(listener.handshakeStats().queued, 0);
  });
});

describe('gRPC listener with TLS: what each handshake came to, in the metrics', () => {
  let dir: string;
  let ca: DevCa;
  let source: CertificateSource;
  const open: Array<Socket | TLSSocket> = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lbha-handshake-outcomes-'));
    ca = createDevCa({ dir, agents: ['n1'] });
    source = new CertificateSource({ ca: ca.ca.cert, cert: ca.coordinator.cert, key: ca.coordinator.key }, { watchIntervalMs: 0 });
  });
  after(() => {
    for (const s of open) s.destroy();
    source.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A listener whose handshakes time out after `timeoutMs` and give their slot back after `slotMs`. */
  async function start(opts: { timeoutMs?: number; slotMs?: number; perAddress?: number } = {}) {
    const server = new Server();
    const tls = new ServerTls(source, opts.timeoutMs ?? 20_000);
    const timings = new HandshakeTimings();
    const limiter = new ConnectionLimiter(100, opts.perAddress ?? 100);
    const listener = new GrpcListener(server, { tls, limiter, handshakes: 4, slotMs: opts.slotMs ?? 60_000, observer: timings.observer() });
    const port = Number((await listener.listen('127.0.0.1:0')).split(':')[1]);
    /** Every count that may move, by name. */
    const counts = () => ({
      started: listener.handshakeStats().started,
      slotsTimedOut: listener.handshakeStats().slotsTimedOut,
      refused: limiter.stats().refused.perAddress,
      completed: timings.count('completed'),
      timeout: timings.count('timeout'),
      certificate: timings.count('certificate'),
      protocol: timings.count('protocol'),
      closed: timings.count('closed'),
    });
    const stop = () => {
      listener.close();
      tls.close();
      server.forceShutdown();
    };
    return { listener, port, timings, counts, stop };
  }

  const none = { started: 0, slotsTimedOut: 0, refused: 0, completed: 0, timeout: 0, certificate: 0, protocol: 0, closed: 0 };

  function agent(port: number): Promise<string | false | null> {
    const pair = ca.agents['n1'];
    assert.ok(pair);
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: readFileSync(ca.ca.cert), cert: readFileSync(pair.cert), key: readFileSync(pair.key), ALPNProtocols: ['h2'] }, () =>
        resolve(socket.alpnProtocol),
      );
      socket.once('error', reject);
      open.push(socket);
    });
  }

  function raw(port: number, onConnect: (s: Socket) => void = () => undefined): Socket {
    const s = connect(port, '127.0.0.1', () => onConnect(s));
    s.on('error', () => undefined);
    open.push(s);
    return s;
  }

  it('counts a completed handshake once, and its duration; nothing else moves', async () => {
    const { port, counts, timings, stop } = await start();
    try {
      assert.deepEqual(counts(), none);
      assert.equal(await agent(port), 'h2');
      await eventually(() => counts().completed === 1, 'the handshake counted');
      assert.deepEqual(counts(), { ...none, started: 1, completed: 1 });
      const text = timings.text();
      assert.match(text, /^lbha_grpc_tls_handshakes_completed_total 1$/m);
      assert.match(text, /^lbha_grpc_tls_handshake_duration_seconds_count 1$/m);
      assert.match(text, /^lbha_grpc_tls_handshake_duration_seconds_bucket\{le="20"\} 1$/m);
      const sum = Number(/^lbha_grpc_tls_handshake_duration_seconds_sum (\S+)$/m.exec(text)?.[1]);
      assert.ok(sum > 0 && sum < 20, `a duration in seconds: ${sum}`);
      for (const reason of HANDSHAKE_FAILURES) assert.match(text, new RegExp(`^lbha_grpc_tls_handshakes_failed_total\\{reason="${reason}"\\} 0$`, 'm'));
    } finally {
      stop();
    }
  });

  it('counts a client that sends nothing as a timeout, and its slot given back by the timer first', async () => {
    const { port, counts, stop } = await start({ timeoutMs: 600, slotMs: 100 });
    try {
      raw(port);
      await eventually(() => counts().slotsTimedOut === 1, 'the slot given back by its timer');
      assert.deepEqual(counts(), { ...none, started: 1, slotsTimedOut: 1 }, 'not failed yet');
      await eventually(() => counts().timeout === 1, 'the handshake timed out');
      assert.deepEqual(counts(), { ...none, started: 1, slotsTimedOut: 1, timeout: 1 });
    } finally {
      stop();
    }
  });

  it('counts what is not TLS as a protocol error', async () => {
    const { port, counts, stop } = await start();
    try {
      raw(port, (s) => s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      await eventually(() => counts().protocol === 1, 'the protocol error counted');
      assert.deepEqual(counts(), { ...none, started: 1, protocol: 1 });
    } finally {
      stop();
    }
  });

  it('counts a client that leaves in the middle of its handshake as closed', async () => {
    const { port, counts, stop } = await start();
    try {
      // The first bytes of a ClientHello's record, then the end of the connection.
      raw(port, (s) => s.end(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40, 0x01])));
      await eventually(() => counts().closed === 1, 'the closed handshake counted');
      assert.deepEqual(counts(), { ...none, started: 1, closed: 1 });
    } finally {
      stop();
    }
  });

  it("counts a client's refusal of the coordinator's certificate (an unknown CA) as a certificate failure", async () => {
    const { port, counts, stop } = await start();
    try {
      // openssl says why it refuses (an alert); it trusts only the agent's certificate, not the CA.
      const pair = ca.agents['n1'];
      assert.ok(pair);
      const status = await new Promise<number | null>((resolve) => {
        const client = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-CAfile', pair.cert, '-verify_return_error', '-alpn', 'h2', '-servername', 'localhost'], { stdio: ['pipe', 'ignore', 'ignore'], timeout: 10_000 });
        client.stdin.end();
        client.once('close', resolve);
      });
      assert.notEqual(status, 0, 'openssl refused the certificate');
      await eventually(() => counts().certificate === 1, 'the certificate failure counted');
      assert.deepEqual(counts(), { ...none, started: 1, certificate: 1 });
    } finally {
      stop();
    }
  });

  it('counts a connection refused by the limits before TLS as refused, with no handshake', async () => {
    const { port, counts, stop } = await start({ perAddress: 0 });
    try {
      const s = raw(port);
      await new Promise((resolve) => s.once('close', resolve));
      await eventually(() => counts().refused === 1, 'the refusal counted');
      assert.deepEqual(counts(), { ...none, refused: 1 });
    } finally {
      stop();
    }
  });
});

describe('TLS handshake errors, by what they stand for', () => {
  it('maps Node\'s and OpenSSL\'s codes to the failure reasons', () => {
    const cases: Array<[string | undefined, HandshakeFailure]> = [
      ['ERR_TLS_HANDSHAKE_TIMEOUT', 'timeout'],
      ['ECONNRESET', 'closed'],
      ['EPIPE', 'closed'],
      ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'certificate'],
      ['ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE', 'certificate'],
      ['ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED', 'certificate'],
      ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'certificate'],
      ['ERR_SSL_BAD_SIGNATURE', 'certificate'],
      ['ERR_SSL_HTTP_REQUEST', 'protocol'],
      ['ERR_SSL_WRONG_VERSION_NUMBER', 'protocol'],
      ['ERR_SSL_NO_APPLICATION_PROTOCOL', 'protocol'],
      [undefined, 'protocol'],
    ];
    for (const [code, want] of cases) assert.equal(handshakeFailureOf({ code }), want, String(code));
  });
});
