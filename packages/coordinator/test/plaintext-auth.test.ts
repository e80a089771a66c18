// With plaintext (tls.insecure, an explicit opt-in), tokens still authenticate through gRPC
// metadata and the HTTP header, roles are still enforced, and callers without credentials are
// refused unless auth.anonymous says otherwise.
import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { credentials, Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { createLogger } from '@lbha/shared';
import { ControlServiceClient } from '@lbha/shared/control';
import { hashToken } from '../src/auth/auth-config.js';
import { coordinatorConfigSchema, type CoordinatorConfig } from '../src/coordinator-config.js';
import { CoordinatorServer } from '../src/server.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function start(anonymous: 'none' | 'read-only', logs: string[]): Promise<CoordinatorServer> {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-plain-'));
  dirs.push(dir);
  const config = coordinatorConfigSchema.parse({
    grpc: { listen: ['127.0.0.1:0'] },
    http: { listen: '127.0.0.1:0' },
    tls: { insecure: true },
    stateDir: dir,
    auth: { tokens: [{ name: 'ops', role: 'operator', sha256: hashToken('ops-token') }, { name: 'ro', role: 'read-only', sha256: hashToken('ro-token') }], anonymous },
  }) as CoordinatorConfig;
  const destination = { write: (s: string) => void logs.push(s) } as unknown as NodeJS.WritableStream;
  const server = new CoordinatorServer(config, createLogger('coordinator', { level: 'warn', destination }));
  await server.start();
  return server;
}

function call(server: CoordinatorServer, method: string, req: object, token?: string): Promise<number> {
  const client = new ControlServiceClient(server.addresses[0] as string, credentials.createInsecure());
  const md = new Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  const fn = (client as unknown as Record<string, (r: object, m: Metadata, o: object, cb: (e: ServiceError | null) => void) => void>)[method]!;
  return new Promise((resolve) =>
    fn.call(client, req, md, { deadline: Date.now() + 5000 }, (err) => {
      client.close();
      resolve(err ? err.code : status.OK);
    }),
  );
}

async function httpStatus(server: CoordinatorServer, method: string, path: string, token?: string): Promise<number> {
  const res = await fetch(`${server.http?.url}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
    ...(method === 'POST' ? { body: '{}' } : {}),
  });
  await res.arrayBuffer();
  return res.status;
}

const drain = { node: 'nginx-lb01', timeoutMs: 0, force: false, reason: '' };

describe('plaintext', () => {
  it('warns at start, and still needs credentials and the right role', async () => {
    const logs: string[] = [];
    const s = await start('none', logs);
    try {
      assert.ok(logs.some((l) => l.includes('"event":"tls.plaintext"')), 'plaintext is logged as a warning');
      assert.equal(await call(s, 'listNodes', { cluster: '' }), status.UNAUTHENTICATED);
      assert.equal(await call(s, 'listNodes', { cluster: '' }, 'ro-token'), status.OK);
      assert.equal(await call(s, 'drain', drain, 'ro-token'), status.PERMISSION_DENIED);
      assert.notEqual(await call(s, 'drain', drain, 'ops-token'), status.PERMISSION_DENIED);
      assert.equal(s.events.list().filter((e) => e.type === 'api.call' && e.actor === 'token:ops').length, 1);

      assert.equal(await httpStatus(s, 'GET', '/v1/nodes'), 401);
      assert.equal(await httpStatus(s, 'GET', '/v1/nodes', 'ro-token'), 200);
      assert.equal(await httpStatus(s, 'POST', '/v1/nodes/nginx-lb01/undrain', 'ro-token'), 403);
    } finally {
      await s.stop(200);
    }
  });

  it('gives callers without credentials only the configured anonymous role, with a warning', async () => {
    const logs: string[] = [];
    const s = await start('read-only', logs);
    try {
      assert.ok(logs.some((l) => l.includes('"event":"auth.anonymous"')));
      assert.equal(await call(s, 'listNodes', { cluster: '' }), status.OK);
      assert.equal(await call(s, 'drain', drain), status.PERMISSION_DENIED);
      assert.equal(await httpStatus(s, 'GET', '/v1/nodes'), 200);
      assert.equal(await httpStatus(s, 'POST', '/v1/nodes/nginx-lb01/drain'), 403);
      assert.equal(s.events.list().filter((e) => e.type === 'api.call').length, 0);
    } finally {
      await s.stop(200);
    }
  });

  it('streams /metrics, gzipped to scrapers that ask for it, plain otherwise', async () => {
    const s = await start('none', []);
    try {
      const get = (encoding?: string) =>
        new Promise<{ headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolve, reject) => {
          const req = httpGet(`${s.http?.url}/metrics`, { headers: encoding ? { 'accept-encoding': encoding } : {} }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
          });
          req.on('error', reject);
        });
      const zipped = await get('gzip');
      assert.equal(zipped.headers['content-encoding'], 'gzip');
      const text = gunzipSync(zipped.body).toString('utf8');
      assert.match(text, /^# HELP lbha_/m);
      const plain = await get();
      assert.equal(plain.headers['content-encoding'], undefined);
      assert.match(plain.body.toString('utf8'), /^# HELP lbha_/m);
      // Streamed as it is rendered: no length known in advance.
      assert.equal(plain.headers['transfer-encoding'], 'chunked');
      assert.equal(plain.headers['content-length'], undefined);
      const head = await fetch(`${s.http?.url}/metrics`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      assert.equal((await head.arrayBuffer()).byteLength, 0);
    } finally {
      await s.stop(200);
    }
  });
});
