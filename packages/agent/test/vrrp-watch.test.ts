// The VRRP watch on a real kernel, with real keepalived: a node of the cluster and a foreign
// router on one veth link, both advertising VRID 51. The node's watch names the foreign router
// (source, VRID, priority) and sees its own adverts leave; with foreign routers blocked, the
// node's keepalived no longer hears the foreign router and keeps the VIP. The loaded tables do
// not break `nft list ruleset`. The sets are read through one long-lived `nft -j -i`.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger, type DesiredState } from '@lbha/shared';
import { eventually } from '@lbha/test-support';
import { NftReader } from '../src/net/nft-reader.js';
import { VrrpWatch } from '../src/net/vrrp-watch.js';
import { runCommand, type CommandRunner } from '../src/util/run-command.js';
import { NGINX_ACTIVE_ACTIVE } from './fixtures/desired-states.js';
import { ip, isRoot, ScratchNetns } from './helpers/netns.js';

const have = (cmd: string, ...args: string[]): boolean => spawnSync(cmd, args).status === 0;
const skip = !isRoot ? 'needs root for network namespaces' : !have('nft', '--version') || !have('keepalived', '--version') ? 'needs nft and keepalived' : false;

function keepalivedConf(name: string, priority: number, fifo: string): string {
  return `global_defs {\n  router_id ${name}\n  vrrp_version 3\n  notify_fifo "${fifo}"\n}\nvrrp_instance v51 {\n  state BACKUP\n  interface eth1\n  virtual_router_id 51\n  priority ${priority}\n  advert_int 0.1\n  virtual_ipaddress {\n    10.81.0.28/24 dev eth1\n  }\n}\n`;
}

describe('VRRP watch', { skip }, () => {
  let node: ScratchNetns;
  let foreign: ScratchNetns;
  let dir: string;
  const daemons: ChildProcess[] = [];
  let watch: VrrpWatch;
  let reader: NftReader;
  const inNode: CommandRunner = (file, args, o) => runCommand('ip', ['netns', 'exec', node.name, file, ...args], o);
  const desired = (block: boolean): DesiredState => ({
    ...NGINX_ACTIVE_ACTIVE,
    keepalived: { ...NGINX_ACTIVE_ACTIVE.keepalived, clusterAddresses: ['10.81.0.1', '10.81.0.2'], blockForeignRouters: block },
    instances: [{ ...(NGINX_ACTIVE_ACTIVE.instances[0] as DesiredState['instances'][number]), vrid: 51, vip: '10.81.0.28/24' }],
  });
  const holdsVip = (): boolean => ip('-n', node.name, '-br', 'addr', 'show', 'eth1').includes('10.81.0.28/');

  function startKeepalived(ns: ScratchNetns, name: string, priority: number): void {
    const conf = join(dir, `${name}.conf`);
    writeFileSync(conf, keepalivedConf(name, priority, join(dir, `${name}.fifo`)));
    const args = ['netns', 'exec', ns.name, 'keepalived', '--dont-fork', '--log-console', '--no-syslog', '--vrrp', '-f', conf, '-p', join(dir, `${name}.pid`), '-r', join(dir, `${name}-vrrp.pid`)];
    daemons.push(spawn('ip', args, { stdio: 'ignore' }));
  }

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lbha-vrrp-watch-'));
    node = new ScratchNetns('vw-node');
    foreign = new ScratchNetns('vw-foreign');
    ip('-n', node.name, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth1', 'netns', foreign.name);
    for (const ns of [node, foreign]) ip('-n', ns.name, 'link', 'set', 'eth1', 'up');
    ip('-n', node.name, 'addr', 'add', '10.81.0.1/24', 'dev', 'eth1');
    ip('-n', foreign.name, 'addr', 'add', '10.81.0.50/24', 'dev', 'eth1');
    reader = new NftReader({ nftProgram: 'ip', prefix: ['netns', 'exec', node.name, 'nft'], run: runCommand });
    watch = new VrrpWatch({ nftProgram: 'nft', run: inNode, logger: createLogger('test', { level: 'silent' }), workDir: dir, now: Date.now, onChange: () => undefined, reader });
  });

  after(() => {
    watch?.close();
    for (const d of daemons) d.kill('SIGKILL');
    node?.remove();
    foreign?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('names the router that is not a node, sees its own adverts leave, and lists cleanly', async () => {
    await watch.follow(desired(false));
    assert.equal(spawnSync('ip', ['netns', 'exec', node.name, 'nft', 'list', 'ruleset']).status, 0, 'nft list ruleset works with the tables loaded');
    assert.equal(spawnSync('ip', ['netns', 'exec', node.name, 'nft', '-j', 'list', 'ruleset']).status, 0);
    startKeepalived(node, 'node', 150);
    await eventually(holdsVip, 'the node takes the VIP, alone on the segment');
    await watch.read();
    assert.equal(watch.sent('eth1', 51)?.sent, true, 'its own adverts leave');
    assert.deepEqual(watch.foreign('eth1', 51), []);
    const session = reader.sessionPid;
    assert.ok(session !== undefined, 'the sets are read through an nft session');
    // A foreign keepalived with a higher priority: the node yields (reported only).
    startKeepalived(foreign, 'foreign', 200);
    await eventually(async () => {
      await watch.read();
      return watch.foreign('eth1', 51).some((r) => r.source === '10.81.0.50' && r.priority === 200);
    }, 'the foreign router named with its priority');
    await eventually(() => !holdsVip(), 'the node yields to the higher priority');
    await eventually(async () => {
      await watch.read();
      return watch.sent('eth1', 51)?.sent === false;
    }, 'no adverts leave a backup (within the set timeout of a second)');
    assert.equal(reader.sessionPid, session, 'every reading went through the same session');
  });

  it('with foreign routers blocked, the node no longer hears the foreign router and takes the VIP back', async () => {
    await watch.follow(desired(true));
    await eventually(holdsVip, 'the node holds the VIP again');
    await eventually(async () => {
      await watch.read();
      return watch.foreign('eth1', 51).length === 1;
    }, 'the blocked router is still named');
    assert.equal(spawnSync('ip', ['netns', 'exec', node.name, 'nft', 'list', 'ruleset']).status, 0);
    await watch.remove();
    const left = spawnSync('ip', ['netns', 'exec', node.name, 'nft', 'list', 'tables'], { encoding: 'utf8' }).stdout;
    assert.doesNotMatch(left, /lbha_vrrp/, 'the tables are gone');
  });
});

describe('VRRP watch with the seeds\' VRRPv2 and 3 s adverts', { skip }, () => {
  let node: ScratchNetns;
  let dir: string;
  let daemon: ChildProcess | undefined;
  let watch: VrrpWatch;
  const inNode: CommandRunner = (file, args, o) => runCommand('ip', ['netns', 'exec', node.name, file, ...args], o);
  const desired: DesiredState = {
    ...NGINX_ACTIVE_ACTIVE,
    keepalived: { ...NGINX_ACTIVE_ACTIVE.keepalived, vrrpVersion: 2, advertIntMs: 3000, authPass: '1111', clusterAddresses: ['10.82.0.1', '10.82.0.2'] },
    instances: [{ ...(NGINX_ACTIVE_ACTIVE.instances[0] as DesiredState['instances'][number]), vrid: 61, vip: '10.82.0.28/24' }],
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lbha-vrrp-watch-v2-'));
    node = new ScratchNetns('vw2-node');
    node.addLink('eth1', true);
    ip('-n', node.name, 'addr', 'add', '10.82.0.1/24', 'dev', 'eth1');
    const reader = new NftReader({ nftProgram: 'ip', prefix: ['netns', 'exec', node.name, 'nft'], run: runCommand });
    watch = new VrrpWatch({ nftProgram: 'nft', run: inNode, logger: createLogger('test', { level: 'silent' }), workDir: dir, now: Date.now, onChange: () => undefined, reader });
  });

  after(() => {
    watch?.close();
    daemon?.kill('SIGKILL');
    node?.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sees a live master\'s adverts leave in every reading, between adverts too', async () => {
    await watch.follow(desired);
    const conf = join(dir, 'node.conf');
    writeFileSync(conf, `global_defs {\n  router_id node\n  vrrp_version 2\n}\nvrrp_instance v61 {\n  state MASTER\n  interface eth1\n  virtual_router_id 61\n  priority 150\n  advert_int 3\n  authentication {\n    auth_type PASS\n    auth_pass 1111\n  }\n  virtual_ipaddress {\n    10.82.0.28/24 dev eth1\n  }\n}\n`);
    daemon = spawn('ip', ['netns', 'exec', node.name, 'keepalived', '--dont-fork', '--log-console', '--no-syslog', '--vrrp', '-f', conf, '-p', join(dir, 'node.pid'), '-r', join(dir, 'node-vrrp.pid')], { stdio: 'ignore' });
    await eventually(() => ip('-n', node.name, '-br', 'addr', 'show', 'eth1').includes('10.82.0.28/'), 'keepalived holds the VIP', { timeoutMs: 10_000 });
    await eventually(async () => {
      await watch.read();
      return watch.sent('eth1', 61)?.sent;
    }, 'its first advert seen leaving', { timeoutMs: 5000 });
    // Readings spread over more than one advert interval: each must see the adverts (a reading
    // that does not makes the agent end keepalived as frozen).
    const missed: number[] = [];
    const from = Date.now();
    for (let i = 0; i < 12; i++) {
      await new Promise((r) => setTimeout(r, 300));
      await watch.read();
      if (watch.sent('eth1', 61)?.sent !== true) missed.push(Date.now() - from);
    }
    assert.deepEqual(missed, [], 'readings (ms into the 3.6 s) that did not see the master\'s adverts');
  });
});

describe('nft reader', { skip }, () => {
  let ns: ScratchNetns;
  let reader: NftReader;

  before(() => {
    ns = new ScratchNetns('nft-reader');
    assert.equal(spawnSync('ip', ['netns', 'exec', ns.name, 'nft', 'add', 'table', 'ip', 'lbha_t']).status, 0);
    reader = new NftReader({ nftProgram: 'ip', prefix: ['netns', 'exec', ns.name, 'nft'], run: runCommand });
  });

  after(() => {
    reader?.close();
    ns?.remove();
  });

  it('answers each list with its own JSON, an error as a failure, and outlives both', async () => {
    const [a, missing, b] = await Promise.all([
      reader.list(['list', 'table', 'ip', 'lbha_t']),
      reader.list(['list', 'table', 'ip', 'lbha_missing']),
      reader.list(['list', 'table', 'ip', 'lbha_t']),
    ]);
    assert.equal(a.exitCode, 0);
    assert.match(a.stdout, /"name": "lbha_t"/);
    assert.equal(missing.exitCode, 1);
    assert.match(missing.output, /^Error: No such file or directory/);
    assert.equal(b.exitCode, 0);
    assert.match(b.stdout, /"name": "lbha_t"/);
    const pid = reader.sessionPid;
    assert.ok(pid !== undefined);
    // A change made elsewhere is seen by the running session.
    assert.equal(spawnSync('ip', ['netns', 'exec', ns.name, 'nft', 'add', 'set', 'ip', 'lbha_t', 's', '{ type ipv4_addr; }']).status, 0);
    assert.match((await reader.list(['list', 'table', 'ip', 'lbha_t'])).stdout, /"name": "s"/);
    assert.equal(reader.sessionPid, pid, 'one session for all of them');
  });

  it('starts a new session after the old one died', async () => {
    const pid = reader.sessionPid;
    assert.ok(pid !== undefined);
    process.kill(pid, 'SIGKILL');
    await eventually(() => reader.sessionPid === undefined, 'the reader notices the session is gone', { timeoutMs: 5000 });
    const r = await reader.list(['list', 'table', 'ip', 'lbha_t']);
    assert.equal(r.exitCode, 0);
    assert.ok(reader.sessionPid !== undefined && reader.sessionPid !== pid, 'a new session');
  });

  it('refuses what is not one command', async () => {
    const r = await reader.list(['list', 'table', 'ip', 'lbha_t;', 'flush', 'ruleset']);
    assert.equal(r.exitCode, 1);
    assert.match(r.output, /not one command/);
  });
});
