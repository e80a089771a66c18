// Hostile and broken input over real TLS connections: each gets a precise error and changes
// nothing (same nodes, same spec, no audit event).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { snapshotToWire, type ConnectRequest } from '@lbha/shared';
import { eventually } from '@lbha/test-support';
import { parseSpec } from '../src/spec/parse-spec.js';
import { SPEC_CHECK_TIMEOUT_MS } from '../src/spec/spec-validator.js';
import {
  channelCredentials,
  controlClient,
  errorCode,
  http,
  openAgentStream,
  startTlsCoordinator,
  TOKENS,
  unary,
  type Control,
  type TlsCoordinator,
} from './support/tls-coordinator.js';

const MAX = 64 * 1024;
const fixtures = join(import.meta.dirname, '../../test/fixtures');
const seedSpec = readFileSync(join(fixtures, 'seed-nginx-active-active.yaml'), 'utf8');

describe('hostile and broken input', () => {
  let c: TlsCoordinator;
  let ops: Control;
  let heartbeat: NodeJS.Timeout | undefined;
  const ops$ = { token: TOKENS.ops };

  /** Everything a refused input must leave alone. */
  async function state(): Promise<string> {
    const nodes = await unary<{ nodes: unknown[] }>(ops, 'listNodes', { cluster: '' });
    const spec = await unary<{ yaml: string; version: number }>(ops, 'getSpec', {});
    // A refused mutation is still audited (who tried what); nothing else may be recorded. Agent
    // connection events come from the test's own streams ending, at their own pace.
    const events = c.server.events.list(0, 100_000).filter((e) => e.type !== 'api.call' && !e.type.startsWith('agent.')).length;
    return JSON.stringify({
      nodes: nodes.ok ? nodes.value.nodes.map((n) => ({ ...(n as object), lastSeenMs: 0, stale: false })) : nodes.code,
      spec: spec.ok ? spec.value : spec.code === status.UNIMPLEMENTED ? 'unimplemented' : spec.code,
      events,
    });
  }

  async function unchanged<T>(what: string, fn: () => Promise<T>): Promise<T> {
    const before = await state();
    const r = await fn();
    assert.equal(await state(), before, `${what} changed nothing`);
    return r;
  }

  before(async () => {
    c = await startTlsCoordinator({ maxMessageBytes: MAX });
    ops = controlClient(c, ops$);
    // lb1 is connected with a small, valid snapshot.
    const r = await openAgentStream(c.grpcAddress, channelCredentials(c, { cert: c.ca.agents['lb1'] }), { node: 'lb1' });
    assert.ok(r.ok);
    r.call.write({ msg: { $case: 'snapshot', value: { state: snapshotToWire({ services: [], checks: [], instances: [], healthy: true, appliedVersion: 0, localMode: 'active' }) } } });
    await eventually(() => c.server.registry.get('lb1')?.snapshot !== undefined, 'the snapshot of lb1');
    // Heartbeats keep lb1 fresh, so no stale event lands in the middle of a comparison.
    let seq = 0;
    heartbeat = setInterval(() => r.call.write({ msg: { $case: 'heartbeat', value: { seq: ++seq, sentMs: Date.now() } } }), 300);
  });
  after(async () => {
    clearInterval(heartbeat);
    ops.close();
    await c.stop();
  });

  /** An agent stream for lb2 after Hello; resolves with the status the coordinator ends it with. */
  async function lb2StreamEndsWith(message: ConnectRequest): Promise<{ code: number; details: string }> {
    const r = await openAgentStream(c.grpcAddress, channelCredentials(c, { cert: c.ca.agents['lb2'] }), { node: 'lb2' });
    assert.ok(r.ok, 'lb2 connects');
    const ended = new Promise<{ code: number; details: string }>((resolve) => r.call.on('error', (e: { code: number; details: string }) => resolve(e)));
    r.call.on('data', () => undefined);
    r.call.write(message);
    const e = await ended;
    r.client.close();
    return e;
  }

  describe('gRPC', () => {
    it('refuses an oversized control message with RESOURCE_EXHAUSTED', async () => {
      const r = await unchanged('an oversized ApplySpec', () =>
        unary(ops, 'applySpec', { yaml: `# ${'x'.repeat(MAX)}\nclusters: []\n`, dryRun: false, expectedVersion: 0, reason: '' }),
      );
      assert.equal(r.ok ? 0 : r.code, status.RESOURCE_EXHAUSTED);
      assert.match(r.ok ? '' : r.details, /larger than max/i);
    });

    it('ends an agent stream that sends an oversized message, keeping the last good state', async () => {
      const before = JSON.stringify(c.server.registry.get('lb1')?.snapshot);
      const e = await lb2StreamEndsWith({
        msg: { $case: 'delta', value: { services: [], checks: [], instances: [], removedChecks: ['x'.repeat(MAX)], removedInstances: [], backends: undefined, readiness: undefined } },
      });
      assert.equal(e.code, status.RESOURCE_EXHAUSTED);
      assert.equal(JSON.stringify(c.server.registry.get('lb1')?.snapshot), before);
    });

    it('refuses an unknown enum value from an agent, naming the field', async () => {
      const e = await lb2StreamEndsWith({
        msg: { $case: 'delta', value: { services: [], checks: [], instances: [], removedChecks: [], removedInstances: [], localMode: 99 as never, backends: undefined, readiness: undefined } },
      });
      assert.equal(e.code, status.INVALID_ARGUMENT);
      assert.match(e.details, /localMode|local_mode|mode/i);
      assert.match(e.details, /99/);
      assert.equal(c.server.registry.get('lb2')?.snapshot, undefined, 'nothing of the bad delta was applied');
    });

    it('refuses a Hello with a missing node name or one with path characters', async () => {
      for (const [node, pattern] of [
        ['', /hello\.node: (missing|must not be empty)/],
        ['../../etc/passwd', /hello\.node: .* is not a valid name/],
      ] as const) {
        const r = await openAgentStream(c.grpcAddress, channelCredentials(c, { cert: c.ca.agents['lb1'] }), { node });
        assert.equal(r.ok, false);
        if (r.ok) return;
        assert.equal(r.code, status.INVALID_ARGUMENT);
        assert.match(r.details, pattern);
      }
    });

    it('refuses missing fields and names with path or shell characters in control calls', async () => {
      const cases: Array<[string, object, RegExp]> = [
        ['drain', { node: '', timeoutMs: 0, force: false, reason: '' }, /^node: must not be empty$/],
        ['getNode', { name: '../../etc/passwd' }, /^name: "..\/..\/etc\/passwd" is not a valid name/],
        ['drain', { node: 'lb1/../../x', timeoutMs: 0, force: false, reason: '' }, /^node: /],
        ['restartService', { node: 'lb1', service: 'nginx;rm -rf /', force: false, timeoutMs: 0, reason: '' }, /^service: "nginx;rm -rf \/" is not a valid name/],
        ['reloadService', { node: 'lb1', service: '$(reboot)', reason: '' }, /^service: /],
        ['reloadService', { node: 'lb1', service: '`reboot`', reason: '' }, /^service: /],
        ['restartService', { node: 'lb1', service: 'nginx && reboot', force: false, timeoutMs: 0, reason: '' }, /^service: /],
        ['restartService', { node: 'lb1', service: 'nginx\nreboot', force: false, timeoutMs: 0, reason: '' }, /^service: /],
        ['rollingRestart', { cluster: 'web|x', service: 'nginx', force: false, timeoutMs: 0, reason: '' }, /^cluster: /],
        ['drain', { node: 'lb1', timeoutMs: 0, force: false, reason: 'r'.repeat(5000) }, /^reason: at most 1024/],
        ['getOperation', { id: '' }, /^id: must not be empty$/],
      ];
      for (const [method, req, pattern] of cases) {
        const r = await unchanged(`${method} ${JSON.stringify(req).slice(0, 80)}`, () => unary(ops, method, req));
        assert.equal(r.ok ? 0 : r.code, status.INVALID_ARGUMENT, `${method} ${JSON.stringify(req).slice(0, 80)}`);
        assert.match(r.ok ? '' : r.details, pattern);
      }
    });
  });

  describe('cluster spec', () => {
    const broken: Array<[string, string, RegExp]> = [
      ['an out-of-range priority', seedSpec.replace('base_priority: 100', 'base_priority: 300'), /clusters\[0\]\.policy\.base_priority.*between 1 and/],
      ['a VIP on a node address', seedSpec.replace('address: 192.168.20.28/24', 'address: 192.168.20.19/24'), /clusters\[0\]\.vips\[0\]\.address.*collides with an address of node nginx-lb01/],
      ['a node name with path characters', seedSpec.replace('- name: nginx-lb02', '- name: ../lb02'), /clusters\[0\]\.nodes\[1\]\.name/],
      ['a missing field', seedSpec.replace(/ {8}vrid: 52\n/, ''), /clusters\[0\]\.vips\[1\]\.vrid/],
      ['an unknown enum value', seedSpec.replace('failback: immediate', 'failback: sometimes'), /clusters\[0\]\.policy\.failback/],
    ];

    for (const [label, yaml, pattern] of broken) {
      it(`refuses ${label}, naming the field`, async () => {
        const parsed = parseSpec(yaml);
        assert.equal(parsed.ok, false);
        if (parsed.ok) return;
        assert.match(parsed.issues.map((i) => `${i.path}: ${i.message}`).join('\n'), pattern);
        // Over the APIs, once the coordinator implements them. A check may take the spec check's
        // deadline (the first starts the spec worker, over 5 s on a loaded machine), and a little more.
        const checkMs = SPEC_CHECK_TIMEOUT_MS + 5_000;
        const v = await unary<{ valid: boolean; errors: Array<{ path: string; message: string }> }>(ops, 'validateSpec', { yaml }, checkMs);
        if (!v.ok && v.code === status.UNIMPLEMENTED) return;
        assert.ok(v.ok && !v.value.valid, v.ok ? 'the spec was found valid' : v.details);
        const applied = await unchanged(`applying a spec with ${label}`, () => unary<{ applied: boolean }>(ops, 'applySpec', { yaml, dryRun: false, expectedVersion: 0, reason: '' }, checkMs));
        assert.ok(!applied.ok || !applied.value.applied);
        const h = await unchanged(`PUT /v1/spec with ${label}`, () => http(c, 'PUT', '/v1/spec', { ...ops$, contentType: 'application/yaml', body: yaml }));
        assert.equal(h.status, 422);
        assert.equal(errorCode(h), 'INVALID_SPEC');
        assert.match(JSON.stringify(h.json), pattern);
      });
    }
  });

  describe('HTTP', () => {
    const post = (path: string, body: string | Buffer | undefined, contentType?: string, extra: Record<string, string> = {}) =>
      unchanged(`POST ${path}`, () => http(c, 'POST', path, { ...ops$, ...(body !== undefined ? { body } : {}), ...(contentType ? { contentType } : {}), headers: extra }));

    it('refuses a body that is not JSON, not an object, or not UTF-8', async () => {
      for (const body of ['{"reason":', 'reason=x', '[1,2]', '"x"', 'null']) {
        const r = await post('/v1/nodes/lb1/drain', body, 'application/json');
        assert.equal(r.status, 400, body);
        assert.equal(errorCode(r), 'MALFORMED_JSON', body);
      }
      const r = await post('/v1/nodes/lb1/drain', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'application/json');
      assert.equal(r.status, 400);
      assert.equal(errorCode(r), 'INVALID_ENCODING');
    });

    it('refuses unknown fields and wrong types, naming the field', async () => {
      let r = await post('/v1/nodes/lb1/drain', '{"timeoutMs":"soon"}', 'application/json');
      assert.equal(r.status, 400);
      assert.match(r.text, /body\.timeoutMs: Expected number, received string/);
      r = await post('/v1/nodes/lb1/drain', '{"timeoutMs":-5}', 'application/json');
      assert.match(r.text, /body\.timeoutMs/);
      r = await post('/v1/nodes/lb1/drain', '{"force":true,"rm":"-rf"}', 'application/json');
      assert.equal(r.status, 400);
      assert.match(r.text, /Unrecognized key.*rm/);
      r = await unchanged('PUT /v1/spec without yaml', () => http(c, 'PUT', '/v1/spec', { ...ops$, contentType: 'application/json', body: '{"dryRun":true}' }));
      assert.equal(r.status, 400);
      assert.match(r.text, /body\.yaml: Required/);
    });

    it('refuses a wrong or missing Content-Type with 415', async () => {
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', undefined]) {
        const r = await post('/v1/nodes/lb1/drain', '{}', type);
        assert.equal(r.status, 415, String(type));
        assert.equal(errorCode(r), 'UNSUPPORTED_MEDIA_TYPE');
      }
    });

    it('refuses a body over the limit with 413, declared or streamed', async () => {
      const big = Buffer.alloc(MAX + 1, 0x20);
      const r = await post('/v1/nodes/lb1/drain', big, 'application/json');
      assert.equal(r.status, 413);
      assert.equal(errorCode(r), 'PAYLOAD_TOO_LARGE');
      // Chunked, no Content-Length: counted while reading.
      const streamed = await unchanged('a chunked oversized body', () => chunkedPost(c, '/v1/spec/validate', MAX * 2));
      assert.equal(streamed, 413);
      assert.equal((await http(c, 'GET', '/healthz')).status, 200, 'still serving');
    });

    it('refuses names with path or shell characters in the URL', async () => {
      for (const path of [
        '/v1/nodes/..%2F..%2Fetc%2Fpasswd',
        '/v1/nodes/lb1/services/nginx%3Brm%20-rf%20%2F/restart',
        '/v1/nodes/lb1/services/%24(reboot)/reload',
        '/v1/nodes/LB1%00/drain',
        '/v1/clusters/web%7Cx/services/nginx/rolling-restart',
      ]) {
        const method = path.endsWith('passwd') ? 'GET' : 'POST';
        const r = await unchanged(path, () => http(c, method, path, ops$));
        assert.equal(r.status, 400, path);
        assert.equal(errorCode(r), 'INVALID_ARGUMENT', path);
        assert.match(r.text, /is not a valid name/);
      }
      const bad = await unchanged('bad percent-encoding', () => http(c, 'GET', '/v1/nodes/%E0%A4%A', ops$));
      assert.equal(bad.status, 400);
    });

    it('answers unknown paths, methods and query parameters precisely', async () => {
      let r = await http(c, 'GET', '/v1/nope', ops$);
      assert.equal(r.status, 404);
      assert.equal(errorCode(r), 'NOT_FOUND');
      r = await unchanged('DELETE a node', () => http(c, 'DELETE', '/v1/nodes/lb1', ops$));
      assert.equal(r.status, 405);
      assert.equal(r.headers['allow'], 'GET');
      r = await http(c, 'GET', '/v1/nodes?clutser=web', ops$);
      assert.equal(r.status, 400);
      assert.match(String((r.json as { error: { message: string } }).error.message), /unknown query parameter "clutser"/);
      r = await http(c, 'GET', '/v1/events?limit=-1', ops$);
      assert.equal(r.status, 400);
      r = await http(c, 'GET', '/v1/events?limit=1&limit=2', ops$);
      assert.equal(r.status, 400);
    });
  });
});

/** POSTs `size` bytes with chunked encoding; resolves with the status (or 0 if the connection was cut first). */
function chunkedPost(c: TlsCoordinator, path: string, size: number): Promise<number> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port: c.httpPort,
        method: 'POST',
        path,
        headers: { authorization: `Bearer ${TOKENS.ops}`, 'content-type': 'application/yaml', 'transfer-encoding': 'chunked' },
        ca: readFileSync(c.ca.ca.cert),
        servername: 'localhost',
        agent: false,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', () => resolve(0));
    const chunk = Buffer.alloc(8192, 0x61);
    let sent = 0;
    const pump = () => {
      while (sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}
