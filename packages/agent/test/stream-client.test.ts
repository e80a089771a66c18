import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import { silentLogger } from '@lbha/shared';
import { NullCore } from '../src/null-core.js';
import { StreamClient } from '../src/stream-client.js';

function client(random: () => number, initial = 200, max = 10_000): StreamClient {
  const core = new NullCore();
  return new StreamClient({
    addresses: ['127.0.0.1:1'],
    credentials: credentials.createInsecure(),
    node: 'lb1',
    cluster: 'web',
    agentVersion: 't',
    bootId: 'b',
    source: core,
    handler: core,
    logger: silentLogger(),
    backoffInitialMs: initial,
    backoffMaxMs: max,
    random,
  });
}

describe('StreamClient backoff', () => {
  it('doubles per attempt between half and all of the cap', () => {
    const lo = client(() => 0);
    const hi = client(() => 1);
    assert.deepEqual([0, 1, 2, 3].map((a) => lo.nextDelayMs(a)), [100, 200, 400, 800]);
    assert.deepEqual([0, 1, 2, 3].map((a) => hi.nextDelayMs(a)), [200, 400, 800, 1600]);
  });

  it('is capped at the maximum', () => {
    const c = client(() => 1, 200, 1000);
    assert.equal(c.nextDelayMs(30), 1000);
    assert.equal(client(() => 0, 200, 1000).nextDelayMs(30), 500);
  });
});
