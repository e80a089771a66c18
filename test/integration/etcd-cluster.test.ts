// The etcd test harness itself, and what the etcd3 client does against Debian's etcd 3.4:
// transactions with revision compares, leases, and a write path that survives a minority
// loss and fails fast on a majority loss.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { EtcdCluster, etcdUnavailableReason } from '../support/etcd-cluster.js';

const skip = etcdUnavailableReason();

describe('etcd test cluster', { skip }, () => {
  let cluster: EtcdCluster;
  let client: Etcd3;

  before(async () => {
    cluster = await EtcdCluster.start();
    client = new Etcd3({ hosts: cluster.endpoints, dialTimeout: 2000 });
  });
  after(async () => {
    client?.close();
    await cluster?.stop();
  });

  it('runs three members with distinct ports and one raft leader', async () => {
    assert.equal(cluster.members.length, 3);
    assert.equal(new Set(cluster.members.flatMap((m) => [m.clientUrl, m.peerUrl])).size, 6);
    const leader = await cluster.leaderName();
    assert.ok(leader && ['m1', 'm2', 'm3'].includes(leader), `leader ${leader}`);
  });

  it('supports create-if-absent and revision compares in a transaction', async () => {
    const create = () => client.if('t/key', 'Create', '==', 0).then(client.put('t/key').value('a')).commit();
    const first = await create();
    const second = await create();
    assert.equal(first.succeeded, true);
    assert.equal(second.succeeded, false);
    const kv = (await client.get('t/key').exec()).kvs[0];
    assert.ok(kv);
    const swap = await client.if('t/key', 'Mod', '==', kv.mod_revision).then(client.put('t/key').value('b')).commit();
    assert.equal(swap.succeeded, true);
    const stale = await client.if('t/key', 'Mod', '==', kv.mod_revision).then(client.put('t/key').value('c')).commit();
    assert.equal(stale.succeeded, false);
    assert.equal(await client.get('t/key').string(), 'b');
  });

  it('grants leases that expire with their keys', async () => {
    const grant = await client.leaseClient.leaseGrant({ TTL: 1 });
    await client.put('t/leased').value('x').lease(grant.ID).exec();
    assert.equal(await client.get('t/leased').string(), 'x');
    const deadline = Date.now() + 15_000;
    while ((await client.get('t/leased').string()) !== null) {
      assert.ok(Date.now() < deadline, 'leased key expires');
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  it('keeps writing with one member killed, refuses with two paused, recovers', async () => {
    await cluster.kill('m1');
    await cluster.waitHealthy();
    await client.put('t/minority').value('1').options({ deadline: Date.now() + 5000 }).exec();
    assert.equal(await client.get('t/minority').string(), '1');

    cluster.pause('m2');
    await assert.rejects(client.put('t/majority').value('1').options({ deadline: Date.now() + 2000 }).exec());

    cluster.resume('m2');
    cluster.restart('m1');
    await cluster.waitHealthy();
    await client.put('t/majority').value('2').options({ deadline: Date.now() + 5000 }).exec();
    assert.equal(await client.get('t/majority').string(), '2');
  });
});
