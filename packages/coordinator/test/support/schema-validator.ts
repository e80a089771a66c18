// A validator for the subset of JSON Schema the OpenAPI description uses (proto-schemas.ts:
// type, properties, required, additionalProperties, items, enum, $ref into components).
// Small enough to read in full, so a pass means what it says (docs/design/openapi.md).
import type { JsonSchema } from '../../src/http/proto-schemas.js';

const KNOWN = new Set(['type', 'properties', 'required', 'additionalProperties', 'items', 'enum', '$ref', 'description', 'format']);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** Every place `value` breaks `schema`, as "path: problem"; empty when it conforms. */
export function validate(value: unknown, schema: JsonSchema, schemas: Readonly<Record<string, JsonSchema>>, path = '$'): string[] {
  for (const k of Object.keys(schema)) if (!KNOWN.has(k)) return [`${path}: the schema uses ${k}, which this validator does not know`];
  if (schema.$ref !== undefined) {
    const name = schema.$ref.replace('#/components/schemas/', '');
    const target = schemas[name];
    return target ? validate(value, target, schemas, path) : [`${path}: unknown schema ${schema.$ref}`];
  }
  const t = typeOf(value);
  if (schema.type !== undefined) {
    const ok = schema.type === t || (schema.type === 'number' && t === 'integer');
    if (!ok) return [`${path}: expected ${schema.type}, got ${t} (${JSON.stringify(value)?.slice(0, 60)})`];
  }
  const out: string[] = [];
  if (schema.enum && !schema.enum.includes(value as string)) out.push(`${path}: ${JSON.stringify(value)} is not one of ${schema.enum.join(', ')}`);
  if (t === 'array' && schema.items) (value as unknown[]).forEach((v, i) => out.push(...validate(v, schema.items as JsonSchema, schemas, `${path}[${i}]`)));
  if (t === 'object') {
    const o = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in o)) out.push(`${path}: ${r} is missing`);
    for (const [k, v] of Object.entries(o)) {
      const p = schema.properties?.[k];
      if (p) out.push(...validate(v, p, schemas, `${path}.${k}`));
      else if (schema.additionalProperties === false && schema.properties) out.push(`${path}: ${k} is not in the schema`);
      else if (typeof schema.additionalProperties === 'object') out.push(...validate(v, schema.additionalProperties, schemas, `${path}.${k}`));
    }
  }
  return out;
}
