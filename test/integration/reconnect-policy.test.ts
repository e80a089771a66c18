// The agent's reconnect policy against a real coordinator over real gRPC: after the coordinator
// shuts down (a restart), the agent retries on the short "unreachable" ceiling and is welcomed by
// the next process on the same port; an agent the coordinator refuses (a second agent claiming a
// live node) backs off on the long ceiling. The delays are read from the agent's own log of each
// scheduled attempt; the random draw is pinned near 1, so each delay is its ceiling.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { NullCore, StreamClient } from '@lbha/agent';
import { CoordinatorServer } from '@lbha/coordinator';
import { createLogger, silentLogger } from '@lbha/shared';
import { eventually } from '@lbha/test-support';

interface Scheduled {
  readonly delayMs: number;
  readonly ending: string;
}

function agent(address: string, node: string, bootId: string, scheduled: Scheduled[]): StreamClient {
  const core = new NullCore();
  return new StreamClient({
    addresses: [address],
    credentials: credentials.createInsecure(),
    node,
    cluster: 'web',
    agentVersion: 'test',
    bootId,
    source: core,
    handler: core,
    logger: createLogger('agent', {
      level: 'info',
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          const o = JSON.parse(chunk.toString()) as { event?: string; delayMs?: number; ending?: string };
          if (o.event === 'stream.reconnect_scheduled') scheduled.push({ delayMs: o.delayMs ?? -1, ending: o.ending ?? '' });
          done();
        },
      }),
    }),
    backoffInitialMs: 100,
    backoffMaxMs: 60_000,
    backoffMaxUnreachableMs: 300,
    random: () => 0.999_999,
  });
}

describe('agent reconnect policy against a coordinator', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-reconnect-'));
  let server: CoordinatorServer | undefined;
  const clients: StreamClient[] = [];

  async function startServer(port: number): Promise<string> {
    server = new CoordinatorServer(
      {
        id: 'coord-test',
        grpc: { listen: [`127.0.0.1:${port}`], maxMessageBytes: 4 * 1024 * 1024 },
        tls: { insecure: true },
        auth: { tokens: [], anonymous: 'operator' },
        stateDir: join(dir, 'state'),
        heartbeat: { interval: 100, staleAfter: 1000 },
        log: { level: 'info' },
      } as never,
      silentLogger(),
    );
    await server.start();
    return server.addresses[0] as string;
  }

  after(async () => {
    await Promise.all(clients.map((c) => c.stop()));
    await server?.stop(200);
    rmSync(dir, { recursive: true, force: true });
  });

  it('retries a restarting coordinator on the short ceiling and is welcomed by the new process', async () => {
    const address = await startServer(0);
    const port = Number(address.split(':').pop());
    const scheduled: Scheduled[] = [];
    const c = agent(address, 'lb1', 'boot-1', scheduled);
    clients.push(c);
    c.start();
    await eventually(() => c.currentState === 'connected', 'the agent welcomed');

    await server?.stop(200);
    // Down long enough for several refused attempts; the ceiling stops at 300 ms, not 60 s.
    await eventually(() => scheduled.length >= 5, 'five attempts against the stopped coordinator', 10_000);
    await startServer(port);
    await eventually(() => c.currentState === 'connected', 'the agent welcomed by the new process', 10_000);

    assert.ok(scheduled.every((s) => s.ending === 'unreachable'), JSON.stringify(scheduled));
    assert.deepEqual(scheduled.slice(0, 4).map((s) => s.delayMs), [100, 200, 300, 300]);
    assert.ok(scheduled.every((s) => s.delayMs <= 300), JSON.stringify(scheduled));
  });

  it('backs off on the long ceiling when the coordinator refuses the stream', async () => {
    const address = server?.addresses[0] as string;
    const scheduled: Scheduled[] = [];
    // lb1's agent is live (previous test): a second agent with another boot id is refused.
    const c = agent(address, 'lb1', 'boot-2', scheduled);
    clients.push(c);
    c.start();
    await eventually(() => scheduled.length >= 4, 'four refused attempts', 10_000);
    await c.stop();
    assert.ok(scheduled.every((s) => s.ending === 'refused'), JSON.stringify(scheduled));
    assert.deepEqual(scheduled.slice(0, 4).map((s) => s.delayMs), [100, 200, 400, 800]);
  });
});
