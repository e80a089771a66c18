// What the proxy's config test depends on, as cheap to read as a few stat() calls: the config
// file and every file in its directory and the directories right below it (conf.d/,
// sites-enabled/: includes usually live there), each by inode, size, mtime and ctime. An edit in
// place, an atomic rename and a new or removed file all change it. A file included from elsewhere
// (or a certificate) does not: ConfigValidity still re-runs the test on a slow period for those.
import { readdirSync, statSync, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';

/** At most this many files are looked at (a config file placed in a crowded directory). */
const MAX_ENTRIES = 256;

function stat(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function stamp(path: string, s: Stats | undefined): string {
  return s ? `${path} ${s.dev}:${s.ino} ${s.size} ${s.mtimeMs} ${s.ctimeMs}` : `${path} -`;
}

/** A string that changes whenever the config file or a file next to or below it changes. */
export function configFingerprint(configFile: string): string {
  const dir = dirname(configFile);
  const out = [stamp(configFile, stat(configFile))];
  const visit = (d: string, depth: number): void => {
    let names: string[];
    try {
      names = readdirSync(d).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (out.length >= MAX_ENTRIES) return;
      const path = join(d, name);
      const s = stat(path);
      out.push(stamp(path, s));
      if (depth === 0 && s?.isDirectory()) visit(path, 1);
    }
  };
  visit(dir, 0);
  return out.join('\n');
}
