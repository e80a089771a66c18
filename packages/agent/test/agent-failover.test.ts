// The agent binary end to end, without a coordinator: two nodes in scratch network namespaces
// joined by a veth pair, real keepalived and nginx supervised by real agents that start from
// a cached desired state. What the seed scripts did by hand, checked against the kernel's
// view of who holds the VIP.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WAIT_BOUND_MS } from '@lbha/test-support';
import { AgentPair } from './helpers/agent-pair.js';
import { ip, isRoot, ScratchNetns } from './helpers/netns.js';

const VIP = '10.77.0.100';
const have = (bin: string, arg: string): boolean => spawnSync(bin, [arg]).status === 0;
const skip = !isRoot ? 'needs root' : !have('keepalived', '--version') || !have('/usr/sbin/nginx', '-v') ? 'needs keepalived and nginx' : false;

type Node = 'a' | 'b';

describe('agent failover with real keepalived and nginx (no coordinator)', { skip }, () => {
  let root: string;
  const ns = {} as Record<Node, ScratchNetns>;
  let pair: AgentPair;
  const keepalivedReloads = (n: Node): number => (readFileSync(join(pair.dir(n), 'run', 'keepalived.log'), 'utf8').match(/Reloading/g) ?? []).length;
  const trackWrites = (n: Node, offset: number) => pair.logSince(n, offset).filter((e) => e.event === 'health.changed' || e.event === 'placement.written');
  /** Waits for keepalived on lb-a to run again (not as `pid`) with the VIP back on lb-a. */
  const keepalivedBackOnA = (pid: number): Promise<unknown> =>
    pair.until(() => {
      try {
        return pair.daemonPid('a', 'keepalived') !== pid && pair.holds('a') && !pair.holds('b');
      } catch {
        return false;
      }
    }, 'keepalived restarted and the VIP back on lb-a');

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'lbha-failover-'));
    ns.a = new ScratchNetns('fa');
    ns.b = new ScratchNetns('fb');
    pair = new AgentPair(root, (n) => ns[n].name, VIP, WAIT_BOUND_MS);
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
      const d = pair.dir(n);
      pair.writeNode(n, {
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
      });
      copyFileSync(join(d, 'nginx', 'nginx.conf'), join(d, 'nginx', 'nginx.conf.good'));
    }
    pair.start('a');
    pair.start('b');
  });

  after(async () => {
    await pair?.stop();
    ns.a?.remove();
    ns.b?.remove();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('puts the VIP on its home node', async () => {
    await pair.until(() => pair.holds('a') && !pair.holds('b'), 'VIP on lb-a');
  });

  it('restarts a killed nginx in place without moving the VIP or reloading keepalived', async () => {
    const pid = pair.daemonPid('a', 'nginx');
    const from = pair.log('a').length;
    let moved = false;
    process.kill(pid, 'SIGKILL');
    // Restarted means running again: the process check's grace is over, nothing else follows.
    await pair.until(() => {
      if (!pair.holds('a') || pair.holds('b')) moved = true;
      return pair.logSince('a', from).some((e) => e.event === 'service.restarted' && e.service === 'nginx');
    }, 'nginx restarted');
    assert.notEqual(pair.daemonPid('a', 'nginx'), pid);
    assert.equal(moved, false, 'VIP stayed on lb-a');
    assert.ok(pair.holds('a') && !pair.holds('b'), 'VIP stayed on lb-a');
    assert.deepEqual(trackWrites('a', from), [], 'no track file changed');
    assert.equal(keepalivedReloads('a'), 0);
  });

  it('fails over at once when nginx dies with a broken config, and returns when it is fixed', async () => {
    const conf = join(pair.dir('a'), 'nginx', 'nginx.conf');
    writeFileSync(conf, 'broken {\n');
    process.kill(pair.daemonPid('a', 'nginx'), 'SIGKILL');
    await pair.until(() => pair.holds('b') && !pair.holds('a'), 'VIP on lb-b');
    copyFileSync(`${conf}.good`, conf);
    await pair.until(() => pair.holds('a') && !pair.holds('b'), 'VIP back on lb-a');
    assert.equal(keepalivedReloads('a'), 0);
  });

  it('moves the VIP away while the maintenance file exists (penalty), and back when it is removed', async () => {
    const down = join(pair.dir('a'), 'down');
    writeFileSync(down, '');
    await pair.until(() => pair.holds('b') && !pair.holds('a'), 'VIP on lb-b');
    rmSync(down);
    await pair.until(() => pair.holds('a') && !pair.holds('b'), 'VIP back on lb-a');
  });

  it('moves the VIP when the tracked inner link goes down, and back when it is up', async () => {
    ip('-n', ns.a.name, 'link', 'set', 'eth2', 'down');
    await pair.until(() => pair.holds('b') && !pair.holds('a'), 'VIP on lb-b');
    ip('-n', ns.a.name, 'link', 'set', 'eth2', 'up');
    await pair.until(() => pair.holds('a') && !pair.holds('b'), 'VIP back on lb-a');
  });

  it('restarts a killed keepalived; the peer holds the VIP meanwhile and it comes home', async () => {
    const pid = pair.daemonPid('a', 'keepalived');
    process.kill(pid, 'SIGKILL');
    await pair.until(() => pair.holds('b'), 'VIP on lb-b while keepalived on lb-a is down');
    await keepalivedBackOnA(pid);
  });

  it('ends a frozen keepalived (SIGSTOP): the VIP leaves lb-a at once, keepalived is restarted and the VIP comes home', async () => {
    const pid = pair.daemonPid('a', 'keepalived');
    const from = pair.log('a').length;
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    for (const p of [pid, ...children]) process.kill(p, 'SIGSTOP');
    await pair.until(() => pair.logSince('a', from).some((e) => e.event === 'service.stuck' && e.service === 'keepalived'), 'the agent notices keepalived is stopped');
    await pair.until(() => pair.holds('b') && !pair.holds('a'), 'VIP on lb-b, and no longer on the frozen lb-a');
    await keepalivedBackOnA(pid);
    const stuck = pair.logSince('a', from).find((e) => e.event === 'service.stuck');
    assert.match(String(stuck?.reason), /^keepalived is stopped \(process \d+(, \d+)* in state T\) for \d+ ms$/);
  });

  it('keeps the VIP where it is when the agent is killed, and adopts the daemons when it returns', async () => {
    const nginx = pair.daemonPid('a', 'nginx');
    const keepalived = pair.daemonPid('a', 'keepalived');
    await pair.kill('a');
    assert.ok(pair.holds('a'), 'keepalived keeps the VIP without the agent');
    const from = pair.log('a').length;
    pair.start('a');
    let moved = false;
    let gateOpenAt = 0;
    // Proving that nothing moves needs a window: watch from the restart until a second after the
    // new agent has let its checks decide the health file (the last moment it could move a VIP).
    await pair.until(() => {
      if (pair.holds('b') || !pair.holds('a')) moved = true;
      if (!gateOpenAt && pair.logSince('a', from).some((e) => e.event === 'health.gate_open')) gateOpenAt = Date.now();
      return gateOpenAt > 0 && Date.now() - gateOpenAt > 1_000;
    }, 'the restarted agent follows its checks');
    assert.equal(moved, false, 'an agent restart moves no VIP');
    assert.deepEqual(trackWrites('a', from), [], 'no track file changed');
    assert.equal(pair.daemonPid('a', 'nginx'), nginx);
    assert.equal(pair.daemonPid('a', 'keepalived'), keepalived);
    assert.ok(pair.logSince('a', from).some((e) => e.event === 'service.adopted' && e.service === 'keepalived'));
  });
});
