// A Hello (or a relayed stream) whose TLS connection closed before it was handled: grpc-js's
// getAuthContext() then throws (the closed socket has no peer certificate). The stream must be
// refused as UNAVAILABLE with a message that says so, logged at debug level, not as an error.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { credentials, Metadata, status } from '@grpc/grpc-js';
import { createLogger, helloToWire, PROTOCOL_VERSION, type ConnectRequest } from '@lbha/shared';
import { createAgentService } from '../src/agent-service.js';
import { agentAuthorizer } from '../src/auth/agent-authorization.js';
import { AgentRelay } from '../src/etcd/agent-relay.js';
import { FORWARDED_BY } from '../src/etcd/forwarded-identity.js';
import type { LeaderInfo, Leadership } from '../src/etcd/leadership.js';
import { Registry } from '../src/registry.js';

/** A logger whose lines are kept, parsed. */
function capturingLogger() {
  const lines: Array<{ level: string; event?: string }> = [];
  const logger = createLogger('test', {
    level: 'debug',
    destination: new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as { level: string; event?: string });
        done();
      },
    }),
  });
  return { logger, lines };
}

/** A server call on a TLS connection that has closed: getAuthContext() throws as grpc-js's does then. */
function closedCall(metadata = new Metadata()) {
  const call = new EventEmitter() as EventEmitter & Record<string, unknown>;
  const errors: Array<{ code: number; details: string }> = [];
  call.on('error', (e: { code: number; details: string }) => errors.push(e));
  Object.assign(call, {
    metadata,
    writableEnded: false,
    getPeer: () => '127.0.0.1:50000',
    write: () => true,
    end: () => undefined,
    getAuthContext: () => {
      // grpc-js: `const peerCertificate = socket.getPeerCertificate(); return { sslPeerCertificate: peerCertificate.raw ? ... }`,
      // and a destroyed TLS socket's getPeerCertificate() is null.
      const peerCertificate = null as unknown as { raw?: Buffer };
      return { sslPeerCertificate: peerCertificate.raw ? peerCertificate : undefined };
    },
  });
  return { call, errors };
}

const hello: ConnectRequest = {
  msg: { $case: 'hello', value: helloToWire({ node: 'lb1', cluster: 'web', agentVersion: 't', bootId: 'b', protocol: PROTOCOL_VERSION, appliedVersion: 0, recentResults: [] }) },
};

describe('a stream whose connection closed before it was handled', () => {
  it('refuses the Hello as UNAVAILABLE, logged at debug level, and registers nothing', () => {
    const { logger, lines } = capturingLogger();
    const registry = new Registry(5000);
    let authenticated = 0;
    const authorize = agentAuthorizer(() => {
      authenticated++;
      return { ok: false, reason: 'unreachable' } as never;
    }, true);
    const service = createAgentService({ registry, logger, coordinatorId: 'c1', heartbeatIntervalMs: 1000, staleAfterMs: 5000, authorize });
    const { call, errors } = closedCall();
    service.connect(call as never);
    call.emit('data', hello);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]?.code, status.UNAVAILABLE);
    assert.match(errors[0]?.details ?? '', /connection closed before the Hello was handled/);
    assert.equal(authenticated, 0);
    assert.equal(registry.get('lb1'), undefined);
    assert.deepEqual(
      lines.filter((l) => l.level === 'error' || l.level === 'warn').map((l) => l.event),
      [],
    );
    assert.ok(lines.some((l) => l.level === 'debug' && l.event === 'agent.connection_closed'));
  });

  for (const role of ['follower', 'leader'] as const) {
    it(`on a ${role}, refuses a stream it cannot route as UNAVAILABLE instead of throwing`, () => {
      const { logger, lines } = capturingLogger();
      const self: LeaderInfo = { id: 'c1', grpc: '127.0.0.1:1', http: '' };
      const other: LeaderInfo = { id: 'c2', grpc: '127.0.0.1:2', http: '' };
      const leadership: Leadership = {
        isLeader: () => role === 'leader',
        leader: () => (role === 'leader' ? self : other),
        fence: () => undefined,
        subscribe: () => () => undefined,
      };
      const registry = new Registry(5000);
      const relay = new AgentRelay({
        local: createAgentService({ registry, logger, coordinatorId: 'c1', heartbeatIntervalMs: 1000, staleAfterMs: 5000 }),
        leadership,
        selfId: 'c1',
        registry,
        credentials: credentials.createInsecure(),
        logger,
      });
      const md = new Metadata();
      // On the leader, a stream relayed by a follower: its certificate is read at once.
      if (role === 'leader') md.set(FORWARDED_BY, 'c2');
      const { call, errors } = closedCall(md);
      relay.service.connect(call as never);
      relay.close();
      assert.equal(errors.length, 1);
      assert.equal(errors[0]?.code, status.UNAVAILABLE);
      assert.match(errors[0]?.details ?? '', /connection closed before the stream could be routed/);
      assert.equal(relay.relayedStreams, 0);
      assert.deepEqual(relay.channels(other.grpc).map((c) => c.streams), []);
      assert.ok(lines.some((l) => l.level === 'debug' && l.event === 'agent.connection_closed'));
      assert.ok(!lines.some((l) => l.level === 'error'));
    });
  }
});
