// The coordinator as its wrappers start it (its node flags and OpenSSL configuration), with
// mutual TLS from lbha-dev-ca: a handshake gets no session ticket and agrees on X25519 in TLS
// 1.3, and a client certificate of another CA is still refused while one of the coordinator's CA
// is accepted.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createSecureServer } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { COORDINATOR_NODE_FLAGS, COORDINATOR_OPENSSL_FLAG } from '@lbha/coordinator';
import { freePort } from '@lbha/test-support';
import { BIN, ROOT } from '../support/paths.js';
import { Proc, runNode } from '../support/process.js';

const DEV_CA = join(ROOT, 'packages/coordinator/dist/src/bin/lbha-dev-ca.js');

interface Handshake {
  readonly protocol: string | null;
  readonly group: string | undefined;
  /** Session tickets (`session` events) the client got before the server's first HTTP/2 bytes. */
  readonly tickets: number;
}

/**
 * A mutual-TLS connection with ALPN h2, kept until the server's first application data (its
 * HTTP/2 SETTINGS): OpenSSL sends its tickets right after the handshake, before anything the
 * server writes, so every ticket it sends has arrived by then.
 */
function handshake(port: number, pki: string, certName: string): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    let tickets = 0;
    const socket: TLSSocket = connect({
      host: '127.0.0.1',
      port,
      ca: readFileSync(join(pki, 'ca.crt')),
      cert: readFileSync(join(pki, `${certName}.crt`)),
      key: readFileSync(join(pki, `${certName}.key`)),
      ALPNProtocols: ['h2'],
      checkServerIdentity: () => undefined,
    });
    socket.on('session', () => tickets++);
    socket.once('data', () => {
      const key = socket.getEphemeralKeyInfo() as { name?: string } | null;
      resolve({ protocol: socket.getProtocol(), group: key?.name, tickets });
      socket.destroy();
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before the server sent anything')));
  });
}

describe('the coordinator as its wrappers start it, mutual TLS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-coordinator-tls-'));
  const pki = join(dir, 'pki');
  const other = join(dir, 'other-pki');
  let proc: Proc | undefined;
  let port = 0;

  before(async () => {
    const ca = await runNode(DEV_CA, ['--out', pki, '--agent', 'lb1', '--operator', 'alice']);
    assert.equal(ca.code, 0, ca.stderr);
    const foreign = await runNode(DEV_CA, ['--out', other, '--operator', 'alice']);
    assert.equal(foreign.code, 0, foreign.stderr);
    port = await freePort();
    writeFileSync(
      join(dir, 'coordinator.yaml'),
      `id: coord-tls-settings
grpc: { listen: ["127.0.0.1:${port}"] }
tls: { ca: ${join(pki, 'ca.crt')}, cert: ${join(pki, 'coordinator.crt')}, key: ${join(pki, 'coordinator.key')} }
stateDir: ${join(dir, 'state')}
`,
    );
    proc = new Proc(spawn(process.execPath, [...COORDINATOR_NODE_FLAGS, COORDINATOR_OPENSSL_FLAG, BIN.coordinator, '--config', join(dir, 'coordinator.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] }));
    await proc.waitForLog((l) => l.event === 'coordinator.started');
  });

  after(async () => {
    await proc?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sees the session tickets of a server with OpenSSL defaults (the observation works)', async () => {
    const server = createSecureServer({ key: readFileSync(join(pki, 'coordinator.key')), cert: readFileSync(join(pki, 'coordinator.crt')) });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const address = server.address();
      const got = await handshake(typeof address === 'object' && address ? address.port : 0, pki, 'agent-lb1');
      assert.equal(got.protocol, 'TLSv1.3');
      assert.equal(got.tickets, 2);
    } finally {
      server.close();
    }
  });

  it('issues no session ticket, in TLS 1.3 over X25519', async () => {
    const got = await handshake(port, pki, 'agent-lb1');
    assert.deepEqual(got, { protocol: 'TLSv1.3', group: 'X25519', tickets: 0 });
  });

  it('refuses a client certificate of another CA and accepts one of its own', async () => {
    const status = (certs: string) =>
      runNode(BIN.cli, ['status', '--json', '-C', `127.0.0.1:${port}`, '--ca', join(pki, 'ca.crt'), '--cert', join(certs, 'operator-alice.crt'), '--key', join(certs, 'operator-alice.key')], { HOME: dir });
    const foreign = await status(other);
    assert.equal(foreign.code, 1);
    assert.match(foreign.stderr, /^lbha: UNAUTHENTICATED: /);
    const own = await status(pki);
    assert.equal(own.code, 0, own.stderr);
  });
});
