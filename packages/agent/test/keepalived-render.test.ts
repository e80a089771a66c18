import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { DesiredState } from '@lbha/shared';
import { keepalivedFiles } from '../src/keepalived/keepalived-files.js';
import { advertInt, renderKeepalivedConf } from '../src/keepalived/render-config.js';
import { desiredStateProblems, type AgentIdentity } from '../src/keepalived/desired-state-problems.js';
import { HAPROXY_UNICAST, IPV6, NGINX_ACTIVE_ACTIVE, V2_WITH_AUTH } from './fixtures/desired-states.js';

export const GOLDEN_DIR = new URL('../../test/golden/', import.meta.url);

export const GOLDEN_CASES: ReadonlyArray<readonly [string, DesiredState]> = [
  ['nginx-active-active', NGINX_ACTIVE_ACTIVE],
  ['haproxy-unicast', HAPROXY_UNICAST],
  ['vrrp2-auth', V2_WITH_AUTH],
  ['ipv6', IPV6],
];

export function renderCase(d: DesiredState): string {
  const files = keepalivedFiles({ configFile: `/run/lbha/${d.node}/keepalived.conf`, notifyFifo: `/run/lbha/${d.node}/keepalived.fifo`, trackDir: `/run/lbha/${d.node}/track` });
  return renderKeepalivedConf(d, { routerId: d.node, files });
}

const me = (d: DesiredState): AgentIdentity => ({ node: d.node, cluster: d.cluster, services: ['nginx', 'haproxy', 'keepalived'], proxies: ['nginx', 'haproxy'] });

describe('keepalived.conf rendering', () => {
  for (const [name, desired] of GOLDEN_CASES) {
    it(`matches golden file ${name}.conf`, () => {
      assert.deepEqual(desiredStateProblems(desired, me(desired)), []);
      const text = renderCase(desired);
      const file = new URL(`${name}.conf`, GOLDEN_DIR);
      if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(file, text);
      assert.equal(text, readFileSync(file, 'utf8'));
    });
  }

  it('does not depend on placement weights, so moving a VIP never rewrites the file', () => {
    const moved = { ...NGINX_ACTIVE_ACTIVE, version: 8, instances: NGINX_ACTIVE_ACTIVE.instances.map((i) => ({ ...i, placementWeight: -i.placementWeight - 30, rank: 1 - i.rank })) };
    assert.equal(renderCase(moved), renderCase(NGINX_ACTIVE_ACTIVE));
  });

  it('never lists the instance interface under track_interface (keepalived warns and the config test fails)', () => {
    const text = renderCase(NGINX_ACTIVE_ACTIVE);
    const vip29 = text.slice(text.indexOf('vrrp_instance vip-29'));
    assert.match(vip29, /track_interface \{\n {4}eth2\n {2}\}/);
  });

  it('writes PASS authentication only for VRRPv2', () => {
    assert.match(renderCase(V2_WITH_AUTH), /auth_type PASS/);
    assert.doesNotMatch(renderCase(NGINX_ACTIVE_ACTIVE), /authentication/);
  });

  it('formats advert intervals in seconds', () => {
    assert.equal(advertInt(100), '0.1');
    assert.equal(advertInt(250), '0.25');
    assert.equal(advertInt(1000), '1');
  });
});

describe('desired state validation', () => {
  it('refuses authentication with VRRPv3, with a message that says what to do', () => {
    const d = { ...NGINX_ACTIVE_ACTIVE, keepalived: { ...NGINX_ACTIVE_ACTIVE.keepalived, authPass: 'secret' } };
    const p = desiredStateProblems(d, me(d));
    assert.equal(p.length, 1);
    assert.match(p[0] as string, /^keepalived\.authPass: VRRPv3 has no authentication/);
  });

  it('checks an instance\'s own password like the cluster\'s', () => {
    const v3 = { ...NGINX_ACTIVE_ACTIVE, instances: NGINX_ACTIVE_ACTIVE.instances.map((i, n) => (n === 1 ? { ...i, authPass: '2222' } : i)) };
    assert.deepEqual(desiredStateProblems(v3, me(v3)), ['instances[1].authPass: VRRPv3 has no authentication (RFC 5798); use VRRP version 2 for PASS authentication, or drop it']);
    const bad = { ...V2_WITH_AUTH, instances: V2_WITH_AUTH.instances.map((i, n) => (n === 1 ? { ...i, authPass: 'a b' } : i)) };
    assert.match(desiredStateProblems(bad, me(bad)).join('\n'), /^instances\[1\]\.authPass: at most 8 printable characters/);
  });

  it('refuses sub-second adverts with VRRPv2', () => {
    const d = { ...V2_WITH_AUTH, keepalived: { ...V2_WITH_AUTH.keepalived, advertIntMs: 100 } };
    assert.match(desiredStateProblems(d, me(d)).join('\n'), /keepalived\.advertIntMs: VRRPv2 needs whole seconds/);
  });

  it('names the field of a duplicate VRID, a bad VIP and an unknown service', () => {
    const d: DesiredState = {
      ...NGINX_ACTIVE_ACTIVE,
      instances: [NGINX_ACTIVE_ACTIVE.instances[0]!, { ...NGINX_ACTIVE_ACTIVE.instances[1]!, vrid: 51, vip: '192.168.20.300/24' }],
      checks: [{ ...NGINX_ACTIVE_ACTIVE.checks[0]!, params: { kind: 'process', service: 'apache' } }],
    };
    const p = desiredStateProblems(d, me(d)).join('\n');
    assert.match(p, /instances\[1\]\.vip: "192\.168\.20\.300" is not an IP address/);
    assert.match(p, /checks\[0\]\.params\.service: "apache" is not configured on this agent/);
    const dupe: DesiredState = { ...NGINX_ACTIVE_ACTIVE, instances: [NGINX_ACTIVE_ACTIVE.instances[0]!, { ...NGINX_ACTIVE_ACTIVE.instances[1]!, vrid: 51 }] };
    assert.match(desiredStateProblems(dupe, me(dupe)).join('\n'), /instances\[1\]\.vrid: VRID 51 on eth1 is already used by vip-28/);
  });

  it('refuses a desired state meant for another node', () => {
    const p = desiredStateProblems(NGINX_ACTIVE_ACTIVE, { ...me(NGINX_ACTIVE_ACTIVE), node: 'lb2' });
    assert.match(p.join('\n'), /^node: desired state is for node "lb1", this agent is "lb2"/);
  });
});
