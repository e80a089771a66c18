// The running spec's check saved next to the state (spec/checked-spec.ts): a start takes it
// instead of parsing the stored spec, and only when it is intact, of the stored text and of this
// validation code; otherwise the start checks the text in full, says why in one log line, and
// saves a new check. Parses are counted through the checker's parser port.
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { serialize } from 'node:v8';
import { createHash } from 'node:crypto';
import { createLogger } from '@lbha/shared';
import { decodeCheckedSpec, encodeCheckedSpec, validationFingerprint } from '../src/spec/checked-spec.js';
import { parseSpec } from '../src/spec/parse-spec.js';
import type { Spec } from '../src/spec/cluster-spec.js';
import { SpecChecker } from '../src/spec/spec-check.js';
import { CHECKED_SPEC_FILE } from '../src/server.js';
import { Harness, SEED1 } from './support/coordinator-harness.js';
import { countedChecker, specText } from './support/spec-texts.js';

const A = specText(3, 2, 'a', false);
const B = specText(4, 2, 'b', false);

/** The saved check of `yaml` as a full check produces it. */
function savedOf(yaml: string): Uint8Array {
  const r = new SpecChecker().check({ yaml, current: undefined, wantSpec: true, save: true });
  assert.ok(r.valid && r.save);
  return r.save;
}

/** A file with a valid checksum around `body`. */
function withChecksum(body: unknown): Buffer {
  const bytes = serialize(body);
  return Buffer.concat([createHash('sha256').update(bytes).digest(), bytes]);
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('checked spec', () => {
  it('a saved check stands for its text: the same spec and redacted text, and no parse', () => {
    const full = new SpecChecker().check({ yaml: A, current: undefined, wantSpec: true, save: true });
    assert.ok(full.valid && full.save);
    const { checker, parses } = countedChecker();
    const r = checker.check({ yaml: A, current: undefined, wantSpec: true, saved: full.save, save: true });
    assert.ok(r.valid);
    assert.deepEqual(parses, [], 'nothing parsed');
    assert.deepEqual(r.savedUse, { used: true });
    assert.equal(r.save, undefined, 'nothing new to save');
    const direct = parseSpec(A);
    assert.ok(direct.ok);
    assert.deepEqual(r.spec, direct.value);
    assert.equal(r.redacted, full.redacted);
    assert.ok(!r.redacted?.includes('clax'), 'the password is not in the redacted text');
    assert.deepEqual(r.changes, full.changes);
    // The spec taken from the saved check is the running spec of the next check: not parsed either.
    const next = checker.check({ yaml: B, current: A, wantSpec: true });
    assert.ok(next.valid && next.changes.length > 0);
    assert.deepEqual(parses, [B]);
  });

  const refused: Array<[string, (good: Uint8Array) => Uint8Array, RegExp]> = [
    ['a flipped byte', (good) => Buffer.from(good).fill(0x55, good.length - 20, good.length - 19), /damaged: its checksum does not match/],
    ['a truncated file', (good) => good.subarray(0, good.length - 100), /damaged: its checksum does not match/],
    ['an empty file', () => Buffer.alloc(0), /damaged: 0 bytes, too short/],
    ['another text', () => savedOf(B), /of another spec text than the stored one/],
    ['other validation code', () => encodeCheckedSpec(A, { spec: (parseSpec(A) as { ok: true; value: Spec }).value, redacted: '' }, 'another build'), /checked by other validation code/],
    ['another format', () => withChecksum({ format: 2 }), /of format 2, not 1/],
    ['a checksum over garbage', () => withChecksum('not a check'), /of format undefined/],
    ['no spec in it', () => withChecksum({ format: 1, yamlSha256: sha(A), fingerprint: validationFingerprint(), spec: { clusters: 'x' }, redacted: '' }), /damaged: no spec in it/],
  ];
  for (const [what, spoil, reason] of refused) {
    it(`${what} is not taken: the text is checked in full, the reason said, a new check returned`, () => {
      const { checker, parses } = countedChecker();
      const r = checker.check({ yaml: A, current: undefined, wantSpec: true, saved: spoil(savedOf(A)), save: true });
      assert.ok(r.valid);
      assert.deepEqual(parses, [A], 'parsed once');
      assert.ok(r.savedUse && !r.savedUse.used);
      assert.match(r.savedUse.reason, reason);
      assert.ok(r.save);
      assert.deepEqual(decodeCheckedSpec(r.save, A).ok, true, 'the new check is of the text');
      const direct = parseSpec(A);
      assert.ok(direct.ok);
      assert.deepEqual(r.spec, direct.value);
    });
  }

  it('a saved check of a text that no longer validates is not taken for it', () => {
    const { checker } = countedChecker();
    const bad = A.replace('vrid: 2', 'vrid: 1');
    const r = checker.check({ yaml: bad, current: undefined, wantSpec: true, saved: savedOf(A), save: true });
    assert.equal(r.valid, false);
    assert.ok(r.savedUse && !r.savedUse.used);
    assert.match(r.savedUse.reason, /another spec text/);
  });

  it('the coordinator saves the check at an apply (0600) and takes it at the next start; a damaged one is ignored with a warning and replaced', async () => {
    const lines: Array<{ level: string; event?: string; reason?: string }> = [];
    const logger = createLogger('test', {
      level: 'info',
      destination: new Writable({
        write(chunk: Buffer, _encoding, done) {
          for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as (typeof lines)[number]);
          done();
        },
      }),
    });
    const h = await Harness.start({ logger });
    try {
      const file = join(h.dir, 'state', CHECKED_SPEC_FILE);
      const events = (name: string) => lines.filter((l) => l.event === name);
      await h.applySpec(SEED1);
      const before = h.server.plane?.currentSpec();
      assert.ok(before);
      await h.restartCoordinator();
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(decodeCheckedSpec(readFileSync(file), SEED1).ok, true);
      assert.equal(events('spec.checked_loaded').length, 1, 'the restart took the saved check');
      assert.equal(events('spec.checked_ignored').length, 0);
      assert.deepEqual(h.server.plane?.currentSpec(), before);

      writeFileSync(file, 'not a saved check');
      await h.restartCoordinator();
      const ignored = events('spec.checked_ignored');
      assert.equal(ignored.length, 1);
      assert.equal(ignored[0]?.level, 'warn');
      assert.match(ignored[0]?.reason ?? '', /damaged/);
      assert.deepEqual(h.server.plane?.currentSpec(), before, 'the spec came from the stored text');
      // The start saved a good check again: the next start takes it.
      await h.restartCoordinator();
      assert.equal(events('spec.checked_loaded').length, 2);

      // A check of another text (the spec changed while the file was not rewritten) is not taken.
      const oldCheck = readFileSync(file);
      await h.applySpec(`${SEED1}# changed\n`);
      await h.restartCoordinator(() => writeFileSync(file, oldCheck));
      assert.match(events('spec.checked_ignored')[1]?.reason ?? '', /another spec text/);
      assert.notDeepEqual(h.server.plane?.currentSpec().yaml, before.yaml);
    } finally {
      await h.stop();
    }
  });
});
