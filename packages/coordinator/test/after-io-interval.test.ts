// The stale sweep runs after the coordinator has read what arrived while it was held up: a
// heartbeat waiting in a socket when the sweep's timer comes due keeps its agent fresh.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { eventually } from '@lbha/test-support';
import { afterIoInterval } from '../src/after-io-interval.js';
import { Registry, type AgentSession } from '../src/registry.js';
import { hello } from './support/fake-fleet.js';

describe('afterIoInterval', () => {
  const server = createServer();
  const sockets: Socket[] = [];
  after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });

  it('sweeps after reading the heartbeat that arrived while the loop was held up', async () => {
    let now = 1_000_000;
    const registry = new Registry(3500, () => now);
    const session: AgentSession = { id: 's1', peer: 'p', sendDesiredState: () => {}, sendCommand: () => {}, close: () => {} };
    assert.ok(registry.attach(hello('lb1', 'web'), session).ok);
    // The agent's stream: every byte that arrives is a heartbeat.
    server.on('connection', (s) => {
      sockets.push(s);
      s.on('data', () => registry.touch('lb1', 's1'));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    const accepted = once(server, 'connection');
    const client = connect(port, '127.0.0.1');
    sockets.push(client);
    await once(client, 'connect');
    await accepted;

    const seen: string[] = [];
    const sweeps = afterIoInterval(() => {
      registry.sweep();
      seen.push(registry.get('lb1')?.link ?? 'gone');
    }, 20);
    try {
      // Held up past the stale deadline (the clock) and past the sweep's timer (the busy wait),
      // with a heartbeat sent meanwhile: it sits in the socket, unread, when the timer comes due.
      now += 10_000;
      client.write('heartbeat');
      const until = performance.now() + 100;
      while (performance.now() < until) {
        // the coordinator busy, or waiting for its core
      }
      await eventually(() => seen.length > 0, 'a sweep');
      assert.equal(seen[0], 'connected', 'the heartbeat was read before the sweep judged the silence');
      // Silence that is real still counts: nothing more arrives.
      now += 10_000;
      await eventually(() => seen.at(-1) === 'stale', 'the agent marked stale after real silence');
    } finally {
      sweeps.stop();
    }
  });
});
