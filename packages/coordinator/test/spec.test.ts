import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse as parseYamlText, stringify } from 'yaml';
import { diffSpecs } from '../src/spec/diff-specs.js';
import { parseSpec } from '../src/spec/parse-spec.js';
import type { Spec } from '../src/spec/cluster-spec.js';

const fixture = (name: string) => readFileSync(new URL(`../../test/fixtures/${name}`, import.meta.url), 'utf8');
const SEED1 = fixture('seed-nginx-active-active.yaml');
const SEED2 = fixture('seed-haproxy-active-backup.yaml');

function ok(text: string): Spec {
  const r = parseSpec(text);
  if (!r.ok) assert.fail(`expected a valid spec, got:\n${r.issues.map((i) => `${i.line}: ${i.path}: ${i.message}`).join('\n')}`);
  return r.value;
}

function issues(text: string) {
  const r = parseSpec(text);
  assert.equal(r.ok, false, 'expected the spec to be refused');
  return r.ok ? [] : r.issues;
}

/** Edits seed 1 as data, returns YAML text. The document is untyped on purpose: tests break it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function seed1With(edit: (doc: any) => void): string {
  const doc = parseYamlText(SEED1);
  edit(doc);
  return stringify(doc);
}

function expectIssue(text: string, path: string, pattern: RegExp): void {
  const list = issues(text);
  const hit = list.find((i) => i.path === path && pattern.test(i.message));
  assert.ok(hit, `expected an issue at ${path} matching ${pattern}, got:\n${list.map((i) => `${i.path}: ${i.message}`).join('\n')}`);
  assert.ok(hit.line > 0, `issue at ${path} should carry a line number`);
}

describe('cluster spec: the seed setups', () => {
  it('expresses seed 1 (nginx active/active) as written', () => {
    const spec = ok(SEED1);
    const [web] = spec.clusters;
    assert.ok(web);
    assert.equal(web.service, 'nginx');
    assert.deepEqual(web.nodes.map((n) => n.name), ['nginx-lb01', 'nginx-lb02']);
    assert.deepEqual(
      web.vips.map((v) => [v.name, v.cidr, v.vrid, v.home, v.interface]),
      [
        ['vip-28', '192.168.20.28/24', 51, 'nginx-lb01', 'eth1'],
        ['vip-29', '192.168.20.29/24', 52, 'nginx-lb02', 'eth1'],
      ],
    );
    assert.deepEqual(web.vips[0]?.trackInterfaces, ['eth2']);
    // VI_1 uses the cluster's auth_pass 1111, VI_2 its own 2222, as in the seed.
    assert.deepEqual(web.vips.map((v) => v.authPass), [null, '2222']);
    assert.deepEqual(web.policy, {
      failback: { kind: 'immediate' },
      advertIntervalMs: 3000,
      timing: 'default',
      vrrpVersion: 2,
      transport: 'multicast',
      mcastGroup: '224.0.0.19',
      authPass: '1111',
      basePriority: 100,
      handoverMs: 30_000,
      foreignRouters: 'report',
    });
    const down = web.checks.find((c) => c.name === 'down-file');
    assert.deepEqual(down, {
      name: 'down-file',
      intervalMs: 1000,
      timeoutMs: 1000,
      fall: 3,
      rise: 3,
      effect: 'penalty',
      penalty: 50,
      params: { kind: 'maintenance_file', path: '/etc/keepalived/down' },
    });
    assert.deepEqual(web.checks.find((c) => c.name === 'nginx')?.params, { kind: 'process', service: 'nginx' });
    assert.deepEqual(web.nodes[0]?.addresses, ['192.168.20.19', '192.168.50.19']);
  });

  it('expresses seed 2 (haproxy master/backup) as written', () => {
    const spec = ok(SEED2);
    const [c] = spec.clusters;
    assert.ok(c);
    assert.equal(c.service, 'haproxy');
    assert.equal(c.vips.length, 1);
    assert.deepEqual([c.vips[0]?.cidr, c.vips[0]?.vrid, c.vips[0]?.home], ['192.168.2.100/32', 51, 'node1']);
    assert.deepEqual(c.checks[0], {
      name: 'haproxy',
      intervalMs: 2000,
      timeoutMs: 2000,
      fall: 3,
      rise: 2,
      effect: 'penalty',
      penalty: 100,
      params: { kind: 'process', service: 'haproxy' },
    });
  });

  it('fills defaults so later code never meets undefined', () => {
    const spec = ok(`
clusters:
  - name: tiny
    service: haproxy
    nodes:
      - name: a
        interfaces: [{ name: eth0, address: 10.0.0.1/24 }]
    vips:
      - { name: v, address: 10.0.0.10/24, interface: eth0, vrid: 7 }
    checks:
      - { name: p, kind: process }
      - { name: h, kind: http, url: "http://127.0.0.1/" }
`);
    const c = spec.clusters[0];
    assert.ok(c);
    assert.deepEqual(c.policy, {
      failback: { kind: 'immediate' },
      advertIntervalMs: 100,
      timing: 'default',
      vrrpVersion: 3,
      transport: 'multicast',
      mcastGroup: '224.0.0.18',
      authPass: '',
      basePriority: 100,
      handoverMs: 30_000,
      foreignRouters: 'report',
    });
    assert.equal(c.vips[0]?.home, null);
    assert.equal(c.vips[0]?.group, '');
    assert.deepEqual(c.checks[0]?.params, { kind: 'process', service: 'haproxy' });
    assert.deepEqual(c.checks[1]?.params, { kind: 'http', url: 'http://127.0.0.1/', method: 'GET', host: '', expectStatus: 200, bodyContains: '', tlsVerify: true });
    assert.equal(c.checks[1]?.effect, 'fault');
  });

  it('has a fast timing profile: 20 ms adverts unless the spec says otherwise', () => {
    const fast = ok(seed1With((d) => {
      d.clusters[0].policy.timing = 'fast';
      d.clusters[0].policy.vrrp_version = 3;
      delete d.clusters[0].policy.advert_interval;
      delete d.clusters[0].policy.auth_pass;
      for (const v of d.clusters[0].vips) delete v.auth_pass;
    }));
    assert.deepEqual([fast.clusters[0]?.policy.timing, fast.clusters[0]?.policy.advertIntervalMs], ['fast', 20]);
    const explicit = ok(seed1With((d) => {
      d.clusters[0].policy.timing = 'fast';
      d.clusters[0].policy.vrrp_version = 3;
      d.clusters[0].policy.advert_interval = '30ms';
      delete d.clusters[0].policy.auth_pass;
      for (const v of d.clusters[0].vips) delete v.auth_pass;
    }));
    assert.equal(explicit.clusters[0]?.policy.advertIntervalMs, 30);
    expectIssue(seed1With((d) => (d.clusters[0].policy.timing = 'fast')), 'clusters[0].policy.timing', /needs VRRP version 3/);
    expectIssue(seed1With((d) => (d.clusters[0].policy.timing = 'quick')), 'clusters[0].policy.timing', /default|fast/);
  });

  it('accepts hold-down failback with its duration, and an empty document', () => {
    const spec = ok(seed1With((d) => (d.clusters[0].policy = { ...d.clusters[0].policy, failback: 'hold_down', hold_down: '45s' })));
    assert.deepEqual(spec.clusters[0]?.policy.failback, { kind: 'hold_down', holdDownMs: 45_000 });
    assert.deepEqual(ok('').clusters, []);
  });
});

describe('cluster spec: refused with the field and line', () => {
  it('duplicate VRID on one segment', () => {
    expectIssue(seed1With((d) => (d.clusters[0].vips[1].vrid = 51)), 'clusters[0].vips[1].vrid', /VRID 51 is already used on segment 192\.168\.20\.\d+\/24 by VIP vip-28/);
  });

  it('duplicate VRID across clusters on the same subnet, but not on another subnet', () => {
    const other = {
      name: 'other',
      service: 'haproxy',
      nodes: [{ name: 'o1', interfaces: [{ name: 'eth1', address: '192.168.20.40/24' }] }],
      vips: [{ name: 'v', address: '192.168.20.41/24', interface: 'eth1', vrid: 52 }],
    };
    expectIssue(seed1With((d) => d.clusters.push(other)), 'clusters[1].vips[0].vrid', /VRID 52 .* vip-29 of cluster web/);
    const elsewhere = structuredClone(other);
    elsewhere.nodes[0]!.interfaces[0]!.address = '10.1.0.2/24';
    elsewhere.vips[0]!.address = '10.1.0.3/24';
    ok(seed1With((d) => d.clusters.push(elsewhere)));
  });

  it('duplicate VIP', () => {
    expectIssue(seed1With((d) => (d.clusters[0].vips[1].address = '192.168.20.28/24')), 'clusters[0].vips[1].address', /already used by VIP vip-28/);
  });

  it('malformed address', () => {
    expectIssue(seed1With((d) => (d.clusters[0].vips[0].address = '192.168.20.300/24')), 'clusters[0].vips[0].address', /is not an IP address/);
    expectIssue(seed1With((d) => (d.clusters[0].nodes[0].interfaces[0].address = '192.168.20.19/33')), 'clusters[0].nodes[0].interfaces[0].address', /larger than \/32/);
    expectIssue(seed1With((d) => (d.clusters[0].vips[0].address = 'lb.example')), 'clusters[0].vips[0].address', /not an IP address/);
  });

  it('VIP outside the interface subnet', () => {
    expectIssue(seed1With((d) => (d.clusters[0].vips[0].address = '192.168.21.28/24')), 'clusters[0].vips[0].address', /outside the subnet of interface eth1 on node nginx-lb01 \(192\.168\.20\.19\/24\)/);
  });

  it('a VIP outside the subnet of a whole fleet is one problem naming a few nodes', () => {
    const text = seed1With((d) => {
      const template = d.clusters[0].nodes[0];
      for (let i = 0; i < 200; i++) {
        const n = structuredClone(template);
        n.name = `extra-${i}`;
        n.addresses = [`192.168.20.${i + 40}`];
        n.interfaces = n.interfaces.map((f: { name: string; address: string }) => ({ ...f, address: f.address.replace(/\.19\//, `.${i + 40}/`) }));
        d.clusters[0].nodes.push(n);
      }
      d.clusters[0].vips[0].address = '192.168.21.28/24';
    });
    const outside = issues(text).filter((i) => /outside the subnet/.test(i.message));
    assert.equal(outside.length, 1, outside.map((i) => i.message).join('\n'));
    assert.match(outside[0]?.message ?? '', /on node nginx-lb01 \(192\.168\.20\.19\/24\), .* and 197 more$/);
  });

  it('VIP on an interface a node does not have', () => {
    expectIssue(seed1With((d) => (d.clusters[0].vips[0].interface = 'eth9')), 'clusters[0].vips[0].interface', /interface eth9 is not declared on node nginx-lb01/);
  });

  it('VIP colliding with a node address', () => {
    expectIssue(seed1With((d) => (d.clusters[0].vips[0].address = '192.168.20.20/24')), 'clusters[0].vips[0].address', /collides with an address of node nginx-lb02/);
  });

  it('unknown home node', () => {
    expectIssue(seed1With((d) => (d.clusters[0].vips[0].home = 'nginx-lb03')), 'clusters[0].vips[0].home', /unknown node nginx-lb03 \(nodes of cluster web: nginx-lb01, nginx-lb02\)/);
  });

  it('priority out of range', () => {
    expectIssue(seed1With((d) => (d.clusters[0].policy.base_priority = 250)), 'clusters[0].policy.base_priority', /between 1 and 204/);
    expectIssue(seed1With((d) => (d.clusters[0].checks[1].penalty = 300)), 'clusters[0].checks[1].penalty', /between 0 and 253/);
    expectIssue(seed1With((d) => (d.clusters[0].vips[0].vrid = 256)), 'clusters[0].vips[0].vrid', /between 1 and 255/);
  });

  it('bad names', () => {
    expectIssue(seed1With((d) => (d.clusters[0].nodes[0].name = 'LB 01')), 'clusters[0].nodes[0].name', /not a valid name/);
    expectIssue(seed1With((d) => (d.clusters[0].nodes[0].interfaces[0].name = 'eth1;reboot')), 'clusters[0].nodes[0].interfaces[0].name', /not a valid interface name/);
    expectIssue(seed1With((d) => (d.clusters[0].name = '../etc')), 'clusters[0].name', /not a valid name/);
  });

  it('duplicate node names, even across clusters', () => {
    expectIssue(seed1With((d) => (d.clusters[0].nodes[1].name = 'nginx-lb01')), 'clusters[0].nodes[1].name', /already declared/);
  });

  it('unknown fields (typos) and wrong types', () => {
    expectIssue(seed1With((d) => (d.clusters[0].vips[0].vird = 3)), 'clusters[0].vips[0]', /Unrecognized key.*vird/);
    expectIssue(seed1With((d) => (d.clusters[0].vips[0].vrid = 'fifty')), 'clusters[0].vips[0].vrid', /number/);
  });

  it('VRRP version rules', () => {
    expectIssue(seed1With((d) => (d.clusters[0].policy.advert_interval = '500ms')), 'clusters[0].policy.advert_interval', /whole seconds/);
    expectIssue(seed1With((d) => (d.clusters[0].policy.vrrp_version = 3)), 'clusters[0].policy.auth_pass', /only in VRRP version 2/);
    expectIssue(
      seed1With((d) => {
        d.clusters[0].policy.vrrp_version = 3;
        d.clusters[0].policy.advert_interval = '100ms';
        delete d.clusters[0].policy.auth_pass;
      }),
      'clusters[0].vips[1].auth_pass',
      /only in VRRP version 2/,
    );
    expectIssue(seed1With((d) => (d.clusters[0].vips[1].auth_pass = 'has space')), 'clusters[0].vips[1].auth_pass', /printable characters without spaces/);
  });

  it('checks: penalty without effect penalty, timeout beyond interval, unknown kind', () => {
    expectIssue(seed1With((d) => (d.clusters[0].checks[0].penalty = 10)), 'clusters[0].checks[0].penalty', /only with effect: penalty/);
    expectIssue(seed1With((d) => (d.clusters[0].checks[0].timeout = '5s')), 'clusters[0].checks[0].timeout', /must not be longer than interval/);
    expectIssue(seed1With((d) => (d.clusters[0].checks[0].kind = 'script')), 'clusters[0].checks[0].kind', /Invalid discriminator/);
  });

  it('reports the line of the offending field in the original text', () => {
    const text = SEED1.replace('vrid: 52', 'vrid: 51');
    const expected = text.split('\n').findLastIndex((l) => l.includes('vrid: 51')) + 1;
    const hit = issues(text).find((i) => i.path === 'clusters[0].vips[1].vrid');
    assert.equal(hit?.line, expected);
  });

  it('reports YAML syntax errors with a line', () => {
    const all = issues('clusters:\n  - name: [unclosed\n');
    assert.ok(all[0] && all[0].line > 0);
  });
});

describe('diffSpecs', () => {
  it('is empty for the same spec and describes each change', () => {
    const a = ok(SEED1);
    assert.deepEqual(diffSpecs(a, ok(SEED1)), []);
    const b = ok(
      seed1With((d) => {
        d.clusters[0].vips[1].vrid = 53;
        d.clusters[0].policy.failback = 'never';
        d.clusters[0].vips.push({ name: 'vip-30', address: '192.168.20.30/24', interface: 'eth1', vrid: 54 });
        d.clusters[0].checks.splice(2, 1);
        d.clusters[0].nodes[1].interfaces[0].address = '192.168.20.21/24';
        d.clusters[0].policy.handover = '2m';
        delete d.clusters[0].vips[1].auth_pass;
      }),
    );
    assert.deepEqual(diffSpecs(a, b), [
      '~ cluster web: policy.failback: immediate -> never',
      '~ cluster web: policy.handover: 30s -> 120s',
      '~ cluster web: node nginx-lb02: interface eth1: 192.168.20.20/24 -> 192.168.20.21/24',
      '~ cluster web: node nginx-lb02: addresses: [192.168.20.20, 192.168.50.20] -> [192.168.20.21, 192.168.50.20]',
      '~ cluster web: vip vip-29: vrid: 52 -> 53',
      "~ cluster web: vip vip-29: auth_pass: own -> the cluster's",
      '+ cluster web: vip vip-30 (192.168.20.30/24 on eth1, VRID 54)',
      '- cluster web: check inner-link',
    ]);
  });

  it('describes a first spec and a removed cluster', () => {
    const a = ok(SEED1);
    const lines = diffSpecs(undefined, a);
    assert.equal(lines[0], '+ cluster web (service nginx, 2 nodes, 2 VIPs, 3 checks)');
    assert.ok(lines.includes('+ cluster web: vip vip-28 (192.168.20.28/24 on eth1, VRID 51, home nginx-lb01)'));
    assert.deepEqual(diffSpecs(a, ok('clusters: []')), ['- cluster web (2 nodes, 2 VIPs)']);
  });
});
