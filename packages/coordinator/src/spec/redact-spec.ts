// The spec as a reader without the operator role sees it: VRRP passwords and the credentials
// of check URLs replaced in place, everything else (comments, layout) as the operator wrote it.
import { urlForDisplay } from '@lbha/shared';
import { isScalar, parseDocument, visit } from 'yaml';
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

/** `yaml` (which parsed into `spec`) with its secrets redacted. */
export function redactSpecYaml(yaml: string, spec: Spec): string {
  const secrets = secretsOf(spec);
  if (secrets.size === 0) return yaml;
  const edits: Array<{ start: number; end: number; text: string }> = [];
  visit(parseDocument(yaml, { uniqueKeys: false }), {
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
  let out = yaml;
  for (const e of edits.sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  // What is left (a comment quoting a password, a value that merely contains one) goes too.
  for (const s of secrets) if (s.length >= MIN_SEARCHED) out = out.replaceAll(s, REDACTED);
  return out;
}
