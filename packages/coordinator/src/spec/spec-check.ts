// One spec check: parse, validate and diff against the running spec. Pure apart from a cache
// of the running spec's parse; runs in the spec worker (spec-validator.ts) so that a large or
// hostile document never holds the coordinator's event loop.
import type { ConfigIssue } from '@lbha/shared';
import type { Spec } from './cluster-spec.js';
import { diffSpecs } from './diff-specs.js';
import { parseSpec } from './parse-spec.js';
import { redactSpecYaml } from './redact-spec.js';

/** Problems reported per check; more are summarised in one line. */
export const MAX_REPORTED_ISSUES = 100;
/** A message naming thousands of keys or nodes is cut here. */
const MAX_MESSAGE_LENGTH = 500;

function short(i: ConfigIssue): ConfigIssue {
  return i.message.length <= MAX_MESSAGE_LENGTH ? i : { ...i, message: `${i.message.slice(0, MAX_MESSAGE_LENGTH)}... (cut)` };
}

export interface SpecCheckRequest {
  readonly yaml: string;
  /** The running spec (YAML), or undefined when none is applied yet. */
  readonly current: string | undefined;
  /** Return the parsed spec too (for an apply); a validation needs only the verdict. */
  readonly wantSpec: boolean;
}

export type SpecCheckResult =
  | { readonly valid: false; readonly issues: readonly ConfigIssue[] }
  | {
      readonly valid: true;
      readonly changes: readonly string[];
      /** With wantSpec: the spec, and its text as readers without the operator role see it. */
      readonly spec: Spec | undefined;
      readonly redacted: string | undefined;
    };

let cached: { readonly yaml: string; readonly spec: Spec | undefined } | undefined;

/** The running spec parsed; parsed once per text, not on every check. */
function currentSpec(yaml: string | undefined): Spec | undefined {
  if (yaml === undefined) return undefined;
  if (cached?.yaml !== yaml) {
    const r = parseSpec(yaml);
    cached = { yaml, spec: r.ok ? r.value : undefined };
  }
  return cached.spec;
}

export function checkSpec(req: SpecCheckRequest): SpecCheckResult {
  const r = parseSpec(req.yaml);
  if (!r.ok) {
    const issues = r.issues.slice(0, MAX_REPORTED_ISSUES).map(short);
    const more = r.issues.length - issues.length;
    if (more > 0) issues.push({ path: '', line: 0, column: 0, message: `and ${more} more problems (fix these first)` });
    return { valid: false, issues };
  }
  const changes = diffSpecs(currentSpec(req.current), r.value);
  if (!req.wantSpec) return { valid: true, changes, spec: undefined, redacted: undefined };
  return { valid: true, changes, spec: r.value, redacted: redactSpecYaml(req.yaml, r.value) };
}
