// Entry point for spec text from a file, the API or the store.
import { parseYaml, type ParseResult } from '@lbha/shared';
import type { Spec } from './cluster-spec.js';
import { specSchema } from './spec-schema.js';

/** Parses and validates a spec document (YAML; JSON is YAML). Never throws for bad input. */
export function parseSpec(text: string): ParseResult<Spec> {
  return parseYaml(text, specSchema);
}
