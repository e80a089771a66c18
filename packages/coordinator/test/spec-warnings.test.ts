// What a valid spec risks: each warning (nginx's fail_timeout past what the way out of a shared
// failure allows for, a pool nginx can mark failed without a shared zone, an http check that
// cannot see what clients get), a spec without any, and the examples under deploy/examples.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { checkSpecText, parseSpec } from '../src/spec/parse-spec.js';
import { SpecChecker } from '../src/spec/spec-check.js';

const SEED1 = readFileSync(new URL('../../test/fixtures/seed-nginx-active-active.yaml', import.meta.url), 'utf8');
const EXAMPLES = fileURLToPath(new URL('../../../../deploy/examples/', import.meta.url));

/** Seed 1 with a backend pool whose servers lbha renders (`servers`: YAML flow mappings), and extra checks. */
function withPool(servers: readonly string[], opts: { sharedZone?: boolean; checks?: readonly string[] } = {}): string {
  const checks = (opts.checks ?? []).map((c) => `      - ${c}\n`).join('');
  const zone = opts.sharedZone === false ? '' : '          shared_zone: true\n';
  return `${SEED1.trimEnd()}\n${checks}    backends:\n      pools:\n        - name: webserver\n${zone}          servers:\n${servers.map((s) => `            - ${s}\n`).join('')}`;
}

const GOOD = [
  '{ name: web1, address: "192.168.50.22:80", max_fails: 3, fail_timeout: 1s }',
  '{ name: web2, address: "192.168.50.23:80", max_fails: 3, fail_timeout: 1s }',
];
const THROUGH = '{ name: site, kind: http, url: "http://127.0.0.1/", host: www.example.com, interval: 500ms, effect: fault }';

function warnings(text: string) {
  const r = checkSpecText(text);
  if (!r.ok) assert.fail(`expected a valid spec, got:\n${r.issues.map((i) => `${i.line}: ${i.path}: ${i.message}`).join('\n')}`);
  return r.value.warnings;
}

describe('spec warnings', () => {
  it('none for the recommended settings: fail_timeout 1s, a shared zone, a check through the proxy', () => {
    assert.deepEqual(warnings(withPool(GOOD, { checks: [THROUGH] })), []);
    assert.deepEqual(warnings(SEED1), [], 'nor for a spec without a pool or an http check');
  });

  it("fail_timeout not set: nginx's 10s, 11 s of 502s, named by cluster, pool, server and field, with its line", () => {
    const text = withPool(['{ name: web1, address: "192.168.50.22:80", max_fails: 3, fail_timeout: 1s }', '{ name: web2, address: "192.168.50.23:80" }']);
    const ws = warnings(text);
    assert.equal(ws.length, 1, JSON.stringify(ws));
    const [w] = ws;
    assert.equal(w?.path, 'clusters[0].backends.pools[0].servers[1].fail_timeout');
    assert.equal(w?.cluster, 'web');
    assert.match(w?.message ?? '', /^cluster web, pool webserver, server web2: fail_timeout 10s \(not set: nginx's default\): .*clients get 502 for up to 11 s after a failure every node shared ends.*allows 2 s.*fail_timeout: 1s with a shared zone is recommended/);
    // The field is not written: the line is the server's.
    assert.equal(text.split('\n')[(w?.line ?? 0) - 1]?.trim(), '- { name: web2, address: "192.168.50.23:80" }');
  });

  it('fail_timeout 5s: 6 s; the line is the field\'s', () => {
    const text = withPool(['{ name: web1, address: "192.168.50.22:80",\n                fail_timeout: 5s }']);
    const [w, ...rest] = warnings(text);
    assert.deepEqual(rest, []);
    assert.match(w?.message ?? '', /server web1: fail_timeout 5s: .*up to 6 s/);
    assert.match(text.split('\n')[(w?.line ?? 0) - 1] ?? '', /fail_timeout: 5s/);
  });

  it('max_fails 0: nginx never marks the server failed, so neither fail_timeout nor the zone matters', () => {
    assert.deepEqual(warnings(withPool(['{ name: web1, address: "192.168.50.22:80", max_fails: 0 }'], { sharedZone: false })), []);
  });

  it('a pool nginx can mark failed without shared_zone: one warning naming the pool and what to add', () => {
    const ws = warnings(withPool(GOOD, { sharedZone: false }));
    assert.deepEqual(ws.map((w) => w.path), ['clusters[0].backends.pools[0].shared_zone']);
    assert.match(ws[0]?.message ?? '', /^cluster web, pool webserver: shared_zone is not set and nginx can mark web1, web2 failed .*each nginx worker keeps its own memory of failed servers.*add "zone webserver 64k;" to the upstream block and set shared_zone: true$/);
    assert.ok((ws[0]?.line ?? 0) > 0, 'the line of the pool');
  });

  it('http checks that cannot see what clients get: to a backend, past the node, to the status page', () => {
    const ws = warnings(
      withPool(GOOD, {
        checks: [
          '{ name: web1-direct, kind: http, url: "http://192.168.50.22:80/" }',
          '{ name: elsewhere, kind: http, url: "http://probe:s3cret@192.168.50.99/health" }',
          '{ name: status, kind: http, url: "http://127.0.0.1:8081/nginx_status" }',
          '{ name: stats, kind: http, url: "http://127.0.0.1:8404/stats", effect: penalty, penalty: 10 }',
          // Through the node's proxy: loopback, a node address, a VIP; a check with no effect is not warned of.
          THROUGH,
          '{ name: node, kind: http, url: "http://192.168.20.19/" }',
          '{ name: vip, kind: http, url: "http://192.168.20.28/" }',
          '{ name: name, kind: http, url: "http://localhost/" }',
          '{ name: info, kind: http, url: "http://192.168.50.22/", effect: none }',
        ],
      }),
    );
    assert.deepEqual(ws.map((w) => w.path), [3, 4, 5, 6].map((i) => `clusters[0].checks[${i}].url`));
    assert.match(ws[0]?.message ?? '', /^cluster web, check web1-direct: http:\/\/192\.168\.50\.22:80\/ goes straight to server web1 of pool webserver, not through the proxy/);
    assert.match(ws[1]?.message ?? '', /check elsewhere: http:\/\/USER:PASSWORD@192\.168\.50\.99\/health goes to 192\.168\.50\.99, which is not the node's proxy/);
    assert.doesNotMatch(ws[1]?.message ?? '', /s3cret/, 'the events are open to read-only callers');
    assert.match(ws[2]?.message ?? '', /check status: .* asks for the proxy's status page, which the proxy answers itself: it passes while every client gets 502/);
    assert.match(ws[3]?.message ?? '', /check stats: /);
    for (const w of ws) assert.match(w.message, /check through the proxy's listener instead, e.g. url: "http:\/\/127\.0\.0\.1\/"/);
  });

  it('haproxy: the server lines are its own, so only the checks are warned of', () => {
    const haproxy = `${SEED1.trimEnd()}\n      - { name: stats, kind: http, url: "http://127.0.0.1:8404/stats" }\n    backends:\n      pools:\n        - { name: webserver, min_healthy: 1 }\n`.replace('service: nginx', 'service: haproxy');
    assert.deepEqual(warnings(haproxy).map((w) => w.path), ['clusters[0].checks[3].url']);
  });

  it('the checker answers a validation and an apply with them, valid all the same', () => {
    const text = withPool(['{ name: web1, address: "192.168.50.22:80" }']);
    const checker = new SpecChecker();
    for (const wantSpec of [false, true]) {
      const r = checker.check({ yaml: text, current: undefined, wantSpec });
      assert.equal(r.valid, true);
      assert.deepEqual(r.valid ? r.warnings.map((w) => w.path) : [], ['clusters[0].backends.pools[0].servers[0].fail_timeout']);
    }
  });

  it('refuses bad max_fails and fail_timeout naming the field', () => {
    for (const [server, path, message] of [
      ['{ name: web1, address: "192.168.50.22:80", max_fails: -1 }', 'max_fails', /must not be negative/],
      ['{ name: web1, address: "192.168.50.22:80", max_fails: 1.5 }', 'max_fails', /whole number/],
      ['{ name: web1, address: "192.168.50.22:80", fail_timeout: 1500ms }', 'fail_timeout', /whole seconds/],
    ] as const) {
      const r = parseSpec(withPool([server]));
      assert.equal(r.ok, false, server);
      const issue = r.ok ? undefined : r.issues[0];
      assert.equal(issue?.path, `clusters[0].backends.pools[0].servers[0].${path}`, server);
      assert.match(issue?.message ?? '', message, server);
    }
  });

  it('every cluster spec under deploy/examples validates without warnings', () => {
    const specs = readdirSync(EXAMPLES, { recursive: true, encoding: 'utf8' }).filter((f) => /(^|\/)cluster[^/]*\.yaml$/.test(f));
    assert.ok(specs.length >= 3, `found ${specs.join(', ')}`);
    for (const f of specs) assert.deepEqual(warnings(readFileSync(join(EXAMPLES, f), 'utf8')), [], f);
  });
});
