import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { credentials, Server as GrpcServer, ServerCredentials, type ServerDuplexStream } from '@grpc/grpc-js';
import { createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { AgentServiceService, createLogger, silentLogger, type ConnectRequest, type ConnectResponse, type NodeDelta } from '@lbha/shared';
import { NullCore } from '../src/null-core.js';
import { StreamClient, type StreamClientOptions } from '../src/stream-client.js';

/** A client of a node with no state, over plaintext, to port 1 on loopback (refused) unless told otherwise. */
function streamClient(options: Partial<StreamClientOptions>): StreamClient {
  const core = new NullCore();
  return new StreamClient({
    addresses: ['127.0.0.1:1'],
    credentials: credentials.createInsecure(),
    node: 'lb1',
    cluster: 'web',
    agentVersion: 't',
    bootId: 'b',
    source: core,
    handler: core,
    logger: silentLogger(),
    ...options,
  });
}

function client(random: () => number, initial = 200, max = 10_000, maxUnreachable?: number): StreamClient {
  return streamClient({
    backoffInitialMs: initial,
    backoffMaxMs: max,
    ...(maxUnreachable === undefined ? {} : { backoffMaxUnreachableMs: maxUnreachable }),
    random,
  });
}

describe('StreamClient backoff', () => {
  it('draws each delay between zero and a ceiling that doubles per attempt', () => {
    const lo = client(() => 0);
    const hi = client(() => 0.999_999);
    assert.deepEqual([0, 1, 2, 3].map((a) => lo.nextDelayMs(a, 'refused')), [0, 0, 0, 0]);
    assert.deepEqual([0, 1, 2, 3].map((a) => hi.nextDelayMs(a, 'refused')), [200, 400, 800, 1600]);
    assert.equal(client(() => 0.5).nextDelayMs(2, 'refused'), 400);
  });

  it('is capped at the maximum after a refusal, and at 2 s by default while the coordinator is unreachable', () => {
    const c = client(() => 0.999_999, 200, 10_000);
    assert.equal(c.nextDelayMs(30, 'refused'), 10_000);
    assert.equal(c.nextDelayMs(30, 'unreachable'), 2_000);
    assert.equal(client(() => 0.999_999, 200, 10_000, 5_000).nextDelayMs(30, 'unreachable'), 5_000);
    // The unreachable ceiling never exceeds the configured maximum.
    assert.equal(client(() => 0.999_999, 200, 1_000).nextDelayMs(30, 'unreachable'), 1_000);
  });

  it('retries an unreachable coordinator on the short ceiling, over a real refused connection', async () => {
    // Port 1 on loopback refuses: every attempt fails with UNAVAILABLE, so each delay is drawn
    // below the unreachable ceiling (300 ms here), never the 60 s maximum.
    const delays: number[] = [];
    const c = streamClient({
      logger: createLogger('test', {
        level: 'info',
        destination: new Writable({
          write(chunk: Buffer, _encoding, done) {
            const o = JSON.parse(chunk.toString()) as { event?: string; delayMs?: number; ending?: string };
            if (o.event === 'stream.reconnect_scheduled' && o.delayMs !== undefined) delays.push(o.delayMs);
            assert.notEqual(o.ending, 'refused');
            done();
          },
        }),
      }),
      backoffInitialMs: 100,
      backoffMaxMs: 60_000,
      backoffMaxUnreachableMs: 300,
      random: () => 0.999_999,
    });
    c.start();
    const deadline = Date.now() + 10_000;
    while (delays.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await c.stop();
    assert.deepEqual(delays.slice(0, 5), [100, 200, 300, 300, 300]);
  });
});

/** A free loopback port, closed again: connections to it are refused until something listens. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('StreamClient connection attempts', () => {
  it('opens no connection for an attempt that has ended, when the coordinator starts listening just after refusing it', async () => {
    // A coordinator that is starting refuses the attempt and listens a moment later. grpc-js
    // leaves the closed channel's subchannel in TRANSIENT_FAILURE with a reconnect pending after
    // its backoff (1.6-2.4 s as the client sets it); that connection would reach the coordinator,
    // unused by anyone.
    const port = await freePort();
    const accepted: Socket[] = [];
    let server: Server | undefined;
    const c = streamClient({
      addresses: [`127.0.0.1:${port}`],
      // The client's own next attempt comes about 10 s later, after the test.
      backoffInitialMs: 10_000,
      backoffMaxMs: 60_000,
      backoffMaxUnreachableMs: 60_000,
      random: () => 0.99,
    });
    const listening = new Promise<void>((resolve) => {
      c.onStateChange((s) => {
        if (s !== 'backoff' || server) return;
        server = createServer((socket) => accepted.push(socket));
        server.listen(port, '127.0.0.1', resolve);
      });
    });
    try {
      c.start();
      await listening;
      await new Promise((r) => setTimeout(r, 3_000));
      assert.equal(c.currentState, 'backoff');
      assert.equal(accepted.length, 0, `${accepted.length} connection(s) reached the server while the client was in backoff`);
    } finally {
      await c.stop();
      for (const s of accepted) s.destroy();
      const srv = server as Server | undefined;
      if (srv) await new Promise((r) => srv.close(r));
    }
  });
});

/** Waits until `ok()` holds (at most 10 s). */
async function until(ok: () => boolean): Promise<void> {
  const giveUpAt = Date.now() + 10_000;
  while (!ok()) {
    if (Date.now() > giveUpAt) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('StreamClient on a stream welcomed again', () => {
  it('answers every Welcome with its full state, and sends each change once', async () => {
    // A coordinator relaying this stream moves it to the next leader without ending it; that
    // leader's Welcome comes on the same stream, and the agent must tell it everything again
    // (agent-relay.ts). Every agent version since the first does; this pins it.
    const received: string[] = [];
    let welcomes = 0;
    let stream: ServerDuplexStream<ConnectRequest, ConnectResponse> | undefined;
    const server = new GrpcServer();
    const welcome = (call: ServerDuplexStream<ConnectRequest, ConnectResponse>) =>
      call.write({ msg: { $case: 'welcome', value: { coordinatorId: `c${++welcomes}`, sessionId: `s${welcomes}`, heartbeatIntervalMs: 60_000, staleAfterMs: 120_000, serverTimeMs: Date.now(), livenessFromConnection: false } } });
    server.addService(AgentServiceService, {
      connect: (call: ServerDuplexStream<ConnectRequest, ConnectResponse>) => {
        stream = call;
        call.on('data', (m: ConnectRequest) => {
          received.push(m.msg?.$case ?? '');
          if (m.msg?.$case === 'hello') welcome(call);
        });
        call.on('error', () => undefined);
      },
      reportRelayedLiveness: (_call: unknown, cb: (e: null, r: { touched: number }) => void) => cb(null, { touched: 0 }),
    });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    const listeners = new Set<(d: NodeDelta) => void>();
    const core = new NullCore();
    const c = streamClient({
      addresses: [`127.0.0.1:${port}`],
      source: {
        snapshot: () => core.snapshot(),
        appliedVersion: () => 0,
        recentResults: () => [],
        onDelta: (l) => {
          listeners.add(l);
          return () => listeners.delete(l);
        },
      },
    });
    const delta: NodeDelta = { services: [], checks: [], instances: [], removedChecks: [], removedInstances: [], healthy: false };
    try {
      c.start();
      await until(() => received.includes('snapshot'));
      // The same stream, welcomed again by the next coordinator.
      assert.ok(stream);
      welcome(stream);
      await until(() => received.filter((k) => k === 'snapshot').length === 2);
      for (const l of listeners) l(delta);
      await until(() => received.includes('delta'));
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(received, ['hello', 'snapshot', 'snapshot', 'delta'], 'the snapshot again, and one delta for one change');
      assert.equal(c.currentState, 'connected');
    } finally {
      await c.stop();
      server.forceShutdown();
    }
  });
});
