// A spec over etcd's default request limit (1.5 MiB) through a real `lbha-coordinator` on a real
// 3-member etcd: 12,000 VIPs (1.8 MB of YAML) are applied, survive a restart of the coordinator
// (which reads them back from the pieces), and a second apply over them diffs against them and
// leaves one generation of pieces in etcd.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ServiceError } from '@grpc/grpc-js';
import type { pbControl } from '@lbha/shared/control';
import { eventually, freePort } from '@lbha/test-support';
import { Etcd3 } from 'etcd3';
import { pairsSpec } from '../bench/scale-spec.js';
import { EtcdCluster, etcdUnavailableReason } from '../support/etcd-cluster.js';
import { controlCall } from '../support/control-call.js';
import { BIN } from '../support/paths.js';
import { startNode, type Proc } from '../support/process.js';

const skip = etcdUnavailableReason();
/** A check of this size takes seconds of CPU, several times that on a loaded machine. */
const CALL_MS = 120_000;

const call = <Req, Res>(address: string, method: 'applySpec' | 'getSpec', req: Req): Promise<Res> =>
  controlCall<Req, Res>(address, method, req, { timeoutMs: CALL_MS, channelOptions: { 'grpc.max_receive_message_length': 16 * 1024 * 1024 } });

describe('a spec over etcd request limit, through the coordinator', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-etcd-large-spec-'));
  let cluster: EtcdCluster;
  let etcd: Etcd3;
  let proc: Proc | undefined;
  let grpc = '';
  let config = '';

  /** Starts the coordinator and waits until it leads and has loaded the store (GetSpec answers). */
  async function startCoordinator(): Promise<pbControl.GetSpecResponse> {
    proc = startNode(BIN.coordinator, ['--config', config]);
    await proc.waitForLog((l) => l.event === 'coordinator.started', 60_000);
    return eventually(
      async () => {
        try {
          return await call<pbControl.GetSpecRequest, pbControl.GetSpecResponse>(grpc, 'getSpec', {});
        } catch (err) {
          // Not leading yet, or still loading its state.
          if ((err as ServiceError).code === 9 || (err as ServiceError).code === 14) return undefined;
          throw err;
        }
      },
      'the coordinator leads and has loaded its state',
      CALL_MS,
    );
  }

  before(async () => {
    cluster = await EtcdCluster.start();
    etcd = new Etcd3({ hosts: cluster.endpoints });
    grpc = `127.0.0.1:${await freePort()}`;
    config = join(dir, 'coordinator.yaml');
    writeFileSync(
      config,
      `id: c1
grpc: { listen: ["${grpc}"] }
http: { listen: "127.0.0.1:${await freePort()}" }
tls: { insecure: true }
auth: { anonymous: operator }
stateDir: ${join(dir, 'state')}
store:
  kind: etcd
  endpoints: [${cluster.endpoints.map((e) => `"${e}"`).join(', ')}]
  prefix: /lbha-large/
log: { level: info }
`,
    );
    await startCoordinator();
  });

  after(async () => {
    await proc?.stop();
    etcd?.close();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies 12,000 VIPs, keeps them over a restart, and applies a change over them', async () => {
    const first = pairsSpec(2400, 10);
    assert.ok(Buffer.byteLength(first) > 1.5 * 1024 * 1024, `${Buffer.byteLength(first)} bytes`);
    const a = await call<pbControl.ApplySpecRequest, pbControl.ApplySpecResponse>(grpc, 'applySpec', { yaml: first, dryRun: false, expectedVersion: 0, reason: 'large' });
    assert.equal(a.applied, true, JSON.stringify(a.errors?.slice(0, 3)));
    assert.equal(Number(a.version), 1);

    await proc?.stop();
    const shown = await startCoordinator();
    assert.equal(Number(shown.version), 1);
    assert.ok(shown.yaml === first, 'the spec read back after the restart is the one applied');

    const second = first.replace('vrid: 51', 'vrid: 71');
    const b = await call<pbControl.ApplySpecRequest, pbControl.ApplySpecResponse>(grpc, 'applySpec', { yaml: second, dryRun: false, expectedVersion: 1, reason: 'one change' });
    assert.equal(b.applied, true, JSON.stringify(b.errors?.slice(0, 3)));
    assert.equal(Number(b.version), 2);
    assert.deepEqual(b.changes, ['~ cluster c0000: vip c0000-v1: vrid: 51 -> 71']);
    const pieces = (await etcd.getAll().prefix('/lbha-large/data/spec-pieces/').keys()).map(String);
    assert.ok(pieces.length >= 2, `${pieces.length} pieces`);
    assert.equal(new Set(pieces.map((k) => k.split('/').at(-2))).size, 1, 'one generation of pieces');
  });
});
