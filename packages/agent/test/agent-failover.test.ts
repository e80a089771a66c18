// The agent binary end to end, without a coordinator: two nodes in scratch network namespaces
// joined by a veth pair, real keepalived and nginx supervised by real agents that start from
// a cached desired state. What the seed scripts did by hand, checked against the kernel's
// view of who holds the VIP.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { DesiredState } from '@lbha/shared';
import { eventually } from '@lbha/test-support';
import { ip, isRoot, ScratchNetns } from './helpers/netns.js';

const AGENT = fileURLToPath(new URL('../src/bin/lbha-agent.js', import.meta.url));
const VIP = '10.77.0.100';
const have = (bin: string, arg: string): boolean => spawnSync(bin, [arg]).status === 0;
const skip = !isRoot ? 'needs root' : !have('keepalived', '--version') || !have('/usr/sbin/nginx', '-v') ? 'needs keepalived and nginx' : false;

type Node = 'a' | 'b';

describe('agent failover with real keepalived and nginx (no coordinator)', { skip }, () => {
  let root: string;
  const ns = {} as Record<Node, ScratchNetns>;
  const agents = {} as Record<Node, ChildProcess | undefined>;
  const nodeDir = (n: Node): string => join(root, n);

  const holds = (n: Node): boolean => {
    const out = spawnSync('ip', ['-n', ns[n].name, '-o', '-4', 'addr', 'show', 'dev', 'eth1'], { encoding: 'utf8' }).stdout;
    return out.includes(` ${VIP}/`);
  };
  const daemonPid = (n: Node, service: 'nginx' | 'keepalived'): number =>
    (JSON.parse(readFileSync(join(nodeDir(n), 'run', `${service}.agent-pid`), 'utf8')) as { pid: number }).pid;
  const keepalivedReloads = (n: Node): number => (readFileSync(join(nodeDir(n), 'run', 'keepalived.log'), 'utf8').match(/Reloading/g) ?? []).length;
  const agentLog = (n: Node): string => readFileSync(join(nodeDir(n), 'agent.log'), 'utf8');
  /** The agent's log entries after `offset` (a length of its log). */
  const logSince = (n: Node, offset: number): Array<{ event?: string; service?: string; value?: number; reason?: string }> =>
    agentLog(n)
      .slice(offset)
      .split('\n')
      .flatMap((l) => {
        try {
          return [JSON.parse(l) as { event?: string }];
        } catch {
          return []; // a line still being written
        }
      });
  const trackWrites = (n: Node, offset: number) => logSince(n, offset).filter((e) => e.event === 'health.changed' || e.event === 'placement.written');

  const startAgent = (n: Node): void => {
    const out = openSync(join(nodeDir(n), 'agent.log'), 'a');
    agents[n] = spawn('ip', ['netns', 'exec', ns[n].name, process.execPath, AGENT, '--config', join(nodeDir(n), 'agent.yaml')], { stdio: ['ignore', out, out] });
  };
  const killAgent = async (n: Node, signal: NodeJS.Signals): Promise<void> => {
    const a = agents[n];
    if (!a || a.exitCode !== null) return;
    const gone = new Promise((r) => a.once('exit', r));
    a.kill(signal);
    await gone;
    agents[n] = undefined;
  };
  const until = (cond: () => boolean, what: string): Promise<unknown> =>
    eventually(cond, what, 15_000).catch((err: Error) => {
      for (const n of ['a', 'b'] as const) process.stderr.write(`--- agent ${n}\n${readFileSync(join(nodeDir(n), 'agent.log'), 'utf8').split('\n').slice(-15).join('\n')}\n`);
      throw err;
    });

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'lbha-failover-'));
    ns.a = new ScratchNetns('fa');
    ns.b = new ScratchNetns('fb');
    const [va, vb] = [`${ns.a.name.slice(-6)}a`, `${ns.b.name.slice(-6)}b`];
    ip('link', 'add', va, 'type', 'veth', 'peer', 'name', vb);
    ip('link', 'set', va, 'netns', ns.a.name);
    ip('link', 'set', vb, 'netns', ns.b.name);
    ip('-n', ns.a.name, 'link', 'set', va, 'name', 'eth1');
    ip('-n', ns.b.name, 'link', 'set', vb, 'name', 'eth1');
    for (const [n, addr, weight, rank] of [
      ['a', '10.77.0.1/24', 50, 0],
      ['b', '10.77.0.2/24', 24, 1],
    ] as const) {
      const name = ns[n].name;
      ip('-n', name, 'addr', 'add', addr, 'dev', 'eth1');
      ip('-n', name, 'link', 'set', 'eth1', 'up');
      ns[n].addLink('eth2', true);
      const d = nodeDir(n);
      mkdirSync(join(d, 'nginx'), { recursive: true });
      mkdirSync(join(d, 'state'), { recursive: true });
      const nginx = `worker_processes 1;
pid ${d}/nginx/nginx.pid;
error_log ${d}/nginx/error.log notice;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${d}/nginx/t1; proxy_temp_path ${d}/nginx/t2; fastcgi_temp_path ${d}/nginx/t3; uwsgi_temp_path ${d}/nginx/t4; scgi_temp_path ${d}/nginx/t5;
  server { listen 80; location / { return 200 "lb-${n}"; } }
}
`;
      writeFileSync(join(d, 'nginx', 'nginx.conf'), nginx);
      writeFileSync(join(d, 'nginx', 'nginx.conf.good'), nginx);
      writeFileSync(
        join(d, 'agent.yaml'),
        `node: lb-${n}
cluster: web
coordinator: { addresses: ["unix://${root}/no-coordinator.sock"], backoff: { initial: 1s, max: 30s } }
tls: { insecure: true }
stateDir: ${d}/state
runtimeDir: ${d}/run
metrics: { listen: "" }
# Generous on a loaded CI machine: a restart in place must not be mistaken for a failure.
supervision: { restartGrace: 2s }
services:
  nginx:
    configFile: ${d}/nginx/nginx.conf
    errorLog: ${d}/nginx/error.log
`,
      );
      const desired: DesiredState = {
        version: 1,
        cluster: 'web',
        node: `lb-${n}`,
        mode: 'active',
        keepalived: { advertIntMs: 100, unicast: false, unicastSrc: '', unicastPeers: [], authPass: '', vrrpVersion: 3, mcastGroup: '' },
        instances: [{ name: 'vip-100', vrid: 71, interface: 'eth1', vip: `${VIP}/24`, basePriority: 100, placementWeight: weight, rank, trackInterfaces: ['eth2'], stepDown: false, group: '' }],
        checks: [
          { name: 'down-file', intervalMs: 0, timeoutMs: 0, fall: 0, rise: 0, effect: 'penalty', penalty: 60, params: { kind: 'maintenance_file', path: join(d, 'down') } },
          { name: 'http', intervalMs: 300, timeoutMs: 500, fall: 5, rise: 2, effect: 'fault', penalty: 0, params: { kind: 'http', url: 'http://127.0.0.1/', method: 'GET', host: '', expectStatus: 200, bodyContains: 'lb-', tlsVerify: true } },
        ],
        proxyService: 'nginx',
      };
      writeFileSync(join(d, 'state', 'desired-state.json'), JSON.stringify(desired));
    }
    startAgent('a');
    startAgent('b');
  });

  after(async () => {
    for (const n of ['a', 'b'] as const) {
      await killAgent(n, 'SIGKILL').catch(() => undefined);
      for (const svc of ['nginx', 'keepalived'] as const) {
        try {
          process.kill(-daemonPid(n, svc), 'SIGKILL');
        } catch {
          // not running
        }
      }
    }
    ns.a?.remove();
    ns.b?.remove();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('puts the VIP on its home node', async () => {
    await until(() => holds('a') && !holds('b'), 'VIP on lb-a');
  });

  it('restarts a killed nginx in place without moving the VIP or reloading keepalived', async () => {
    const pid = daemonPid('a', 'nginx');
    const from = agentLog('a').length;
    let moved = false;
    process.kill(pid, 'SIGKILL');
    // Restarted means running again: the process check's grace is over, nothing else follows.
    await until(() => {
      if (!holds('a') || holds('b')) moved = true;
      return logSince('a', from).some((e) => e.event === 'service.restarted' && e.service === 'nginx');
    }, 'nginx restarted');
    assert.notEqual(daemonPid('a', 'nginx'), pid);
    assert.equal(moved, false, 'VIP stayed on lb-a');
    assert.ok(holds('a') && !holds('b'), 'VIP stayed on lb-a');
    assert.deepEqual(trackWrites('a', from), [], 'no track file changed');
    assert.equal(keepalivedReloads('a'), 0);
  });

  it('fails over at once when nginx dies with a broken config, and returns when it is fixed', async () => {
    const conf = join(nodeDir('a'), 'nginx', 'nginx.conf');
    writeFileSync(conf, 'broken {\n');
    process.kill(daemonPid('a', 'nginx'), 'SIGKILL');
    await until(() => holds('b') && !holds('a'), 'VIP on lb-b');
    copyFileSync(`${conf}.good`, conf);
    await until(() => holds('a') && !holds('b'), 'VIP back on lb-a');
    assert.equal(keepalivedReloads('a'), 0);
  });

  it('moves the VIP away while the maintenance file exists (penalty), and back when it is removed', async () => {
    const down = join(nodeDir('a'), 'down');
    writeFileSync(down, '');
    await until(() => holds('b') && !holds('a'), 'VIP on lb-b');
    rmSync(down);
    await until(() => holds('a') && !holds('b'), 'VIP back on lb-a');
  });

  it('moves the VIP when the tracked inner link goes down, and back when it is up', async () => {
    ip('-n', ns.a.name, 'link', 'set', 'eth2', 'down');
    await until(() => holds('b') && !holds('a'), 'VIP on lb-b');
    ip('-n', ns.a.name, 'link', 'set', 'eth2', 'up');
    await until(() => holds('a') && !holds('b'), 'VIP back on lb-a');
  });

  it('restarts a killed keepalived; the peer holds the VIP meanwhile and it comes home', async () => {
    const pid = daemonPid('a', 'keepalived');
    process.kill(pid, 'SIGKILL');
    await until(() => holds('b'), 'VIP on lb-b while keepalived on lb-a is down');
    await until(() => {
      try {
        return daemonPid('a', 'keepalived') !== pid && holds('a') && !holds('b');
      } catch {
        return false;
      }
    }, 'keepalived restarted and the VIP back on lb-a');
  });

  it('ends a frozen keepalived (SIGSTOP): the VIP leaves lb-a at once, keepalived is restarted and the VIP comes home', async () => {
    const pid = daemonPid('a', 'keepalived');
    const from = agentLog('a').length;
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    for (const p of [pid, ...children]) process.kill(p, 'SIGSTOP');
    await until(() => logSince('a', from).some((e) => e.event === 'service.stuck' && e.service === 'keepalived'), 'the agent notices keepalived is stopped');
    await until(() => holds('b') && !holds('a'), 'VIP on lb-b, and no longer on the frozen lb-a');
    await until(() => {
      try {
        return daemonPid('a', 'keepalived') !== pid && holds('a') && !holds('b');
      } catch {
        return false;
      }
    }, 'keepalived restarted and the VIP back on lb-a');
    const stuck = logSince('a', from).find((e) => e.event === 'service.stuck');
    assert.match(String(stuck?.reason), /^keepalived is stopped \(process \d+(, \d+)* in state T\) for \d+ ms$/);
  });

  it('keeps the VIP where it is when the agent is killed, and adopts the daemons when it returns', async () => {
    const nginx = daemonPid('a', 'nginx');
    const keepalived = daemonPid('a', 'keepalived');
    await killAgent('a', 'SIGKILL');
    assert.ok(holds('a'), 'keepalived keeps the VIP without the agent');
    const from = agentLog('a').length;
    startAgent('a');
    let moved = false;
    let gateOpenAt = 0;
    // Proving that nothing moves needs a window: watch from the restart until a second after the
    // new agent has let its checks decide the health file (the last moment it could move a VIP).
    await until(() => {
      if (holds('b') || !holds('a')) moved = true;
      if (!gateOpenAt && logSince('a', from).some((e) => e.event === 'health.gate_open')) gateOpenAt = Date.now();
      return gateOpenAt > 0 && Date.now() - gateOpenAt > 1_000;
    }, 'the restarted agent follows its checks');
    assert.equal(moved, false, 'an agent restart moves no VIP');
    assert.deepEqual(trackWrites('a', from), [], 'no track file changed');
    assert.equal(daemonPid('a', 'nginx'), nginx);
    assert.equal(daemonPid('a', 'keepalived'), keepalived);
    assert.ok(logSince('a', from).some((e) => e.event === 'service.adopted' && e.service === 'keepalived'));
  });
});
