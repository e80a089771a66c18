// JSON Schemas of the control API's messages as the HTTP API writes them (proto3 JSON from
// ts-proto's toJSON: camelCase names, enums by name, 64-bit integers as numbers, default values
// left out), derived from the .proto files themselves, so the OpenAPI description cannot
// disagree with the messages (docs/design/openapi.md).
import { loadSync } from '@grpc/proto-loader';
import { protoDir } from '../proto-files.js';

/** The subset of JSON Schema lbha's OpenAPI description uses (openapi-validator.ts checks it). */
export interface JsonSchema {
  readonly type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  readonly properties?: Readonly<Record<string, JsonSchema>>;
  readonly required?: readonly string[];
  /** false: no other properties; a schema: every other property's value. */
  readonly additionalProperties?: boolean | JsonSchema;
  readonly items?: JsonSchema;
  readonly enum?: readonly string[];
  readonly $ref?: string;
  readonly description?: string;
  readonly format?: string;
}

interface FieldDescriptor {
  readonly name: string;
  readonly label: string;
  readonly type: string;
  readonly typeName: string;
}

interface MessageDescriptor {
  readonly field: readonly FieldDescriptor[];
  readonly nestedType: ReadonlyArray<MessageDescriptor & { readonly name: string; readonly options: { readonly mapEntry?: boolean } | null }>;
}

const PACKAGE = 'lbha.v1';

const SCALARS: Readonly<Record<string, JsonSchema>> = {
  TYPE_STRING: { type: 'string' },
  TYPE_BOOL: { type: 'boolean' },
  TYPE_BYTES: { type: 'string', format: 'byte' },
  TYPE_DOUBLE: { type: 'number' },
  TYPE_FLOAT: { type: 'number' },
};

function camel(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** `#/components/schemas/NAME` of a message or enum. */
export function ref(name: string): JsonSchema {
  return { $ref: `#/components/schemas/${name}` };
}

/**
 * The schemas of `roots` and of every message and enum they reach, by short name. Response
 * messages list their repeated fields as required: the HTTP API always writes a response's
 * top-level lists, empty or not (routes.ts).
 */
export function protoSchemas(roots: readonly string[]): Record<string, JsonSchema> {
  const pkg = loadSync(['lbha/v1/control.proto'], { includeDirs: [protoDir()] });
  const out: Record<string, JsonSchema> = {};
  const lookup = (name: string) => {
    const d = pkg[`${PACKAGE}.${name}`];
    if (!d) throw new Error(`proto type ${name} not found`);
    return d;
  };
  const fieldSchema = (f: FieldDescriptor, owner: MessageDescriptor): JsonSchema => {
    let item: JsonSchema;
    if (f.type === 'TYPE_MESSAGE') {
      const entry = owner.nestedType.find((n) => n.name === f.typeName && n.options?.mapEntry === true);
      if (entry) {
        const value = entry.field.find((x) => x.name === 'value') as FieldDescriptor;
        return { type: 'object', additionalProperties: fieldSchema(value, entry) };
      }
      visit(f.typeName);
      item = ref(f.typeName);
    } else if (f.type === 'TYPE_ENUM') {
      visit(f.typeName);
      item = ref(f.typeName);
    } else {
      item = SCALARS[f.type] ?? { type: 'integer' };
    }
    return f.label === 'LABEL_REPEATED' ? { type: 'array', items: item } : item;
  };
  const visit = (name: string): void => {
    if (name in out) return;
    const d = lookup(name);
    const type = (d as unknown as { type: object }).type;
    if ('value' in type) {
      const values = (type as { value: ReadonlyArray<{ name: string }> }).value.map((v) => v.name);
      // ts-proto writes a value it does not know as UNRECOGNIZED.
      out[name] = { type: 'string', enum: [...values, 'UNRECOGNIZED'] };
      return;
    }
    out[name] = { type: 'object' };
    const m = type as MessageDescriptor;
    const properties: Record<string, JsonSchema> = {};
    for (const f of m.field) properties[camel(f.name)] = fieldSchema(f, m);
    const lists = name.endsWith('Response') ? m.field.filter((f) => f.label === 'LABEL_REPEATED' && !(f.type === 'TYPE_MESSAGE' && m.nestedType.some((n) => n.name === f.typeName))).map((f) => camel(f.name)) : [];
    out[name] = { type: 'object', properties, additionalProperties: false, ...(lists.length > 0 ? { required: lists } : {}) };
  };
  for (const r of roots) visit(r);
  return out;
}
