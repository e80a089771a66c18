// Runs keepalived's own config test on every golden file, inside a scratch namespace that
// holds veth links with the interface names the file uses (keepalived -t refuses interfaces
// that do not exist, and this kernel has no dummy links).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { isRoot, ScratchNetns } from './helpers/netns.js';

const GOLDEN = new URL('../../test/golden/', import.meta.url);
const hasKeepalived = spawnSync('keepalived', ['--version']).status === 0;
const skip = !isRoot ? 'needs root for network namespaces' : !hasKeepalived ? 'keepalived is not installed' : false;

/** Interface names a rendered config refers to. */
export function interfacesOf(conf: string): string[] {
  const names = new Set<string>();
  for (const m of conf.matchAll(/^\s+interface (\S+)$/gm)) names.add(m[1] as string);
  for (const m of conf.matchAll(/ dev (\S+)$/gm)) names.add(m[1] as string);
  for (const block of conf.matchAll(/track_interface \{\n([^}]*)\}/g)) {
    for (const line of (block[1] as string).split('\n')) if (line.trim()) names.add(line.trim().split(/\s+/)[0] as string);
  }
  return [...names];
}

function configTest(ns: ScratchNetns, file: string): { status: number | null; output: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns.name, 'keepalived', '-t', '-f', file], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

describe('keepalived -t on the golden files', { skip }, () => {
  const files = readdirSync(GOLDEN).filter((f) => f.endsWith('.conf'));
  let ns: ScratchNetns;

  before(() => {
    ns = new ScratchNetns('ktest');
    const all = new Set(files.flatMap((f) => interfacesOf(readFileSync(new URL(f, GOLDEN), 'utf8'))));
    for (const name of all) ns.addLink(name);
  });
  after(() => ns?.remove());

  it('has golden files to test', () => assert.ok(files.length >= 4));

  for (const f of files) {
    it(`${f} passes keepalived's config test`, () => {
      const r = configTest(ns, fileURLToPath(new URL(f, GOLDEN)));
      assert.equal(r.status, 0, `keepalived -t ${f}: ${r.output}`);
    });
  }

  it('fails when an interface the config names is missing (the test is not vacuous)', () => {
    const bare = new ScratchNetns('kbare');
    try {
      const r = configTest(bare, fileURLToPath(new URL('nginx-active-active.conf', GOLDEN)));
      assert.notEqual(r.status, 0);
      assert.match(r.output, /doesn't exist/);
    } finally {
      bare.remove();
    }
  });
});
