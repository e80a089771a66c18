// What the agent refuses or protects even when the coordinator (or whoever holds its
// certificate) sends it something harmful.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { DesiredState } from '@lbha/shared';
import { writeFileSync } from 'node:fs';
import { ConfigError } from '@lbha/shared';
import { loadAgentConfig } from '../src/agent-config.js';
import { httpProbe } from '../src/checks/http-probe.js';
import { ConfigApplier } from '../src/keepalived/config-applier.js';
import { desiredStateProblems, type AgentIdentity } from '../src/keepalived/desired-state-problems.js';
import { keepalivedFiles } from '../src/keepalived/keepalived-files.js';
import { renderKeepalivedConf } from '../src/keepalived/render-config.js';
import type { CommandRunner } from '../src/util/run-command.js';
import { NGINX_ACTIVE_ACTIVE, V2_WITH_AUTH } from './fixtures/desired-states.js';

const dir = mkdtempSync(join(tmpdir(), 'lbha-agent-hardening-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function withVip(d: DesiredState, vip: string): DesiredState {
  return { ...d, instances: d.instances.map((i, n) => (n === 0 ? { ...i, vip } : i)) };
}

const me = (d: DesiredState, addresses?: Record<string, string[]>): AgentIdentity => ({
  node: d.node,
  cluster: d.cluster,
  services: ['nginx', 'keepalived'],
  proxies: ['nginx'],
  ...(addresses ? { interfaceAddresses: () => new Map(Object.entries(addresses).map(([k, v]) => [k, new Set(v)])) } : {}),
});

describe('the agent refuses VIPs that would break the node', () => {
  const reserved: Array<[string, RegExp]> = [
    ['224.0.0.18/32', /VRRP multicast group/],
    ['239.0.0.1/32', /multicast/],
    ['127.0.0.5/32', /loopback/],
    ['255.255.255.255/32', /limited broadcast/],
    ['0.0.0.0/0', /this network/],
    ['192.168.20.28/0', /prefix \/0/],
    ['ff02::12/128', /VRRP multicast group/],
    ['::1/128', /loopback/],
    ['fe80::5/64', /link-local/],
  ];
  for (const [vip, pattern] of reserved) {
    it(`${vip}, whatever the interface holds`, () => {
      const d = withVip(NGINX_ACTIVE_ACTIVE, vip);
      const problems = desiredStateProblems(d, me(d));
      assert.ok(problems.some((p) => p.startsWith('instances[0].vip: ') && pattern.test(p)), problems.join('\n'));
    });
  }

  // eth1 holds 192.168.20.19/24 (its own address) and 192.168.20.29/24 (the other VIP, held now).
  const eth1 = { eth1: ['192.168.20.19/24', '192.168.20.29/24'] };
  const subnet: Array<[string, RegExp]> = [
    ['192.168.20.28/16', /prefix \/16 is wider than the interface's subnet 192\.168\.20\.0\/24; use \/24 or \/32 \(eth1 has 192\.168\.20\.19\/24\)/],
    ['192.168.20.0/24', /network address of 192\.168\.20\.0\/24/],
    ['192.168.20.255/32', /broadcast address of 192\.168\.20\.0\/24/],
  ];
  for (const [vip, pattern] of subnet) {
    it(`${vip}, against the subnet of the interface's own address`, () => {
      const d = withVip(NGINX_ACTIVE_ACTIVE, vip);
      const problems = desiredStateProblems(d, me(d, eth1));
      assert.ok(problems.some((p) => p.startsWith('instances[0].vip: ') && pattern.test(p)), problems.join('\n'));
    });
  }

  it('accepts the seed VIPs, with the VIPs already on the interface', () => {
    assert.deepEqual(desiredStateProblems(NGINX_ACTIVE_ACTIVE, me(NGINX_ACTIVE_ACTIVE, { eth1: ['192.168.20.19/24', '192.168.20.28/24', '192.168.20.29/24'] })), []);
  });
});

describe('files holding secrets', () => {
  it('keepalived.conf (with auth_pass), its candidate and its last good copy are 0600', async () => {
    const files = keepalivedFiles({ configFile: join(dir, 'keepalived.conf'), notifyFifo: join(dir, 'fifo'), trackDir: join(dir, 'track') });
    const modes: number[] = [];
    const run: CommandRunner = async (_file, args) => {
      modes.push(statSync(args[2] as string).mode & 0o777);
      return { exitCode: 0, output: '', stdout: '', timedOut: false, spawnError: undefined };
    };
    const applier = new ConfigApplier({ binary: 'keepalived', files, run });
    const first = renderKeepalivedConf(V2_WITH_AUTH, { routerId: 'lb-a', files });
    assert.match(first, /auth_pass 1111/);
    const old = process.umask(0o022);
    try {
      for (const text of [first, first.replace('auth_pass 1111', 'auth_pass 3333')]) {
        assert.equal((await applier.test(text)).ok, true);
        await applier.commit(text);
      }
    } finally {
      process.umask(old);
    }
    assert.deepEqual(modes, [0o600, 0o600], 'the candidate keepalived tests');
    assert.equal(statSync(files.configFile).mode & 0o777, 0o600);
    assert.equal(statSync(files.lastGoodFile).mode & 0o777, 0o600);
    assert.match(readFileSync(files.lastGoodFile, 'utf8'), /auth_pass 1111/);
  });
});

describe('check results', () => {
  it('never carry the credentials of an http check URL (they reach the coordinator and its readers)', async () => {
    for (const url of ['http://probe:s3cret@127.0.0.1:1/health', 'https://probe:s3cret@127.0.0.1:1/health']) {
      const r = await httpProbe({ url, method: 'GET', host: '', expectStatus: 200, bodyContains: '', tlsVerify: true }).probe(AbortSignal.timeout(2000));
      assert.equal(r?.kind, 'unhealthy');
      const reason = r && 'reason' in r ? r.reason : '';
      assert.match(reason, /USER:PASSWORD@127\.0\.0\.1:1/);
      assert.doesNotMatch(reason, /s3cret/);
    }
  });
});

describe('agent configuration', () => {
  it('refuses a plaintext stream to a coordinator that is not on loopback, unless allowNonLoopback says so', () => {
    const file = join(dir, 'agent.yaml');
    const load = (coordinator: string, tls: string) => {
      writeFileSync(file, `node: lb1\ncluster: web\ncoordinator: { addresses: ["${coordinator}"] }\ntls: ${tls}\nservices: {}\n`);
      try {
        loadAgentConfig(file);
        return 'ok';
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.message;
      }
    };
    assert.match(load('10.0.0.5:7400', '{ insecure: true }'), /coordinator\.addresses.*"10\.0\.0\.5:7400" is not loopback or a unix socket/);
    assert.equal(load('127.0.0.1:7400', '{ insecure: true }'), 'ok');
    assert.equal(load('10.0.0.5:7400', '{ insecure: true, allowNonLoopback: true }'), 'ok');
    // A revocation list is the coordinator's: on an agent it would check nothing.
    writeFileSync(join(dir, 'k.pem'), 'x', { mode: 0o600 });
    assert.match(load('127.0.0.1:7400', `{ ca: /ca, cert: /c, key: ${join(dir, 'k.pem')}, crl: /crl.pem }`), /tls\.crl.*only the coordinator/);
  });
});
