// The spec worker's deadline: a check over it is abandoned, unless the check has a deadline of
// its own (the coordinator's stored spec at start-up, which must not stop the start on a busy core).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ResourceExhaustedError } from '../src/errors.js';
import { SpecValidator } from '../src/spec/spec-validator.js';

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
});
