#!/usr/bin/env node
// Lists the installed packages a production install needs, read from package-lock.json:
// every node_modules entry that is not dev-only, outermost directories only (a nested
// node_modules travels with its parent). Workspace links (@lbha/*) are printed as
// "link PATH TARGET" so the packer recreates them as relative symlinks.
// Reading the lock instead of running `npm ci --omit=dev` keeps packing offline and ships
// exactly the dependency tree the tests ran against.
import { existsSync, readFileSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';

const repo = process.argv[2] ?? '.';
const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8'));
if (lock.lockfileVersion < 2 || !lock.packages) {
  process.stderr.write('runtime-deps: package-lock.json must be lockfileVersion 2 or 3\n');
  process.exit(2);
}

// Workspace packages only ever listed as devDependencies (test helpers) stay behind: npm does
// not mark their links dev-only.
const runtimeNames = new Set();
const devNames = new Set();
for (const [path, meta] of Object.entries(lock.packages)) {
  if (path.includes('node_modules/')) continue;
  for (const n of Object.keys(meta.dependencies ?? {})) runtimeNames.add(n);
  for (const n of Object.keys(meta.devDependencies ?? {})) devNames.add(n);
}
const devOnly = (path) => {
  const name = path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
  return devNames.has(name) && !runtimeNames.has(name);
};

const wanted = [];
for (const [path, meta] of Object.entries(lock.packages)) {
  if (!path.includes('node_modules/')) continue;
  if (meta.dev) continue;
  if (meta.link) {
    if (devOnly(path)) continue;
    process.stdout.write(`link ${path} ${relative(dirname(path), meta.resolved)}\n`);
    continue;
  }
  if (!existsSync(join(repo, path))) {
    // Optional packages for other platforms are in the lock but not installed.
    if (meta.optional) continue;
    process.stderr.write(`runtime-deps: ${path} is in package-lock.json but not installed; run npm ci\n`);
    process.exit(1);
  }
  wanted.push(path);
}

const chosen = new Set(wanted);
for (const path of wanted.sort()) {
  // Skip node_modules/a/node_modules/b when node_modules/a is copied whole.
  let parent = path;
  let covered = false;
  for (;;) {
    const cut = parent.lastIndexOf('/node_modules/');
    if (cut < 0) break;
    parent = parent.slice(0, cut);
    if (chosen.has(parent)) {
      covered = true;
      break;
    }
  }
  if (!covered) process.stdout.write(`copy ${path}\n`);
}
