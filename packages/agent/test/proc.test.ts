// /proc/PID/stat read through kept descriptors: states and start times as the file says, a
// process gone once reaped (its kept descriptor fails and the pid is looked up afresh), and a
// command name with spaces and parentheses.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { eventually } from '@lbha/test-support';
import { isAlive, procState, readProcStat } from '../src/services/proc.js';
import { passiveOpens, processStates, processTree, stoppedBySignal, stoppedPids } from '../src/services/listen-queue.js';
import { keptFileCount, MAX_KEPT_FILES } from '../src/util/kept-file.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** State and start time as the file says, split the way proc(5) describes it. */
function fromFile(pid: number): { state: string; startTime: string } {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0] as string, startTime: rest[19] as string };
}

async function started(file: string, args: string[]): Promise<ChildProcess> {
  const c = spawn(file, args, { stdio: 'ignore' });
  children.push(c);
  await new Promise<void>((resolve, reject) => c.once('spawn', resolve).once('error', reject));
  return c;
}

const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** The children of `pid` as the kernel lists them now (procfs, read afresh). */
function childrenNow(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('/proc/PID/task/PID/children', () => {
  it('follows the children of a process through a kept descriptor, and reads a reaped pid as alone', async () => {
    const sh = await started('sh', ['-c', 'sleep 60 & sleep 60 & wait']);
    const pid = sh.pid as number;
    await eventually(async () => (await nextTurn(), childrenNow(pid).length === 2), 'two children');
    const kids = childrenNow(pid);
    assert.deepEqual(processTree(pid), [pid, ...kids]);
    process.kill(kids[0] as number, 'SIGKILL');
    // The kept descriptor reads the list of now, not the one it was opened on.
    await eventually(async () => (await nextTurn(), processTree(pid).length === 2), 'one child left');
    assert.deepEqual(processTree(pid), [pid, kids[1]]);
    process.kill(kids[1] as number, 'SIGKILL');
    await new Promise((r) => sh.once('exit', r));
    await eventually(async () => (await nextTurn(), processTree(pid).length === 1), 'gone once reaped');
    assert.deepEqual(processTree(pid), [pid]);
    assert.deepEqual(processTree(0), []);
  });
});

describe('/proc/PID/stat', () => {
  it('reads the state and start time, follows a process through stop, continue and death', async () => {
    const c = await started('sleep', ['60']);
    const pid = c.pid as number;
    await eventually(() => readProcStat(pid)?.state === 'S', 'sleep asleep');
    assert.deepEqual(readProcStat(pid), fromFile(pid));
    assert.equal(isAlive(pid), true);
    assert.equal(isAlive(pid, fromFile(pid).startTime), true);
    assert.equal(isAlive(pid, '1'), false, 'another start time is another process');
    c.kill('SIGSTOP');
    await eventually(async () => (await nextTurn(), procState(pid) === 0x54), 'stopped (T)');
    assert.deepEqual(processStates([pid]), { stopped: true, runnable: false });
    assert.deepEqual(stoppedPids([pid, process.pid]), [pid], 'stopped by a signal, among the workers to end');
    c.kill('SIGCONT');
    // Woken by SIGCONT, sleep is runnable (R) for a moment before it sleeps (S) again.
    await eventually(async () => (await nextTurn(), procState(pid) === 0x53), 'asleep again (S)');
    assert.deepEqual(processStates([pid]), { stopped: false, runnable: false });
    c.kill('SIGKILL');
    await new Promise((r) => c.once('exit', r));
    await eventually(async () => (await nextTurn(), readProcStat(pid) === undefined), 'gone once reaped');
    assert.equal(isAlive(pid), false);
    assert.equal(procState(pid), 0);
    assert.deepEqual(processStates([pid]), { stopped: false, runnable: false }, 'a missing process is not stopped');
  });

  it("ends a worker a signal stopped, never one a tracer holds", () => {
    assert.equal(stoppedBySignal('T'.charCodeAt(0)), true);
    assert.equal(stoppedBySignal('t'.charCodeAt(0)), false, 'a debugger or strace holds it on purpose');
    for (const state of 'RSDZI') assert.equal(stoppedBySignal(state.charCodeAt(0)), false, state);
  });

  it('reads this process as running, and a pid that never existed as absent', () => {
    assert.equal(readProcStat(process.pid)?.state, 'R');
    assert.equal(readProcStat(process.pid)?.startTime, fromFile(process.pid).startTime);
    assert.equal(readProcStat(0), undefined);
    assert.equal(readProcStat(-1), undefined);
    assert.equal(isAlive(2 ** 22 + 1), false);
  });

  it('parses after the last parenthesis, whatever the command name holds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbha-proc-'));
    dirs.push(dir);
    const odd = join(dir, 'a) R (b');
    copyFileSync('/bin/sleep', odd);
    chmodSync(odd, 0o755);
    const c = await started(odd, ['60']);
    const pid = c.pid as number;
    await eventually(async () => (await nextTurn(), readProcStat(pid)?.state === 'S'), 'asleep');
    assert.match(readFileSync(`/proc/${pid}/stat`, 'utf8'), /\(a\) R \(b\)/);
    assert.deepEqual(readProcStat(pid), fromFile(pid));
  });

  it('keeps its descriptors with the other kept files, under their one limit', async () => {
    const kids = await Promise.all(Array.from({ length: MAX_KEPT_FILES + 4 }, () => started('sleep', ['60'])));
    const pids = kids.map((c) => c.pid as number);
    await eventually(async () => (await nextTurn(), pids.every((p) => readProcStat(p)?.state === 'S')), 'all asleep');
    assert.ok(passiveOpens() !== undefined);
    await nextTurn();
    // Each read right, whether its descriptor was still kept or opened again.
    for (const p of pids) {
      assert.deepEqual(readProcStat(p), fromFile(p));
      await nextTurn();
    }
    const open = readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return /^\/proc\/(\d+\/stat|net\/)/.test(readlinkSync(`/proc/self/fd/${fd}`));
      } catch {
        return false;
      }
    });
    assert.ok(keptFileCount() <= MAX_KEPT_FILES, `${keptFileCount()} kept`);
    assert.ok(open.length <= MAX_KEPT_FILES, `${open.length} descriptors of /proc files open`);
    for (const c of kids) c.kill('SIGKILL');
  });
});
