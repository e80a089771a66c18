// Authentication and authorisation over real TLS connections: agent streams need an agent
// certificate naming their node; the control API (gRPC and HTTP) needs an operator or read-only
// certificate or token; every mutating call lands in the event log with the caller.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import type { LbhaEvent } from '@lbha/shared';
import type { pbControl } from '@lbha/shared/control';
import { CONTROL_METHOD_POLICY } from '../src/auth/method-policy.js';
import { createDevCa } from '../src/auth/dev-ca.js';
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
  type Caller,
  type TlsCoordinator,
} from './support/tls-coordinator.js';

/** Reads an event stream until `until` shows up, then hangs up. */
function sse(c: TlsCoordinator, path: string, headers: Record<string, string>, until: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port: c.httpPort, path, headers, ca: readFileSync(c.ca.ca.cert), servername: 'localhost', agent: false }, (res) => {
      let text = '';
      const timer = setTimeout(() => {
        req.destroy();
        reject(new Error(`no ${until} in ${text}`));
      }, 5000);
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
        if (text.includes(until)) {
          clearTimeout(timer);
          req.destroy();
          resolve(text);
        }
      });
    });
    req.on('error', () => undefined);
    req.end();
  });
}

describe('auth over TLS', () => {
  let c: TlsCoordinator;
  let foreign: ReturnType<typeof createDevCa>;

  before(async () => {
    c = await startTlsCoordinator();
    // A second CA the coordinator does not trust, issuing the same names.
    foreign = createDevCa({ dir: `${c.dir}/foreign`, agents: ['lb1'], operators: ['alice'] });
  });
  after(() => c.stop());

  const operatorCert = (): Caller => ({ cert: c.ca.operators['alice'] });
  const viewerCert = (): Caller => ({ cert: c.ca.readOnly['viewer'] });
  const agentCert = (): Caller => ({ cert: c.ca.agents['lb1'] });

  describe('agent streams', () => {
    it('accepts an agent certificate whose name is the node it claims', async () => {
      const r = await openAgentStream(c.grpcAddress, channelCredentials(c, agentCert()), { node: 'lb1' });
      assert.ok(r.ok, r.ok ? '' : r.details);
      assert.equal(r.first.msg?.$case, 'welcome');
      r.call.end();
      r.client.close();
    });

    it('refuses an agent certificate claiming another node', async () => {
      const r = await openAgentStream(c.grpcAddress, channelCredentials(c, agentCert()), { node: 'lb2' });
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.code, status.PERMISSION_DENIED);
      assert.match(r.details, /certificate is for node lb1, but the agent claims to be lb2/);
      assert.equal(c.server.registry.get('lb2'), undefined, 'lb2 must not be registered');
    });

    it('refuses an operator certificate', async () => {
      const r = await openAgentStream(c.grpcAddress, channelCredentials(c, operatorCert()), { node: 'alice' });
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.code, status.PERMISSION_DENIED);
      assert.match(r.details, /cert:alice has the operator role: only agent certificates/);
    });

    it('refuses a stream without a client certificate, even with an operator token', async () => {
      const r = await openAgentStream(c.grpcAddress, channelCredentials(c, { token: TOKENS.ops }), { node: 'lb1' });
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.code, status.PERMISSION_DENIED);
      assert.match(r.details, /need a client certificate of role agent/);
    });

    it('refuses an agent certificate from a CA it does not trust', async () => {
      const r = await openAgentStream(c.grpcAddress, channelCredentials(c, { cert: foreign.agents['lb1'] }), { node: 'lb1' });
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.code, status.PERMISSION_DENIED);
      // grpc-js shows the handler only certificates the TLS layer verified: an untrusted one looks absent.
      assert.match(r.details, /need a client certificate of role agent/);
    });
  });

  describe('gRPC control API', () => {
    it('refuses a call without credentials', async () => {
      const r = await unary(controlClient(c, {}), 'listNodes', { cluster: '' });
      assert.deepEqual(r.ok ? r : { code: r.code }, { code: status.UNAUTHENTICATED });
    });

    it('refuses an unknown token and a certificate from another CA', async () => {
      const bad = await unary(controlClient(c, { token: 'not-a-token' }), 'listNodes', { cluster: '' });
      assert.equal(bad.ok ? 0 : bad.code, status.UNAUTHENTICATED);
      const foreignCert = await unary(controlClient(c, { cert: foreign.operators['alice'] }), 'listNodes', { cluster: '' });
      assert.equal(foreignCert.ok ? 0 : foreignCert.code, status.UNAUTHENTICATED);
      assert.match(foreignCert.ok ? '' : foreignCert.details, /credentials required/);
    });

    it('refuses an agent certificate on operator methods', async () => {
      for (const [method, req] of [
        ['listNodes', { cluster: '' }],
        ['drain', { node: 'lb1', timeoutMs: 0, force: false, reason: '' }],
      ] as const) {
        const r = await unary(controlClient(c, agentCert()), method, req);
        assert.equal(r.ok ? 0 : r.code, status.PERMISSION_DENIED, method);
        assert.match(r.ok ? '' : r.details, /agent certificates cannot call the control API/);
      }
    });

    for (const [label, who] of [
      ['read-only token', () => ({ token: TOKENS.viewer })],
      ['read-only certificate', () => viewerCert()],
    ] as const) {
      it(`lets a ${label} read but not change anything`, async () => {
        const client = controlClient(c, who());
        const list = await unary<pbControl.ListNodesResponse>(client, 'listNodes', { cluster: '' });
        assert.ok(list.ok, list.ok ? '' : list.details);
        const before = c.server.events.lastSeq();
        for (const [method, req] of [
          ['drain', { node: 'lb1', timeoutMs: 0, force: false, reason: '' }],
          ['restartService', { node: 'lb1', service: 'nginx', force: false, timeoutMs: 0, reason: '' }],
          ['applySpec', { yaml: 'clusters: []', dryRun: false, expectedVersion: 0, reason: '' }],
        ] as const) {
          const r = await unary(client, method, req);
          assert.equal(r.ok ? 0 : r.code, status.PERMISSION_DENIED, method);
          assert.match(r.ok ? '' : r.details, /needs the operator role/);
        }
        assert.equal(c.server.events.lastSeq(), before, 'a refused call records nothing');
        client.close();
      });
    }

    it('records every mutating method with the caller (token and certificate)', async () => {
      const mutating = Object.entries(CONTROL_METHOD_POLICY).filter(([, p]) => p.mutating !== false).map(([m]) => m);
      assert.ok(mutating.length >= 6, 'drain, undrain, restart, reload, rolling restart, apply');
      const requests: Record<string, object> = {
        drain: { node: 'lb1', timeoutMs: 1000, force: false, reason: 'audit test' },
        undrain: { node: 'lb1', reason: 'audit test' },
        restartService: { node: 'lb1', service: 'nginx', force: false, timeoutMs: 0, reason: 'audit test' },
        reloadService: { node: 'lb1', service: 'nginx', reason: 'audit test' },
        rollingRestart: { cluster: 'web', service: 'nginx', force: false, timeoutMs: 0, reason: 'audit test' },
        applySpec: { yaml: 'clusters: [', dryRun: false, expectedVersion: 0, reason: 'audit test' },
        cancelOperation: { id: 'no-such-operation', reason: 'audit test' },
        changeBackendServer: { cluster: 'web', server: 'web1', action: 1, timeoutMs: 0, force: false, reason: 'audit test' },
        moveVip: { vip: 'vip-28', cluster: '', node: 'lb2', pin: false, timeoutMs: 0, reason: 'audit test' },
        unpinVip: { vip: 'vip-28', cluster: '', reason: 'audit test' },
        drillCluster: { cluster: 'web', vip: '', timeoutMs: 0, reason: 'audit test' },
      };
      // The call is recorded before it is answered, so the test waits for the answer: as long as
      // the coordinator may take, which for applySpec is the spec check's deadline (the first
      // check starts the worker, which took more than 5 s on a loaded machine) and a little more.
      const answerMs = SPEC_CHECK_TIMEOUT_MS + 5_000;
      for (const [who, actor] of [
        [{ token: TOKENS.ops }, 'token:ops'],
        [operatorCert(), 'cert:alice'],
      ] as const) {
        const client = controlClient(c, who);
        for (const method of mutating) {
          const req = requests[method];
          assert.ok(req, `the test knows a request for ${method}`);
          const seq = c.server.events.lastSeq();
          const r = await unary(client, method, req, answerMs);
          assert.ok(r.ok || r.code !== status.PERMISSION_DENIED, `${method} is allowed for ${actor}`);
          assert.ok(r.ok || r.code !== status.DEADLINE_EXCEEDED, `${method} by ${actor} is answered: ${r.ok ? '' : r.details}`);
          const audit = c.server.events.list(seq).filter((e: LbhaEvent) => e.type === 'api.call');
          assert.equal(audit.length, 1, `${method} by ${actor} is recorded once`);
          assert.equal(audit[0]?.actor, actor);
          assert.match(audit[0]?.message ?? '', new RegExp(`^${method.charAt(0).toUpperCase()}${method.slice(1)}\\b.* by ${actor}: `));
          assert.equal(audit[0]?.reason, 'audit test');
        }
        client.close();
      }
    });

    it('does not record reads', async () => {
      const seq = c.server.events.lastSeq();
      const r = await unary(controlClient(c, { token: TOKENS.ops }), 'listEvents', { afterSeq: 0, limit: 10, cluster: '', node: '' });
      assert.ok(r.ok);
      assert.equal(c.server.events.list(seq).filter((e) => e.type === 'api.call').length, 0);
    });
  });

  describe('HTTP API', () => {
    it('answers /healthz without credentials and nothing else', async () => {
      assert.equal((await http(c, 'GET', '/healthz')).status, 200);
      const r = await http(c, 'GET', '/v1/nodes');
      assert.equal(r.status, 401);
      assert.equal(errorCode(r), 'UNAUTHENTICATED');
      assert.match(String(r.headers['www-authenticate']), /^Bearer/);
    });

    it('refuses an unknown token, a malformed header and a foreign certificate', async () => {
      assert.equal((await http(c, 'GET', '/v1/nodes', { token: 'nope' })).status, 401);
      assert.equal((await http(c, 'GET', '/v1/nodes', { headers: { authorization: 'Basic YTpi' } })).status, 401);
      const r = await http(c, 'GET', '/v1/nodes', { cert: foreign.operators['alice'] });
      assert.equal(r.status, 401);
      assert.match(r.text, /not issued by a trusted CA/);
    });

    it('tells who the caller is', async () => {
      assert.deepEqual((await http(c, 'GET', '/v1/whoami', { token: TOKENS.ops })).json, { actor: 'token:ops', role: 'operator' });
      assert.deepEqual((await http(c, 'GET', '/v1/whoami', viewerCert())).json, { actor: 'cert:viewer', role: 'read-only' });
    });

    it('refuses an agent certificate', async () => {
      const r = await http(c, 'GET', '/v1/nodes', agentCert());
      assert.equal(r.status, 403);
      assert.equal(errorCode(r), 'PERMISSION_DENIED');
    });

    it('refuses mutations with a read-only token and certificate, and records nothing', async () => {
      const seq = c.server.events.lastSeq();
      for (const who of [{ token: TOKENS.viewer }, viewerCert()]) {
        assert.equal((await http(c, 'GET', '/v1/nodes', who)).status, 200);
        const r = await http(c, 'POST', '/v1/nodes/lb1/drain', { ...who, contentType: 'application/json', body: '{"reason":"x"}' });
        assert.equal(r.status, 403);
        assert.equal(errorCode(r), 'PERMISSION_DENIED');
        const s = await http(c, 'PUT', '/v1/spec', { ...who, contentType: 'application/yaml', body: 'clusters: []\n' });
        assert.equal(s.status, 403);
      }
      assert.equal(c.server.events.lastSeq(), seq);
    });

    it('streams events to a read-only caller, resuming after Last-Event-ID', async () => {
      c.server.events.record({ type: 'test.marker', message: 'first' });
      const marker = c.server.events.record({ type: 'test.marker', message: 'second' });
      const text = await sse(c, `/v1/events/stream`, { authorization: `Bearer ${TOKENS.viewer}`, 'last-event-id': String(marker.seq - 1) }, `id: ${marker.seq}`);
      assert.match(text, /^: lbha event stream/);
      assert.doesNotMatch(text, new RegExp(`^id: ${marker.seq - 1}$`, 'm'), 'resumes after the last id it saw');
      assert.match(text, new RegExp(`id: ${marker.seq}\nevent: event\ndata: [{][^\n]*"type":"test.marker"`));
      const refused = await http(c, 'GET', '/v1/events/stream');
      assert.equal(refused.status, 401);
      assert.equal(errorCode(refused), 'UNAUTHENTICATED');
    });

    it('records an operator mutation with the caller', async () => {
      for (const [who, actor] of [
        [{ token: TOKENS.ops }, 'token:ops'],
        [operatorCert(), 'cert:alice'],
      ] as const) {
        const seq = c.server.events.lastSeq();
        const r = await http(c, 'POST', '/v1/nodes/lb1/undrain', { ...who, contentType: 'application/json', body: '{"reason":"http audit"}' });
        assert.notEqual(r.status, 401);
        assert.notEqual(r.status, 403);
        const audit = c.server.events.list(seq).filter((e) => e.type === 'api.call');
        assert.equal(audit.length, 1);
        assert.equal(audit[0]?.actor, actor);
        assert.equal(audit[0]?.node, 'lb1');
        assert.equal(audit[0]?.reason, 'http audit');
      }
    });
  });
});
