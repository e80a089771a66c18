// Fuzzing the spec parser, the HTTP API and the gRPC services with random and mutated input for
// a bounded time. Nothing may throw or crash the coordinator, every refusal is a well-formed
// error, and a refused input leaves the nodes, the spec and the event log (audit aside) as they were.
//
// Defaults keep `npm test` short: a fixed seed and a few seconds per property. A longer run:
//   LBHA_FUZZ_MS=300000 LBHA_FUZZ_SEED=$RANDOM node --test packages/coordinator/dist/test/api-fuzz.test.js
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { makeGenericClientConstructor, Metadata, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { ControlServiceService } from '@lbha/shared/control';
import fc from 'fast-check';
import { parseSpec } from '../src/spec/parse-spec.js';
import { channelCredentials, controlClient, http, startTlsCoordinator, TOKENS, unary, type Control, type TlsCoordinator } from './support/tls-coordinator.js';

const SEED = Number(process.env['LBHA_FUZZ_SEED'] ?? 20240611);
const BUDGET_MS = Number(process.env['LBHA_FUZZ_MS'] ?? 4000);
const fixtures = join(import.meta.dirname, '../../test/fixtures');
const seeds = ['seed-nginx-active-active.yaml', 'seed-haproxy-active-backup.yaml'].map((f) => readFileSync(join(fixtures, f), 'utf8'));

const run = { seed: SEED, numRuns: 1_000_000, interruptAfterTimeLimit: BUDGET_MS, markInterruptAsFailure: false };

// ---- inputs -----------------------------------------------------------------------------------

const hostile = fc.constantFrom(
  '../../etc/passwd', 'nginx;rm -rf /', '$(reboot)', '`id`', 'a\nb', '\u0000', '%00', 'A'.repeat(300), '', ' ', '*', '..', '.',
  '-1', '1e309', 'NaN', 'null', 'true', '[]', '{}', '0x10', '256', '65536', '-', '::', '300.1.1.1', '192.168.20.19', '192.168.20.28/33',
  '&a [*a, *a]', '!!binary AA', '{{', '"', "'", '#', '|', '>', '\t', '\u202e', 'ünï', '🙂',
);
const token = fc.oneof(hostile, fc.string({ maxLength: 12 }), fc.integer({ min: -1000, max: 100_000 }).map(String));

/** A spec document with a few random edits: the parser's hardest inputs are almost valid. */
const mutatedSpec = fc
  .tuple(
    fc.constantFrom(...seeds),
    fc.array(
      fc.tuple(fc.constantFrom('delete', 'insert', 'dupline', 'dropline', 'swap', 'indent', 'replace'), fc.nat(), fc.nat(), token),
      { minLength: 1, maxLength: 6 },
    ),
  )
  .map(([text, edits]) => {
    let s = text;
    for (const [op, a, b, t] of edits) {
      const lines = s.split('\n');
      const i = a % Math.max(1, lines.length);
      const j = b % Math.max(1, lines.length);
      const p = a % Math.max(1, s.length);
      switch (op) {
        case 'delete':
          s = s.slice(0, p) + s.slice(p + (b % 20));
          break;
        case 'insert':
          s = s.slice(0, p) + t + s.slice(p);
          break;
        case 'dupline':
          lines.splice(i, 0, lines[i] ?? '');
          s = lines.join('\n');
          break;
        case 'dropline':
          lines.splice(i, 1);
          s = lines.join('\n');
          break;
        case 'swap':
          [lines[i], lines[j]] = [lines[j] ?? '', lines[i] ?? ''];
          s = lines.join('\n');
          break;
        case 'indent':
          lines[i] = ' '.repeat(b % 7) + (lines[i] ?? '').trimStart();
          s = lines.join('\n');
          break;
        case 'replace':
          // Replace a scalar value (after "key: ") with the token.
          lines[i] = (lines[i] ?? '').replace(/: .*$/, `: ${t}`);
          s = lines.join('\n');
          break;
      }
    }
    return s;
  });

const bomb = fc.nat({ max: 12 }).map((n) => {
  let s = 'a0: &a0 [x, x, x, x, x, x, x, x]\n';
  for (let i = 1; i <= n + 3; i++) s += `a${i}: &a${i} [*a${i - 1}, *a${i - 1}, *a${i - 1}, *a${i - 1}, *a${i - 1}, *a${i - 1}]\n`;
  return `${s}clusters: *a${n + 3}\n`;
});

const specText = fc.oneof(
  { weight: 5, arbitrary: mutatedSpec },
  { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: bomb },
);

describe('fuzz', { timeout: 10 * BUDGET_MS + 60_000 }, () => {
  it('parseSpec never throws and explains every refusal', () => {
    fc.assert(
      fc.property(specText, (text) => {
        const r = parseSpec(text);
        if (r.ok) return;
        assert.ok(r.issues.length > 0, 'a refusal has at least one issue');
        for (const i of r.issues) {
          assert.equal(typeof i.path, 'string');
          assert.ok(typeof i.message === 'string' && i.message.length > 0);
          assert.ok(Number.isInteger(i.line) && i.line >= 0);
        }
      }),
      run,
    );
  });

  describe('against a running coordinator', () => {
    let c: TlsCoordinator;
    let ops: Control;

    before(async () => {
      c = await startTlsCoordinator({ maxMessageBytes: 256 * 1024 });
      ops = controlClient(c, { token: TOKENS.ops });
    });
    after(async () => {
      ops.close();
      await c.stop();
    });

    async function state(): Promise<string> {
      const nodes = await unary<{ nodes: Array<{ name: string; connected: boolean; mode: number }> }>(ops, 'listNodes', { cluster: '' });
      const spec = await unary<{ yaml: string; version: number }>(ops, 'getSpec', {});
      const events = c.server.events.list(0, 1_000_000).filter((e) => e.type !== 'api.call').map((e) => e.seq);
      return JSON.stringify({
        nodes: nodes.ok ? nodes.value.nodes.map((n) => [n.name, n.connected, n.mode]) : nodes.code,
        spec: spec.ok ? spec.value : spec.code,
        events,
      });
    }

    const segment = fc.oneof(fc.constantFrom('lb1', 'lb2', 'web', 'nginx', 'haproxy', 'x'), hostile, fc.string({ maxLength: 10 })).map(encodeURIComponent);
    const path = fc.oneof(
      fc.constantFrom('/v1/nodes', '/v1/vips', '/v1/clusters', '/v1/operations', '/v1/events', '/v1/spec', '/v1/spec/validate', '/v1/whoami', '/healthz', '/v1', '/', '/v1/events/stream?afterSeq=999999999'),
      fc.tuple(fc.constantFrom('/v1/nodes/', '/v1/clusters/', '/v1/operations/'), segment).map(([a, b]) => a + b),
      fc.tuple(segment, fc.constantFrom('drain', 'undrain')).map(([n, a]) => `/v1/nodes/${n}/${a}`),
      fc.tuple(segment, segment, fc.constantFrom('restart', 'reload')).map(([n, s, a]) => `/v1/nodes/${n}/services/${s}/${a}`),
      fc.tuple(segment, segment).map(([cl, s]) => `/v1/clusters/${cl}/services/${s}/rolling-restart`),
      fc.tuple(segment, fc.constantFrom('nodes', 'vips', 'placement')).map(([cl, r]) => `/v1/clusters/${cl}/${r}`),
      fc.string({ maxLength: 30 }).map((s) => `/v1/${encodeURI(s)}`),
    );
    const query = fc.array(fc.tuple(fc.constantFrom('cluster', 'node', 'limit', 'afterSeq', 'dryRun', 'expectedVersion', 'reason', 'x'), token), { maxLength: 3 });
    const body = fc.oneof(
      fc.constant(undefined),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.record({ yaml: specText, dryRun: fc.boolean() }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
      fc.record({ timeoutMs: fc.oneof(fc.integer(), fc.double(), token), force: fc.oneof(fc.boolean(), token), reason: token }, { requiredKeys: [] }).map((v) => JSON.stringify(v)),
      specText,
      fc.string({ unit: 'binary', maxLength: 100 }),
    );
    const request = fc.record({
      method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
      path,
      query,
      contentType: fc.constantFrom(undefined, 'application/json', 'application/yaml', 'text/plain', 'application/json; charset=utf-8', 'multipart/form-data'),
      auth: fc.constantFrom<'ops' | 'viewer' | 'bad' | 'none'>('ops', 'ops', 'ops', 'viewer', 'bad', 'none'),
      body,
    });

    it('the HTTP API refuses bad requests precisely and they change nothing', async () => {
      await fc.assert(
        fc.asyncProperty(request, async (r) => {
          const qs = r.query.length ? `?${r.query.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}` : '';
          const before = await state();
          const reply = await http(c, r.method, r.path + qs, {
            ...(r.auth === 'ops' ? { token: TOKENS.ops } : r.auth === 'viewer' ? { token: TOKENS.viewer } : r.auth === 'bad' ? { token: 'x' } : {}),
            ...(r.body !== undefined ? { body: r.body } : {}),
            ...(r.contentType ? { contentType: r.contentType } : {}),
          });
          assert.ok([200, 202, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 501].includes(reply.status), `status ${reply.status}: ${reply.text.slice(0, 200)}`);
          if (reply.status >= 400) {
            const err = (reply.json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
            assert.ok(err && typeof err.code === 'string' && /^[A-Z_]+$/.test(err.code), `error body: ${reply.text.slice(0, 200)}`);
            assert.ok(typeof err.message === 'string' && err.message.length > 0);
            assert.equal(await state(), before, `${r.method} ${r.path}${qs} -> ${reply.status} changed state`);
          }
        }),
        run,
      );
      assert.equal((await http(c, 'GET', '/healthz')).status, 200);
    });

    it('the gRPC services survive random bytes', async () => {
      const raw = (b: Buffer) => b;
      const defs = Object.fromEntries(
        Object.entries(ControlServiceService as Record<string, { path: string; requestStream: boolean; responseStream: boolean }>).map(([name, d]) => [
          name,
          { ...d, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
        ]),
      );
      const Raw = makeGenericClientConstructor(defs as never, 'Raw');
      const client = new Raw(c.grpcAddress, channelCredentials(c, { token: TOKENS.ops })) as Client & Record<string, (...a: unknown[]) => unknown>;
      const methods = Object.keys(defs);
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...methods), fc.uint8Array({ maxLength: 512 }), async (method, bytes) => {
          const before = await state();
          const def = defs[method] as { responseStream: boolean };
          const code = await new Promise<number>((resolve) => {
            const deadline = { deadline: Date.now() + 5000 };
            if (def.responseStream) {
              const call = client[method]!(Buffer.from(bytes), new Metadata(), deadline) as NodeJS.EventEmitter & { cancel(): void };
              call.on('data', () => call.cancel());
              call.on('error', (e: ServiceError) => resolve(e.code));
              call.on('end', () => resolve(status.OK));
              setTimeout(() => call.cancel(), 50);
            } else {
              client[method]!(Buffer.from(bytes), new Metadata(), deadline, (e: ServiceError | null) => resolve(e ? e.code : status.OK));
            }
          });
          assert.ok(Object.values(status).includes(code), `${method}: status ${code}`);
          if (code !== status.OK) assert.equal(await state(), before, `${method} with ${bytes.length} random bytes changed state`);
        }),
        run,
      );
      client.close();
      const r = await unary(ops, 'listNodes', { cluster: '' });
      assert.ok(r.ok, 'still serving');
    });
  });
});
