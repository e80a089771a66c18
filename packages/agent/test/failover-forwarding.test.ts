// Unplanned failover forwarding on a real kernel: a client and two nodes on a bridge, in scratch
// namespaces, an IPv4 and an IPv6 VIP held by A, both nodes keeping the VIPs on lo (the
// handover's standby). New connections go to B when A's server is gone (the kernel decides) and
// when the agent gives a VIP up; they come back to A when it can serve again.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually } from '@lbha/test-support';
import type { HandoverController } from '../src/net/handover.js';
import { BridgeNet, type NodeName } from './helpers/bridge-net.js';
import { failoverForwarder, handoverController } from './helpers/forwarding.js';
import { isRoot } from './helpers/netns.js';

const hasNft = spawnSync('nft', ['--version']).status === 0;
const skip = !isRoot ? 'needs root for network namespaces' : !hasNft ? 'nft is not installed' : false;

const V4 = { vip: '10.79.0.50', a: '10.79.0.1', b: '10.79.0.2', client: '10.79.0.100', prefix: 24 };
const V6 = { vip: 'fd00:79::50', a: 'fd00:79::1', b: 'fd00:79::2', client: 'fd00:79::100', prefix: 64 };

describe('unplanned failover forwarding on a real kernel', { skip }, () => {
  let net: BridgeNet;
  let dir: string;
  // The servers close each connection once they answered: the client reuses a source port below.
  const startServer = (node: NodeName): Promise<void> => net.startServer(node, true);
  const who = (vip: string, localPort = 0): string => net.who(vip, localPort);

  async function standby(node: NodeName): Promise<HandoverController> {
    const c = handoverController(net, dir, node);
    await c.start();
    assert.deepEqual([...(await c.keepOnLo([V4, V6].map((f) => ({ vip: f.vip, interface: 'eth1' }))))], []);
    await c.apply([]);
    return c;
  }

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lbha-fofwd-'));
    // A holds both VIPs, as keepalived would have it.
    net = new BridgeNet('fo', [V4, V6]);
  });

  after(() => {
    net?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('sends new connections to B while A cannot serve them, and keeps them at A otherwise', async () => {
    await standby('a');
    await standby('b');
    await startServer('a');
    await startServer('b');
    // The long-lived `nft -i` runs in A's namespace, like everything the agent on A runs.
    const fwd = failoverForwarder(net, dir, 'a');
    try {
      const problems = await fwd.arm([V4, V6].map((f) => ({ vip: f.vip, interface: 'eth1', peer: f.b })));
      assert.deepEqual([...problems], []);
      for (const f of [V4, V6]) assert.equal(who(f.vip), 'A', `${f.vip} is served by its holder`);

      // The proxy is gone: the kernel finds no socket and hands the SYN to B, nobody asked.
      net.stopServer('a');
      for (const f of [V4, V6]) await eventually(() => who(f.vip) === 'B', `${f.vip} served by B while A has no listener`, 5_000);
      await startServer('a');
      for (const f of [V4, V6]) assert.equal(who(f.vip), 'A', `${f.vip} back at A once it listens again`);

      // The agent gives the IPv4 VIP up (a fault, a hung proxy...): its new connections go to B
      // although A listens; the IPv6 VIP stays. Then A takes it back.
      fwd.give([V4.vip]);
      await eventually(() => who(V4.vip) === 'B', 'the given VIP served by B', 5_000);
      assert.equal(who(V6.vip), 'A', 'the other VIP stays at A');
      assert.equal(who(V4.vip, 41_000), 'B', 'a connection from port 41000 goes to B');
      fwd.give([]);
      await eventually(() => who(V4.vip) === 'A', 'the VIP served by A again', 5_000);
      // A new connection from a source port whose earlier flow went to B is decided afresh.
      assert.equal(who(V4.vip, 41_000), 'A', 'a reused source port does not follow the old flow to B');

      // B's frames are never sent back: with B giving up too (its own table), nothing loops;
      // here B's address on the bridge is simply in A's peers set.
      const listed = spawnSync('ip', ['netns', 'exec', net.ns.a, 'nft', 'list', 'set', 'ip', 'lbha_failover', 'peers'], { encoding: 'utf8' }).stdout;
      assert.match(listed, /elements = \{ [0-9a-f:]{17} \}/, `B's MAC is in the peers set: ${listed}`);
    } finally {
      fwd.close();
    }
  });
});
