// Request bodies: bounded in size, typed by Content-Type, parsed strictly.
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-error.js';

export type BodyKind = 'json' | 'yaml';

const MEDIA: Readonly<Record<string, BodyKind>> = {
  'application/json': 'json',
  'application/yaml': 'yaml',
  'application/x-yaml': 'yaml',
  'text/yaml': 'yaml',
  'text/x-yaml': 'yaml',
};

export interface Body {
  readonly kind: BodyKind | 'empty';
  readonly text: string;
}

export function tooLarge(limit: number): HttpError {
  return new HttpError(413, 'PAYLOAD_TOO_LARGE', `request body is larger than ${limit} bytes`);
}

/**
 * Reads the body; refuses one over `limit` bytes (413, from Content-Length when given) and one
 * whose media type is not in `accept` (415). An empty body is `{ kind: 'empty' }`.
 */
export async function readBody(req: IncomingMessage, limit: number, accept: readonly BodyKind[]): Promise<Body> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) throw tooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  if (size === 0) return { kind: 'empty', text: '' };
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const kind = MEDIA[type];
  if (!kind || !accept.includes(kind)) {
    const wanted = Object.entries(MEDIA).filter(([, k]) => accept.includes(k)).map(([m]) => m).join(', ');
    throw new HttpError(415, 'UNSUPPORTED_MEDIA_TYPE', `Content-Type ${type ? JSON.stringify(type) : 'is missing'}${type ? ' is not accepted' : ''}; send ${wanted}`);
  }
  const buf = Buffer.concat(chunks);
  const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  try {
    return { kind, text: text.decode(buf) };
  } catch {
    throw new HttpError(400, 'INVALID_ENCODING', 'request body is not valid UTF-8');
  }
}

/** Parses a JSON body that must be an object. */
export function parseJsonObject(text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, 'MALFORMED_JSON', `request body is not JSON: ${(err as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new HttpError(400, 'MALFORMED_JSON', 'request body must be a JSON object');
  return v as Record<string, unknown>;
}
