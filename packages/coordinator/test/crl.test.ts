// Revoking a client certificate without replacing the CA: the coordinator reads a revocation
// list (tls.crl) and re-reads it like the certificates, so a listed certificate is refused on
// new connections to both APIs, while the others keep working. A broken list is not taken.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { eventually } from '@lbha/test-support';
import type { DevCa, KeyPair } from '../src/auth/dev-ca.js';
import { controlClient, http, startTlsCoordinator, unary, type TlsCoordinator } from './support/tls-coordinator.js';

/** Writes (by rename) a CRL from the dev CA that lists `revoked`. */
function writeCrl(ca: DevCa, dir: string, file: string, revoked: readonly KeyPair[]): void {
  const lines = revoked.map((k) => {
    const serial = execFileSync('openssl', ['x509', '-in', k.cert, '-noout', '-serial'], { encoding: 'utf8' }).trim().split('=')[1];
    return `R\t301231235959Z\t251201000000Z\t${serial}\tunknown\t/O=lbha\n`;
  });
  writeFileSync(join(dir, 'index.txt'), lines.join(''));
  writeFileSync(join(dir, 'crlnumber'), '01\n');
  writeFileSync(join(dir, 'ca.cnf'), `[ca]\ndefault_ca = d\n[d]\ndatabase = ${join(dir, 'index.txt')}\ncrlnumber = ${join(dir, 'crlnumber')}\ndefault_md = sha256\ndefault_crl_days = 2\n`);
  execFileSync('openssl', ['ca', '-gencrl', '-config', join(dir, 'ca.cnf'), '-keyfile', ca.ca.key, '-cert', ca.ca.cert, '-out', `${file}.new`], { stdio: 'ignore' });
  renameSync(`${file}.new`, file);
}

describe('certificate revocation (tls.crl)', () => {
  let c: TlsCoordinator;
  let crl = '';

  /** One call on a new connection (a revocation applies to connections made after it). */
  const listNodes = async (cert: KeyPair) => {
    const client = controlClient(c, { cert });
    try {
      return await unary(client, 'listNodes', { cluster: '' });
    } finally {
      client.close();
    }
  };

  before(async () => {
    c = await startTlsCoordinator({
      tls: (ca, dir) => {
        crl = join(dir, 'pki', 'crl.pem');
        writeCrl(ca, join(dir, 'pki'), crl, []);
        return { crl };
      },
    });
  });
  after(() => c.stop());

  it('refuses a listed certificate on both APIs once the list changes, and keeps the others', async () => {
    const alice = c.ca.operators['alice'] as KeyPair;
    const viewer = c.ca.readOnly['viewer'] as KeyPair;
    assert.equal((await listNodes(alice)).ok, true);
    assert.equal((await http(c, 'GET', '/v1/nodes', { cert: alice })).status, 200);

    writeCrl(c.ca, join(c.dir, 'pki'), crl, [alice]);
    c.server.auth.reload('test');
    const refused = await eventually(async () => {
      const r = await listNodes(alice);
      return r.ok ? undefined : r;
    }, 'alice refused over gRPC');
    assert.equal(refused.code, status.UNAUTHENTICATED);
    const h = await http(c, 'GET', '/v1/nodes', { cert: alice });
    assert.equal(h.status, 401);
    assert.match(h.text, /revoked/);
    assert.equal((await listNodes(viewer)).ok, true, 'a certificate the list does not name still works');
    assert.equal((await http(c, 'GET', '/v1/nodes', { cert: viewer })).status, 200);
  });

  it('keeps the previous list when the file does not load', async () => {
    writeFileSync(`${crl}.new`, 'not a revocation list\n');
    renameSync(`${crl}.new`, crl);
    const r = c.server.auth.certificates?.reload('test');
    assert.equal(r?.ok, false);
    assert.match(r && !r.ok ? r.error : '', /no PEM certificate revocation list/);
    assert.equal((await listNodes(c.ca.operators['alice'] as KeyPair)).ok, false, 'still revoked');
    assert.equal((await listNodes(c.ca.readOnly['viewer'] as KeyPair)).ok, true);
  });
});
