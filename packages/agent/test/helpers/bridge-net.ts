// A client and two nodes on a bridge, in scratch namespaces, with an IPv4 and an IPv6 subnet:
// the smallest network on which a VIP can move and connections can be forwarded between the
// nodes. Node A holds the VIPs at first, as keepalived would have it; both nodes have the
// handover's ARP settings. Also: servers that answer with the node's name, and a client that
// keeps one connection per VIP and sends on it every 50 ms.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { eventually } from '@lbha/test-support';
import { ScratchNetns } from './netns.js';

export interface Family {
  readonly vip: string;
  readonly a: string;
  readonly b: string;
  readonly client: string;
  readonly prefix: number;
}

export type NodeName = 'a' | 'b';

/** Answers every chunk with the node's name (and closes, given "end"); prints "up" once listening. */
const SERVER = `
const [name, end] = process.argv.slice(1);
require('node:net').createServer((s) => s.on('data', () => (end ? s.end(name) : s.write(name))).on('error', () => {})).listen({ host: '::', port: 8080 }, () => console.log('up'));
`;

/** Keeps one connection to each VIP and sends on it every 50 ms; a JSON line per answer or error; "up" once all are connected. */
const KEPT_ALIVE = `
const net = require('node:net');
const vips = process.argv.slice(1);
let ready = 0;
for (const vip of vips) {
  const s = net.connect(8080, vip, () => { if (++ready === vips.length) console.log('up'); });
  // Each answer is the server's one-letter name; answers that a busy machine delivered in one
  // read ('BB') are one line each.
  s.on('data', (d) => { const t = Date.now(); for (const reply of d.toString()) console.log(JSON.stringify({ vip, t, reply })); });
  s.on('error', (e) => console.log(JSON.stringify({ vip, t: Date.now(), error: e.code })));
  s.on('close', () => console.log(JSON.stringify({ vip, t: Date.now(), closed: true })));
  setInterval(() => s.writable && s.write('x'), 50);
}
`;

/** A fresh connection to a VIP, from a given source port unless it is 0: who answered, or the error. */
const ONE_SHOT = `
const port = Number(process.argv[2] || 0);
const s = require('node:net').connect({ port: 8080, host: process.argv[1], ...(port ? { localPort: port } : {}) }, () => s.write('x'));
s.on('data', (d) => { console.log(d.toString()); s.destroy(); });
s.on('error', (e) => { console.log('error ' + e.code); });
setTimeout(() => { console.log('timeout'); process.exit(0); }, 2000).unref();
`;

export interface KeptAliveLine {
  readonly vip: string;
  readonly t: number;
  readonly reply?: string;
  readonly error?: string;
  readonly closed?: boolean;
}

export interface KeptAliveClient {
  /** Every line so far. */
  lines(): KeptAliveLine[];
  /** Errors and closes so far. */
  failures(): KeptAliveLine[];
  stop(): void;
}

export class BridgeNet {
  readonly ns: Record<'fab' | 'c' | NodeName, string>;
  private readonly scratch: ScratchNetns[] = [];
  private readonly procs: ChildProcess[] = [];
  private readonly servers = new Map<NodeName, ChildProcess>();

  /** `vipsOnA`: false when keepalived puts the VIPs where they belong. */
  constructor(
    tag: string,
    readonly families: readonly Family[],
    vipsOnA = true,
  ) {
    const name = (k: string): string => {
      const s = new ScratchNetns(`${tag}${k}`);
      this.scratch.push(s);
      return s.name;
    };
    this.ns = { fab: name('f'), c: name('c'), a: name('a'), b: name('b') };
    const ns = this.ns;
    this.ip('-n', ns.fab, 'link', 'add', 'br0', 'type', 'bridge');
    this.ip('-n', ns.fab, 'link', 'set', 'br0', 'up');
    for (const node of ['c', 'a', 'b'] as const) {
      this.ip('-n', ns.fab, 'link', 'add', `p${node}`, 'type', 'veth', 'peer', 'name', 'eth1', 'netns', ns[node]);
      this.ip('-n', ns.fab, 'link', 'set', `p${node}`, 'master', 'br0', 'up');
      this.ip('-n', ns[node], 'link', 'set', 'eth1', 'up');
      for (const f of families) {
        const me = node === 'c' ? f.client : f[node];
        this.ip('-n', ns[node], 'addr', 'add', `${me}/${f.prefix}`, 'dev', 'eth1', ...(me.includes(':') ? ['nodad'] : []));
      }
    }
    for (const node of ['a', 'b'] as const) {
      const r = spawnSync('ip', ['netns', 'exec', ns[node], 'sysctl', '-qw', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2']);
      assert.equal(r.status, 0);
    }
    if (vipsOnA) for (const f of families) this.holdVip('a', f);
  }

  ip(...args: string[]): void {
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
  }

  /** What keepalived does on the holder: the VIP on the interface. */
  holdVip(node: NodeName, f: Family): void {
    this.ip('-n', this.ns[node], 'addr', 'add', `${f.vip}/${f.prefix}`, 'dev', 'eth1', ...(f.vip.includes(':') ? ['nodad'] : []));
  }

  /** Moves every VIP from A to B as keepalived would, and makes the client learn B's address. */
  moveVipsToB(): void {
    for (const f of this.families) this.ip('-n', this.ns.a, 'addr', 'del', `${f.vip}/${f.prefix}`, 'dev', 'eth1');
    for (const f of this.families) this.holdVip('b', f);
    this.ip('-n', this.ns.c, 'neigh', 'flush', 'dev', 'eth1');
  }

  /**
   * A server on port 8080 that answers with the node's name in capitals. `closeAfterReply`: it
   * closes each connection once it answered, so that the server, not the client, keeps the
   * time-wait (a client can then reuse its source port at once).
   */
  async startServer(node: NodeName, closeAfterReply = false): Promise<void> {
    const proc = this.spawnIn(this.ns[node], SERVER, [node.toUpperCase(), ...(closeAfterReply ? ['end'] : [])]);
    this.servers.set(node, proc.proc);
    await eventually(() => proc.out.includes('up'), `server on ${node}`);
  }

  stopServer(node: NodeName): void {
    this.servers.get(node)?.kill('SIGKILL');
    this.servers.delete(node);
  }

  async keptAlive(): Promise<KeptAliveClient> {
    const p = this.spawnIn(this.ns.c, KEPT_ALIVE, this.families.map((f) => f.vip));
    await eventually(() => p.out.includes('up\n'), 'kept-alive connections');
    const lines = (): KeptAliveLine[] =>
      p.out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as KeptAliveLine);
    return { lines, failures: () => lines().filter((l) => l.error !== undefined || l.closed), stop: () => p.proc.kill('SIGKILL') };
  }

  /** Runs a node script in the client's namespace; its stdout. */
  inClient(script: string, args: readonly string[]): { readonly out: string; stop(): void } {
    const p = this.spawnIn(this.ns.c, script, [...args]);
    return { get out() { return p.out; }, stop: () => p.proc.kill('SIGKILL') };
  }

  /** Who answers a fresh connection to `vip` from the client (from `localPort` unless it is 0). */
  who(vip: string, localPort = 0): string {
    return spawnSync('ip', ['netns', 'exec', this.ns.c, process.execPath, '-e', ONE_SHOT, vip, String(localPort)], { encoding: 'utf8' }).stdout.trim();
  }

  remove(): void {
    for (const p of this.procs) p.kill('SIGKILL');
    for (const s of this.scratch) s.remove();
  }

  private spawnIn(ns: string, script: string, args: string[]): { proc: ChildProcess; readonly out: string } {
    const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.procs.push(proc);
    const state = { proc, out: '' };
    proc.stdout?.on('data', (d: Buffer) => (state.out += d.toString()));
    return state;
  }
}
