// nginx's effective configuration as `nginx -T` prints it: every file it read, in order, under
// a "# configuration file PATH:" line. Parsed into statements (comments and layout dropped, as
// nginx's own parser does), with `include` resolved against the files of the dump, so that the
// upstream servers of the running configuration can be read and the configuration compared
// between nodes. Pure: text in, structure out.

/** One nginx statement: its words (directive and arguments, quotes removed) and its block. */
export interface NginxStatement {
  readonly words: readonly string[];
  readonly block?: readonly NginxStatement[];
}

/** One file of the dump. */
export interface NginxFile {
  readonly path: string;
  readonly statements: readonly NginxStatement[];
}

const FILE_HEADER = /^# configuration file (.+):$/;

/** Splits `nginx -T` output (stdout) into its files, each parsed. */
export function parseNginxDump(stdout: string): NginxFile[] {
  const files: Array<{ path: string; lines: string[] }> = [];
  for (const line of stdout.split('\n')) {
    const m = FILE_HEADER.exec(line);
    if (m) files.push({ path: m[1] as string, lines: [] });
    else files[files.length - 1]?.lines.push(line);
  }
  return files.map((f) => ({ path: f.path, statements: parseNginxText(f.lines.join('\n')) }));
}

/** Words of nginx config text: `;`, `{` and `}` stand alone; quotes group; `#` comments to the end of the line. */
function tokenize(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (ch === ';' || ch === '{' || ch === '}') {
      out.push(ch);
      i++;
    } else if (ch === '"' || ch === "'") {
      let word = '';
      i++;
      while (i < text.length && text[i] !== ch) {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        word += text[i];
        i++;
      }
      i++;
      // A quoted word is never a delimiter: mark it so `";"` stays a word.
      out.push(`\u0000${word}`);
    } else {
      let word = '';
      while (i < text.length && !/[\s;{}]/.test(text[i] as string)) {
        if (text[i] === '\\' && i + 1 < text.length) {
          word += text[i + 1];
          i += 2;
          continue;
        }
        word += text[i];
        i++;
      }
      out.push(word);
    }
  }
  return out;
}

/** Parses nginx config text into statements; unbalanced text yields what could be read. */
export function parseNginxText(text: string): NginxStatement[] {
  const tokens = tokenize(text);
  let at = 0;
  const block = (): NginxStatement[] => {
    const list: NginxStatement[] = [];
    let words: string[] = [];
    while (at < tokens.length) {
      const t = tokens[at++] as string;
      if (t === ';') {
        if (words.length > 0) list.push({ words });
        words = [];
      } else if (t === '{') {
        list.push({ words, block: block() });
        words = [];
      } else if (t === '}') {
        break;
      } else {
        words.push(t.startsWith('\u0000') ? t.slice(1) : t);
      }
    }
    if (words.length > 0) list.push({ words });
    return list;
  };
  return block();
}

function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (const ch of pattern) {
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The files an `include` names, as the dump has them (nginx reads a glob's matches in sorted order). */
function included(pattern: string, baseDir: string, files: readonly NginxFile[]): NginxFile[] {
  const full = pattern.startsWith('/') ? pattern : `${baseDir}/${pattern}`;
  const re = globToRegExp(full);
  const seen = new Set<string>();
  return files.filter((f) => re.test(f.path) && !seen.has(f.path) && seen.add(f.path)).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * The main file's statements with every `include` replaced by the statements of the files it
 * names (relative paths resolve against the main file's directory, as with nginx's default
 * prefix). Depth-limited: a file that includes itself does not loop.
 */
export function expandIncludes(files: readonly NginxFile[]): NginxStatement[] {
  const main = files[0];
  if (!main) return [];
  const baseDir = main.path.slice(0, main.path.lastIndexOf('/')) || '/';
  const expand = (list: readonly NginxStatement[], depth: number): NginxStatement[] =>
    list.flatMap((s): NginxStatement[] => {
      if (s.words[0] === 'include' && s.words.length === 2 && !s.block && depth < 16) {
        return included(s.words[1] as string, baseDir, files).flatMap((f) => expand(f.statements, depth + 1));
      }
      return s.block ? [{ words: s.words, block: expand(s.block, depth) }] : [s];
    });
  return expand(main.statements, 0);
}

/** One `server` line of an http upstream block. */
export interface NginxUpstreamServer {
  /** "a.b.c.d:port", "[v6]:port" or "host:port" (port 80 when the line has none). */
  readonly address: string;
  readonly weight: number;
  readonly down: boolean;
  readonly backup: boolean;
}

export interface NginxUpstream {
  readonly name: string;
  readonly servers: readonly NginxUpstreamServer[];
}

function withPort(address: string): string | undefined {
  if (address.startsWith('unix:')) return undefined;
  if (address.startsWith('[')) return address.includes(']:') ? address : `${address}:80`;
  return address.includes(':') ? address : `${address}:80`;
}

/** The upstream blocks of the http block and their servers (unix sockets left out). */
export function httpUpstreams(expanded: readonly NginxStatement[]): NginxUpstream[] {
  const out: NginxUpstream[] = [];
  for (const http of expanded.filter((s) => s.words[0] === 'http' && s.block)) {
    for (const up of (http.block ?? []).filter((s) => s.words[0] === 'upstream' && s.block && s.words.length === 2)) {
      const servers: NginxUpstreamServer[] = [];
      for (const line of (up.block ?? []).filter((s) => s.words[0] === 'server' && s.words.length >= 2)) {
        const address = withPort(line.words[1] as string);
        if (address === undefined) continue;
        const params = line.words.slice(2);
        const weight = Number(params.find((p) => p.startsWith('weight='))?.slice('weight='.length) ?? 1);
        servers.push({ address, weight: Number.isFinite(weight) ? weight : 1, down: params.includes('down'), backup: params.includes('backup') });
      }
      out.push({ name: up.words[1] as string, servers });
    }
  }
  return out;
}

/**
 * The canonical text of statements: one line per statement, words separated by one space,
 * blocks opened and closed on their own lines. Statements whose directive is in `ignore`
 * (matched on their first one to three words) are left out with their blocks.
 */
export function canonicalNginx(statements: readonly NginxStatement[], ignore: ReadonlySet<string>): string[] {
  const out: string[] = [];
  const walk = (list: readonly NginxStatement[]) => {
    for (const s of list) {
      if (ignored(s.words, ignore)) continue;
      if (!s.block) {
        out.push(`${s.words.join(' ')};`);
        continue;
      }
      out.push(`${s.words.join(' ')} {`);
      walk(s.block);
      out.push('}');
    }
  };
  walk(statements);
  return out;
}

/** Whether the directive of `words` (its first one, two or three words) is ignored. */
export function ignored(words: readonly string[], ignore: ReadonlySet<string>): boolean {
  for (let n = 1; n <= 3 && n <= words.length; n++) if (ignore.has(words.slice(0, n).join(' '))) return true;
  return false;
}
