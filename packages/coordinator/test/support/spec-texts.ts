// Spec texts of many small clusters, and a spec checker whose parses are counted, for the
// tests of the spec check (spec-check.ts) and of its saved form (checked-spec.ts).
import { parseSpecWith } from '../../src/spec/parse-spec.js';
import { SpecChecker, type SpecParser } from '../../src/spec/spec-check.js';

/**
 * `clusters` two-node clusters of `vips` VIPs, with cluster passwords (so the redacted text
 * differs from the text); `vipPasswords` gives each VIP a password of its own too, repeated in
 * a comment. `tag` varies the passwords.
 */
export function specText(clusters: number, vips: number, tag: string, vipPasswords: boolean): string {
  const lines = ['clusters:'];
  for (let c = 0; c < clusters; c++) {
    lines.push(`  - name: c${c}`, '    service: nginx', `    policy: { vrrp_version: 2, advert_interval: 1s, auth_pass: cl${tag}${c}xx }`, '    nodes:');
    for (let k = 1; k <= 2; k++) lines.push(`      - { name: c${c}-lb${k}, interfaces: [ { name: eth1, address: 10.${c}.0.${k}/24 } ] }`);
    lines.push('    vips:');
    for (let v = 0; v < vips; v++) {
      const vip = `c${c}-v${v}, address: 10.${c}.0.${100 + v}/24, interface: eth1, vrid: ${v + 1}`;
      lines.push(vipPasswords ? `      - { name: ${vip}, auth_pass: pw${tag}${c}x${v} } # pw${tag}${c}x${v}` : `      - { name: ${vip} }`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** A checker whose parses are counted, by text. */
export function countedChecker(): { checker: SpecChecker; parses: string[] } {
  const parses: string[] = [];
  const parse: SpecParser = (text, then) => {
    parses.push(text);
    return parseSpecWith(text, then);
  };
  return { checker: new SpecChecker(parse), parses };
}
