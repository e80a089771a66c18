// Secrets in the spec (VRRP passwords, credentials in check URLs) reach operators only, over
// both APIs; readers see the spec with them redacted, and nothing else shows them either.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { controlClient, http, startTlsCoordinator, TOKENS, unary, type TlsCoordinator } from './support/tls-coordinator.js';

const SEED1 = readFileSync(new URL('../../test/fixtures/seed-nginx-active-active.yaml', import.meta.url), 'utf8');
// The seed's passwords, a password in a comment, and an http check with credentials.
const SPEC = SEED1.replace('auth_pass: "1111"', 'auth_pass: "pw-cluster" # pw-cluster since May').replace('auth_pass: "2222"', 'auth_pass: &p "pw-vip"').concat(
  '      - name: health\n        kind: http\n        url: http://probe:pw-url@127.0.0.1:8080/health\n',
);
const SECRETS = /pw-cluster|pw-vip|pw-url/;

describe('secrets in the spec', () => {
  let c: TlsCoordinator;
  before(async () => {
    c = await startTlsCoordinator();
    const ops = controlClient(c, { token: TOKENS.ops });
    const r = await unary<{ applied: boolean; errors: unknown[] }>(ops, 'applySpec', { yaml: SPEC, dryRun: false, expectedVersion: 0, reason: 'test' });
    ops.close();
    assert.ok(r.ok && r.value.applied, JSON.stringify(r));
  });
  after(() => c.stop());

  it('GetSpec and GET /v1/spec give operators the spec as applied', async () => {
    const ops = controlClient(c, { token: TOKENS.ops });
    const g = await unary<{ yaml: string }>(ops, 'getSpec', {});
    ops.close();
    assert.equal(g.ok && g.value.yaml, SPEC);
    const h = await http(c, 'GET', '/v1/spec', { cert: c.ca.operators['alice'] });
    assert.equal((h.json as { yaml: string }).yaml, SPEC);
  });

  it('GetSpec and GET /v1/spec redact them for read-only callers (token and certificate)', async () => {
    const viewer = controlClient(c, { cert: c.ca.readOnly['viewer'] });
    const g = await unary<{ yaml: string; version: number }>(viewer, 'getSpec', {});
    viewer.close();
    assert.ok(g.ok);
    const h = await http(c, 'GET', '/v1/spec', { token: TOKENS.viewer });
    for (const yaml of [g.value.yaml, (h.json as { yaml: string }).yaml]) {
      assert.doesNotMatch(yaml, SECRETS);
      assert.match(yaml, /auth_pass: "<redacted>" # <redacted> since May/);
      assert.match(yaml, /auth_pass: &p "<redacted>"/);
      assert.match(yaml, /url: "http:\/\/USER:PASSWORD@127\.0\.0\.1:8080\/health"/);
      // Everything else is as written.
      assert.equal(yaml.replace(/"<redacted>"|<redacted>|"http:\/\/USER:PASSWORD@[^ \n]*"/g, 'X'), SPEC.replace(/"pw-[a-z]+"|pw-cluster|http:\/\/probe:pw-url@[^ \n]*/g, 'X'));
    }
  });

  it('a read-only ValidateSpec shows that secrets differ, never what they are', async () => {
    const viewer = controlClient(c, { token: TOKENS.viewer });
    const v = await unary<{ valid: boolean; changes: string[] }>(viewer, 'validateSpec', { yaml: SPEC.replace('pw-url', 'guess').replace('"pw-cluster"', '"guess"') });
    viewer.close();
    assert.ok(v.ok && v.value.valid);
    assert.deepEqual(v.value.changes, [
      '~ cluster web: policy.auth_pass: changed (set; value not shown)',
      '~ cluster web: check health: url: changed (http://USER:PASSWORD@127.0.0.1:8080/health (credentials not shown); value not shown)',
    ]);
  });

  it('nothing a reader can list shows them: events, operations, nodes, VIPs, placement, metrics', async () => {
    const viewer = controlClient(c, { token: TOKENS.viewer });
    for (const [method, req] of [
      ['listEvents', { afterSeq: 0, limit: 0, cluster: '', node: '' }],
      ['listOperations', { limit: 0 }],
      ['listNodes', { cluster: '' }],
      ['listVips', { cluster: '' }],
      ['getPlacement', { cluster: '' }],
    ] as const) {
      const r = await unary(viewer, method, req);
      assert.ok(r.ok, method);
      assert.doesNotMatch(JSON.stringify(r.value), SECRETS, method);
    }
    viewer.close();
    const m = await http(c, 'GET', '/metrics', {});
    assert.doesNotMatch(m.text, SECRETS);
  });
});
