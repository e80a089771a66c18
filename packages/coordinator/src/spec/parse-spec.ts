// Entry point for spec text from a file, the API or the store.
import { parseYaml, parseYamlWith, type Locate, type ParseResult } from '@lbha/shared';
import type { Document } from 'yaml';
import type { Spec } from './cluster-spec.js';
import { specSchema } from './spec-schema.js';
import { locatedWarnings, type LocatedWarning } from './spec-warnings.js';

/** Parses and validates a spec document (YAML; JSON is YAML). Never throws for bad input. */
export function parseSpec(text: string): ParseResult<Spec> {
  return parseYaml(text, specSchema);
}

/**
 * Parses and validates a spec document and, when it is valid, hands the spec and the parsed
 * YAML document to `then` (redaction finds the secrets' places in it) before the document is
 * dropped. Never throws for bad input.
 */
export function parseSpecWith<R>(text: string, then: (spec: Spec, doc: Document, where: Locate) => R): ParseResult<R> {
  return parseYamlWith(text, specSchema, then);
}

/** Parses and validates a spec document, and on success says what it risks (spec-warnings.ts). Never throws for bad input. */
export function checkSpecText(text: string): ParseResult<{ readonly spec: Spec; readonly warnings: readonly LocatedWarning[] }> {
  return parseSpecWith(text, (spec, _doc, where) => ({ spec, warnings: locatedWarnings(spec, where) }));
}
