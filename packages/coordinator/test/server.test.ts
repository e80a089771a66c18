// The coordinator's gRPC server on 127.0.0.1:0: health and reflection answer like any gRPC service.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { credentials, loadPackageDefinition, makeGenericClientConstructor, type Client } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { silentLogger } from '@lbha/shared';
import { service as healthService } from 'grpc-health-check';
import { CoordinatorServer } from '../src/server.js';

describe('coordinator gRPC server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-server-'));
  let server: CoordinatorServer;

  before(async () => {
    server = new CoordinatorServer(
      {
        id: 'c1',
        grpc: { listen: ['127.0.0.1:0'], maxMessageBytes: 4 * 1024 * 1024 },
        tls: { insecure: true },
        stateDir: dir,
        heartbeat: { interval: 1000, staleAfter: 3000 },
        log: { level: 'info' },
      } as never,
      silentLogger(),
    );
    await server.start();
  });

  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers grpc.health.v1 Check as SERVING', async () => {
    const Health = makeGenericClientConstructor(healthService, 'Health');
    const client = new Health(server.addresses[0] as string, credentials.createInsecure()) as unknown as Client & {
      check(req: { service: string }, cb: (err: Error | null, res: { status: string }) => void): void;
    };
    for (const svc of ['', 'lbha.v1.ControlService', 'lbha.v1.AgentService']) {
      const res = await new Promise<{ status: string }>((resolve, reject) => client.check({ service: svc }, (e, r) => (e ? reject(e) : resolve(r))));
      assert.equal(res.status, 'SERVING', svc);
    }
    client.close();
  });

  it('lists its services through server reflection', async () => {
    const require = createRequire(import.meta.url);
    const protoRoot = join(dirname(require.resolve('@grpc/reflection')), '../proto');
    const def = loadSync('grpc/reflection/v1alpha/reflection.proto', { includeDirs: [protoRoot] });
    const pkg = loadPackageDefinition(def) as unknown as {
      grpc: { reflection: { v1alpha: { ServerReflection: new (a: string, c: ReturnType<typeof credentials.createInsecure>) => Client & { serverReflectionInfo(): NodeJS.ReadWriteStream } } } };
    };
    const client = new pkg.grpc.reflection.v1alpha.ServerReflection(server.addresses[0] as string, credentials.createInsecure());
    const call = client.serverReflectionInfo() as NodeJS.ReadWriteStream & { end(): void };
    const names = await new Promise<string[]>((resolve, reject) => {
      call.on('data', (res: { listServicesResponse?: { service: Array<{ name: string }> } }) => {
        resolve((res.listServicesResponse?.service ?? []).map((s) => s.name));
        call.end();
      });
      call.on('error', reject);
      call.write({ listServices: '*' } as never);
    });
    assert.ok(names.includes('lbha.v1.ControlService'), names.join(','));
    assert.ok(names.includes('lbha.v1.AgentService'), names.join(','));
    client.close();
  });
});
