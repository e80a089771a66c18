// An agent restart on a real kernel, with real keepalived, nginx and agents in scratch
// namespaces (a client and two nodes on a bridge, no coordinator: the agents start from a
// cached desired state). The restart must leave every connection where it is: here a kept-alive
// connection that the holder's failover table handed to the peer while the agent was away and
// nginx was dead, which the restarted agent (restarting nginx, loading its tables) must not
// reset.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { DesiredState } from '@lbha/shared';
import { eventually } from '@lbha/test-support';
import { BridgeNet, type NodeName } from './helpers/bridge-net.js';
import { isRoot } from './helpers/netns.js';

const AGENT = fileURLToPath(new URL('../src/bin/lbha-agent.js', import.meta.url));
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
  const agents = {} as Record<NodeName, ChildProcess | undefined>;
  const nodeDir = (n: NodeName): string => join(root, n);
  const holds = (n: NodeName): boolean =>
    spawnSync('ip', ['-n', net.ns[n], '-o', '-4', 'addr', 'show', 'dev', 'eth1'], { encoding: 'utf8' }).stdout.includes(` ${V4.vip}/`);
  const daemonPid = (n: NodeName, service: 'nginx' | 'keepalived'): number =>
    (JSON.parse(readFileSync(join(nodeDir(n), 'run', `${service}.agent-pid`), 'utf8')) as { pid: number }).pid;
  const agentLog = (n: NodeName): string => readFileSync(join(nodeDir(n), 'agent.log'), 'utf8');
  const fresh = (): string => spawnSync('ip', ['netns', 'exec', net.ns.c, process.execPath, '-e', FRESH_HTTP, V4.vip], { encoding: 'utf8' }).stdout.trim();

  const startAgent = (n: NodeName): void => {
    const out = openSync(join(nodeDir(n), 'agent.log'), 'a');
    agents[n] = spawn('ip', ['netns', 'exec', net.ns[n], process.execPath, AGENT, '--config', join(nodeDir(n), 'agent.yaml')], { stdio: ['ignore', out, out] });
  };
  const killAgent = async (n: NodeName): Promise<void> => {
    const a = agents[n];
    if (!a || a.exitCode !== null) return;
    const gone = new Promise((r) => a.once('exit', r));
    a.kill('SIGKILL');
    await gone;
    agents[n] = undefined;
  };
  const until = (cond: () => boolean, what: string): Promise<unknown> =>
    eventually(cond, what, 20_000).catch((err: Error) => {
      for (const n of ['a', 'b'] as const) process.stderr.write(`--- agent ${n}\n${agentLog(n).split('\n').slice(-15).join('\n')}\n`);
      throw err;
    });

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'lbha-agent-restart-'));
    net = new BridgeNet('ar', [V4], false);
    for (const [n, weight, rank, peer] of [
      ['a', 50, 0, V4.b],
      ['b', 24, 1, V4.a],
    ] as const) {
      const d = nodeDir(n);
      mkdirSync(join(d, 'nginx'), { recursive: true });
      mkdirSync(join(d, 'state'), { recursive: true });
      writeFileSync(
        join(d, 'nginx', 'nginx.conf'),
        `worker_processes 1;
pid ${d}/nginx/nginx.pid;
error_log ${d}/nginx/error.log notice;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${d}/nginx/t1; proxy_temp_path ${d}/nginx/t2; fastcgi_temp_path ${d}/nginx/t3; uwsgi_temp_path ${d}/nginx/t4; scgi_temp_path ${d}/nginx/t5;
  server { listen 80; location / { return 200 "lb-${n}"; } }
}
`,
      );
      writeFileSync(
        join(d, 'agent.yaml'),
        `node: lb-${n}
cluster: web
coordinator: { addresses: ["unix://${root}/no-coordinator.sock"], backoff: { initial: 1s, max: 30s } }
tls: { insecure: true }
stateDir: ${d}/state
runtimeDir: ${d}/run
metrics: { listen: "" }
supervision: { restartGrace: 2s }
services:
  nginx:
    configFile: ${d}/nginx/nginx.conf
    errorLog: ${d}/nginx/error.log
`,
      );
      // The agent's own process check only: nothing here should make a node unhealthy.
      const desired: DesiredState = {
        version: 1,
        cluster: 'web',
        node: `lb-${n}`,
        mode: 'active',
        keepalived: { advertIntMs: 100, unicast: false, unicastSrc: '', unicastPeers: [], authPass: '', vrrpVersion: 3, mcastGroup: '' },
        instances: [{ name: 'vip-50', vrid: 75, interface: 'eth1', vip: `${V4.vip}/${V4.prefix}`, basePriority: 100, placementWeight: weight, rank, trackInterfaces: [], stepDown: false, group: '', failoverPeer: peer }],
        checks: [],
        proxyService: 'nginx',
      };
      writeFileSync(join(d, 'state', 'desired-state.json'), JSON.stringify(desired));
    }
    startAgent('a');
    startAgent('b');
  });

  after(async () => {
    for (const n of ['a', 'b'] as const) {
      await killAgent(n).catch(() => undefined);
      for (const svc of ['nginx', 'keepalived'] as const) {
        try {
          process.kill(-daemonPid(n, svc), 'SIGKILL');
        } catch {
          // not running
        }
      }
    }
    net?.remove();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('keeps a kept-alive connection with the peer that took it while the agent was away', async () => {
    await until(() => holds('a') && !holds('b'), 'VIP on lb-a');
    await until(() => fresh() === 'lb-a', 'lb-a answers');

    // The agent dies, then nginx: nobody restarts nginx, and the kernel hands new connections to
    // the peer (no listener on lb-a). A client that keeps its connection open lands there.
    await killAgent('a');
    process.kill(-daemonPid('a', 'nginx'), 'SIGKILL');
    await until(() => fresh() === 'lb-b', 'new connections served by lb-b');
    const client = net.inClient(KEPT_ALIVE_HTTP, [V4.vip]);
    const answers = (): Answer[] =>
      client.out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Answer);
    try {
      await until(() => answers().filter((a) => a.body === 'lb-b').length >= 5, 'the kept-alive connection answered by lb-b');

      // The agent comes back: it starts nginx and loads its tables.
      const from = agentLog('a').length;
      startAgent('a');
      let moved = false;
      await until(() => {
        if (!holds('a') || holds('b')) moved = true;
        return fresh() === 'lb-a' && agentLog('a').slice(from).includes('"event":"health.gate_open"');
      }, 'nginx back on lb-a');
      const back = Date.now();
      await until(() => answers().filter((a) => a.t > back + 500).length >= 5, 'answers on the kept-alive connection after the restart');

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
