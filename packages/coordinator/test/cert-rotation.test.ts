// Certificates rotate without a restart: the coordinator serves new files on both ports after
// SIGHUP or a file change, refuses a broken set and keeps the old one, and an agent's watched
// client credentials follow a CA rotation on reconnect while static credentials cannot.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { credentials as grpcCredentials } from '@grpc/grpc-js';
import { CertificateSource, watchedClientCredentials } from '@lbha/shared';
import { eventually } from '@lbha/test-support';
import { createDevCa } from '../src/auth/dev-ca.js';
import { controlClient, openAgentStream, startTlsCoordinator, TOKENS, unary, type TlsCoordinator } from './support/tls-coordinator.js';

function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['h2', 'http/1.1'] }, () => {
      const serial = s.getPeerCertificate().serialNumber;
      s.end();
      resolve(serial);
    });
    s.on('error', reject);
  });
}

describe('certificate rotation', () => {
  let c: TlsCoordinator;
  let grpcPort: number;
  const pki = () => `${c.dir}/pki`;

  before(async () => {
    c = await startTlsCoordinator();
    grpcPort = Number(c.grpcAddress.split(':').pop());
  });
  after(() => c.stop());

  it('serves a re-issued certificate on both ports after SIGHUP', async () => {
    const before = await servedSerial(grpcPort);
    assert.equal(await servedSerial(c.httpPort), before);
    createDevCa({ dir: pki() });
    process.emit('SIGHUP', 'SIGHUP');
    const after = await servedSerial(grpcPort);
    assert.notEqual(after, before, 'the gRPC port serves the new certificate at once');
    assert.equal(await servedSerial(c.httpPort), after, 'so does the HTTP port');
    // Client certificates of the same CA keep working.
    const r = await unary(controlClient(c, { cert: c.ca.operators['alice'] }), 'listNodes', { cluster: '' });
    assert.ok(r.ok);
  });

  it('picks up changed files without a signal', async () => {
    const before = await servedSerial(grpcPort);
    createDevCa({ dir: pki() });
    await eventually(async () => (await servedSerial(grpcPort)) !== before && (await servedSerial(c.httpPort)) !== before, 'the new certificate', { intervalMs: 100 });
  });

  it('keeps the previous certificate when the new files are broken', async () => {
    const before = await servedSerial(grpcPort);
    const certFile = c.ca.coordinator.cert;
    const good = readFileSync(certFile);
    writeFileSync(certFile, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    process.emit('SIGHUP', 'SIGHUP');
    assert.equal(await servedSerial(grpcPort), before);
    assert.equal(await servedSerial(c.httpPort), before);
    const r = await unary(controlClient(c, { token: TOKENS.ops }), 'listNodes', { cluster: '' });
    assert.ok(r.ok, 'still serving');
    writeFileSync(certFile, good);
    process.emit('SIGHUP', 'SIGHUP');
  });

  it('moves agents with watched credentials to a new CA; static credentials fail', async () => {
    const agentFiles = { ca: c.ca.ca.cert, cert: c.ca.agents['lb1']!.cert, key: c.ca.agents['lb1']!.key };
    const source = new CertificateSource(agentFiles, { watchIntervalMs: 100 });
    const watched = watchedClientCredentials(source);
    const fixed = grpcCredentials.createSsl(readFileSync(agentFiles.ca), readFileSync(agentFiles.key), readFileSync(agentFiles.cert));
    try {
      const first = await openAgentStream(c.grpcAddress, watched, { node: 'lb1' });
      assert.ok(first.ok, first.ok ? '' : first.details);
      first.call.end();
      first.client.close();

      // A new CA: new coordinator and agent certificates; the old CA is no longer trusted.
      createDevCa({ dir: pki(), agents: ['lb1'], newCa: true });
      process.emit('SIGHUP', 'SIGHUP');
      await eventually(async () => source.current.ca.equals(readFileSync(agentFiles.ca)), 'the agent to read the new files', { timeoutMs: 5000, intervalMs: 100 });

      const again = await openAgentStream(c.grpcAddress, watched, { node: 'lb1' });
      assert.ok(again.ok, again.ok ? '' : again.details);
      again.call.end();
      again.client.close();

      const stale = await openAgentStream(c.grpcAddress, fixed, { node: 'lb1' });
      assert.equal(stale.ok, false, 'credentials read once trust only the old CA');
    } finally {
      source.close();
    }
  });
});
