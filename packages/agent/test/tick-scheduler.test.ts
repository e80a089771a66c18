// The agent's periodic work shares one timer on a grid: work due at the same grid point runs in
// one wakeup, and intervals that are not multiples of the grid keep their rate.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { onGrid, TickScheduler, TickTask, TICK_MS } from '../src/util/tick-scheduler.js';

/** The scheduler's timer does not keep the process alive (as the agent's timers never did). */
async function kept<T>(work: Promise<T>): Promise<T> {
  const alive = setInterval(() => undefined, 1000);
  try {
    return await work;
  } finally {
    clearInterval(alive);
  }
}

describe('the tick scheduler', () => {
  it('moves a due time to a grid point only when it is close to one', () => {
    assert.equal(TICK_MS, 20);
    assert.equal(onGrid(1000), 1000);
    assert.equal(onGrid(1095), 1100);
    assert.equal(onGrid(1103.5), 1100);
    assert.equal(onGrid(1110), 1110);
    assert.equal(onGrid(1050), 1050);
  });

  it('keeps the rate of a period that is not a multiple of the grid, and locks one that is', () => {
    const run = (period: number, start: number, lateMs: number, n: number): number[] => {
      const starts: number[] = [];
      let t = start;
      for (let i = 0; i < n; i++) {
        starts.push(t);
        // Each run starts a little late; the next is asked for one period after its start.
        t = onGrid(t + lateMs + period) + lateMs;
      }
      return starts;
    };
    const fifty = run(50, 1000, 0, 9);
    assert.equal((fifty.at(-1)! - fifty[0]!) / 8, 50);
    const hundred = run(100, 1003, 3, 11);
    assert.deepEqual(hundred.map((t) => (t - 3) % TICK_MS), hundred.map(() => 0));
    assert.equal((hundred.at(-1)! - hundred[0]!) / 10, 100);
  });

  it('runs the work that falls due at the same grid point in one wakeup', async () => {
    // A clock that stands at a grid point while both are started, then runs. On a clock that
    // runs all along, a loaded machine that paused the test for 9 ms between the two calls put
    // the second one's due time off the grid, and the two ran apart.
    let runningSince = Infinity;
    const ticks = new TickScheduler(() => 1000 + Math.max(0, performance.now() - runningSince));
    const ran: string[] = [];
    const done = new Promise<boolean>((resolve) => {
      ticks.after(95, () => {
        ran.push('a');
        // Runs after everything of this wakeup, before the next timer.
        setImmediate(() => resolve(ran.includes('b')));
      });
      ticks.after(100, () => ran.push('b'));
    });
    runningSince = performance.now();
    assert.equal(await kept(done), true, `ran ${ran.join(', ')}`);
  });

  it('runs a task that goes first before the others of its wakeup, however they were started', async () => {
    const t0 = performance.now();
    const ticks = new TickScheduler(() => performance.now() - t0 + 1000);
    // What ran, by wakeup: a wakeup's tasks run in one synchronous run, its microtasks after.
    const wakeups: string[][] = [];
    let current: string[] | undefined;
    const ran = (name: string): void => {
      if (current === undefined) {
        current = [];
        wakeups.push(current);
        queueMicrotask(() => (current = undefined));
      }
      current.push(name);
    };
    await kept(
      new Promise<void>((resolve) => {
        // The probe is started first, and each wakeup starts the repeating ones again after it.
        let probes = 0;
        const probe = new TickTask(() => {
          ran('probe');
          if (++probes < 6) ticks.start(probe, 40);
          else {
            cancelWatch();
            cancelOther();
            resolve();
          }
        });
        ticks.start(probe, 40);
        const cancelWatch = ticks.every(20, () => ran('watch'), true);
        const cancelOther = ticks.every(40, () => ran('other'));
      }),
    );
    const together = wakeups.filter((w) => w.includes('watch') && w.length > 1);
    assert.ok(together.length >= 3, `wakeups: ${JSON.stringify(wakeups)}`);
    for (const w of wakeups) if (w.includes('watch')) assert.equal(w[0], 'watch', `a wakeup ran ${w.join(', ')}`);
  });

  it('stops a task that is cancelled, and repeats one that runs every period', async () => {
    const ticks = new TickScheduler();
    let cancelled = 0;
    ticks.after(20, () => cancelled++)();
    let runs = 0;
    await kept(
      new Promise<void>((resolve) => {
        const stop = ticks.every(20, () => {
          if (++runs === 3) {
            stop();
            resolve();
          }
        });
      }),
    );
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(cancelled, 0);
    assert.equal(runs, 3);
  });

  it('runs a task made once each time it is started, once per start, and moves it when started again', async () => {
    let nowMs = 1000;
    const ticks = new TickScheduler(() => nowMs);
    let runs = 0;
    const task = new TickTask(() => runs++);
    ticks.start(task, 95);
    assert.equal(task.atMs, 1100, 'near a grid point: on it');
    ticks.start(task, 33, true);
    assert.equal(task.atMs, 1033, 'exact: at its own time, and only once');
    nowMs = 1040;
    await kept(new Promise((resolve) => setTimeout(resolve, 60)));
    assert.equal(runs, 1);
    ticks.start(task, 10);
    ticks.cancel(task);
    nowMs = 1100;
    await kept(new Promise((resolve) => setTimeout(resolve, 40)));
    assert.equal(runs, 1, 'a cancelled task does not run');
  });

  it('does not run a task that an earlier task of the same wakeup cancelled or moved', async () => {
    let nowMs = 1000;
    const ticks = new TickScheduler(() => nowMs);
    const ran: string[] = [];
    const b = new TickTask(() => ran.push('b'));
    const c = new TickTask(() => ran.push('c'));
    const a = new TickTask(() => {
      ran.push('a');
      ticks.cancel(b);
      ticks.start(c, 500);
    });
    ticks.start(a, 20);
    ticks.start(b, 20);
    ticks.start(c, 20);
    nowMs = 1020;
    await kept(new Promise((resolve) => setTimeout(resolve, 40)));
    assert.deepEqual(ran, ['a']);
    assert.equal(c.atMs, 1520);
  });

  it('says how late its wakeups came since it was last asked (the metrics event-loop lag)', async () => {
    let nowMs = 1000;
    const ticks = new TickScheduler(() => nowMs);
    // Due at 1020; the clock says 1065 when the timer fires: 45 ms late.
    const fired = new Promise<void>((resolve) => ticks.after(20, resolve));
    nowMs = 1065;
    await kept(fired);
    assert.equal(ticks.takeMaxLateMs(), 45);
    assert.equal(ticks.takeMaxLateMs(), 0);
  });
});
