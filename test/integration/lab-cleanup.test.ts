// The lab's cleanup and the namespaces it did not create: it removes the scratch namespaces of a
// test process that died (and what runs in them), keeps those of a live one, and never touches a
// namespace named otherwise.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { eventually } from '@lbha/test-support';
import { cleanupRuns, scratchNamespace } from '../lab/index.js';
import { SCRATCH_PREFIX } from '../lab/lab-names.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const namespaces = (): string[] => spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '');

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
    const sleeper = spawn('ip', ['netns', 'exec', dead, 'sleep', '60'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => sleeper.once('exit', resolve));
    await eventually(() => spawnSync('ip', ['netns', 'pids', dead], { encoding: 'utf8' }).stdout.trim() !== '', 'the leftover process to run in the namespace', 10_000);

    const lines: string[] = [];
    await cleanupRuns({ log: (l) => lines.push(l) });

    const left = namespaces();
    assert.ok(!left.includes(dead), 'the dead test\'s namespace is gone');
    assert.ok(left.includes(live), 'a live test\'s namespace stays');
    assert.ok(left.includes(foreign), 'a namespace lbha did not name stays');
    assert.ok(lines.some((l) => l.includes(dead)), `cleanup says what it removed: ${lines.join('; ')}`);
    await exited;
  });
});
