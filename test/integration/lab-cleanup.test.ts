// The lab's cleanup and the namespaces it did not create: it removes the scratch namespaces of a
// test process that died (and what runs in them), keeps those of a live one, and never touches a
// namespace named otherwise. `lab-cli cleanup` also removes what a crashed systemd-tier run left
// (its overlay mounts, run dir and namespaces), and a run removes leftovers under its own names.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { eventually } from '@lbha/test-support';
import { cleanupRuns, removeLeftoverNamespaces, scratchNamespace } from '../lab/index.js';
import { REPO_ROOT } from '../lab/repo-paths.js';
import { SCRATCH_PREFIX } from '../lab/lab-names.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const namespaces = (): string[] => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '');

/** A leftover process inside a namespace, as a crashed test leaves a daemon behind; resolves when it exits. */
function inNamespace(ns: string): Promise<unknown> {
  const sleeper = spawn('ip', ['netns', 'exec', ns, 'sleep', '60'], { stdio: 'ignore' });
  return new Promise((resolve) => sleeper.once('exit', resolve));
}

/** A pid that no process has now: that of a child that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

describe('lab cleanup and namespaces it did not create', { skip: isRoot ? false : 'needs root for network namespaces' }, () => {
  const tag = randomBytes(3).toString('hex');
  const dead = `${SCRATCH_PREFIX}${deadPid()}-crashed-${tag}`;
  const live = scratchNamespace(`live-${tag}`);
  const foreign = `hc-${tag}`;
  after(() => {
    for (const n of [dead, live, foreign]) spawnSync('ip', ['netns', 'del', n]);
  });

  it('removes a dead test process\'s scratch namespace and what runs in it, keeps the rest', async () => {
    for (const n of [dead, live, foreign]) assert.equal(spawnSync('ip', ['netns', 'add', n]).status, 0, `ip netns add ${n}`);
    // A leftover process inside the dead test's namespace, as a crashed test leaves a daemon behind.
    const exited = inNamespace(dead);
    await eventually(() => spawnSync('ip', ['netns', 'pids', dead], { encoding: 'utf8' }).stdout.trim() !== '', 'the leftover process to run in the namespace');

    const lines: string[] = [];
    await cleanupRuns({ log: (l) => lines.push(l) });

    const left = namespaces();
    assert.ok(!left.includes(dead), 'the dead test\'s namespace is gone');
    assert.ok(left.includes(live), 'a live test\'s namespace stays');
    assert.ok(left.includes(foreign), 'a namespace lbha did not name stays');
    assert.ok(lines.some((l) => l.includes(dead)), `cleanup says what it removed: ${lines.join('; ')}`);
    await exited;
  });

  it('removes the leftovers under names a run is about to use, with what runs in them', async () => {
    const mine = scratchNamespace(`reused-${tag}`);
    assert.equal(spawnSync('ip', ['netns', 'add', mine]).status, 0);
    const exited = inNamespace(mine);
    await eventually(() => spawnSync('ip', ['netns', 'pids', mine], { encoding: 'utf8' }).stdout.trim() !== '', 'the leftover process to run');
    assert.deepEqual(await removeLeftoverNamespaces([mine, `${mine}-absent`]), [mine]);
    assert.ok(!namespaces().includes(mine), 'the leftover namespace is gone');
    await exited;
  });

  it('lab-cli cleanup removes a crashed systemd-tier run: containers\' mounts, run dir, namespaces', async () => {
    const pid = deadPid();
    const runDir = `/var/tmp/lbha-systemd/${pid}`;
    const node = join(runDir, 'nodes', 'lb1');
    const lower = mkdtempSync(join(tmpdir(), 'lbha-lower-'));
    const ns = `${SCRATCH_PREFIX}${pid}-sd-lb1`;
    try {
      for (const d of ['upper', 'work', 'root']) mkdirSync(join(node, d), { recursive: true });
      const root = join(node, 'root');
      assert.equal(spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${join(node, 'upper')},workdir=${join(node, 'work')}`, root]).status, 0, 'overlay mounted');
      assert.equal(spawnSync('ip', ['netns', 'add', ns]).status, 0);
      const exited = inNamespace(ns);
      await eventually(() => spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.trim() !== '', 'the leftover process to run');

      const r = spawnSync(process.execPath, [join(REPO_ROOT, 'test/dist/lab/lab-cli.js'), 'cleanup'], { encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, r.stderr);

      assert.ok(!namespaces().includes(ns), `the namespace is gone: ${r.stdout}`);
      assert.ok(!readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === root), 'the overlay is unmounted');
      assert.ok(!existsSync(runDir), 'the run dir is gone');
      assert.match(r.stdout, new RegExp(`crashed run ${runDir}`));
      await exited;
    } finally {
      spawnSync('umount', ['--lazy', join(node, 'root')]);
      spawnSync('ip', ['netns', 'del', ns]);
      rmSync(runDir, { recursive: true, force: true });
      rmSync(lower, { recursive: true, force: true });
    }
  });
});
