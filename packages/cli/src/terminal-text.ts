// Text from the coordinator (node names, NACK messages, operators' reasons, agents' check
// results) reaches the operator's terminal. A control character in it could move the cursor,
// rewrite earlier lines, forge a table row or (with some terminals) run commands, and bidi
// controls can make text read differently than it is. So human-readable output shows every
// such character escaped, and JSON output carries them as \u escapes.

// C0 controls, DEL, C1 controls; zero-width, bidi and line/paragraph separators; BOM. Matching
// control characters is the point here.
/* eslint-disable no-control-regex */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/gu;
const UNSAFE_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/gu;
// In JSON text C0 controls are already escaped by JSON.stringify; the rest is not.
const UNSAFE_IN_JSON = /[\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/gu;
/* eslint-enable no-control-regex */

function escape(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  if (c === '\n') return '\\n';
  if (c === '\r') return '\\r';
  if (c === '\t') return '\\t';
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/** One value for one cell or one line: every control character escaped, line breaks too. */
export function printable(text: string): string {
  return text.replace(UNSAFE, escape);
}

/** Output already split into lines by the CLI itself: everything but its line breaks escaped. */
export function printableLines(text: string): string {
  return text.replace(UNSAFE_BUT_NEWLINE, escape);
}

/** JSON text with the characters JSON.stringify leaves raw written as \u escapes (same value). */
export function jsonSafe(text: string): string {
  return text.replace(UNSAFE_IN_JSON, (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`);
}
