// The OpenAPI 3 description of the HTTP/JSON API, served at /v1/openapi.json. Response schemas
// come from the .proto files (proto-schemas.ts); each resource's parameters and body are stated
// here, next to nothing else, and test/openapi.test.ts sends every documented request to a real
// coordinator and validates each answer against this document (docs/design/openapi.md).
import { protoSchemas, ref, type JsonSchema } from './proto-schemas.js';

interface Op {
  readonly summary: string;
  /** The gRPC method it runs, if any. */
  readonly rpc?: string;
  readonly role: 'read-only' | 'operator';
  readonly query?: Readonly<Record<string, JsonSchema>>;
  readonly body?: JsonSchema;
  /** Other request bodies than JSON, by media type. */
  readonly bodyTypes?: readonly string[];
  readonly status: number;
  /** A schema, or a media type other than JSON. */
  readonly response: JsonSchema | 'text/event-stream';
}

const str: JsonSchema = { type: 'string' };
const int: JsonSchema = { type: 'integer' };
const bool: JsonSchema = { type: 'boolean' };
const obj = (properties: Record<string, JsonSchema>, required: string[] = []): JsonSchema => ({ type: 'object', properties, additionalProperties: false, ...(required.length > 0 ? { required } : {}) });

const reasonBody = obj({ reason: str });
const restartBody = obj({ timeoutMs: int, force: bool, reason: str });

/** Keyed by "METHOD /path/{param}" (the route's `:param` written the OpenAPI way). */
const OPERATIONS: Readonly<Record<string, Op>> = {
  'GET /v1/openapi.json': { summary: 'This description', role: 'read-only', status: 200, response: { type: 'object' } },
  'GET /v1/whoami': { summary: "The caller's identity and role", role: 'read-only', status: 200, response: obj({ actor: str, role: { type: 'string', enum: ['read-only', 'operator'] } }) },
  'GET /v1/clusters': {
    summary: 'Each cluster with its node and VIP counts',
    role: 'read-only',
    status: 200,
    response: obj({ clusters: { type: 'array', items: obj({ name: str, nodes: int, connectedNodes: int, vips: int }, ['name', 'nodes', 'connectedNodes', 'vips']) } }, ['clusters']),
  },
  'GET /v1/clusters/{cluster}': {
    summary: "A cluster's nodes and VIPs",
    role: 'read-only',
    status: 200,
    response: obj({ name: str, nodes: { type: 'array', items: ref('NodeInfo') }, vips: { type: 'array', items: ref('VipInfo') } }, ['name', 'nodes', 'vips']),
  },
  'GET /v1/clusters/{cluster}/nodes': { summary: "A cluster's nodes", rpc: 'ListNodes', role: 'read-only', status: 200, response: ref('ListNodesResponse') },
  'GET /v1/clusters/{cluster}/vips': { summary: "A cluster's VIPs", rpc: 'ListVips', role: 'read-only', status: 200, response: ref('ListVipsResponse') },
  'GET /v1/clusters/{cluster}/placement': { summary: "A cluster's placement and weights", rpc: 'GetPlacement', role: 'read-only', status: 200, response: ref('GetPlacementResponse') },
  'POST /v1/clusters/{cluster}/services/{service}/rolling-restart': { summary: 'Restart a service on every node, one at a time', rpc: 'RollingRestart', role: 'operator', body: restartBody, status: 202, response: ref('RollingRestartResponse') },
  'GET /v1/clusters/{cluster}/backends': { summary: "A cluster's backend pools", rpc: 'ListBackends', role: 'read-only', status: 200, response: ref('ListBackendsResponse') },
  'POST /v1/clusters/{cluster}/backends/{server}/{action}': {
    summary: 'Drain, undrain, disable, enable or reweight a backend server on every LB node (action: drain, undrain, disable, enable, weight)',
    rpc: 'ChangeBackendServer',
    role: 'operator',
    body: obj({ weight: int, timeoutMs: int, force: bool, reason: str }),
    status: 202,
    response: ref('ChangeBackendServerResponse'),
  },
  'GET /v1/backends': { summary: 'Every backend pool', rpc: 'ListBackends', role: 'read-only', query: { cluster: str }, status: 200, response: ref('ListBackendsResponse') },
  'GET /v1/nodes': { summary: 'Nodes', rpc: 'ListNodes', role: 'read-only', query: { cluster: str }, status: 200, response: ref('ListNodesResponse') },
  'GET /v1/nodes/{node}': { summary: 'One node', rpc: 'GetNode', role: 'read-only', status: 200, response: ref('GetNodeResponse') },
  'POST /v1/nodes/{node}/drain': { summary: 'Drain a node', rpc: 'Drain', role: 'operator', body: obj({ timeoutMs: int, force: bool, maintenance: bool, reason: str }), status: 202, response: ref('DrainResponse') },
  'POST /v1/nodes/{node}/undrain': { summary: 'Make a drained node active', rpc: 'Undrain', role: 'operator', body: reasonBody, status: 202, response: ref('UndrainResponse') },
  'POST /v1/nodes/{node}/services/{service}/restart': { summary: 'Restart a service on a node', rpc: 'RestartService', role: 'operator', body: restartBody, status: 202, response: ref('RestartServiceResponse') },
  'POST /v1/nodes/{node}/services/{service}/reload': { summary: 'Reload a service on a node', rpc: 'ReloadService', role: 'operator', body: reasonBody, status: 202, response: ref('ReloadServiceResponse') },
  'GET /v1/vips': { summary: 'VIPs with desired and actual holders', rpc: 'ListVips', role: 'read-only', query: { cluster: str }, status: 200, response: ref('ListVipsResponse') },
  'POST /v1/vips/{vip}/move': {
    summary: 'Move a VIP to a node with the connection handover (pin: keep it there)',
    rpc: 'MoveVip',
    role: 'operator',
    body: obj({ node: str, cluster: str, pin: bool, timeoutMs: int, reason: str }, ['node']),
    status: 202,
    response: ref('MoveVipResponse'),
  },
  'POST /v1/vips/{vip}/unpin': { summary: "Remove a VIP's pin", rpc: 'UnpinVip', role: 'operator', body: obj({ cluster: str, reason: str }), status: 200, response: ref('UnpinVipResponse') },
  'POST /v1/clusters/{cluster}/drill': {
    summary: "Move each VIP of the cluster (or the one named) to its standby and back with the handover, probing it from outside its nodes",
    rpc: 'DrillCluster',
    role: 'operator',
    body: obj({ vip: str, timeoutMs: int, reason: str }),
    status: 202,
    response: ref('DrillClusterResponse'),
  },
  'POST /v1/simulate': {
    summary: 'What placement would do if nodes failed or were drained, links went down or a spec were applied; changes nothing',
    rpc: 'Simulate',
    role: 'read-only',
    body: obj({ fail: { type: 'array', items: str }, drain: { type: 'array', items: str }, linkDown: { type: 'array', items: str }, spec: str }),
    status: 200,
    response: ref('SimulateResponse'),
  },
  'GET /v1/operations': { summary: 'Operations, newest first', rpc: 'ListOperations', role: 'read-only', query: { limit: int }, status: 200, response: ref('ListOperationsResponse') },
  'GET /v1/operations/{id}': { summary: 'One operation with its steps', rpc: 'GetOperation', role: 'read-only', status: 200, response: ref('GetOperationResponse') },
  'POST /v1/operations/{id}/cancel': { summary: 'Cancel a running operation', rpc: 'CancelOperation', role: 'operator', body: reasonBody, status: 200, response: ref('CancelOperationResponse') },
  'GET /v1/events': { summary: 'Events', rpc: 'ListEvents', role: 'read-only', query: { afterSeq: int, limit: int, cluster: str, node: str }, status: 200, response: ref('ListEventsResponse') },
  'GET /v1/events/stream': { summary: 'Events as server-sent events (honours Last-Event-ID)', rpc: 'WatchEvents', role: 'read-only', query: { afterSeq: int, cluster: str, node: str }, status: 200, response: 'text/event-stream' },
  'GET /v1/audit': { summary: 'The audit trail: every mutating call, oldest first', rpc: 'ListAudit', role: 'read-only', query: { afterSeq: int, limit: int, actor: str }, status: 200, response: ref('ListAuditResponse') },
  'GET /v1/spec': { summary: 'The running spec (redacted for read-only callers)', rpc: 'GetSpec', role: 'read-only', status: 200, response: ref('GetSpecResponse') },
  'POST /v1/spec/validate': { summary: 'Validate a spec', rpc: 'ValidateSpec', role: 'read-only', body: obj({ yaml: str }, ['yaml']), bodyTypes: ['application/yaml'], status: 200, response: ref('ValidateSpecResponse') },
  'PUT /v1/spec': {
    summary: 'Apply a spec',
    rpc: 'ApplySpec',
    role: 'operator',
    query: { dryRun: bool, expectedVersion: int, reason: str },
    body: obj({ yaml: str, dryRun: bool, expectedVersion: int, reason: str }, ['yaml']),
    bodyTypes: ['application/yaml'],
    status: 200,
    response: ref('ApplySpecResponse'),
  },
};

const ERROR: JsonSchema = obj(
  { error: obj({ code: str, message: str, details: { type: 'array', items: { type: 'object' } } }, ['code', 'message']) },
  ['error'],
);

/** "/v1/nodes/:node" -> "/v1/nodes/{node}". */
export function openApiPath(routePath: string): string {
  return routePath.replace(/:([A-Za-z]+)/g, '{$1}');
}

/** Every documented "METHOD /path", for the check that routes and description agree. */
export function documentedOperations(): string[] {
  return Object.keys(OPERATIONS);
}

function refsOf(s: JsonSchema, out: Set<string>): void {
  if (s.$ref) out.add(s.$ref.slice('#/components/schemas/'.length));
  for (const p of Object.values(s.properties ?? {})) refsOf(p, out);
  if (s.items) refsOf(s.items, out);
}

let built: unknown;

/** The OpenAPI 3.0 document (built once). */
export function openApiDocument(version: string): unknown {
  if (built) return built;
  const roots = new Set<string>();
  for (const op of Object.values(OPERATIONS)) if (op.response !== 'text/event-stream') refsOf(op.response, roots);
  const schemas: Record<string, JsonSchema> = { ...protoSchemas([...roots]), Error: ERROR };
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [key, op] of Object.entries(OPERATIONS)) {
    const [method, path] = key.split(' ') as [string, string];
    const params = [...path.matchAll(/\{([A-Za-z]+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: str }));
    const query = Object.entries(op.query ?? {}).map(([name, schema]) => ({ name, in: 'query', required: false, schema }));
    const content: Record<string, unknown> = {};
    if (op.body) content['application/json'] = { schema: op.body };
    for (const t of op.bodyTypes ?? []) content[t] = { schema: str };
    const ok = op.response === 'text/event-stream' ? { 'text/event-stream': { schema: str } } : { 'application/json': { schema: op.response } };
    (paths[path] ??= {})[method.toLowerCase()] = {
      summary: op.summary,
      operationId: `${method.toLowerCase()}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+([A-Za-z0-9])/g, (_, c: string) => c.toUpperCase())}`,
      ...(op.rpc ? { 'x-grpc-method': `lbha.v1.ControlService/${op.rpc}` } : {}),
      'x-lbha-role': op.role,
      ...(params.length + query.length > 0 ? { parameters: [...params, ...query] } : {}),
      ...(Object.keys(content).length > 0 ? { requestBody: { required: false, content } } : {}),
      responses: {
        [String(op.status)]: { description: 'success', content: ok },
        default: { description: 'an error: 400 INVALID_ARGUMENT, 401, 403, 404, 409 FAILED_PRECONDITION, 413, 415, 422 INVALID_SPEC, 429, 503...', content: { 'application/json': { schema: ref('Error') } } },
      },
    };
  }
  built = {
    openapi: '3.0.3',
    info: { title: 'lbha coordinator HTTP/JSON API', version, description: 'Mirrors the gRPC ControlService (docs/api.md). Every call needs a bearer token or a client certificate; x-lbha-role says which role.' },
    components: { schemas, securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
  return built;
}
