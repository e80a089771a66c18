// The spec as a reader without the operator role sees it: VRRP passwords and the credentials
// of check URLs replaced in place, everything else (comments, layout) as the operator wrote it.
import { urlForDisplay } from '@lbha/shared';
import { isScalar, visit, type Document } from 'yaml';
import type { Spec } from './cluster-spec.js';

export const REDACTED = '<redacted>';

/**
 * Secrets shorter than this are not searched for in free text (comments): a one-character
 * password would redact every occurrence of that character. The values themselves always are.
 */
const MIN_SEARCHED = 4;

/** The secrets a spec holds: every VRRP password, every check URL carrying credentials. */
function secretsOf(spec: Spec): Set<string> {
  const out = new Set<string>();
  for (const c of spec.clusters) {
    if (c.policy.authPass) out.add(c.policy.authPass);
    for (const v of c.vips) if (v.authPass) out.add(v.authPass);
    for (const k of c.checks) if (k.params.kind === 'http' && urlForDisplay(k.params.url) !== k.params.url) out.add(k.params.url);
  }
  return out;
}

/**
 * `yaml` (which parsed into `spec` and into `doc`) with its secrets redacted. The caller hands
 * over the document it parsed: parsing a large spec again costs as much as checking it.
 */
export function redactSpecYaml(yaml: string, spec: Spec, doc: Document): string {
  const secrets = secretsOf(spec);
  if (secrets.size === 0) return yaml;
  const edits: Array<{ start: number; end: number; text: string }> = [];
  visit(doc, {
    Scalar(_key, node) {
      if (!isScalar(node) || !node.range) return;
      const value = String(node.value);
      if (!secrets.has(value)) return;
      const [start, end] = node.range;
      const original = yaml.slice(start, end);
      const shown = value.includes('://') ? urlForDisplay(value) : REDACTED;
      edits.push({ start, end, text: `${JSON.stringify(shown)}${original.endsWith('\n') ? '\n' : ''}` });
    },
  });
  // Built from the pieces in one pass: splicing each edit into the whole text, and searching
  // the text once per secret, were quadratic with a password per VIP (6,000 of them: 8 s).
  const parts: string[] = [];
  let at = 0;
  for (const e of edits.sort((a, b) => a.start - b.start)) {
    parts.push(yaml.slice(at, e.start), e.text);
    at = e.end;
  }
  parts.push(yaml.slice(at));
  // What is left (a comment quoting a password, a value that merely contains one) goes too.
  return redactText(parts.join(''), secrets);
}

/**
 * `text` with every occurrence of a secret of MIN_SEARCHED characters or more replaced, the
 * longest first where several start at one place. One pass over the text, looking up the
 * substrings of each secret length only where the first two characters start some secret.
 */
function redactText(text: string, secrets: ReadonlySet<string>): string {
  const byLength = new Map<number, Set<string>>();
  const heads = new Set<number>();
  for (const s of secrets) {
    if (s.length < MIN_SEARCHED) continue;
    let same = byLength.get(s.length);
    if (!same) byLength.set(s.length, (same = new Set()));
    same.add(s);
    heads.add(s.charCodeAt(0) * 65536 + s.charCodeAt(1));
  }
  if (heads.size === 0) return text;
  const lengths = [...byLength.entries()].sort(([a], [b]) => b - a);
  const parts: string[] = [];
  let from = 0;
  for (let i = 0; i + MIN_SEARCHED <= text.length; ) {
    let hit = 0;
    if (heads.has(text.charCodeAt(i) * 65536 + text.charCodeAt(i + 1))) {
      for (const [length, same] of lengths) {
        if (i + length <= text.length && same.has(text.slice(i, i + length))) {
          hit = length;
          break;
        }
      }
    }
    if (hit === 0) {
      i++;
      continue;
    }
    parts.push(text.slice(from, i), REDACTED);
    i += hit;
    from = i;
  }
  parts.push(text.slice(from));
  return parts.join('');
}
