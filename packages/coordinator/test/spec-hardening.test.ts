// Specs written to hurt: VIP addresses that would break a node, diffs that hide a change or
// show a secret, and documents sized or shaped to make validation expensive.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse as parseYamlText, stringify } from 'yaml';
import type { Spec } from '../src/spec/cluster-spec.js';
import { diffSpecs } from '../src/spec/diff-specs.js';
import { parseSpec } from '../src/spec/parse-spec.js';
import { checkSpec } from '../src/spec/spec-check.js';
import { SPEC_LIMITS } from '../src/spec/spec-limits.js';

const SEED1 = readFileSync(new URL('../../test/fixtures/seed-nginx-active-active.yaml', import.meta.url), 'utf8');

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function seed1With(edit: (doc: any) => void): string {
  const doc = parseYamlText(SEED1);
  edit(doc);
  return stringify(doc);
}

function ok(text: string): Spec {
  const r = parseSpec(text);
  if (!r.ok) assert.fail(r.issues.map((i) => `${i.path}: ${i.message}`).join('\n'));
  return r.value;
}

function issuesOf(text: string): Array<{ path: string; message: string; line: number }> {
  const r = parseSpec(text);
  assert.equal(r.ok, false, 'expected the spec to be refused');
  return r.ok ? [] : [...r.issues];
}

describe('VIP addresses that would break a node are refused by field', () => {
  const cases: Array<[string, RegExp]> = [
    ['192.168.20.28/16', /prefix \/16 is wider than the interface's subnet 192\.168\.20\.0\/24/],
    ['192.168.20.28/0', /prefix \/0/],
    ['192.168.20.0/24', /network address of 192\.168\.20\.0\/24/],
    ['192.168.20.255/24', /broadcast address of 192\.168\.20\.0\/24/],
    ['192.168.20.255', /broadcast address of 192\.168\.20\.0\/24/],
    ['224.0.0.18', /VRRP multicast group/],
    ['239.1.2.3', /multicast address/],
    ['127.0.0.1', /loopback/],
    ['255.255.255.255', /limited broadcast/],
    ['0.0.0.0', /this network/],
  ];
  for (const [address, pattern] of cases) {
    it(address, () => {
      const list = issuesOf(seed1With((d) => (d.clusters[0].vips[0].address = address)));
      const hit = list.find((i) => i.path === 'clusters[0].vips[0].address' && pattern.test(i.message));
      assert.ok(hit, `expected clusters[0].vips[0].address to match ${pattern}, got:\n${list.map((i) => `${i.path}: ${i.message}`).join('\n')}`);
      assert.ok(hit.line > 0);
    });
  }

  it('accepts a host route (/32) and the subnet prefix', () => {
    ok(seed1With((d) => (d.clusters[0].vips[0].address = '192.168.20.28/32')));
    ok(seed1With((d) => (d.clusters[0].vips[0].address = '192.168.20.28')));
    ok(seed1With((d) => (d.clusters[0].vips[0].address = '192.168.20.254/24')));
  });
});

describe('spec diff', () => {
  it('says that a VRRP password changes without showing it (cluster and VIP)', () => {
    const a = ok(SEED1);
    const b = ok(SEED1.replace('auth_pass: "1111"', 'auth_pass: "9999"').replace('auth_pass: "2222"', 'auth_pass: "8888"'));
    const changes = diffSpecs(a, b);
    assert.deepEqual(changes, ['~ cluster web: policy.auth_pass: changed (set; value not shown)', '~ cluster web: vip vip-29: auth_pass: changed (own; value not shown)']);
    assert.doesNotMatch(changes.join('\n'), /1111|2222|8888|9999/);
  });

  it('never shows the credentials of a check URL', () => {
    const withUrl = (url: string) =>
      seed1With((d) => d.clusters[0].checks.push({ name: 'health', kind: 'http', url }));
    const a = ok(withUrl('http://probe:s3cret@127.0.0.1/health'));
    const b = ok(withUrl('http://probe:n3wpass@127.0.0.1/health'));
    const text = [...diffSpecs(a, b), ...diffSpecs(undefined, b), ...diffSpecs(a, ok(withUrl('http://127.0.0.1/health')))].join('\n');
    assert.match(text, /check health: url: changed/);
    assert.doesNotMatch(text, /s3cret|n3wpass/);
  });

  it('shows a change of every field of the spec (nothing changes silently)', () => {
    const base = ok(
      seed1With((d) => {
        d.clusters[0].checks.push({ name: 'health', kind: 'http', url: 'http://u:p@127.0.0.1/health', host: 'web', body_contains: 'ok' });
        d.clusters[0].checks.push({ name: 'port', kind: 'tcp', port: 80 });
        d.clusters[0].vips[0].group = 'g';
        d.clusters[0].vips[1].group = 'g';
        d.clusters[0].vips[1].home = 'nginx-lb01';
        d.clusters[0].nodes[0].addresses = ['10.9.9.9'];
      }),
    );
    // The fields parseSpec derives from others (a VIP's address and prefix make its cidr; a
    // node's interface addresses are part of its addresses) change together with them.
    const derived = /\.vips\[\d+\]\.(address|prefix)$/;
    let leaves = 0;
    const walk = (value: unknown, path: string, set: (v: unknown) => void): void => {
      if (value !== null && typeof value === 'object') {
        for (const [k, v] of Object.entries(value)) {
          walk(v, Array.isArray(value) ? `${path}[${k}]` : `${path}.${k}`, (nv) => ((value as Record<string, unknown>)[k] = nv));
        }
        return;
      }
      if (derived.test(path)) return;
      leaves++;
      const changed = typeof value === 'number' ? value + 1 : typeof value === 'boolean' ? !value : value === null ? 'x' : `${String(value)}x`;
      set(changed);
      try {
        assert.notDeepEqual(diffSpecs(base, copy), [], `changing ${path} from ${JSON.stringify(value)} shows no change`);
      } finally {
        set(value);
      }
    };
    const copy = structuredClone(base) as Spec;
    walk(copy, 'spec', () => undefined);
    assert.ok(leaves > 60, `walked ${leaves} fields`);
  });
});

describe('documents sized or shaped to be expensive', () => {
  it('refuses more nodes in a cluster than the limit, by field', () => {
    const nodes = Array.from({ length: SPEC_LIMITS.nodesPerCluster + 1 }, (_, i) => `      - { name: n${i}, interfaces: [{ name: eth1, address: 10.0.${i >> 8}.${(i & 255) + 1}/16 }] }`);
    const text = `clusters:\n  - name: big\n    service: nginx\n    nodes:\n${nodes.join('\n')}\n`;
    const list = issuesOf(text);
    assert.ok(list.some((i) => i.path === 'clusters[0].nodes' && /at most 1,000 nodes per cluster/.test(i.message)), JSON.stringify(list.slice(0, 3)));
  });

  it('finds a duplicate key among 40,000 in linear time, and reports it with its line', () => {
    const keys = Array.from({ length: 40_000 }, (_, i) => `k${i}: 1`);
    keys.push('k7: 2');
    const r = parseSpec(`clusters:\n  - ${keys.join('\n    ')}\n`);
    assert.equal(r.ok, false);
    const dup = r.ok ? undefined : r.issues.find((i) => /duplicate key "k7"/.test(i.message));
    assert.equal(dup?.line, 40_002);
  });

  it('reports at most 100 problems, each at most 500 characters, and says how many more', () => {
    const keys = Array.from({ length: 5000 }, (_, i) => `k${i}: 1`).join(', ');
    const vips = Array.from({ length: 300 }, (_, i) => `      - { name: v${i}, address: 10.1.${i >> 8}.${(i & 255) + 1}/24, interface: eth1, vrid: 999 }`);
    const text = `clusters:\n  - name: c\n    service: nginx\n    nodes: [{ name: n, interfaces: [{ name: eth1, address: 10.1.0.254/24 }], ${keys} }]\n    vips:\n${vips.join('\n')}\n`;
    const r = checkSpec({ yaml: text, current: undefined, wantSpec: false });
    assert.equal(r.valid, false);
    if (r.valid) return;
    assert.equal(r.issues.length, 101);
    assert.ok(r.issues.every((i) => i.message.length <= 520));
    assert.match(r.issues[100]?.message ?? '', /and \d+ more problems/);
  });
});
