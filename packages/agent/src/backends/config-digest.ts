// Digests that tell whether two LB nodes run the same proxy configuration. What is compared is
// each file's statements as the proxy parses them (comments and layout do not count), with the
// node's own name read as "{node}" wherever it stands as a word (per-node paths and headers are
// not drift), and without the directives the cluster spec says may differ. Pure.
import { createHash } from 'node:crypto';
import type { ConfigFileDigest } from '@lbha/shared';
import { ignored } from './nginx-config.js';

/** One file as compared: its path and its canonical statements, one per line. */
export interface CanonicalFile {
  readonly path: string;
  readonly lines: readonly string[];
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Replaces the node's own name, where it stands as a word, with "{node}". */
export function nodeNeutral(text: string, node: string): string {
  if (node === '') return text;
  const escaped = node.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return text.replace(new RegExp(`(?<![A-Za-z0-9_-])${escaped}(?![A-Za-z0-9_-])`, 'g'), '{node}');
}

/** The per-file digests and the digest over all of them, in order. */
export function digestFiles(files: readonly CanonicalFile[], node: string): { readonly digest: string; readonly files: ConfigFileDigest[] } {
  const out: ConfigFileDigest[] = files.map((f) => ({ path: nodeNeutral(f.path, node), digest: sha256(nodeNeutral(f.lines.join('\n'), node)) }));
  return { digest: files.length === 0 ? '' : sha256(out.map((f) => `${f.path}\u0000${f.digest}\n`).join('')), files: out };
}

/**
 * haproxy's statements: one per line, words split on blanks, `#` starting a comment outside
 * quotes, backslash escapes and quotes resolved, blank lines dropped; directives in `ignore`
 * left out.
 */
export function canonicalHaproxy(text: string, ignore: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const words: string[] = [];
    let word = '';
    let inWord = false;
    let quote = '';
    for (let i = 0; i < raw.length; i++) {
      const ch = raw[i] as string;
      if (quote) {
        if (ch === quote) quote = '';
        else if (ch === '\\' && quote === '"' && i + 1 < raw.length) word += raw[++i];
        else word += ch;
      } else if (ch === '"' || ch === "'") {
        quote = ch;
        inWord = true;
      } else if (ch === '\\' && i + 1 < raw.length) {
        word += raw[++i];
        inWord = true;
      } else if (ch === '#') {
        break;
      } else if (/\s/.test(ch)) {
        if (inWord) words.push(word);
        word = '';
        inWord = false;
      } else {
        word += ch;
        inWord = true;
      }
    }
    if (inWord) words.push(word);
    if (words.length === 0 || ignored(words, ignore)) continue;
    out.push(words.join(' '));
  }
  return out;
}
