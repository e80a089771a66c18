// A write etcd refuses as too large, through both edges of the API of a real coordinator on a
// real etcd started with a smaller --max-request-bytes (256 KiB) than the coordinator assumes
// (its default, 1.5 MiB): the spec apply is answered as a request too large (gRPC
// RESOURCE_EXHAUSTED, HTTP 413 PAYLOAD_TOO_LARGE) with etcd's reason, not as an outage
// (UNAVAILABLE / 503), and changes nothing.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import type { pbControl } from '@lbha/shared/control';
import { eventually, freePort } from '@lbha/test-support';
import { pairsSpec } from '../bench/scale-spec.js';
import { EtcdCluster, etcdUnavailableReason } from '../support/etcd-cluster.js';
import { controlCall } from '../support/control-call.js';
import { BIN } from '../support/paths.js';
import { startNode, type Proc } from '../support/process.js';

const skip = etcdUnavailableReason();
const CALL_MS = 60_000;

const call = <Req, Res>(address: string, method: 'applySpec' | 'getSpec', req: Req): Promise<Res> =>
  controlCall<Req, Res>(address, method, req, { timeoutMs: CALL_MS, channelOptions: { 'grpc.max_send_message_length': 16 * 1024 * 1024 } });

function put(url: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'PUT', headers: { 'content-type': 'application/yaml' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('a write too large for etcd, through the API', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-etcd-too-large-'));
  let cluster: EtcdCluster;
  let proc: Proc | undefined;
  let grpc = '';
  let http = '';
  /** 800 nodes, 10 VIPs each: about 600 KB of YAML, one write (under half of 1.5 MiB), over etcd's 256 KiB. */
  const large = pairsSpec(800, 10);

  before(async () => {
    cluster = await EtcdCluster.start({ members: 1, maxRequestBytes: 256 * 1024 });
    grpc = `127.0.0.1:${await freePort()}`;
    http = `127.0.0.1:${await freePort()}`;
    const config = join(dir, 'coordinator.yaml');
    writeFileSync(
      config,
      `id: c1
grpc: { listen: ["${grpc}"] }
http: { listen: "${http}" }
tls: { insecure: true }
auth: { anonymous: operator }
stateDir: ${join(dir, 'state')}
store:
  kind: etcd
  endpoints: [${cluster.endpoints.map((e) => `"${e}"`).join(', ')}]
  prefix: /lbha-too-large/
log: { level: info }
`,
    );
    proc = startNode(BIN.coordinator, ['--config', config]);
    await proc.waitForLog((l) => l.event === 'coordinator.started', 60_000);
    await eventually(
      async () => {
        try {
          return await call<pbControl.GetSpecRequest, pbControl.GetSpecResponse>(grpc, 'getSpec', {});
        } catch (err) {
          if ((err as ServiceError).code === status.FAILED_PRECONDITION || (err as ServiceError).code === status.UNAVAILABLE) return undefined;
          throw err;
        }
      },
      'the coordinator leads and has loaded its state',
      CALL_MS,
    );
  });

  after(async () => {
    await proc?.stop();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers gRPC with RESOURCE_EXHAUSTED and etcd reason, and changes nothing', async () => {
    const size = Buffer.byteLength(large);
    assert.ok(size > 256 * 1024 && size < 700 * 1024, `${size} bytes`);
    const err = await call<pbControl.ApplySpecRequest, pbControl.ApplySpecResponse>(grpc, 'applySpec', { yaml: large, dryRun: false, expectedVersion: 0, reason: 'too large' }).then(
      (res) => assert.fail(`applied: ${JSON.stringify(res).slice(0, 300)}`),
      (e: ServiceError) => e,
    );
    assert.equal(err.code, status.RESOURCE_EXHAUSTED, `${status[err.code]}: ${err.details}`);
    assert.match(err.details, /too large/);
    assert.match(err.details, /max-request-bytes/);
    const spec = await call<pbControl.GetSpecRequest, pbControl.GetSpecResponse>(grpc, 'getSpec', {});
    assert.equal(Number(spec.version), 0, 'no spec was applied');
  });

  it('answers HTTP with 413 PAYLOAD_TOO_LARGE, and changes nothing', async () => {
    const res = await put(`http://${http}/v1/spec?expectedVersion=0&reason=too+large`, large);
    assert.equal(res.status, 413, res.body.slice(0, 500));
    const body = JSON.parse(res.body) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'PAYLOAD_TOO_LARGE');
    assert.match(body.error.message, /too large/);
    const spec = await call<pbControl.GetSpecRequest, pbControl.GetSpecResponse>(grpc, 'getSpec', {});
    assert.equal(Number(spec.version), 0, 'no spec was applied');
  });
});
