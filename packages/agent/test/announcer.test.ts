// The announcer on a real kernel: a node and a client on one veth link, in scratch namespaces.
// The client's neighbour entry for the VIP points at some other MAC (the node that let go after a
// split brain); one announcement from the node moves it to the node's MAC, for an IPv4 VIP
// (gratuitous ARP) and an IPv6 VIP (unsolicited neighbour advertisement).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '@lbha/shared';
import { eventually } from '@lbha/test-support';
import { Announcer } from '../src/net/announcer.js';
import { ip, isRoot, ScratchNetns } from './helpers/netns.js';

const skip = isRoot ? false : 'needs root for network namespaces';
const OTHER_MAC = '02:00:00:00:00:99';

function neighbour(ns: string, address: string): { mac: string | undefined; state: string } | undefined {
  const list = JSON.parse(ip('-n', ns, '-j', 'neigh', 'show', address) || '[]') as Array<{ dst: string; lladdr?: string; state?: string[] }>;
  const n = list.find((e) => e.dst === address);
  return n ? { mac: n.lladdr, state: (n.state ?? []).join(',') } : undefined;
}

describe('announcer', { skip }, () => {
  let node: ScratchNetns;
  let client: ScratchNetns;
  let announcer: Announcer;
  let nodeMac = '';

  before(() => {
    node = new ScratchNetns('ann-node');
    client = new ScratchNetns('ann-client');
    ip('-n', node.name, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', client.name);
    for (const ns of [node.name, client.name]) ip('-n', ns, 'link', 'set', 'eth1', 'up');
    ip('-n', node.name, 'addr', 'add', '10.79.0.1/24', 'dev', 'eth1');
    ip('-n', node.name, 'addr', 'add', '10.79.0.50/24', 'dev', 'eth1');
    ip('-n', node.name, 'addr', 'add', 'fd00:79::50/64', 'dev', 'eth1', 'nodad');
    ip('-n', client.name, 'addr', 'add', '10.79.0.100/24', 'dev', 'eth1');
    ip('-n', client.name, 'addr', 'add', 'fd00:79::100/64', 'dev', 'eth1', 'nodad');
    nodeMac = (JSON.parse(ip('-n', node.name, '-j', 'link', 'show', 'eth1')) as Array<{ address: string }>)[0]?.address ?? '';
    announcer = new Announcer({ perlProgram: 'perl', sysfsNetRoot: '/sys/class/net', logger: createLogger('test', { level: 'silent' }) });
  });

  after(() => {
    announcer?.close();
    node?.remove();
    client?.remove();
  });

  for (const vip of ['10.79.0.50', 'fd00:79::50']) {
    it(`moves the client's neighbour entry for ${vip} to the announcing node`, async () => {
      ip('-n', client.name, 'neigh', 'replace', vip, 'lladdr', OTHER_MAC, 'dev', 'eth1', 'nud', 'stale');
      assert.equal(neighbour(client.name, vip)?.mac, OTHER_MAC);
      // The announcer runs in the node's namespace, as the agent does (`ip netns exec`).
      const out = execFileSync('ip', ['netns', 'exec', node.name, process.execPath, '--input-type=module', '-e', announceScript(vip)], { encoding: 'utf8' });
      assert.equal(out.trim(), 'ok', `the announcement was sent: ${out}`);
      await eventually(() => neighbour(client.name, vip)?.mac === nodeMac);
    });
  }

  it('refuses an interface it cannot read and a bad address, without sending anything', async () => {
    assert.deepEqual(await announcer.announce('no-such-if0', '10.79.0.50'), { ok: false, error: "cannot read no-such-if0's address: " + `ENOENT: no such file or directory, open '/sys/class/net/no-such-if0/address'` });
    assert.equal((await announcer.announce('eth1', 'not-an-address')).ok, false);
    assert.equal((await announcer.announce('eth1; rm -rf /', '10.79.0.50')).ok, false);
  });
});

/** A module that announces `vip` on eth1 with the compiled Announcer and prints the outcome. */
function announceScript(vip: string): string {
  const url = new URL('../src/net/announcer.js', import.meta.url).href;
  const shared = import.meta.resolve('@lbha/shared');
  return `
import { Announcer } from ${JSON.stringify(url)};
import { createLogger } from ${JSON.stringify(shared)};
const a = new Announcer({ perlProgram: 'perl', sysfsNetRoot: '/sys/class/net', logger: createLogger('test', { level: 'silent' }) });
const r = await a.announce('eth1', ${JSON.stringify(vip)});
console.log(r.ok ? 'ok' : r.error);
a.close();
`;
}
