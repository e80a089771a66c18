// The agent's side of a connection handover: the incoming table loaded by the real nft into a
// scratch namespace, the outgoing lo address and ARP sysctls, deadlines, and what a restarted
// agent keeps and sweeps away. (The lab's maintenance test shows it carrying real traffic.)
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '@lbha/shared';
import { eventually } from '@lbha/test-support';
import { HandoverController, type SavedSysctls } from '../src/net/handover.js';
import { isMoveBack } from '../src/net/handover-linger.js';
import { incomingRuleset, parseSsPeers, tableName } from '../src/net/handover-ruleset.js';
import { handoverTaskProblem, type HandoverTask } from '../src/net/handover-task.js';
import { JsonFile } from '../src/state/json-file.js';
import { runCommand, type CommandRunner } from '../src/util/run-command.js';
import { isRoot, ScratchNetns } from './helpers/netns.js';

const hasNft = spawnSync('nft', ['--version']).status === 0;

/** Opens 1,200 connections to 10.77.0.50:8080 and holds them; prints a line once they are up. */
const HOLD_CONNECTIONS = `
const net = require('node:net');
const keep = [];
const srv = net.createServer((s) => keep.push(s)).listen({ host: '10.77.0.50', port: 8080, backlog: 2048 }, async () => {
  for (let i = 0; i < 1200; i++) await new Promise((r) => keep.push(net.connect(8080, '10.77.0.50', r)));
  while (keep.length < 2400) await new Promise((r) => setTimeout(r, 10));
  console.log('up');
  setTimeout(() => process.exit(0), 60000);
});
`;
const skip = !isRoot ? 'needs root for network namespaces' : !hasNft ? 'nft is not installed' : false;

const task = (over: Partial<HandoverTask> = {}): HandoverTask => ({
  instance: 'vip1',
  vrid: 51,
  interface: 'eth1',
  vip: '10.77.0.50',
  role: 'incoming',
  peer: '10.77.0.1',
  untilMs: Date.now() + 60_000,
  ...over,
});

describe('handover: pure parts', () => {
  it('reads the remote ends of local connections from ss', () => {
    const out = ['0      0      192.168.20.28:80   192.168.20.100:51234', '0 0 192.168.20.28:80 192.168.20.101:40000', '0 0 [fd00::50]:80 [fd00::100]:4000', 'garbage', ''].join('\n');
    assert.deepEqual(parseSsPeers(out), ['192.168.20.100 . 51234', '192.168.20.101 . 40000']);
    assert.deepEqual(parseSsPeers(out, 6), ['fd00::100 . 4000']);
  });

  it('refuses what cannot be put into a rule safely', () => {
    assert.equal(handoverTaskProblem(task()), undefined);
    assert.match(handoverTaskProblem(task({ interface: 'eth1"; flush ruleset' })) ?? '', /cannot be used in an nftables rule/);
    assert.match(handoverTaskProblem(task({ vip: 'fd00::1' })) ?? '', /peer "10\.77\.0\.1" is not an IPv6 address like the VIP/);
    assert.match(handoverTaskProblem(task({ vip: 'vip-1' })) ?? '', /is not an IP address/);
    assert.match(handoverTaskProblem(task({ peer: 'lb2' })) ?? '', /not an IPv4 address like the VIP/);
    assert.equal(handoverTaskProblem(task({ vip: 'fd00::50', peer: 'fd00::1' })), undefined);
    assert.match(handoverTaskProblem(task({ peer: '10.77.0.50' })) ?? '', /the VIP itself/);
  });

  it('forwards only TCP for the VIP that did not start here', () => {
    const text = incomingRuleset(task(), ['10.77.0.100 . 4000']);
    assert.match(text, /hook ingress device "eth1"/);
    assert.match(text, /meta pkttype host ip daddr 10\.77\.0\.50 tcp flags & \(syn \| ack\) == syn update @flows/);
    assert.match(text, /meta pkttype host ip daddr 10\.77\.0\.50 ip saddr \. tcp sport @flows update @flows/);
    assert.match(text, /meta pkttype host ip daddr 10\.77\.0\.50 meta l4proto tcp fwd ip to 10\.77\.0\.1 device "eth1"/);
    assert.match(text, /elements = \{ 10\.77\.0\.100 \. 4000 \}/);
    assert.equal(tableName(task({ interface: 'bond0.20' })), 'lbha_handover_bond0_20_51');
    const v6 = incomingRuleset(task({ vip: 'fd00::50', peer: 'fd00::1' }), []);
    assert.match(v6, /type ipv6_addr \. inet_service/);
    assert.match(v6, /meta pkttype host ip6 daddr fd00::50 ip6 saddr \. tcp sport @flows update @flows \{ ip6 saddr \. tcp sport \}/);
    assert.match(v6, /fwd ip6 to fd00::1 device "eth1"/);
  });

  it('keeps a table after a move back without forwarding what the peer forwards', () => {
    const text = incomingRuleset(task(), [], true, '02:00:00:00:00:01');
    assert.match(text, /flush table netdev lbha_handover_eth1_51/, 'the flows it recorded stay');
    assert.match(text, /meta pkttype host ip daddr 10\.77\.0\.50 ether saddr != 02:00:00:00:00:01 meta l4proto tcp fwd ip to 10\.77\.0\.1 device "eth1"/);
    assert.equal(isMoveBack(task(), task({ role: 'outgoing' })), true);
    assert.equal(isMoveBack(task(), task({ role: 'outgoing', peer: '10.77.0.3' })), false, 'a move on to a third node');
    assert.equal(isMoveBack(task({ role: 'outgoing' }), task()), false);
    assert.equal(isMoveBack(task(), task()), false);
  });
});

describe('handover: on a real kernel', { skip }, () => {
  let ns: ScratchNetns;
  let dir: string;
  let procSys: string;
  const run: CommandRunner = (file, args, options) => runCommand('ip', ['netns', 'exec', ns.name, file, ...args], options);
  const inNs = (...args: string[]) => spawnSync('ip', ['netns', 'exec', ns.name, ...args], { encoding: 'utf8' });
  const sysctl = (key: string) => readFileSync(join(procSys, 'net', 'ipv4', 'conf', 'eth1', key), 'utf8').trim();
  const loAddresses = () => inNs('ip', '-o', 'addr', 'show', 'dev', 'lo').stdout;
  const tables = () => inNs('nft', 'list', 'tables', 'netdev').stdout;
  const controller = (onEnded?: (t: HandoverTask) => void) =>
    new HandoverController({
      nftProgram: 'nft',
      ipProgram: 'ip',
      ssProgram: 'ss',
      run,
      logger: createLogger('test', { level: 'silent' }),
      workDir: join(dir, 'work'),
      sysctls: new JsonFile<SavedSysctls>(join(dir, 'sysctls.json')),
      procSysRoot: procSys,
      onEnded,
      holdsVip: (t) => inNs('ip', '-o', 'addr', 'show', 'dev', t.interface).stdout.includes(` ${t.vip}/`),
    });

  before(() => {
    ns = new ScratchNetns('handover');
    ns.addLink('eth1', true);
    spawnSync('ip', ['-n', ns.name, 'addr', 'add', '10.77.0.2/24', 'dev', 'eth1']);
    dir = mkdtempSync(join(tmpdir(), 'lbha-handover-'));
    // The controller's own process is not in the namespace: its sysctls are files here.
    procSys = join(dir, 'sys');
    mkdirSync(join(procSys, 'net', 'ipv4', 'conf', 'eth1'), { recursive: true });
    mkdirSync(join(procSys, 'net', 'ipv4', 'conf', 'all'), { recursive: true });
    writeFileSync(join(procSys, 'net', 'ipv4', 'conf', 'all', 'arp_ignore'), '0\n');
    writeFileSync(join(procSys, 'net', 'ipv4', 'conf', 'all', 'arp_announce'), '0\n');
    writeFileSync(join(procSys, 'net', 'ipv4', 'conf', 'eth1', 'arp_ignore'), '0\n');
    writeFileSync(join(procSys, 'net', 'ipv4', 'conf', 'eth1', 'arp_announce'), '0\n');
  });
  after(() => {
    ns?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('loads the incoming table, swaps roles, and a restarted agent keeps what is wanted', async () => {
    const a = controller();
    await a.start();
    assert.deepEqual([...(await a.apply([task()]))], []);
    const listed = inNs('nft', 'list', 'table', 'netdev', tableName(task())).stdout;
    assert.match(listed, /fwd ip to 10\.77\.0\.1 device "eth1"/);

    const out = task({ instance: 'vip2', vrid: 52, vip: '10.77.0.51', role: 'outgoing', peer: '10.77.0.3' });
    assert.deepEqual([...(await a.apply([out]))], []);
    assert.doesNotMatch(tables(), /lbha_handover_eth1_51/, 'the withdrawn incoming table is gone');
    assert.match(loAddresses(), /10\.77\.0\.51\/32 .*lo:lbha/);
    assert.equal(sysctl('arp_ignore'), '1');
    assert.equal(sysctl('arp_announce'), '2');

    // The agent restarts in the middle of the window: the handover carries on.
    a.detach();
    const b = controller();
    await b.start();
    await b.apply([out]);
    assert.match(loAddresses(), /10\.77\.0\.51\/32/);
    assert.equal(sysctl('arp_ignore'), '1');

    // It ends: everything is as it was.
    await b.apply([]);
    assert.doesNotMatch(loAddresses(), /10\.77\.0\.51/);
    assert.equal(sysctl('arp_ignore'), '0');
    assert.equal(sysctl('arp_announce'), '0');
  });

  it('after a move back, keeps forwarding the peer\'s connections until the VIP has left this node', async () => {
    const c = controller();
    await c.start();
    const back = task({ instance: 'vip3', vrid: 53, vip: '10.77.0.52', peer: '10.77.0.4' });
    const table = tableName(back);
    inNs('ip', 'neigh', 'replace', '10.77.0.4', 'lladdr', '02:00:00:00:00:04', 'dev', 'eth1', 'nud', 'permanent');
    // This node holds the VIP, forwarding the peer's connections.
    inNs('ip', 'addr', 'add', '10.77.0.52/24', 'dev', 'eth1');
    assert.deepEqual([...(await c.apply([back]))], []);
    // Moved back: told the outgoing side, it still holds the VIP, so the table stays, minus the peer's own frames.
    assert.deepEqual([...(await c.apply([{ ...back, role: 'outgoing' }]))], []);
    assert.match(tables(), new RegExp(table), 'the table stays while the VIP is here');
    assert.match(inNs('nft', 'list', 'table', 'netdev', table).stdout, /ether saddr != 02:00:00:00:00:04 .*fwd ip to 10\.77\.0\.4 device "eth1"/);
    assert.match(loAddresses(), /10\.77\.0\.52\/32 .*lo:lbha/, 'and the outgoing side is in place');
    // keepalived moves the VIP away: the table goes.
    inNs('ip', 'addr', 'del', '10.77.0.52/24', 'dev', 'eth1');
    await eventually(() => !tables().includes(table), 'the table to go once the VIP has left');

    // A peer whose address does not resolve: nothing lingers, the table goes at once as before.
    const unresolved = task({ instance: 'vip4', vrid: 54, vip: '10.77.0.53', peer: '10.77.0.9' });
    inNs('ip', 'addr', 'add', '10.77.0.53/24', 'dev', 'eth1');
    await c.apply([unresolved]);
    await c.apply([{ ...unresolved, role: 'outgoing' }]);
    assert.doesNotMatch(tables(), new RegExp(tableName(unresolved)));
    inNs('ip', 'addr', 'del', '10.77.0.53/24', 'dev', 'eth1');
    await c.apply([]);
  });

  it('sweeps what a crashed agent left behind and leaves an operator\'s own lo address alone', async () => {
    const a = controller();
    await a.start();
    await a.apply([task(), task({ instance: 'vip2', vrid: 52, vip: '10.77.0.51', role: 'outgoing', peer: '10.77.0.3' })]);
    spawnSync('ip', ['-n', ns.name, 'addr', 'add', '10.77.0.60/32', 'dev', 'lo']);
    await a.apply([task(), task({ instance: 'vip3', vrid: 53, vip: '10.77.0.60', role: 'outgoing', peer: '10.77.0.3' })]);
    a.detach();

    const b = controller();
    await b.start();
    await b.apply([]);
    assert.doesNotMatch(tables(), /lbha_handover_/);
    assert.doesNotMatch(loAddresses(), /10\.77\.0\.51/);
    assert.match(loAddresses(), /10\.77\.0\.60\/32/, 'an address the agent did not add stays');
    assert.equal(sysctl('arp_ignore'), '0');
  });

  it('ends a handover at its deadline without anyone asking', async () => {
    const ended: string[] = [];
    const a = controller((t) => ended.push(t.instance));
    await a.start();
    await a.apply([task({ untilMs: Date.now() + 300 })]);
    assert.match(tables(), /lbha_handover_eth1_51/);
    await eventually(() => ended.length > 0);
    assert.deepEqual(ended, ['vip1']);
    assert.doesNotMatch(tables(), /lbha_handover_/);
  });

  it('leaves sysctls alone when "all" already has what a handover needs (a sandboxed agent cannot write them)', async () => {
    const all = (key: string, v: string) => writeFileSync(join(procSys, 'net', 'ipv4', 'conf', 'all', key), `${v}\n`);
    all('arp_ignore', '1');
    all('arp_announce', '2');
    try {
      const a = controller();
      await a.start();
      const out = task({ instance: 'vip2', vrid: 52, vip: '10.77.0.51', role: 'outgoing', peer: '10.77.0.3' });
      assert.deepEqual([...(await a.apply([out]))], []);
      assert.equal(sysctl('arp_ignore'), '0', 'not written: "all" covers it');
      await a.apply([]);
    } finally {
      all('arp_ignore', '0');
      all('arp_announce', '0');
    }
  });

  it('extends a running handover in place: a new deadline does not reload the table', async () => {
    const a = controller();
    await a.start();
    await a.apply([task()]);
    // A flow the table has learned: a reload would lose it (and reset its connection).
    assert.equal(inNs('nft', 'add', 'element', 'netdev', tableName(task()), 'flows', '{ 10.77.0.200 . 1234 }').status, 0);
    await a.apply([task({ untilMs: Date.now() + 600_000 })]);
    assert.match(inNs('nft', 'list', 'set', 'netdev', tableName(task()), 'flows').stdout, /10\.77\.0\.200 \. 1234/);
    assert.equal(a.running()[0]?.untilMs !== undefined && a.running()[0]!.untilMs > Date.now() + 500_000, true);
    // And a shorter one ends it then.
    const ended: string[] = [];
    const b = controller((t) => ended.push(t.instance));
    a.detach();
    await b.start();
    await b.apply([task({ untilMs: Date.now() + 600_000 })]);
    await b.apply([task({ untilMs: Date.now() + 300 })]);
    await eventually(() => ended.length > 0);
    assert.doesNotMatch(tables(), /lbha_handover_/);
  });

  it('records the connections the node already has on the VIP, many of them', async () => {
    // 1,200 open connections to the VIP inside the namespace (it held the VIP a moment ago).
    spawnSync('ip', ['-n', ns.name, 'addr', 'add', '10.77.0.50/32', 'dev', 'lo']);
    const holder = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '-e', HOLD_CONNECTIONS], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.once('data', () => resolve());
        holder.once('exit', (code) => reject(new Error(`connection holder exited ${code}`)));
      });
      const a = controller();
      await a.start();
      assert.deepEqual([...(await a.apply([task()]))], []);
      const set = inNs('nft', 'list', 'set', 'netdev', tableName(task()), 'flows').stdout;
      // Both ends are local here: 1,200 client ports, plus 8080 seen from the client sockets.
      assert.equal(set.match(/10\.77\.0\.50 \. \d+/g)?.length, 1201, 'every local connection is in the flow set');
      await a.apply([]);
    } finally {
      holder.kill('SIGKILL');
      spawnSync('ip', ['-n', ns.name, 'addr', 'del', '10.77.0.50/32', 'dev', 'lo']);
    }
  });

  it('does not record a connection in time-wait: the client hands its port out again', async () => {
    // One connection to the VIP that the server closes first: the server's socket stays in
    // time-wait, the client's is gone, and the client may open its next connection from that port.
    spawnSync('ip', ['-n', ns.name, 'addr', 'add', '10.77.0.50/32', 'dev', 'lo']);
    const script = `
const net = require('node:net');
const srv = net.createServer((s) => s.end()).listen({ host: '10.77.0.50', port: 8081 }, () => {
  const c = net.connect({ host: '10.77.0.50', port: 8081, localAddress: '10.77.0.2' }, () => console.log(c.localPort));
  c.on('end', () => c.end());
  c.resume();
  setTimeout(() => process.exit(0), 60000);
});
`;
    const holder = spawn('ip', ['netns', 'exec', ns.name, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const port = await new Promise<string>((resolve, reject) => {
        holder.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
        holder.once('exit', (code) => reject(new Error(`connection holder exited ${code}`)));
      });
      await eventually(() => new RegExp(`10\\.77\\.0\\.2:${port}`).test(inNs('ss', '-Htn', 'state', 'time-wait', 'src', '10.77.0.50').stdout));
      const a = controller();
      await a.start();
      assert.deepEqual([...(await a.apply([task()]))], []);
      const set = inNs('nft', 'list', 'set', 'netdev', tableName(task()), 'flows').stdout;
      assert.doesNotMatch(set, new RegExp(`10\\.77\\.0\\.2 \\. ${port}\\b`), 'a connection in time-wait is not one the node serves');
      await a.apply([]);
    } finally {
      holder.kill('SIGKILL');
      spawnSync('ip', ['-n', ns.name, 'addr', 'del', '10.77.0.50/32', 'dev', 'lo']);
    }
  });

  it('does IPv6 too: the table loads, the VIP goes on lo deprecated and with a lifetime, leftovers go', async () => {
    const inc = task({ instance: 'v6-in', vrid: 61, vip: 'fd00:77::50', peer: 'fd00:77::1' });
    const out = task({ instance: 'v6-out', vrid: 62, vip: 'fd00:77::51', peer: 'fd00:77::3', role: 'outgoing' });
    spawnSync('ip', ['-n', ns.name, '-6', 'addr', 'add', 'fd00:77::60/128', 'dev', 'lo']);
    // The peer, already resolved (handover-forwarding.test resolves a real one).
    spawnSync('ip', ['-n', ns.name, '-6', 'addr', 'add', 'fd00:77::2/64', 'dev', 'eth1', 'nodad']);
    const peerKnown = () => spawnSync('ip', ['-n', ns.name, '-6', 'neigh', 'replace', 'fd00:77::1', 'lladdr', '02:00:00:00:77:01', 'dev', 'eth1', 'nud', 'reachable']);
    peerKnown();
    const a = controller();
    await a.start();
    assert.deepEqual([...(await a.apply([inc, out]))], []);
    assert.match(inNs('nft', 'list', 'table', 'netdev', tableName(inc)).stdout, /fwd ip6 to fd00:77::1 device "eth1"/);
    assert.match(inNs('ip', '-6', 'neigh', 'show', 'fd00:77::1', 'dev', 'eth1').stdout, /PERMANENT/, 'the peer\'s neighbour entry is pinned');
    assert.match(
      (await a.apply([task({ instance: 'v6-bad', vrid: 63, vip: 'fd00:77::52', peer: 'fd00:77::99' })])).get('v6-bad') ?? '',
      /cannot resolve the link-layer address of fd00:77::99/,
    );
    // Ending the handover dropped the pinned entry; the kernel would resolve the peer again.
    peerKnown();
    assert.deepEqual([...(await a.apply([inc, out]))], []);
    const lo = JSON.parse(inNs('ip', '-j', '-6', 'addr', 'show', 'dev', 'lo').stdout) as Array<{ addr_info: Array<{ local: string; preferred_life_time: number; valid_life_time: number }> }>;
    const ours = lo[0]?.addr_info.find((x) => x.local === 'fd00:77::51');
    assert.ok(ours, 'the VIP is on lo');
    assert.equal(ours.preferred_life_time, 0, 'deprecated: never picked as a source address');
    assert.ok(ours.valid_life_time <= 3600, 'it expires by itself');
    assert.equal(sysctl('arp_ignore'), '0', 'no ARP settings for IPv6');

    // A crashed agent: the next one sweeps our IPv6 address and leaves the operator's.
    a.detach();
    const b = controller();
    await b.start();
    await b.apply([]);
    assert.doesNotMatch(loAddresses(), /fd00:77::51/);
    assert.match(loAddresses(), /fd00:77::60/);
    assert.doesNotMatch(tables(), /lbha_handover_/);
    assert.doesNotMatch(inNs('ip', '-6', 'neigh', 'show', 'fd00:77::1', 'dev', 'eth1').stdout, /PERMANENT/, 'the pin is gone');
  });

  it('reports a handover it cannot start and starts the others', async () => {
    const a = controller();
    await a.start();
    const problems = await a.apply([task(), task({ instance: 'bad', vrid: 60, interface: 'nosuch0' })]);
    assert.match(problems.get('bad') ?? '', /nft refused/);
    assert.match(tables(), /lbha_handover_eth1_51/);
    await a.apply([]);
  });
});
