// The readiness config fingerprint is read again only after inotify saw a change in the
// directories it covers (real files, real watches), or after its maximum age; a directory that
// cannot be watched makes every ask read, as before.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { eventually } from '@lbha/test-support';
import { configFingerprint } from '../src/readiness/config-fingerprint.js';
import { WatchedFingerprint } from '../src/readiness/watched-fingerprint.js';

const dirs: string[] = [];
const open: WatchedFingerprint[] = [];
after(() => {
  for (const w of open) w.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function setup(): { dir: string; main: string; reads: () => number; w: WatchedFingerprint; clock: { ms: number } } {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-fp-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'conf.d'));
  const main = join(dir, 'nginx.conf');
  writeFileSync(main, 'events {}\n');
  writeFileSync(join(dir, 'conf.d', 'site.conf'), 'server {}\n');
  let n = 0;
  const clock = { ms: 0 };
  const w = new WatchedFingerprint(main, { now: () => clock.ms, maxAgeMs: 30_000, read: (f) => (n++, configFingerprint(f)) });
  open.push(w);
  return { dir, main, reads: () => n, w, clock };
}

/** Asks until the fingerprint differs from `before` (inotify's events arrive asynchronously). */
const changedFrom = (w: WatchedFingerprint, before: string, what: string): Promise<string> =>
  eventually(async () => {
    const f = await w.fingerprint();
    return f !== before ? f : undefined;
  }, what, 10_000);

describe('the watched config fingerprint', () => {
  it('answers from its cache while nothing changes, and reads again after a change anywhere it covers', async () => {
    const { dir, main, reads, w } = setup();
    const first = await w.fingerprint();
    assert.equal(first, await configFingerprint(main));
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < 5; i++) assert.equal(await w.fingerprint(), first);
    assert.equal(reads(), 1, 'one read for six asks without a change');

    writeFileSync(main, 'events { worker_connections 512; }\n');
    const second = await changedFrom(w, first, 'an edit of the config file');
    writeFileSync(join(dir, 'conf.d', 'site.conf'), 'server { listen 81; }\n');
    const third = await changedFrom(w, second, 'an edit in conf.d/');
    writeFileSync(join(dir, 'conf.d', '.site.tmp'), 'server { listen 82; }\n');
    const fourth = await changedFrom(w, third, 'a new file in conf.d/');
    renameSync(join(dir, 'conf.d', '.site.tmp'), join(dir, 'conf.d', 'site.conf'));
    const fifth = await changedFrom(w, fourth, 'a rename over a file in conf.d/');
    mkdirSync(join(dir, 'sites-enabled'));
    const sixth = await changedFrom(w, fifth, 'a new directory');
    // The new directory is watched from the read after it appeared.
    writeFileSync(join(dir, 'sites-enabled', 'a.conf'), 'server {}\n');
    const seventh = await changedFrom(w, sixth, 'a file in the new directory');
    assert.equal(seventh, await configFingerprint(main));
    const settled = reads();
    await new Promise((r) => setTimeout(r, 200));
    await w.fingerprint();
    await w.fingerprint();
    assert.ok(reads() <= settled + 1, `quiet again: ${reads() - settled} more reads`);
  });

  it('reads again once its answer is older than the maximum age', async () => {
    const { reads, w, clock } = setup();
    await w.fingerprint();
    await new Promise((r) => setTimeout(r, 100));
    await w.fingerprint();
    const before = reads();
    clock.ms += 30_000;
    await w.fingerprint();
    assert.equal(reads(), before + 1);
  });

  it('reads at every ask when a directory cannot be watched', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbha-fp-'));
    dirs.push(dir);
    const main = join(dir, 'nginx.conf');
    writeFileSync(main, 'events {}\n');
    let n = 0;
    const w = new WatchedFingerprint(main, {
      now: () => 0,
      maxAgeMs: 30_000,
      read: (f) => (n++, configFingerprint(f)),
      watchDir: () => {
        throw new Error('ENOSPC: no inotify watches left');
      },
    });
    open.push(w);
    for (let i = 0; i < 3; i++) await w.fingerprint();
    assert.equal(n, 3);
  });
});
