// Clients of a coordinator check that the server is one: a certificate from the same CA, valid
// for the host name dialled, is not enough when it is not a coordinator's. The agent's
// credentials (fixed and rotating) and those coordinators use for each other are tried against
// a server whose certificate names the host but an agent's identity: the handshake fails and
// the server never sees a call, so no token or state reaches it.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Metadata, Server, ServerCredentials, status, type ChannelCredentials, type ServiceError } from '@grpc/grpc-js';
import { CertificateSource, checkCoordinatorIdentity, clientCredentials, silentLogger, watchedClientCredentials } from '@lbha/shared';
import { ControlServiceClient, ControlServiceService } from '@lbha/shared/control';
import { createDevCa, type DevCa, type KeyPair } from '../src/auth/dev-ca.js';

/** A certificate from `ca` for localhost and 127.0.0.1 with the given URI SAN (not a coordinator's). */
function impostor(ca: DevCa, dir: string, uri: string): KeyPair {
  const out = { cert: join(dir, 'impostor.crt'), key: join(dir, 'impostor.key') };
  const csr = join(dir, 'impostor.csr');
  const ext = join(dir, 'impostor.ext');
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', out.key], { stdio: 'ignore' });
  execFileSync('openssl', ['req', '-new', '-key', out.key, '-subj', '/O=lbha/CN=localhost', '-out', csr], { stdio: 'ignore' });
  writeFileSync(ext, `basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,URI:${uri}\n`);
  execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', ca.ca.cert, '-CAkey', ca.ca.key, '-set_serial', '0x1234', '-days', '2', '-sha256', '-extfile', ext, '-out', out.cert], {
    stdio: 'ignore',
  });
  return out;
}

interface Listening {
  readonly address: string;
  /** Calls that reached the server, with their authorization header. */
  readonly calls: string[];
  stop(): void;
}

async function serve(ca: DevCa, pair: KeyPair): Promise<Listening> {
  const calls: string[] = [];
  const server = new Server();
  server.addService(ControlServiceService, {
    listNodes: (call: { metadata: Metadata }, cb: (e: null, r: unknown) => void) => {
      calls.push(String(call.metadata.get('authorization')[0] ?? ''));
      cb(null, { nodes: [] });
    },
  } as never);
  const creds = ServerCredentials.createSsl(readFileSync(ca.ca.cert), [{ cert_chain: readFileSync(pair.cert), private_key: readFileSync(pair.key) }], false);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  return { address: `127.0.0.1:${port}`, calls, stop: () => server.forceShutdown() };
}

function listNodes(address: string, credentials: ChannelCredentials, options: Record<string, string> = {}): Promise<{ ok: true } | { ok: false; code: number; details: string }> {
  const client = new ControlServiceClient(address, credentials, options);
  const md = new Metadata();
  md.set('authorization', 'Bearer secret-operator-token');
  return new Promise((resolve) =>
    client.listNodes({ cluster: '' }, md, { deadline: Date.now() + 5000 }, (err: ServiceError | null) => {
      client.close();
      resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true });
    }),
  );
}

describe('clients check that the server is a coordinator', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-server-role-'));
  let ca: DevCa;
  let real: Listening;
  let fake: Listening;
  let tls: { ca: string; cert: string; key: string };

  before(async () => {
    ca = createDevCa({ dir: join(dir, 'pki'), agents: ['lb1'] });
    real = await serve(ca, ca.coordinator);
    fake = await serve(ca, impostor(ca, dir, 'spiffe://lbha/agent/lb9'));
    tls = { ca: ca.ca.cert, cert: (ca.agents['lb1'] as KeyPair).cert, key: (ca.agents['lb1'] as KeyPair).key };
  });
  after(() => {
    real.stop();
    fake.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the check wants the host name and a coordinator identity', () => {
    const coordinator = new X509Certificate(readFileSync(ca.coordinator.cert)).toLegacyObject();
    assert.equal(checkCoordinatorIdentity('localhost', coordinator), undefined);
    assert.match(String(checkCoordinatorIdentity('elsewhere.example', coordinator)), /elsewhere\.example/);
    const other = new X509Certificate(readFileSync(join(dir, 'impostor.crt'))).toLegacyObject();
    assert.match(String(checkCoordinatorIdentity('localhost', other)), /not an lbha coordinator: .*spiffe:\/\/lbha\/agent\/lb9/);
  });

  it('fixed client credentials (agents, coordinator peers): refused before any call', async () => {
    const { credentials, options } = clientCredentials(tls);
    assert.deepEqual(await listNodes(real.address, credentials, options), { ok: true });
    const r = await listNodes(fake.address, credentials, options);
    assert.equal(r.ok ? 0 : r.code, status.UNAVAILABLE);
    assert.match(r.ok ? '' : r.details, /not an lbha coordinator/);
    assert.deepEqual(fake.calls, [], 'nothing reached the impostor');
  });

  it('rotating client credentials (agents): refused before any call', async () => {
    const source = new CertificateSource(tls, { logger: silentLogger(), watchIntervalMs: 0 });
    try {
      const credentials = watchedClientCredentials(source);
      assert.deepEqual(await listNodes(real.address, credentials), { ok: true });
      const r = await listNodes(fake.address, credentials);
      assert.equal(r.ok ? 0 : r.code, status.UNAVAILABLE);
      assert.deepEqual(fake.calls, [], 'nothing reached the impostor');
    } finally {
      source.close();
    }
  });
});
