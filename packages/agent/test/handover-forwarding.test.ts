// The handover mechanism on its own, on a real kernel: a client and two nodes on a bridge, in
// scratch namespaces, for an IPv4 and an IPv6 VIP. The VIP moves from A to B by hand (what
// keepalived does); with both agents' handover in place, connections the client opened to A keep
// being answered by A, new ones go to B; once the handover ends, B resets A's connections
// (which is what happens without it). The lab's maintenance test shows the same with keepalived
// and nginx, for IPv4.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '@lbha/shared';
import { eventually } from '@lbha/test-support';
import { HandoverController, type HandoverTask, type SavedSysctls } from '../src/net/handover.js';
import { JsonFile } from '../src/state/json-file.js';
import { runCommand, type CommandRunner } from '../src/util/run-command.js';
import { isRoot, ScratchNetns } from './helpers/netns.js';

const hasNft = spawnSync('nft', ['--version']).status === 0;
const skip = !isRoot ? 'needs root for network namespaces' : !hasNft ? 'nft is not installed' : false;

const V4 = { vip: '10.78.0.50', a: '10.78.0.1', b: '10.78.0.2', client: '10.78.0.100', prefix: 24 };
const V6 = { vip: 'fd00:78::50', a: 'fd00:78::1', b: 'fd00:78::2', client: 'fd00:78::100', prefix: 64 };

/** Answers every chunk with the node's name; prints "up" once listening. */
const SERVER = `
const name = process.argv[1];
require('node:net').createServer((s) => s.on('data', () => s.write(name)).on('error', () => {})).listen({ host: '::', port: 8080 }, () => console.log('up'));
`;

/**
 * Keeps one connection to each VIP and sends on it every 50 ms; prints a JSON line per answer or
 * error. "up" once both are connected.
 */
const CLIENT = `
const net = require('node:net');
let ready = 0;
for (const vip of process.argv.slice(1)) {
  const s = net.connect(8080, vip, () => { if (++ready === 2) console.log('up'); });
  s.on('data', (d) => console.log(JSON.stringify({ vip, t: Date.now(), reply: d.toString() })));
  s.on('error', (e) => console.log(JSON.stringify({ vip, t: Date.now(), error: e.code })));
  s.on('close', () => console.log(JSON.stringify({ vip, t: Date.now(), closed: true })));
  setInterval(() => s.writable && s.write('x'), 50);
}
`;

/** Opens a fresh connection to a VIP and prints who answered. */
const ONE_SHOT = `
const s = require('node:net').connect(8080, process.argv[1], () => s.write('x'));
s.on('data', (d) => { console.log(d.toString()); s.destroy(); });
s.on('error', (e) => { console.log('error ' + e.code); });
setTimeout(() => process.exit(0), 3000).unref();
`;

interface Line {
  vip: string;
  t: number;
  reply?: string;
  error?: string;
  closed?: boolean;
}

describe('handover on a real kernel: a connection survives its VIP moving', { skip }, () => {
  const scratch: ScratchNetns[] = [];
  const ns = { fab: '', c: '', a: '', b: '' };
  const procs: ChildProcess[] = [];
  const ip = (...args: string[]) => {
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
  };
  let dir: string;

  function start(where: string, script: string, args: string[]): { proc: ChildProcess; lines: string[] } {
    const proc = spawn('ip', ['netns', 'exec', where, process.execPath, '-e', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(proc);
    const lines: string[] = [];
    let rest = '';
    proc.stdout?.on('data', (d: Buffer) => {
      const parts = (rest + d.toString()).split('\n');
      rest = parts.pop() ?? '';
      lines.push(...parts);
    });
    return { proc, lines };
  }

  function controller(node: 'a' | 'b'): HandoverController {
    const procSys = join(dir, node, 'sys');
    for (const iface of ['all', 'eth1']) {
      mkdirSync(join(procSys, 'net', 'ipv4', 'conf', iface), { recursive: true });
      // The controller runs in this process, not in the namespace: it reads these files, and
      // the namespace has the same values for real (set below).
      writeFileSync(join(procSys, 'net', 'ipv4', 'conf', iface, 'arp_ignore'), '1\n');
      writeFileSync(join(procSys, 'net', 'ipv4', 'conf', iface, 'arp_announce'), '2\n');
    }
    const run: CommandRunner = (file, args, options) => runCommand('ip', ['netns', 'exec', ns[node], file, ...args], options);
    return new HandoverController({
      nftProgram: 'nft',
      ipProgram: 'ip',
      ssProgram: 'ss',
      run,
      logger: createLogger('test', { level: 'silent' }),
      workDir: join(dir, node, 'work'),
      sysctls: new JsonFile<SavedSysctls>(join(dir, node, 'sysctls.json')),
      procSysRoot: procSys,
    });
  }

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
    for (const k of ['fab', 'c', 'a', 'b'] as const) {
      const s = new ScratchNetns(`ho${k}`);
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
    ip('-n', ns.a, 'addr', 'add', `${V4.vip}/${V4.prefix}`, 'dev', 'eth1');
    ip('-n', ns.a, 'addr', 'add', `${V6.vip}/${V6.prefix}`, 'dev', 'eth1', 'nodad');
  });

  after(() => {
    for (const p of procs) p.kill('SIGKILL');
    for (const s of scratch) s.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('keeps A answering its connections after the move, sends new ones to B, and resets them once it ends', async () => {
    for (const [node, name] of [
      ['a', 'A'],
      ['b', 'B'],
    ] as const) {
      const s = start(ns[node], SERVER, [name]);
      await eventually(() => s.lines.includes('up'), `server ${name}`, 10_000);
    }
    const client = start(ns.c, CLIENT, [V4.vip, V6.vip]);
    await eventually(() => client.lines.includes('up'), 'client connections', 10_000);

    const a = controller('a');
    const b = controller('b');
    await a.start();
    await b.start();
    assert.deepEqual([...(await b.apply(tasks('incoming')))], []);
    assert.deepEqual([...(await a.apply(tasks('outgoing')))], []);

    // What keepalived does: A drops the VIPs, B takes them and the client learns B's address.
    ip('-n', ns.a, 'addr', 'del', `${V4.vip}/${V4.prefix}`, 'dev', 'eth1');
    ip('-n', ns.a, 'addr', 'del', `${V6.vip}/${V6.prefix}`, 'dev', 'eth1');
    ip('-n', ns.b, 'addr', 'add', `${V4.vip}/${V4.prefix}`, 'dev', 'eth1');
    ip('-n', ns.b, 'addr', 'add', `${V6.vip}/${V6.prefix}`, 'dev', 'eth1', 'nodad');
    ip('-n', ns.c, 'neigh', 'flush', 'dev', 'eth1');
    const movedAt = Date.now();
    const parsed = () => client.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
    const answeredAfterMove = (vip: string): Line[] => parsed().filter((l) => l.vip === vip && l.t > movedAt + 300);
    await eventually(() => [V4.vip, V6.vip].every((vip) => answeredAfterMove(vip).length >= 10 || parsed().some((l) => l.vip === vip && (l.error || l.closed))), 'answers after the move');

    for (const vip of [V4.vip, V6.vip]) {
      const r = spawnSync('ip', ['netns', 'exec', ns.c, process.execPath, '-e', ONE_SHOT, vip], { encoding: 'utf8' });
      assert.equal(r.stdout.trim(), 'B', `a new connection to ${vip} goes to the new holder`);
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
