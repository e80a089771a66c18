// The spec check an apply runs: it parses the text it is given once (the redaction reuses that
// parse) and takes the running spec's parse from its cache, so an apply over a large running
// spec costs one parse, not three. Parses are counted through the checker's parser port; the
// results are compared with the pieces computed apart.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffSpecs } from '../src/spec/diff-specs.js';
import { parseSpec } from '../src/spec/parse-spec.js';
import { parseDocument } from 'yaml';
import { redactSpecYaml } from '../src/spec/redact-spec.js';
import type { SpecCheckRequest } from '../src/spec/spec-check.js';
import { countedChecker, specText } from './support/spec-texts.js';

/** What a check should answer, from the pieces computed apart (each with its own parse). */
function expected(req: SpecCheckRequest): { changes: string[]; redacted: string } {
  const next = parseSpec(req.yaml);
  assert.ok(next.ok);
  const prev = req.current === undefined ? undefined : parseSpec(req.current);
  return { changes: diffSpecs(prev?.ok ? prev.value : undefined, next.value), redacted: redactSpecYaml(req.yaml, next.value, parseDocument(req.yaml, { uniqueKeys: false })) };
}

const A = specText(3, 4, 'a', true);
const B = specText(3, 4, 'b', true).replace('vrid: 2,', 'vrid: 9,');
const C = specText(4, 4, 'c', true);

describe('spec check', () => {
  it('parses each applied text once, with its passwords redacted from that parse, and the running spec not again', () => {
    const { checker, parses } = countedChecker();
    const steps: SpecCheckRequest[] = [
      { yaml: A, current: undefined, wantSpec: true }, // the coordinator's start: the stored spec
      { yaml: B, current: A, wantSpec: true }, // an apply over it
      { yaml: C, current: B, wantSpec: false }, // a validation against the new running spec
      { yaml: A, current: B, wantSpec: true }, // an apply back
    ];
    for (const [i, req] of steps.entries()) {
      const before = parses.length;
      const r = checker.check(req);
      assert.ok(r.valid, `step ${i}`);
      assert.deepEqual(parses.slice(before), [req.yaml], `step ${i}: only the checked text is parsed`);
      const want = expected(req);
      assert.deepEqual(r.changes, want.changes, `step ${i}: changes`);
      if (req.wantSpec) {
        assert.equal(r.redacted, want.redacted, `step ${i}: redacted text`);
        assert.ok(!r.redacted?.includes('pwa0x1') && !r.redacted?.includes('pwb0x1'), `step ${i}: a password is left`);
        const direct = parseSpec(req.yaml);
        assert.ok(direct.ok);
        assert.deepEqual(r.spec, direct.value, `step ${i}: spec`);
      } else {
        assert.equal(r.spec, undefined);
        assert.equal(r.redacted, undefined);
      }
    }
    assert.ok(expected(steps[1]!).changes.length > 0, 'the steps change something');
  });

  it('parses a running spec it has not seen once, and a running spec that no longer validates counts as none', () => {
    const { checker, parses } = countedChecker();
    const bad = A.replace('vrid: 1,', 'vrid: 0,');
    assert.ok(!parseSpec(bad).ok);
    const first = checker.check({ yaml: B, current: bad, wantSpec: false });
    assert.ok(first.valid);
    assert.deepEqual(first.changes, expected({ yaml: B, current: undefined, wantSpec: false }).changes);
    assert.deepEqual(parses, [B, bad]);
    checker.check({ yaml: C, current: bad, wantSpec: false });
    assert.deepEqual(parses, [B, bad, C], 'the invalid running text is remembered as such');
  });

  it('keeps two parsed specs: the running one survives an apply, older candidates are dropped', () => {
    const { checker, parses } = countedChecker();
    checker.check({ yaml: A, current: undefined, wantSpec: true });
    checker.check({ yaml: B, current: A, wantSpec: true });
    checker.check({ yaml: C, current: A, wantSpec: true }); // B's apply was refused; A still runs
    parses.length = 0;
    checker.check({ yaml: B, current: A, wantSpec: false });
    assert.deepEqual(parses, [B], 'A, the running spec, is kept');
    parses.length = 0;
    checker.check({ yaml: A, current: B, wantSpec: false });
    assert.deepEqual(parses, [A, B], 'B, an older candidate, was dropped');
  });

  it('refuses an invalid text without parsing the running spec', () => {
    const { checker, parses } = countedChecker();
    const r = checker.check({ yaml: 'clusters: [ { name: x } ]\n', current: A, wantSpec: true });
    assert.equal(r.valid, false);
    assert.equal(parses.length, 1);
  });
});
