// Redaction of a spec's secrets for readers without the operator role, at the size of a large
// fleet with a password per VIP: every secret goes, wherever it appears, and nothing else changes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { parseSpec } from '../src/spec/parse-spec.js';
import { REDACTED, redactSpecYaml } from '../src/spec/redact-spec.js';

/** The spec, the spec as a reader should see it, and its passwords. */
function specWithPasswords(clusters: number, vipsPerCluster: number): { yaml: string; redacted: string; passwords: string[] } {
  const lines = ['clusters:'];
  const shown = ['clusters:'];
  const passwords: string[] = [];
  for (let c = 0; c < clusters; c++) {
    const pw = `cl${String(c).padStart(5, '0')}`;
    passwords.push(pw);
    const head = [`  - name: c${c}`, '    service: nginx', `    policy: { vrrp_version: 2, advert_interval: 1s, auth_pass: PW }`, '    nodes:'];
    for (let k = 1; k <= 2; k++) head.push(`      - { name: c${c}-lb${k}, interfaces: [ { name: eth1, address: 10.${c}.0.${k}/16 } ] }`);
    head.push('    vips:');
    lines.push(...head.map((l) => l.replace('PW', pw)));
    shown.push(...head.map((l) => l.replace('PW', `"${REDACTED}"`)));
    for (let v = 0; v < vipsPerCluster; v++) {
      const own = `v${String(c * vipsPerCluster + v).padStart(7, '0')}`;
      passwords.push(own);
      const line = `      - { name: c${c}-v${v}, address: 10.${c}.${1 + (v >> 8)}.${v & 255}/16, interface: eth1, vrid: ${(v % 255) + 1}, auth_pass: PW } # was PWx`;
      lines.push(line.replaceAll('PW', own));
      shown.push(line.replace('PW', `"${REDACTED}"`).replace('PW', REDACTED));
    }
  }
  return { yaml: `${lines.join('\n')}\n`, redacted: `${shown.join('\n')}\n`, passwords };
}

describe('spec redaction', () => {
  it('removes 3,072 passwords from their values and from comments, and changes nothing else', () => {
    const { yaml, redacted, passwords } = specWithPasswords(12, 255);
    const r = parseSpec(yaml);
    assert.ok(r.ok, r.ok ? '' : r.issues[0]?.message);
    const out = redactSpecYaml(yaml, r.value, parseDocument(yaml, { uniqueKeys: false }));
    for (const pw of passwords) assert.ok(!out.includes(pw), `${pw} is still there`);
    // Each value became a quoted marker, each comment's mention the bare marker.
    assert.equal(out, redacted);
  });

  it('where one secret contains another, the longer one goes whole', () => {
    const yaml = 'clusters:\n  - name: c\n    service: nginx\n    policy: { vrrp_version: 2, advert_interval: 1s, auth_pass: abcd }\n    nodes: [ { name: n1, interfaces: [ { name: eth1, address: 10.0.0.1/24 } ] } ]\n    vips:\n      - { name: v, address: 10.0.0.9/24, interface: eth1, vrid: 9, auth_pass: xabcdy } # old: xabcdy, abcd\n';
    const r = parseSpec(yaml);
    assert.ok(r.ok, r.ok ? '' : r.issues[0]?.message);
    const out = redactSpecYaml(yaml, r.value, parseDocument(yaml, { uniqueKeys: false }));
    assert.match(out, /# old: <redacted>, <redacted>\n$/);
    assert.ok(!out.includes('abcd'));
  });
});
