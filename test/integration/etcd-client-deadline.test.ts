// The coordinator's etcd client when a request misses its deadline on a connection that is up
// (the member answered late, or this process waited for a CPU): etcd3 closed every channel to
// that member, and the calls after it waited for a new connection (under load, missing their own
// deadlines, which closed the new channels in turn). The connection must be kept: its keepalive
// pings decide whether it is dead.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createEtcdClient } from '@lbha/coordinator';
import { eventually } from '@lbha/test-support';
import type { Etcd3 } from 'etcd3';
import { EtcdCluster, etcdUnavailableReason } from '../support/etcd-cluster.js';

/** The gRPC channel etcd3 holds for the member's KV service now (etcd3's own pool; none: undefined). */
function kvChannel(client: Etcd3): unknown {
  const pool = (client as unknown as { pool: { hosts: Array<{ cachedServices: Record<string, { getChannel(): unknown } | undefined> }> } }).pool;
  return pool.hosts[0]?.cachedServices['KV']?.getChannel();
}

const skip = etcdUnavailableReason();

describe('etcd client: a request that misses its deadline', { skip }, () => {
  let cluster: EtcdCluster;

  before(async () => {
    cluster = await EtcdCluster.start({ members: 1 });
  });

  after(async () => {
    await cluster?.stop();
  });

  it('keeps the connection: the next call goes on the same channel, and the watch goes on', async () => {
    const client = createEtcdClient({ endpoints: cluster.endpoints, requestTimeout: 300, leaseTtl: 5000 });
    try {
      const watcher = await client.watch().key('/deadline/x').create();
      const drops: string[] = [];
      watcher.on('disconnected', (err: Error) => drops.push(err.message));
      await client.put('/deadline/x').value('1');
      const channel = kvChannel(client);
      assert.ok(channel !== undefined);
      // The member answers nothing for longer than the request's deadline, shorter than the
      // connection's keepalive timeout.
      const name = cluster.members[0]!.name;
      cluster.pause(name);
      try {
        await assert.rejects(client.get('/deadline/x').string(), /DEADLINE_EXCEEDED|Deadline exceeded/);
      } finally {
        cluster.resume(name);
      }
      assert.equal(kvChannel(client), channel, 'the channel to the member was kept');
      const seen: string[] = [];
      watcher.on('put', (kv) => seen.push(kv.value.toString()));
      await client.put('/deadline/x').value('2');
      await eventually(() => seen.includes('2'), 'the watch sees the put after the missed deadline', 10_000);
      assert.equal(kvChannel(client), channel, 'the next call went on the same channel');
      assert.deepEqual(drops, [], "the watch's connection was not closed");
      await watcher.cancel();
    } finally {
      client.close();
    }
  });
});
