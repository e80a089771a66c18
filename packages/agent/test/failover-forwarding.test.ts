// Unplanned failover forwarding on a real kernel: a client and two nodes on a bridge, in scratch
// namespaces, an IPv4 and an IPv6 VIP held by A, both nodes keeping the VIPs on lo (the
// handover's standby). New connections go to B when A's server is gone (the kernel decides) and
// when the agent gives a VIP up; they come back to A when it can serve again.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '@lbha/shared';
import { eventually } from '@lbha/test-support';
import { FailoverForwarder } from '../src/net/failover-forwarder.js';
import { NftSession } from '../src/net/nft-session.js';
import { HandoverController, type SavedSysctls } from '../src/net/handover.js';
import { JsonFile } from '../src/state/json-file.js';
import { runCommand, type CommandRunner } from '../src/util/run-command.js';
import { isRoot, ScratchNetns } from './helpers/netns.js';

const hasNft = spawnSync('nft', ['--version']).status === 0;
const skip = !isRoot ? 'needs root for network namespaces' : !hasNft ? 'nft is not installed' : false;

const V4 = { vip: '10.79.0.50', a: '10.79.0.1', b: '10.79.0.2', client: '10.79.0.100', prefix: 24 };
const V6 = { vip: 'fd00:79::50', a: 'fd00:79::1', b: 'fd00:79::2', client: 'fd00:79::100', prefix: 64 };

const SERVER = `
const name = process.argv[1];
require('node:net').createServer((s) => s.on('data', () => s.end(name)).on('error', () => {})).listen({ host: '::', port: 8080 }, () => console.log('up'));
`;

/** A fresh connection to a VIP: who answered, or the error. */
const ONE_SHOT = `
const port = Number(process.argv[2] || 0);
const s = require('node:net').connect({ port: 8080, host: process.argv[1], ...(port ? { localPort: port } : {}) }, () => s.write('x'));
s.on('data', (d) => { console.log(d.toString()); s.destroy(); });
s.on('error', (e) => { console.log('error ' + e.code); });
setTimeout(() => { console.log('timeout'); process.exit(0); }, 2000).unref();
`;

describe('unplanned failover forwarding on a real kernel', { skip }, () => {
  const scratch: ScratchNetns[] = [];
  const ns = { fab: '', c: '', a: '', b: '' };
  const servers = new Map<string, ChildProcess>();
  const ip = (...args: string[]) => {
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
  };
  let dir: string;
  const runIn = (node: 'a' | 'b'): CommandRunner => (file, args, options) => runCommand('ip', ['netns', 'exec', ns[node], file, ...args], options);
  const logger = createLogger('test', { level: 'silent' });

  async function startServer(node: 'a' | 'b'): Promise<void> {
    const proc = spawn('ip', ['netns', 'exec', ns[node], process.execPath, '-e', SERVER, node.toUpperCase()], { stdio: ['ignore', 'pipe', 'inherit'] });
    servers.set(node, proc);
    let out = '';
    proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    await eventually(() => out.includes('up'), `server on ${node}`, 10_000);
  }

  function stopServer(node: 'a' | 'b'): void {
    servers.get(node)?.kill('SIGKILL');
    servers.delete(node);
  }

  const who = (vip: string, localPort = 0): string =>
    spawnSync('ip', ['netns', 'exec', ns.c, process.execPath, '-e', ONE_SHOT, vip, String(localPort)], { encoding: 'utf8' }).stdout.trim();

  async function standby(node: 'a' | 'b'): Promise<HandoverController> {
    const procSys = join(dir, node, 'sys');
    for (const iface of ['all', 'eth1']) {
      mkdirSync(join(procSys, 'net', 'ipv4', 'conf', iface), { recursive: true });
      writeFileSync(join(procSys, 'net', 'ipv4', 'conf', iface, 'arp_ignore'), '1\n');
      writeFileSync(join(procSys, 'net', 'ipv4', 'conf', iface, 'arp_announce'), '2\n');
    }
    const c = new HandoverController({
      nftProgram: 'nft',
      ipProgram: 'ip',
      ssProgram: 'ss',
      run: runIn(node),
      logger,
      workDir: join(dir, node, 'work'),
      sysctls: new JsonFile<SavedSysctls>(join(dir, node, 'sysctls.json')),
      procSysRoot: procSys,
    });
    await c.start();
    assert.deepEqual([...(await c.keepOnLo([V4, V6].map((f) => ({ vip: f.vip, interface: 'eth1' }))))], []);
    await c.apply([]);
    return c;
  }

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lbha-fofwd-'));
    for (const k of ['fab', 'c', 'a', 'b'] as const) {
      const s = new ScratchNetns(`fo${k}`);
      scratch.push(s);
      ns[k] = s.name;
    }
    ip('-n', ns.fab, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', ns.fab, 'link', 'set', 'br0', 'up');
    for (const node of ['c', 'a', 'b'] as const) {
      ip('-n', ns.fab, 'link', 'add', `p${node}`, 'type', 'veth', 'peer', 'name', 'eth1', 'netns', ns[node]);
      ip('-n', ns.fab, 'link', 'set', `p${node}`, 'master', 'br0', 'up');
      ip('-n', ns[node], 'link', 'set', 'eth1', 'up');
      const me = node === 'c' ? 'client' : node;
      ip('-n', ns[node], 'addr', 'add', `${V4[me]}/${V4.prefix}`, 'dev', 'eth1');
      ip('-n', ns[node], 'addr', 'add', `${V6[me]}/${V6.prefix}`, 'dev', 'eth1', 'nodad');
    }
    for (const node of ['a', 'b'] as const) {
      const r = spawnSync('ip', ['netns', 'exec', ns[node], 'sysctl', '-qw', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2']);
      assert.equal(r.status, 0);
    }
    // A holds both VIPs, as keepalived would have it.
    ip('-n', ns.a, 'addr', 'add', `${V4.vip}/${V4.prefix}`, 'dev', 'eth1');
    ip('-n', ns.a, 'addr', 'add', `${V6.vip}/${V6.prefix}`, 'dev', 'eth1', 'nodad');
  });

  after(() => {
    for (const p of servers.values()) p.kill('SIGKILL');
    for (const s of scratch) s.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('sends new connections to B while A cannot serve them, and keeps them at A otherwise', async () => {
    await standby('a');
    await standby('b');
    await startServer('a');
    await startServer('b');
    // The long-lived `nft -i` runs in A's namespace, like everything the agent on A runs.
    const session = new NftSession({ nftProgram: 'ip', prefix: ['netns', 'exec', ns.a, 'nft'], run: runIn('a'), logger });
    const fwd = new FailoverForwarder({ nftProgram: 'nft', ipProgram: 'ip', run: runIn('a'), logger, workDir: join(dir, 'a', 'failover'), session });
    try {
      const problems = await fwd.arm([V4, V6].map((f) => ({ vip: f.vip, interface: 'eth1', peer: f.b })));
      assert.deepEqual([...problems], []);
      for (const f of [V4, V6]) assert.equal(who(f.vip), 'A', `${f.vip} is served by its holder`);

      // The proxy is gone: the kernel finds no socket and hands the SYN to B, nobody asked.
      stopServer('a');
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
      const listed = spawnSync('ip', ['netns', 'exec', ns.a, 'nft', 'list', 'set', 'ip', 'lbha_failover', 'peers'], { encoding: 'utf8' }).stdout;
      assert.match(listed, /elements = \{ [0-9a-f:]{17} \}/, `B's MAC is in the peers set: ${listed}`);
    } finally {
      fwd.close();
    }
  });
});
