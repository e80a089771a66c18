import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventually, waitFor, WaitTimeoutError } from '../src/wait-for.js';
import { freePorts } from '../src/free-port.js';

describe('eventually', () => {
  it('resolves with the first truthy value', async () => {
    let n = 0;
    assert.equal(await eventually(() => (++n >= 3 ? `after ${n}` : undefined), 'three probes', { intervalMs: 1 }), 'after 3');
  });

  it('retries a probe that throws and names its last error and the probe on timeout', async () => {
    const err = await eventually(() => {
      throw new Error('not yet: 7');
    }, 50).catch((e: unknown) => e);
    assert.ok(err instanceof WaitTimeoutError);
    assert.match(err.message, /timed out after 50 ms waiting for \(\) => \{ throw new Error\('not yet: 7'\); \} \(last seen: not yet: 7\)/);
  });

  it('probes once even with a timeout of 0', async () => {
    assert.equal(await eventually(() => 1, 'at once', 0), 1);
  });
});

describe('waitFor', () => {
  it('names the last observation on timeout', async () => {
    let n = 0;
    const err = await waitFor('a value', () => ({ done: false, observed: `saw ${++n}` }), { timeoutMs: 30, intervalMs: 5 }).catch((e: unknown) => e);
    assert.ok(err instanceof WaitTimeoutError);
    assert.equal(err.lastObservation, `saw ${n}`);
  });
});

describe('freePorts', () => {
  it('gives distinct ports', async () => {
    const ports = await freePorts(5);
    assert.equal(new Set(ports).size, 5);
    for (const p of ports) assert.ok(p > 0 && p < 65536);
  });
});
