// The spec worker's deadline: a check over it is abandoned, unless the check has a deadline of
// its own (the coordinator's stored spec at start-up, which must not stop the start on a busy core).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { silentLogger } from '@lbha/shared';
import { AgentOutbox } from '../src/agent-outbox.js';
import { ControlPlane } from '../src/control-plane.js';
import { ResourceExhaustedError } from '../src/errors.js';
import { EventLog } from '../src/event-log.js';
import { Registry } from '../src/registry.js';
import { SpecValidator } from '../src/spec/spec-validator.js';
import { MemoryStore } from '../src/store/memory-store.js';
import { SEED1 } from './support/coordinator-harness.js';

describe('spec validator deadlines', () => {
  it('abandons a check past the default deadline, and keeps one with a longer deadline of its own', async () => {
    // 1 ms: no check (a worker starting, a YAML parse) finishes that fast.
    const validator = new SpecValidator({ timeoutMs: 1 });
    try {
      const request = { yaml: 'clusters: {}\n', current: undefined, wantSpec: true };
      await assert.rejects(validator.check(request), (err: unknown) => err instanceof ResourceExhaustedError && /longer than 1ms/.test(err.message));
      const r = await validator.check(request, 'system', 60_000);
      assert.equal(typeof r.valid, 'boolean', 'the check ran to its result');
    } finally {
      await validator.close();
    }
  });

  it("holds the first start's spec file to the start-up deadline, not an API caller's", async () => {
    const validator = new SpecValidator({ timeoutMs: 1 });
    const registry = new Registry(3000);
    const events = new EventLog();
    const store = new MemoryStore();
    await events.attach(store);
    const plane = await ControlPlane.start({ store, registry, outbox: new AgentOutbox(() => undefined), events, logger: silentLogger(), validator, initialSpec: { yaml: SEED1, source: 'test' } });
    try {
      assert.equal(plane.currentSpec().version, 1, 'the initial spec was applied');
      await assert.rejects(plane.validateSpec(SEED1), ResourceExhaustedError, 'an API caller still has the default deadline');
    } finally {
      await plane.stop();
      await validator.close();
    }
  });
});
