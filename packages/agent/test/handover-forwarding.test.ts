// The handover mechanism on its own, on a real kernel: a client and two nodes on a bridge, in
// scratch namespaces, for an IPv4 and an IPv6 VIP. The VIP moves from A to B by hand (what
// keepalived does); with both agents' handover in place, connections the client opened to A keep
// being answered by A, new ones go to B; once the handover ends, B resets A's connections
// (which is what happens without it). The lab's maintenance test shows the same with keepalived
// and nginx, for IPv4.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { eventually } from '@lbha/test-support';
import type { HandoverTask } from '../src/net/handover.js';
import { BridgeNet, type KeptAliveLine } from './helpers/bridge-net.js';
import { handoverController } from './helpers/forwarding.js';
import { isRoot } from './helpers/netns.js';

const hasNft = spawnSync('nft', ['--version']).status === 0;
const skip = !isRoot ? 'needs root for network namespaces' : !hasNft ? 'nft is not installed' : false;

const V4 = { vip: '10.78.0.50', a: '10.78.0.1', b: '10.78.0.2', client: '10.78.0.100', prefix: 24 };
const V6 = { vip: 'fd00:78::50', a: 'fd00:78::1', b: 'fd00:78::2', client: 'fd00:78::100', prefix: 64 };

describe('handover on a real kernel: a connection survives its VIP moving', { skip }, () => {
  let net: BridgeNet;
  let dir: string;

  const tasks = (role: 'incoming' | 'outgoing'): HandoverTask[] =>
    [V4, V6].map((f, i) => ({
      instance: `vip${i}`,
      vrid: 10 + i,
      interface: 'eth1',
      vip: f.vip,
      role,
      peer: role === 'incoming' ? f.a : f.b,
      untilMs: Date.now() + 60_000,
    }));

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lbha-hofwd-'));
    net = new BridgeNet('ho', [V4, V6]);
  });

  after(() => {
    net?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps A answering its connections after the move, sends new ones to B, and resets them once it ends', async () => {
    await net.startServer('a');
    await net.startServer('b');
    const client = await net.keptAlive();

    const a = handoverController(net, dir, 'a');
    const b = handoverController(net, dir, 'b');
    await a.start();
    await b.start();
    assert.deepEqual([...(await b.apply(tasks('incoming')))], []);
    assert.deepEqual([...(await a.apply(tasks('outgoing')))], []);

    // What keepalived does: A drops the VIPs, B takes them and the client learns B's address.
    net.moveVipsToB();
    const movedAt = Date.now();
    const parsed = client.lines;
    const answeredAfterMove = (vip: string): KeptAliveLine[] => parsed().filter((l) => l.vip === vip && l.t > movedAt + 300);
    await eventually(() => [V4.vip, V6.vip].every((vip) => answeredAfterMove(vip).length >= 10 || parsed().some((l) => l.vip === vip && (l.error || l.closed))), 'answers after the move');

    for (const vip of [V4.vip, V6.vip]) {
      assert.equal(net.who(vip), 'B', `a new connection to ${vip} goes to the new holder`);
    }
    for (const vip of [V4.vip, V6.vip]) {
      const mine = parsed().filter((l) => l.vip === vip);
      assert.deepEqual(mine.filter((l) => l.error || l.closed), [], `the connection to ${vip} is alive`);
      const after = answeredAfterMove(vip);
      assert.ok(after.length >= 10, `answers on ${vip} after the move (${after.length})`);
      assert.deepEqual([...new Set(after.map((l) => l.reply))], ['A'], `A answered ${vip} after the move`);
    }

    // Without the handover B has no idea of these connections: it resets them.
    await b.apply([]);
    await a.apply([]);
    await eventually(() => [V4.vip, V6.vip].every((vip) => parsed().some((l) => l.vip === vip && l.error === 'ECONNRESET')), 'resets once the handover is over', 10_000);
  });
});
