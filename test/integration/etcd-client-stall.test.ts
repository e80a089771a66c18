// The coordinator's etcd client against a real etcd when its own process stalls right after a
// gRPC keepalive ping was sent (as when it waits seconds for a CPU): the ping's answer is then
// in the socket, but timers run before the poll phase that reads it. A ping timeout shorter
// than the stall dropped the connection (every call on it failed with "Connection dropped" and
// watches restarted) although etcd had answered; the connection must survive a stall shorter
// than the lease.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { createEtcdClient } from '@lbha/coordinator';
import { eventually } from '@lbha/test-support';
import { EtcdCluster, etcdUnavailableReason } from '../support/etcd-cluster.js';

const skip = etcdUnavailableReason();
const STALL_MS = 3000;

/** Blocks this process for `ms` without yielding to the event loop. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin: the process is busy, as if it did not get the CPU
  }
}

describe('etcd client: a stall of the process right after a keepalive ping', { skip }, () => {
  let cluster: EtcdCluster;
  const session = http2.connect('http://127.0.0.1:1');
  session.on('error', () => undefined);
  const proto = Object.getPrototypeOf(session) as { ping: (...args: unknown[]) => boolean };
  const ping = proto.ping;
  let pings = 0;

  before(async () => {
    session.destroy();
    cluster = await EtcdCluster.start({ members: 1 });
    proto.ping = function (this: unknown, ...args: unknown[]): boolean {
      const sent = ping.apply(this, args);
      // The first keepalive ping only: then the process stalls, its answer waiting in the socket.
      if (++pings === 1) stall(STALL_MS);
      return sent;
    };
  });

  after(async () => {
    proto.ping = ping;
    await cluster?.stop();
  });

  it('keeps its connection (and the watch on it) through a 3 s stall', async () => {
    const client = createEtcdClient({ endpoints: cluster.endpoints, requestTimeout: 1000, leaseTtl: 5000 });
    try {
      const watcher = await client.watch().key('/stall/x').create();
      const drops: string[] = [];
      watcher.on('disconnected', (err: Error) => drops.push(err.message));
      await client.put('/stall/x').value('1');
      // The client pings every 5 s: wait for the first ping and the stall after it.
      await eventually(() => pings >= 1, 'a keepalive ping', 15_000);
      const seen: string[] = [];
      watcher.on('put', (kv) => seen.push(kv.value.toString()));
      await client.put('/stall/x').value('2');
      await eventually(() => seen.includes('2'), 'the watch sees the put after the stall', 10_000);
      assert.deepEqual(drops, [], 'the connection was not dropped');
      await watcher.cancel();
    } finally {
      client.close();
    }
  });
});
