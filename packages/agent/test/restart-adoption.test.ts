// What an agent restart must leave alone, on a real kernel: the forwarding tables hold the only
// record of which connections live on the other node. A restarted agent that loads its tables
// afresh forgets them, and the next packet of such a connection is answered with a reset by a
// node that has no socket for it (every node keeps the VIPs on lo, so the packet is local
// wherever it lands). The restart is modelled by dropping the old controller and starting a new
// one on the same namespace, as a new agent process would.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually } from '@lbha/test-support';
import type { FailoverForwarder } from '../src/net/failover-forwarder.js';
import type { HandoverController, HandoverTask } from '../src/net/handover.js';
import type { CommandRunner } from '../src/util/run-command.js';
import { BridgeNet, type KeptAliveClient, type NodeName } from './helpers/bridge-net.js';
import { failoverForwarder, handoverController, runIn } from './helpers/forwarding.js';
import { isRoot } from './helpers/netns.js';

const hasNft = spawnSync('nft', ['--version']).status === 0;
const skip = !isRoot ? 'needs root for network namespaces' : !hasNft ? 'nft is not installed' : false;

const V4 = { vip: '10.76.0.50', a: '10.76.0.1', b: '10.76.0.2', client: '10.76.0.100', prefix: 24 };
const V6 = { vip: 'fd00:76::50', a: 'fd00:76::1', b: 'fd00:76::2', client: 'fd00:76::100', prefix: 64 };
const FAMILIES = [V4, V6];

describe('a restarted agent adopts the forwarding tables it finds (real kernel)', { skip }, () => {
  let net: BridgeNet;
  let dir: string;
  const handover = (node: NodeName, run?: CommandRunner): HandoverController => handoverController(net, dir, node, run);
  const forwarder = (node: NodeName): FailoverForwarder => failoverForwarder(net, dir, node);

  const given = (node: NodeName, family: 'ip' | 'ip6'): string =>
    spawnSync('ip', ['netns', 'exec', net.ns[node], 'nft', 'list', 'set', family, 'lbha_failover', 'given'], { encoding: 'utf8' }).stdout;

  /** The client's kept-alive connections keep being answered by `node` for a while, with no error. */
  async function stillServedBy(client: KeptAliveClient, node: string, since: number): Promise<void> {
    await eventually(() => FAMILIES.every((f) => client.lines().filter((l) => l.vip === f.vip && l.t > since + 300).length >= 10) || client.failures().length > 0, 'answers after the restart', 10_000);
    assert.deepEqual(client.failures(), [], 'no kept-alive connection was reset or closed');
    for (const f of FAMILIES) {
      const replies = client.lines().filter((l) => l.vip === f.vip && l.t > since);
      assert.deepEqual([...new Set(replies.map((l) => l.reply))], [node], `${f.vip}: answered by ${node} only`);
    }
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'lbha-restart-'));
    net = new BridgeNet('ra', FAMILIES);
    // Both nodes keep the VIPs on lo (the standby of unplanned failover).
    for (const node of ['a', 'b'] as const) {
      const c = handover(node);
      await c.start();
      assert.deepEqual([...(await c.keepOnLo(FAMILIES.map((f) => ({ vip: f.vip, interface: 'eth1' }))))], []);
      await c.apply([]);
      await net.startServer(node);
    }
  });

  after(() => {
    net?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('failover table: the VIPs given up and the connections handed to the peer stay where they are', async () => {
    const targets = FAMILIES.map((f) => ({ vip: f.vip, interface: 'eth1', peer: f.b }));
    const before = forwarder('a');
    assert.deepEqual([...(await before.arm(targets))], []);
    // A gives its VIPs up (a fault): new connections, kept-alive ones among them, go to B.
    before.give(FAMILIES.map((f) => f.vip));
    for (const f of FAMILIES) await eventually(() => net.who(f.vip) === 'B', `${f.vip} handed to B`, 5_000);
    const client = await net.keptAlive();
    await eventually(() => FAMILIES.every((f) => client.lines().some((l) => l.vip === f.vip && l.reply === 'B')), 'kept-alive connections answered by B', 5_000);

    // The agent dies (its nft session with it) and a new one arms the same targets.
    before.close();
    const restarted = forwarder('a');
    try {
      const t = Date.now();
      assert.deepEqual([...(await restarted.arm(targets))], []);
      assert.deepEqual([...restarted.givenVips()].sort(), FAMILIES.map((f) => f.vip).sort(), 'the restarted forwarder knows what was given up');
      assert.match(given('a', 'ip'), new RegExp(`elements = \\{ ${V4.vip.replace(/\./g, '\\.')} \\}`), 'the IPv4 VIP is still given up');
      assert.match(given('a', 'ip6'), /elements = \{ fd00:76::50 \}/, 'the IPv6 VIP is still given up');
      for (const f of FAMILIES) assert.equal(net.who(f.vip), 'B', `a new connection to ${f.vip} still goes to B`);
      await stillServedBy(client, 'B', t);

      // Once the agent decides it can serve, new connections stay at A; B keeps its own.
      restarted.give([]);
      for (const f of FAMILIES) await eventually(() => net.who(f.vip) === 'A', `${f.vip} served by A again`, 5_000);
      await stillServedBy(client, 'B', Date.now());
    } finally {
      restarted.close();
      client.stop();
      for (const f of ['ip', 'ip6']) spawnSync('ip', ['netns', 'exec', net.ns.a, 'nft', 'delete', 'table', f, 'lbha_failover']);
    }
  });

  it('handover table: connections the new holder recorded stay with it, also those its listing misses', async () => {
    const tasks = (role: 'incoming' | 'outgoing', untilMs: number): HandoverTask[] =>
      FAMILIES.map((f, i) => ({ instance: `vip${i}`, vrid: 20 + i, interface: 'eth1', vip: f.vip, role, peer: role === 'incoming' ? f.a : f.b, untilMs }));
    const until = Date.now() + 60_000;
    const a = handover('a');
    const b = handover('b');
    await a.start();
    await b.start();
    assert.deepEqual([...(await b.apply(tasks('incoming', until)))], []);
    assert.deepEqual([...(await a.apply(tasks('outgoing', until)))], []);
    net.moveVipsToB();
    for (const f of FAMILIES) await eventually(() => net.who(f.vip) === 'B', `${f.vip} held by B`, 5_000);
    // Connections opened after the move: B's table saw their SYN.
    const client = await net.keptAlive();
    await eventually(() => FAMILIES.every((f) => client.lines().some((l) => l.vip === f.vip && l.reply === 'B')), 'kept-alive connections answered by B', 5_000);

    // B's agent restarts. Its listing of local connections comes back empty, as it can for a
    // connection whose SYN arrived while the listing ran: only the table knows about it.
    b.detach();
    const restarted = handover('b', runIn(net, 'b', { ss: 'true' }));
    const t = Date.now();
    await restarted.start();
    assert.deepEqual([...(await restarted.apply(tasks('incoming', until)))], []);
    await stillServedBy(client, 'B', t);
    client.stop();
    await restarted.apply([]);
    await a.apply([]);
  });
});
