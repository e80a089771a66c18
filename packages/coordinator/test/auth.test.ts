// Unit tests of the auth building blocks: identity URIs, certificate checks, tokens, the
// method table and the auth configuration.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CertificateSource, loadCertificateFiles, uriSans } from '@lbha/shared';
import { authConfigSchema, hashToken } from '../src/auth/auth-config.js';
import { once } from 'node:events';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { Authenticator, type PeerConnection } from '../src/auth/authenticator.js';
import { ConnectionClosedError } from '../src/errors.js';
import { requestProblem } from '../src/auth/control-authorization.js';
import { createDevCa, type DevCa } from '../src/auth/dev-ca.js';
import { policyOf } from '../src/auth/method-policy.js';
import { parseIdentityUri, peerIdentity } from '../src/auth/peer-identity.js';
import { allows } from '../src/auth/roles.js';

const der = (file: string) => new X509Certificate(readFileSync(file)).raw;

describe('identity URIs', () => {
  it('parses spiffe://lbha/<role>/<name> and nothing else', () => {
    assert.deepEqual(parseIdentityUri('spiffe://lbha/agent/lb1'), { role: 'agent', name: 'lb1' });
    assert.deepEqual(parseIdentityUri('spiffe://lbha/read-only/grafana'), { role: 'read-only', name: 'grafana' });
    for (const bad of [
      'spiffe://lbha/admin/x',
      'spiffe://other/agent/lb1',
      'spiffe://lbha/agent/lb1/extra',
      'spiffe://lbha/agent/../x',
      'spiffe://lbha/agent/LB1',
      'spiffe://lbha/agent/',
      'https://lbha/agent/lb1',
    ]) {
      assert.equal(parseIdentityUri(bad), undefined, bad);
    }
  });

  it('reads URI SANs as Node lists them, including quoted entries', () => {
    assert.deepEqual(uriSans('DNS:localhost, URI:spiffe://lbha/agent/lb1, IP Address:127.0.0.1'), ['spiffe://lbha/agent/lb1']);
    // A DNS name smuggling a URI inside a quoted value must not count as a URI.
    assert.deepEqual(uriSans('DNS:"a, URI:spiffe://lbha/operator/x", URI:spiffe://lbha/agent/lb1'), ['spiffe://lbha/agent/lb1']);
    assert.deepEqual(uriSans('URI:"spiffe://lbha/agent/a,b"'), ['spiffe://lbha/agent/a,b']);
    assert.deepEqual(uriSans(undefined), []);
  });

  it('orders roles: operator includes read-only, agent has none', () => {
    assert.equal(allows('operator', 'operator'), true);
    assert.equal(allows('operator', 'read-only'), true);
    assert.equal(allows('read-only', 'read-only'), true);
    assert.equal(allows('read-only', 'operator'), false);
    assert.equal(allows('agent', 'read-only'), false);
  });
});

describe('certificates', () => {
  let dir: string;
  let ca: DevCa;
  let other: DevCa;
  let authorities: X509Certificate[];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'lbha-auth-'));
    ca = createDevCa({ dir: join(dir, 'a'), agents: ['lb1'], operators: ['alice'], readOnly: ['viewer'] });
    other = createDevCa({ dir: join(dir, 'b'), operators: ['alice'] });
    authorities = [new X509Certificate(readFileSync(ca.ca.cert))];
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads role and name from a certificate of the trusted CA', () => {
    const now = Date.now();
    const lb1 = new X509Certificate(readFileSync(ca.agents['lb1']!.cert));
    const validUntilMs = Math.min(Date.parse(lb1.validTo), Date.parse(authorities[0]!.validTo));
    assert.deepEqual(peerIdentity(der(ca.agents['lb1']!.cert), authorities, now), { ok: true, identity: { kind: 'cert', name: 'lb1', role: 'agent', actor: 'cert:lb1' }, validUntilMs });
    const op = peerIdentity(der(ca.operators['alice']!.cert), authorities, now);
    assert.ok(op.ok && op.identity.role === 'operator' && op.identity.actor === 'cert:alice');
  });

  it('refuses another CA, an expired or future certificate, the CA itself and garbage', () => {
    const now = Date.now();
    const foreign = peerIdentity(der(other.operators['alice']!.cert), authorities, now);
    assert.deepEqual(foreign, { ok: false, reason: 'client certificate is not issued by a trusted CA' });
    const late = peerIdentity(der(ca.operators['alice']!.cert), authorities, now + 400 * 86_400_000);
    assert.equal(late.ok ? '' : late.reason, 'client certificate has expired');
    const early = peerIdentity(der(ca.operators['alice']!.cert), authorities, now - 86_400_000);
    assert.equal(early.ok ? '' : early.reason, 'client certificate is not valid yet');
    const self = peerIdentity(der(ca.ca.cert), authorities, now);
    assert.equal(self.ok, false);
    assert.equal(peerIdentity(Buffer.from('nope'), authorities, now).ok, false);
  });

  it('remembers a verified certificate only while it is valid', () => {
    const source = new CertificateSource({ ca: ca.ca.cert, cert: ca.coordinator.cert, key: ca.coordinator.key }, { watchIntervalMs: 0 });
    try {
      let now = Date.now();
      const auth = new Authenticator(authConfigSchema.parse({}), source, () => now);
      const cert = der(ca.agents['lb1']!.cert);
      for (let i = 0; i < 2; i++) assert.deepEqual(auth.authenticate({ peerCertificate: cert }), { ok: true, identity: { kind: 'cert', name: 'lb1', role: 'agent', actor: 'cert:lb1' } });
      now += 400 * 86_400_000;
      assert.deepEqual(auth.authenticate({ peerCertificate: cert }), { ok: false, reason: 'client certificate has expired' });
      assert.deepEqual(auth.authenticate({ peerCertificate: der(other.operators['alice']!.cert) }), { ok: false, reason: 'client certificate is not issued by a trusted CA' });
    } finally {
      source.close();
    }
  });

  /** A connection whose handshake verified `file`'s certificate; counts the reads of it. */
  function verifiedConnection(file: string): PeerConnection & { reads: number } {
    const cert = new X509Certificate(readFileSync(file));
    const conn = { authorized: true, destroyed: false, reads: 0, getPeerX509Certificate: () => (conn.reads++, cert) };
    return conn;
  }

  it('judges a TLS connection\'s certificate as its DER: the same outcome for every certificate and time', () => {
    const source = new CertificateSource({ ca: ca.ca.cert, cert: ca.coordinator.cert, key: ca.coordinator.key }, { watchIntervalMs: 0 });
    try {
      const now = Date.now();
      const files = [ca.agents['lb1']!.cert, ca.operators['alice']!.cert, ca.readOnly['viewer']!.cert, other.operators['alice']!.cert, ca.ca.cert, ca.coordinator.cert];
      let compared = 0;
      for (const file of files) {
        for (const at of [now, now + 400 * 86_400_000, now - 86_400_000]) {
          const byDer = new Authenticator(authConfigSchema.parse({}), source, () => at).authenticate({ peerCertificate: der(file) });
          const byConnection = new Authenticator(authConfigSchema.parse({}), source, () => at).connection(verifiedConnection(file));
          assert.deepEqual(byConnection, byDer, `${file} at ${at - now} ms`);
          compared++;
        }
      }
      assert.equal(compared, 18);
    } finally {
      source.close();
    }
  });

  it('verifies a connection\'s certificate once, again when the CAs change or its time runs out, never one the handshake did not verify', () => {
    let now = Date.now();
    const first = { authorities: [new X509Certificate(readFileSync(ca.ca.cert))] };
    const current = { value: first };
    const source = { get current() { return current.value; } } as unknown as CertificateSource;
    const auth = new Authenticator(authConfigSchema.parse({}), source, () => now);
    const conn = verifiedConnection(ca.agents['lb1']!.cert);
    const agent = { ok: true, identity: { kind: 'cert', name: 'lb1', role: 'agent', actor: 'cert:lb1' } };
    for (let i = 0; i < 3; i++) assert.deepEqual(auth.connection(conn), agent);
    assert.equal(conn.reads, 1, 'read and verified once for three streams');
    current.value = { authorities: [new X509Certificate(readFileSync(other.ca.cert))] };
    assert.deepEqual(auth.connection(conn), { ok: false, reason: 'client certificate is not issued by a trusted CA' });
    assert.equal(conn.reads, 2);
    current.value = { authorities: [...first.authorities] }; // a reload back to the first CA
    assert.deepEqual(auth.connection(conn), agent);
    assert.equal(conn.reads, 3);
    now += 400 * 86_400_000;
    assert.deepEqual(auth.connection(conn), { ok: false, reason: 'client certificate has expired' });
    assert.equal(conn.reads, 4);

    const unverified = { ...verifiedConnection(ca.agents['lb1']!.cert), authorized: false };
    assert.equal(auth.connection(unverified), undefined);
    assert.equal(unverified.reads, 0, 'a certificate the handshake refused is not even read');
    const closed = { authorized: true, destroyed: true, getPeerX509Certificate: () => undefined };
    assert.throws(() => auth.connection(closed), ConnectionClosedError);
  });

  it('reads the certificate a real TLS handshake verified, and none that it did not', async () => {
    const source = new CertificateSource({ ca: ca.ca.cert, cert: ca.coordinator.cert, key: ca.coordinator.key }, { watchIntervalMs: 0 });
    const server = createServer({ ca: readFileSync(ca.ca.cert), cert: readFileSync(ca.coordinator.cert), key: readFileSync(ca.coordinator.key), requestCert: true, rejectUnauthorized: false });
    const accepted: TLSSocket[] = [];
    server.on('secureConnection', (s: TLSSocket) => accepted.push(s));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const open = async (keys: { cert: string; key: string }): Promise<TLSSocket> => {
      const before = accepted.length;
      const c = connect({ port, host: '127.0.0.1', ca: readFileSync(ca.ca.cert), cert: readFileSync(keys.cert), key: readFileSync(keys.key), checkServerIdentity: () => undefined });
      await once(c, 'secureConnect');
      while (accepted.length === before) await new Promise((r) => setTimeout(r, 5));
      return c;
    };
    const clients: TLSSocket[] = [];
    try {
      const auth = new Authenticator(authConfigSchema.parse({}), source);
      clients.push(await open(ca.agents['lb1']!));
      assert.deepEqual(auth.connection(accepted[0]!), auth.authenticate({ peerCertificate: der(ca.agents['lb1']!.cert) }));
      assert.deepEqual(auth.connection(accepted[0]!), { ok: true, identity: { kind: 'cert', name: 'lb1', role: 'agent', actor: 'cert:lb1' } });
      clients.push(await open(other.operators['alice']!));
      assert.equal(accepted[1]!.authorized, false);
      assert.equal(auth.connection(accepted[1]!), undefined, 'another CA: no verified certificate, as grpc-js reports it');
    } finally {
      for (const c of clients) c.destroy();
      for (const s of accepted) s.destroy();
      server.close();
      source.close();
    }
  });

  it('refuses a server certificate used as a client certificate', () => {
    // The coordinator's own certificate carries a coordinator identity, which is no client role.
    const r = peerIdentity(der(ca.coordinator.cert), authorities, Date.now());
    assert.equal(r.ok, false);
  });

  it('loads only a consistent set of files', () => {
    assert.ok(loadCertificateFiles({ ca: ca.ca.cert, cert: ca.coordinator.cert, key: ca.coordinator.key }).ok);
    const mismatch = loadCertificateFiles({ ca: ca.ca.cert, cert: ca.coordinator.cert, key: ca.operators['alice']!.key });
    assert.equal(mismatch.ok, false);
    assert.match(mismatch.ok ? '' : mismatch.error, /does not match/);
    assert.equal(loadCertificateFiles({ ca: ca.ca.cert, cert: join(dir, 'missing.crt'), key: ca.coordinator.key }).ok, false);
    assert.throws(() => new CertificateSource({ ca: ca.ca.cert, cert: ca.coordinator.cert, key: ca.operators['alice']!.key }, { watchIntervalMs: 0 }), /cannot load TLS files/);
  });
});

describe('tokens', () => {
  const config = authConfigSchema.parse({
    tokens: [
      { name: 'ci', role: 'operator', sha256: hashToken('s3cret-ci') },
      { name: 'grafana', role: 'read-only', sha256: hashToken('s3cret-ro').toUpperCase() },
    ],
  });
  const auth = new Authenticator(config, undefined);

  it('maps a bearer token to its name and role', () => {
    assert.deepEqual(auth.authenticate({ authorization: 'Bearer s3cret-ci' }), { ok: true, identity: { kind: 'token', name: 'ci', role: 'operator', actor: 'token:ci' } });
    assert.deepEqual(auth.authenticate({ authorization: 'bearer s3cret-ro' }), { ok: true, identity: { kind: 'token', name: 'grafana', role: 'read-only', actor: 'token:grafana' } });
  });

  it('refuses unknown and malformed tokens, and nothing at all', () => {
    for (const h of ['Bearer nope', 'Bearer ', 'Basic czNjcmV0LWNp', 's3cret-ci', 'Bearer s3cret-ci extra', `Bearer ${'x'.repeat(5000)}`]) {
      assert.equal(auth.authenticate({ authorization: h }).ok, false, h);
    }
    const none = auth.authenticate({});
    assert.match(none.ok ? '' : none.reason, /credentials required/);
  });

  it('gives callers without credentials the anonymous role only when configured', () => {
    const open = new Authenticator(authConfigSchema.parse({ anonymous: 'read-only' }), undefined);
    assert.deepEqual(open.authenticate({}), { ok: true, identity: { kind: 'anonymous', name: 'anonymous', role: 'read-only', actor: 'anonymous' } });
    // A wrong token is still refused: anonymous access is for no credentials, not bad ones.
    assert.equal(open.authenticate({ authorization: 'Bearer wrong' }).ok, false);
  });

  it('validates the configuration: hashes, names, duplicates', () => {
    assert.equal(authConfigSchema.safeParse({ tokens: [{ name: 'x', role: 'operator', sha256: 'plaintext' }] }).success, false);
    assert.equal(authConfigSchema.safeParse({ tokens: [{ name: '../x', role: 'operator', sha256: hashToken('a') }] }).success, false);
    assert.equal(authConfigSchema.safeParse({ tokens: [{ name: 'x', role: 'admin', sha256: hashToken('a') }] }).success, false);
    const dup = authConfigSchema.safeParse({ tokens: [{ name: 'x', role: 'operator', sha256: hashToken('a') }, { name: 'x', role: 'read-only', sha256: hashToken('b') }] });
    assert.equal(dup.success, false);
    assert.match(JSON.stringify(dup.error?.issues), /already used by tokens\[0\]/);
  });
});

describe('method policy', () => {
  it('needs the operator role for mutations and for methods it does not know', () => {
    assert.equal(policyOf('listNodes').role, 'read-only');
    assert.equal(policyOf('drain').role, 'operator');
    assert.equal(policyOf('deleteEverything').role, 'operator');
    assert.equal(policyOf('toString').role, 'operator', 'no prototype lookups');
  });

  it('checks name fields and required fields before a handler runs', () => {
    assert.equal(requestProblem(policyOf('restartService'), { node: 'lb1', service: 'nginx' }), undefined);
    assert.match(requestProblem(policyOf('restartService'), { node: 'lb1', service: 'nginx;rm -rf /' }) ?? '', /^service: /);
    assert.match(requestProblem(policyOf('restartService'), { node: 'lb1', service: '' }) ?? '', /^service: must not be empty/);
    assert.match(requestProblem(policyOf('listNodes'), { cluster: 'web/..' }) ?? '', /^cluster: /);
    assert.equal(requestProblem(policyOf('listNodes'), { cluster: '' }), undefined);
  });
});
