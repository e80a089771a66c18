// Parses a YAML document and validates it with a zod schema. Every problem is reported
// with the dotted path of the field and its line and column in the source.
import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from './errors.js';

export type ParseResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly issues: readonly ConfigIssue[] };

export function formatPath(path: ReadonlyArray<string | number>): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

function locate(doc: Document, lc: LineCounter, path: ReadonlyArray<string | number>): { line: number; column: number } {
  // Walk down as far as the path exists; report the deepest node found.
  let node: unknown = doc.contents;
  let range: [number, number, number] | undefined = (doc.contents as { range?: [number, number, number] } | null)?.range;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((it) => (it.key as { value?: unknown } | null)?.value === key);
      if (!pair) break;
      const keyRange = (pair.key as { range?: [number, number, number] } | null)?.range;
      node = pair.value;
      range = (pair.value as { range?: [number, number, number] } | null)?.range ?? keyRange ?? range;
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key];
      if (!item) break;
      node = item;
      range = (item as { range?: [number, number, number] }).range ?? range;
    } else break;
  }
  if (!range) return { line: 0, column: 0 };
  const pos = lc.linePos(range[0]);
  return { line: pos.line, column: pos.col };
}

/**
 * Keys used twice in one mapping. The YAML library can check this itself, but in quadratic
 * time (a mapping of 40,000 keys takes 12 s); a set per mapping does it in linear time.
 */
function duplicateKeys(doc: Document, lc: LineCounter): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        const k = String(pair.key.value);
        if (!seen.has(k)) {
          seen.add(k);
          continue;
        }
        const pos = lc.linePos(pair.key.range?.[0] ?? 0);
        out.push({ path: '', line: pos.line, column: pos.col, message: `duplicate key ${JSON.stringify(k.length > 64 ? `${k.slice(0, 64)}...` : k)}: map keys must be unique` });
      }
    },
  });
  return out;
}

/** Parses YAML text and validates it; never throws for bad input. */
export function parseYaml<S extends z.ZodTypeAny>(text: string, schema: S): ParseResult<z.output<S>> {
  return parseYamlWith(text, schema, (value) => value);
}

/** Where a field is written: line and column (1-based; 0 when unknown) of the deepest node of `path` found. */
export type Locate = (path: ReadonlyArray<string | number>) => { readonly line: number; readonly column: number };

/**
 * Like parseYaml, and on success hands the value and the parsed document to `then` (to find
 * where values are written, say) before the document is dropped: one parse, not two.
 */
export function parseYamlWith<S extends z.ZodTypeAny, R>(text: string, schema: S, then: (value: z.output<S>, doc: Document, where: Locate) => R): ParseResult<R> {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: false });
  if (doc.errors.length === 0) {
    const dup = duplicateKeys(doc, lc);
    if (dup.length > 0) return { ok: false, issues: dup };
  }
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((e) => {
        const pos = e.linePos?.[0] ?? lc.linePos(e.pos[0]);
        return { path: '', line: pos.line, column: pos.col, message: e.message.split('\n')[0] ?? e.message };
      }),
    };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    // An alias bomb ("billion laughs") and the like: refused, not thrown.
    return { ok: false, issues: [{ path: '', line: 0, column: 0, message: `cannot expand the document: ${(err as Error).message}` }] };
  }
  const result = schema.safeParse(data ?? {});
  if (result.success) return { ok: true, value: then(result.data as z.output<S>, doc, (path) => locate(doc, lc, path)) };
  return {
    ok: false,
    issues: result.error.issues.map((issue) => {
      const { line, column } = locate(doc, lc, issue.path);
      return { path: formatPath(issue.path), line, column, message: issue.message };
    }),
  };
}

/** Reads and validates a YAML file; throws ConfigError naming the file, field and line. */
export function loadYamlFile<S extends z.ZodTypeAny>(file: string, schema: S): z.output<S> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw new ConfigError(file, [{ path: '', line: 0, column: 0, message: `cannot read: ${(cause as Error).message}` }], { cause });
  }
  const r = parseYaml(text, schema);
  if (!r.ok) throw new ConfigError(file, r.issues);
  return r.value;
}
