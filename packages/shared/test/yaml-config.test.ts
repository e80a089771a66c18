import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { durationMs } from '../src/duration.js';
import { parseYaml } from '../src/yaml-config.js';

const schema = z.object({ a: z.object({ list: z.array(z.number()) }).strict(), d: durationMs().default(1000) }).strict();

describe('parseYaml', () => {
  it('returns the value with defaults filled', () => {
    const r = parseYaml('a:\n  list: [1, 2]\nd: 250ms\n', schema);
    assert.deepEqual(r, { ok: true, value: { a: { list: [1, 2] }, d: 250 } });
  });

  it('names the field, line and column of a wrong type', () => {
    const r = parseYaml('a:\n  list: [1, "x"]\n', schema);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.issues[0]?.path, 'a.list[1]');
    assert.equal(r.issues[0]?.line, 2);
    assert.equal(r.issues[0]?.column, 13);
  });

  it('reports unknown keys and bad durations together', () => {
    const r = parseYaml('a: { list: [] }\nd: soon\nextra: 1\n', schema);
    assert.equal(r.ok, false);
    if (r.ok) return;
    const messages = r.issues.map((i) => `${i.path}@${i.line}: ${i.message}`);
    assert.ok(messages.some((m) => m.startsWith('d@2: "soon" is not a duration')), messages.join('\n'));
    assert.ok(messages.some((m) => m.includes("Unrecognized key(s) in object: 'extra'")), messages.join('\n'));
  });

  it('reports YAML syntax errors with a line', () => {
    const r = parseYaml('a: [1, 2\n', schema);
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.ok((r.issues[0]?.line ?? 0) >= 1);
  });

  it('refuses duplicate keys', () => {
    const r = parseYaml('a: { list: [] }\na: { list: [] }\n', schema);
    assert.equal(r.ok, false);
  });
});
