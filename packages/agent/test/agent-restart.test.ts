// An agent restart on a real kernel, with real keepalived, nginx and agents in scratch
// namespaces (a client and two nodes on a bridge, no coordinator: the agents start from a
// cached desired state). The restart must leave every connection where it is: here a kept-alive
// connection that the holder's failover table handed to the peer while the agent was away and
// nginx was dead, which the restarted agent (restarting nginx, loading its tables) must not
// reset.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WAIT_BOUND_MS } from '@lbha/test-support';
import { AgentPair } from './helpers/agent-pair.js';
import { BridgeNet } from './helpers/bridge-net.js';
import { isRoot } from './helpers/netns.js';

const V4 = { vip: '10.75.0.50', a: '10.75.0.1', b: '10.75.0.2', client: '10.75.0.100', prefix: 24 };
const have = (bin: string, arg: string): boolean => spawnSync(bin, [arg]).status === 0;
const skip = !isRoot ? 'needs root' : !have('keepalived', '--version') || !have('/usr/sbin/nginx', '-v') || !have('nft', '--version') ? 'needs keepalived, nginx and nft' : false;

/** GET / on one kept-alive connection every 50 ms; a JSON line per answer or error. */
const KEPT_ALIVE_HTTP = `
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
setInterval(() => {
  const req = http.get({ host: process.argv[1], port: 80, path: '/', agent }, (res) => {
    let body = '';
    res.on('data', (d) => (body += d));
    res.on('end', () => console.log(JSON.stringify({ t: Date.now(), body, port: req.socket.localPort })));
  });
  req.on('error', (e) => console.log(JSON.stringify({ t: Date.now(), error: e.code || e.message })));
}, 50);
`;

/** One GET on a fresh connection: the body or the error. */
const FRESH_HTTP = `
const req = require('node:http').get({ host: process.argv[1], port: 80, path: '/', agent: false, timeout: 1000 }, (res) => {
  let body = '';
  res.on('data', (d) => (body += d));
  res.on('end', () => console.log(body));
});
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', (e) => console.log('error ' + (e.code || e.message)));
`;

interface Answer {
  t: number;
  body?: string;
  port?: number;
  error?: string;
}

describe('agent restart with real keepalived and nginx: connections stay where they are', { skip }, () => {
  let root: string;
  let net: BridgeNet;
  let pair: AgentPair;
  const fresh = (): string => spawnSync('ip', ['netns', 'exec', net.ns.c, process.execPath, '-e', FRESH_HTTP, V4.vip], { encoding: 'utf8' }).stdout.trim();

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'lbha-agent-restart-'));
    net = new BridgeNet('ar', [V4], false);
    pair = new AgentPair(root, (n) => net.ns[n], V4.vip, WAIT_BOUND_MS);
    for (const [n, weight, rank, peer] of [
      ['a', 50, 0, V4.b],
      ['b', 24, 1, V4.a],
    ] as const) {
      // The agent's own process check only: nothing here should make a node unhealthy.
      pair.writeNode(n, {
        version: 1,
        cluster: 'web',
        node: `lb-${n}`,
        mode: 'active',
        keepalived: { advertIntMs: 100, unicast: false, unicastSrc: '', unicastPeers: [], authPass: '', vrrpVersion: 3, mcastGroup: '' },
        instances: [{ name: 'vip-50', vrid: 75, interface: 'eth1', vip: `${V4.vip}/${V4.prefix}`, basePriority: 100, placementWeight: weight, rank, trackInterfaces: [], stepDown: false, group: '', failoverPeer: peer }],
        checks: [],
        proxyService: 'nginx',
      });
    }
    pair.start('a');
    pair.start('b');
  });

  after(async () => {
    await pair?.stop();
    net?.remove();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('keeps a kept-alive connection with the peer that took it while the agent was away', async () => {
    await pair.until(() => pair.holds('a') && !pair.holds('b'), 'VIP on lb-a');
    await pair.until(() => fresh() === 'lb-a', 'lb-a answers');

    // The agent dies, then nginx: nobody restarts nginx, and the kernel hands new connections to
    // the peer (no listener on lb-a). A client that keeps its connection open lands there.
    await pair.kill('a');
    process.kill(-pair.daemonPid('a', 'nginx'), 'SIGKILL');
    await pair.until(() => fresh() === 'lb-b', 'new connections served by lb-b');
    const client = net.inClient(KEPT_ALIVE_HTTP, [V4.vip]);
    const answers = (): Answer[] =>
      client.out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Answer);
    try {
      await pair.until(() => answers().filter((a) => a.body === 'lb-b').length >= 5, 'the kept-alive connection answered by lb-b');

      // The agent comes back: it starts nginx and loads its tables.
      const from = pair.log('a').length;
      pair.start('a');
      let moved = false;
      await pair.until(() => {
        if (!pair.holds('a') || pair.holds('b')) moved = true;
        return fresh() === 'lb-a' && pair.log('a').slice(from).includes('"event":"health.gate_open"');
      }, 'nginx back on lb-a');
      const back = Date.now();
      await pair.until(() => answers().filter((a) => a.t > back + 500).length >= 5, 'answers on the kept-alive connection after the restart');

      assert.equal(moved, false, 'the VIP stayed on lb-a');
      assert.deepEqual(answers().filter((a) => a.error !== undefined), [], 'no request on the kept-alive connection failed');
      assert.deepEqual([...new Set(answers().map((a) => a.body))], ['lb-b'], 'lb-b answered every request of the connection it took');
      assert.equal(new Set(answers().map((a) => a.port)).size, 1, 'one connection throughout');
      assert.equal(fresh(), 'lb-a', 'new connections are lb-a again');
    } finally {
      client.stop();
    }
  });
});
