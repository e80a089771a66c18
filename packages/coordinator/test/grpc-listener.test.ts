// The coordinator's own listening socket asks for a deep accept queue, so that a fleet
// reconnecting after a restart is queued by the kernel rather than dropped (a dropped SYN is
// retried only after 1, 3, 7 s). What the kernel granted is read back with `ss`. With TLS, the
// listener runs a bounded number of handshakes at a time, on real sockets and real handshakes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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
import { ServerTls } from '../src/auth/server-tls.js';
import { ConnectionLimiter } from '../src/limits/connection-limiter.js';
import { GrpcListener, LISTEN_BACKLOG } from '../src/limits/grpc-listener.js';

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
