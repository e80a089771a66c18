// The lbha CLI sends its token only to a coordinator: a server with a certificate from the same
// CA, valid for the address dialled but naming another identity, fails the handshake, and the
// command says why without the server ever seeing a call.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Server, ServerCredentials, type Metadata } from '@grpc/grpc-js';
import { createDevCa, type DevCa } from '@lbha/coordinator';
import { ControlServiceService } from '@lbha/shared/control';
import { BIN } from '../support/paths.js';
import { runNode } from '../support/process.js';

describe('lbha and a server that is not a coordinator', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-cli-role-'));
  let ca: DevCa;
  const servers: Server[] = [];
  const calls: Array<{ server: string; authorization: string }> = [];

  async function serve(name: string, cert: string, key: string): Promise<string> {
    const server = new Server();
    server.addService(ControlServiceService, {
      listNodes: (call: { metadata: Metadata }, cb: (e: null, r: unknown) => void) => {
        calls.push({ server: name, authorization: String(call.metadata.get('authorization')[0] ?? '') });
        cb(null, { nodes: [] });
      },
    } as never);
    const creds = ServerCredentials.createSsl(readFileSync(ca.ca.cert), [{ cert_chain: readFileSync(cert), private_key: readFileSync(key) }], false);
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
    servers.push(server);
    return `127.0.0.1:${port}`;
  }

  before(() => {
    ca = createDevCa({ dir: join(dir, 'pki') });
  });
  after(() => {
    for (const s of servers) s.forceShutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a server certificate of the same CA without a coordinator identity, sending no token', async () => {
    // Valid for 127.0.0.1 and issued by the cluster's CA, but an operator's identity.
    const key = join(dir, 'other.key');
    const cert = join(dir, 'other.crt');
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key], { stdio: 'ignore' });
    execFileSync('openssl', ['req', '-new', '-key', key, '-subj', '/O=lbha/CN=localhost', '-out', join(dir, 'other.csr')], { stdio: 'ignore' });
    writeFileSync(join(dir, 'other.ext'), 'basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1,URI:spiffe://lbha/operator/mallory\n');
    execFileSync('openssl', ['x509', '-req', '-in', join(dir, 'other.csr'), '-CA', ca.ca.cert, '-CAkey', ca.ca.key, '-set_serial', '0x77', '-days', '2', '-extfile', join(dir, 'other.ext'), '-out', cert], {
      stdio: 'ignore',
    });
    const other = await serve('other', cert, key);
    const real = await serve('coordinator', ca.coordinator.cert, ca.coordinator.key);
    const args = (address: string) => ['--coordinator', address, '--ca', ca.ca.cert, '--token', 'the-operators-token', 'nodes'];

    const good = await runNode(BIN.cli, args(real));
    assert.equal(good.code, 0, good.stderr);
    const bad = await runNode(BIN.cli, args(other));
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /not an lbha coordinator/);
    assert.deepEqual(
      calls.map((c) => c.server),
      ['coordinator'],
      'only the coordinator was called',
    );
    assert.equal(calls[0]?.authorization, 'Bearer the-operators-token');
  });
});
