// A spec that passed the checks, saved next to the coordinator's state so that a start does not
// parse the stored spec's YAML again (at 10,000 nodes the parse is seconds of CPU on the core
// the agents reconnect to). The saved form is taken only for the same text checked by the same
// validation code; anything else, and any damage, makes the start check the text in full.
//
// The file: the SHA-256 of the body, then the body, a V8 serialization (what the spec worker
// already hands the event loop) of the format, the text's SHA-256, the code's fingerprint, the
// spec and its redacted text.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deserialize, serialize } from 'node:v8';
import type { Spec } from './cluster-spec.js';

const FORMAT = 1;
const DIGEST_BYTES = 32;

export interface CheckedSpec {
  readonly spec: Spec;
  /** The text as readers without the operator role see it. */
  readonly redacted: string;
}

export type CheckedSpecRead = { readonly ok: true; readonly checked: CheckedSpec } | { readonly ok: false; readonly reason: string };

interface Body {
  readonly format: number;
  readonly yamlSha256: string;
  readonly fingerprint: string;
  readonly spec: Spec;
  readonly redacted: string;
}

const sha256 = (data: string | Uint8Array): Buffer => createHash('sha256').update(data).digest();

/** The compiled files of a directory (`.js`), by name. */
function codeFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .sort()
    .map((f) => join(dir, f));
}

let fingerprint: string | undefined;

/**
 * What identifies the rules a spec was checked by: a hash of the code that parses and
 * validates specs (this directory and @lbha/shared, where the YAML reading and name and address
 * rules live) and of the V8 version (the body's serialization). Another release, or any change
 * to that code, makes every saved spec stale.
 */
export function validationFingerprint(): string {
  if (fingerprint !== undefined) return fingerprint;
  const shared = dirname(fileURLToPath(import.meta.resolve('@lbha/shared')));
  const h = createHash('sha256').update(`v8 ${process.versions.v8}\n`);
  for (const file of [...codeFiles(dirname(fileURLToPath(import.meta.url))), ...codeFiles(shared)]) {
    h.update(`${file.slice(file.lastIndexOf('/') + 1)}\n`).update(readFileSync(file));
  }
  fingerprint = h.digest('hex');
  return fingerprint;
}

/** The file's bytes for `yaml` checked into `checked`. */
export function encodeCheckedSpec(yaml: string, checked: CheckedSpec, code: string = validationFingerprint()): Buffer {
  const body: Body = { format: FORMAT, yamlSha256: sha256(yaml).toString('hex'), fingerprint: code, spec: checked.spec, redacted: checked.redacted };
  const bytes = serialize(body);
  return Buffer.concat([sha256(bytes), bytes]);
}

/** The saved check of `yaml`, or why `file` cannot stand for it (damaged, another text, other code). */
export function decodeCheckedSpec(file: Uint8Array, yaml: string, code: string = validationFingerprint()): CheckedSpecRead {
  const data = Buffer.from(file.buffer, file.byteOffset, file.byteLength);
  if (data.length <= DIGEST_BYTES) return { ok: false, reason: `damaged: ${data.length} bytes, too short` };
  const bytes = data.subarray(DIGEST_BYTES);
  if (!sha256(bytes).equals(data.subarray(0, DIGEST_BYTES))) return { ok: false, reason: 'damaged: its checksum does not match its contents' };
  let body: Partial<Body>;
  try {
    body = deserialize(bytes) as Partial<Body>;
  } catch (err) {
    return { ok: false, reason: `damaged: cannot be read (${(err as Error).message})` };
  }
  if (body?.format !== FORMAT) return { ok: false, reason: `of format ${String(body?.format)}, not ${FORMAT}` };
  if (body.fingerprint !== code) return { ok: false, reason: 'checked by other validation code (another build or release of the coordinator)' };
  if (body.yamlSha256 !== sha256(yaml).toString('hex')) return { ok: false, reason: 'of another spec text than the stored one' };
  if (typeof body.redacted !== 'string' || !Array.isArray(body.spec?.clusters)) return { ok: false, reason: 'damaged: no spec in it' };
  return { ok: true, checked: { spec: body.spec, redacted: body.redacted } };
}
