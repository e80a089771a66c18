// The coordinator's own listening socket asks for a deep accept queue, so that a fleet
// reconnecting after a restart is queued by the kernel rather than dropped (a dropped SYN is
// retried only after 1, 3, 7 s). What the kernel granted is read back with `ss`.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { ConnectionLimiter } from '../src/limits/connection-limiter.js';
import { GrpcListener, LISTEN_BACKLOG } from '../src/limits/grpc-listener.js';

/** The backlog of the TCP socket listening on `port` (ss shows it as Send-Q of a LISTEN socket). */
function listenBacklog(port: number): number {
  const out = execFileSync('ss', ['-ltnH', 'sport', '=', `:${port}`], { encoding: 'utf8' });
  const fields = out.trim().split(/\s+/);
  return Number(fields[2]);
}

describe('gRPC listener', () => {
  it('listens with an accept queue as deep as the kernel allows, far above the default 511', async () => {
    const server = new Server();
    const listener = new GrpcListener(server, ServerCredentials.createInsecure(), new ConnectionLimiter(100, 100));
    try {
      const address = await listener.listen('127.0.0.1:0');
      const port = Number(address.split(':')[1]);
      const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
      assert.equal(listenBacklog(port), Math.min(LISTEN_BACKLOG, somaxconn));
      // And it accepts connections.
      await new Promise<void>((resolve, reject) => {
        const s = connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve();
        });
        s.once('error', reject);
      });
    } finally {
      listener.close();
      server.forceShutdown();
    }
  });
});
