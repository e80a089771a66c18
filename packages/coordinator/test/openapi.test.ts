// The OpenAPI description is true: it documents exactly the routes the HTTP API serves, and
// every documented request, sent to a real coordinator (TLS, tokens, the seed spec applied
// through the API), gets an answer whose status and body the description allows.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { BACKEND_ROUTES } from '../src/http/backend-routes.js';
import { documentedOperations, openApiPath } from '../src/http/openapi.js';
import type { JsonSchema } from '../src/http/proto-schemas.js';
import { ROUTES } from '../src/http/routes.js';
import { VIP_ROUTES } from '../src/http/vip-routes.js';
import { SEED1 } from './support/coordinator-harness.js';
import { validate } from './support/schema-validator.js';
import { http, startTlsCoordinator, TOKENS, type TlsCoordinator } from './support/tls-coordinator.js';

interface Doc {
  openapi: string;
  components: { schemas: Record<string, JsonSchema> };
  paths: Record<string, Record<string, { responses: Record<string, { content: Record<string, { schema: JsonSchema }> }> }>>;
}

/** One request per documented operation, in an order that gives each something to show. */
interface Example {
  readonly op: string;
  readonly path: string;
  readonly body?: unknown;
  readonly yaml?: string;
  readonly token?: string;
  /** The status this state of the coordinator must answer (the documented success unless said). */
  readonly status?: number;
}

const json = (v: unknown) => JSON.stringify(v);

describe('OpenAPI description at /v1/openapi.json', () => {
  let c: TlsCoordinator;
  let doc: Doc;
  before(async () => {
    c = await startTlsCoordinator({ agents: ['nginx-lb01', 'nginx-lb02'] });
    const r = await http(c, 'GET', '/v1/openapi.json', { token: TOKENS.viewer });
    assert.equal(r.status, 200, r.text);
    doc = r.json as Doc;
  });
  after(async () => {
    await c.stop();
  });

  it('documents exactly the routes the API serves', () => {
    assert.equal(doc.openapi, '3.0.3');
    const served = [...ROUTES, ...BACKEND_ROUTES, ...VIP_ROUTES].map((r) => `${r.method} ${openApiPath(r.path)}`).sort();
    assert.deepEqual([...documentedOperations()].sort(), served);
    const inDoc = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`)).sort();
    assert.deepEqual(inDoc, served);
  });

  it('the validator finds what is wrong', () => {
    const s = doc.components.schemas;
    assert.deepEqual(validate({ nodes: [] }, { $ref: '#/components/schemas/ListNodesResponse' }, s), []);
    const problems = validate({ nodes: [{ name: 7, mode: 'NODE_MODE_SIDEWAYS', extra: true }] }, { $ref: '#/components/schemas/ListNodesResponse' }, s);
    assert.ok(problems.includes('$.nodes[0].name: expected string, got integer (7)'), problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('$.nodes[0].mode: "NODE_MODE_SIDEWAYS" is not one of')), problems.join('\n'));
    assert.ok(problems.includes('$.nodes[0]: extra is not in the schema'), problems.join('\n'));
    assert.deepEqual(validate({}, { $ref: '#/components/schemas/ListNodesResponse' }, s), ['$: nodes is missing']);
  });

  it('every documented request gets an answer the description allows', async () => {
    let drainId = '';
    const examples: Array<Example | (() => Example)> = [
      { op: 'GET /v1/openapi.json', path: '/v1/openapi.json' },
      { op: 'PUT /v1/spec', path: '/v1/spec?reason=openapi+test', yaml: SEED1 },
      { op: 'GET /v1/whoami', path: '/v1/whoami' },
      { op: 'GET /v1/clusters', path: '/v1/clusters' },
      { op: 'GET /v1/clusters/{cluster}', path: '/v1/clusters/web' },
      { op: 'GET /v1/clusters/{cluster}/nodes', path: '/v1/clusters/web/nodes' },
      { op: 'GET /v1/clusters/{cluster}/vips', path: '/v1/clusters/web/vips' },
      { op: 'GET /v1/clusters/{cluster}/placement', path: '/v1/clusters/web/placement' },
      { op: 'GET /v1/clusters/{cluster}/backends', path: '/v1/clusters/web/backends' },
      { op: 'GET /v1/backends', path: '/v1/backends?cluster=web' },
      { op: 'GET /v1/nodes', path: '/v1/nodes?cluster=web' },
      // No agent has connected: the coordinator knows the node only from the spec.
      { op: 'GET /v1/nodes/{node}', path: '/v1/nodes/nginx-lb01', status: 404 },
      { op: 'POST /v1/simulate', path: '/v1/simulate', body: { fail: ['nginx-lb01'], linkDown: ['nginx-lb02:eth2'] } },
      { op: 'POST /v1/vips/{vip}/move', path: '/v1/vips/vip-28/move', body: { node: 'nginx-lb02', pin: true, reason: 'openapi' }, status: 409 },
      { op: 'POST /v1/vips/{vip}/unpin', path: '/v1/vips/vip-28/unpin', body: { reason: 'openapi' }, status: 404 },
      // No agent has connected: no VIP is settled, so the drill is refused.
      { op: 'POST /v1/clusters/{cluster}/drill', path: '/v1/clusters/web/drill', body: { vip: 'vip-28', timeoutMs: 60_000, reason: 'openapi' }, status: 409 },
      { op: 'POST /v1/nodes/{node}/drain', path: '/v1/nodes/nginx-lb01/drain', body: { timeoutMs: 60_000, reason: 'openapi' } },
      { op: 'POST /v1/nodes/{node}/undrain', path: '/v1/nodes/nginx-lb02/undrain', body: { reason: 'openapi' } },
      { op: 'POST /v1/nodes/{node}/services/{service}/restart', path: '/v1/nodes/nginx-lb01/services/nginx/restart', body: { timeoutMs: 1000 }, status: 409 },
      { op: 'POST /v1/nodes/{node}/services/{service}/reload', path: '/v1/nodes/nginx-lb01/services/nginx/reload', body: {}, status: 409 },
      { op: 'POST /v1/clusters/{cluster}/services/{service}/rolling-restart', path: '/v1/clusters/web/services/nginx/rolling-restart', body: { timeoutMs: 1000 }, status: 409 },
      { op: 'POST /v1/clusters/{cluster}/backends/{server}/{action}', path: '/v1/clusters/web/backends/web1/drain', body: { reason: 'openapi' }, status: 404 },
      { op: 'GET /v1/vips', path: '/v1/vips' },
      { op: 'GET /v1/operations', path: '/v1/operations?limit=5' },
      () => ({ op: 'GET /v1/operations/{id}', path: `/v1/operations/${drainId}` }),
      () => ({ op: 'POST /v1/operations/{id}/cancel', path: `/v1/operations/${drainId}/cancel`, body: { reason: 'openapi' } }),
      { op: 'GET /v1/events', path: '/v1/events?limit=50' },
      { op: 'GET /v1/events/stream', path: '/v1/events/stream?afterSeq=0' },
      { op: 'GET /v1/audit', path: '/v1/audit?limit=50' },
      { op: 'GET /v1/spec', path: '/v1/spec' },
      { op: 'POST /v1/spec/validate', path: '/v1/spec/validate', body: { yaml: SEED1 } },
    ];
    const sent = new Set<string>();
    for (const item of examples) {
      const ex = typeof item === 'function' ? item() : item;
      const [method, path] = ex.op.split(' ') as [string, string];
      const operation = doc.paths[path]?.[method.toLowerCase()];
      assert.ok(operation, `${ex.op} is documented`);
      const success = Object.keys(operation.responses).find((k) => k !== 'default') as string;
      const want = ex.status ?? Number(success);
      sent.add(ex.op);
      if (ex.op === 'GET /v1/events/stream') {
        assert.equal(await streamType(c, ex.path), 'text/event-stream; charset=utf-8');
        assert.ok(operation.responses[success]?.content['text/event-stream'], 'documented as an event stream');
        continue;
      }
      const body = ex.yaml ?? (ex.body === undefined ? undefined : json(ex.body));
      const r = await http(c, method, ex.path, {
        token: ex.token ?? TOKENS.ops,
        ...(body === undefined ? {} : { body, contentType: ex.yaml ? 'application/yaml' : 'application/json' }),
      });
      assert.equal(r.status, want, `${ex.op}: ${r.text}`);
      const response = r.status === Number(success) ? operation.responses[success] : operation.responses['default'];
      const schema = response?.content['application/json']?.schema;
      assert.ok(schema, `${ex.op}: status ${r.status} is documented with a JSON body`);
      assert.deepEqual(validate(r.json, schema, doc.components.schemas), [], `${ex.op}: the answer matches the description`);
      if (ex.op === 'POST /v1/nodes/{node}/drain') drainId = (r.json as { operation: { id: string } }).operation.id;
    }
    assert.deepEqual([...sent].sort(), [...documentedOperations()].sort(), 'every documented operation was sent');
  });
});

/** The content type of an event stream's answer (the stream itself is left at once). */
function streamType(c: TlsCoordinator, path: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port: c.httpPort, method: 'GET', path, headers: { authorization: `Bearer ${TOKENS.viewer}` }, ca: readFileSync(c.ca.ca.cert), servername: 'localhost', agent: false },
      (res) => {
        resolve(res.headers['content-type']);
        req.destroy();
      },
    );
    req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
    req.end();
  });
}
