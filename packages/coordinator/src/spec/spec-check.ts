// One spec check: parse, validate and diff against the running spec. Pure apart from a cache
// of parsed specs; runs in the spec worker (spec-validator.ts) so that a large or hostile
// document never holds the coordinator's event loop.
//
// Parsing is nearly all of a check's cost (a 20,000-VIP spec: seconds, and a few hundred MB of
// transient YAML nodes that the worker's bounded heap collects again and again), so a check
// parses the text it is given once: the redaction reuses that parse's document, and the
// running spec's parse comes from the cache (it is the last applied candidate), not a new parse.
import type { ConfigIssue, Locate, ParseResult } from '@lbha/shared';
import type { Document } from 'yaml';
import { decodeCheckedSpec, encodeCheckedSpec } from './checked-spec.js';
import type { Spec } from './cluster-spec.js';
import { diffSpecs } from './diff-specs.js';
import { parseSpecWith } from './parse-spec.js';
import { redactSpecYaml } from './redact-spec.js';
import { locatedWarnings, type LocatedWarning } from './spec-warnings.js';

/** Problems reported per check; more are summarised in one line. */
export const MAX_REPORTED_ISSUES = 100;
/** A message naming thousands of keys or nodes is cut here. */
const MAX_MESSAGE_LENGTH = 500;
/** Parsed specs kept by their text: the running one and the latest candidate of an apply. */
const KEPT = 2;

function short(i: ConfigIssue): ConfigIssue {
  return i.message.length <= MAX_MESSAGE_LENGTH ? i : { ...i, message: `${i.message.slice(0, MAX_MESSAGE_LENGTH)}... (cut)` };
}

export interface SpecCheckRequest {
  readonly yaml: string;
  /** The running spec (YAML), or undefined when none is applied yet. */
  readonly current: string | undefined;
  /** Return the parsed spec too (for an apply); a validation needs only the verdict. */
  readonly wantSpec: boolean;
  /**
   * With wantSpec: a saved check of this text (checked-spec.ts) to take instead of parsing it,
   * when it is of this text and of this code (the stored spec at a start).
   */
  readonly saved?: Uint8Array | undefined;
  /** With wantSpec: answer with the check saved (`save`), for the caller to keep. */
  readonly save?: boolean;
}

/** What became of a request's saved check: taken, or why not (a check in full was done). */
export type SavedCheckUse = { readonly used: true } | { readonly used: false; readonly reason: string };

export type SpecCheckResult =
  | { readonly valid: false; readonly issues: readonly ConfigIssue[]; readonly savedUse?: SavedCheckUse }
  | {
      readonly valid: true;
      readonly changes: readonly string[];
      /** What the spec risks (spec-warnings.ts): said, never refused; at most MAX_REPORTED_ISSUES. */
      readonly warnings: readonly LocatedWarning[];
      /** With wantSpec: the spec, and its text as readers without the operator role see it. */
      readonly spec: Spec | undefined;
      readonly redacted: string | undefined;
      /** With `saved` in the request. */
      readonly savedUse?: SavedCheckUse;
      /** With `save` in the request: the check, as checked-spec.ts saves it. */
      readonly save?: Uint8Array;
    };

/** How spec text is parsed and validated (parseSpecWith); a port so that tests can count parses. */
export type SpecParser = <R>(text: string, then: (spec: Spec, doc: Document, where: Locate) => R) => ParseResult<R>;

function firstWarnings(all: readonly LocatedWarning[]): readonly LocatedWarning[] {
  if (all.length <= MAX_REPORTED_ISSUES) return all;
  const first = all.slice(0, MAX_REPORTED_ISSUES);
  return [...first, { path: '', line: 0, column: 0, cluster: '', message: `and ${all.length - first.length} more warnings` }];
}

/** Checks specs, keeping the parse of the running spec and of the latest candidate of an apply. */
export class SpecChecker {
  /** By text, least recently used first; undefined: the text does not validate (any more). */
  private readonly kept = new Map<string, Spec | undefined>();

  constructor(private readonly parse: SpecParser = parseSpecWith) {}

  check(req: SpecCheckRequest): SpecCheckResult {
    let savedUse: SavedCheckUse | undefined;
    if (req.wantSpec && req.saved !== undefined) {
      const saved = decodeCheckedSpec(req.saved, req.yaml);
      if (saved.ok) {
        const { spec, redacted } = saved.checked;
        const changes = diffSpecs(this.running(req.current), spec);
        this.keep(req.yaml, spec);
        // The saved check keeps no document: the warnings' lines are unknown (0).
        return { valid: true, changes, warnings: firstWarnings(locatedWarnings(spec)), spec, redacted, savedUse: { used: true } };
      }
      savedUse = { used: false, reason: saved.reason };
    }
    const r = this.parse(req.yaml, (spec, doc, where) => ({ spec, warnings: locatedWarnings(spec, where), redacted: req.wantSpec ? redactSpecYaml(req.yaml, spec, doc) : undefined }));
    if (!r.ok) {
      const issues = r.issues.slice(0, MAX_REPORTED_ISSUES).map(short);
      const more = r.issues.length - issues.length;
      if (more > 0) issues.push({ path: '', line: 0, column: 0, message: `and ${more} more problems (fix these first)` });
      return { valid: false, issues, ...(savedUse ? { savedUse } : {}) };
    }
    const changes = diffSpecs(this.running(req.current), r.value.spec);
    const warnings = firstWarnings(r.value.warnings);
    if (!req.wantSpec) return { valid: true, changes, warnings, spec: undefined, redacted: undefined };
    // What an apply checks becomes the running spec when it is stored: the next check's `current`.
    this.keep(req.yaml, r.value.spec);
    const redacted = r.value.redacted ?? '';
    return {
      valid: true,
      changes,
      warnings,
      spec: r.value.spec,
      redacted: r.value.redacted,
      ...(savedUse ? { savedUse } : {}),
      ...(req.save ? { save: encodeCheckedSpec(req.yaml, { spec: r.value.spec, redacted }) } : {}),
    };
  }

  /** The running spec parsed: from the cache when it was checked before, else parsed once. */
  private running(yaml: string | undefined): Spec | undefined {
    if (yaml === undefined) return undefined;
    if (this.kept.has(yaml)) {
      const spec = this.kept.get(yaml);
      this.keep(yaml, spec);
      return spec;
    }
    const r = this.parse(yaml, (spec) => spec);
    const spec = r.ok ? r.value : undefined;
    this.keep(yaml, spec);
    return spec;
  }

  private keep(yaml: string, spec: Spec | undefined): void {
    this.kept.delete(yaml);
    this.kept.set(yaml, spec);
    for (const oldest of this.kept.keys()) {
      if (this.kept.size <= KEPT) break;
      this.kept.delete(oldest);
    }
  }
}

const checker = new SpecChecker();

/** One check with the process's checker (the spec worker has one). */
export function checkSpec(req: SpecCheckRequest): SpecCheckResult {
  return checker.check(req);
}
