// The agent's own full collection: due once the old space has grown a step past what the last
// collection left, counted from what V8's own collections leave, run only at a quiet moment, and
// not at all without --expose-gc.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { OldSpaceTrim } from '../src/util/old-space-trim.js';

const MB = 1024 * 1024;

describe('the old-space trim', () => {
  it('collects once the old space grew a step past the last collection, and counts from what it left', () => {
    let used = 7 * MB;
    const collected: number[] = [];
    const trim = new OldSpaceTrim({ oldSpaceUsed: () => used, collect: () => (collected.push(used), (used = 6.5 * MB)), quiet: () => true, stepBytes: 2 * MB });
    used = 8.9 * MB;
    assert.equal(trim.check(), false, 'under a step');
    assert.equal(trim.collectIfQuiet(), false, 'nothing due');
    used = 9 * MB;
    assert.equal(trim.check(), true, 'a step past 7 MB');
    assert.equal(trim.collectIfQuiet(), true);
    assert.deepEqual(collected, [9 * MB]);
    used = 8.4 * MB;
    assert.equal(trim.check(), false, 'counted from the 6.5 MB the collection left');
    used = 8.5 * MB;
    assert.equal(trim.check(), true);
    assert.equal(trim.collectIfQuiet(), true);
    assert.equal(trim.count, 2);
  });

  it('counts from what a collection of V8 of its own left', () => {
    let used = 9 * MB;
    let collections = 0;
    const trim = new OldSpaceTrim({ oldSpaceUsed: () => used, collect: () => void collections++, quiet: () => true, stepBytes: 2 * MB });
    used = 6 * MB;
    assert.equal(trim.check(), false);
    used = 7.9 * MB;
    assert.equal(trim.check(), false, 'under a step past the 6 MB V8 left');
    used = 8 * MB;
    assert.equal(trim.check(), true);
    trim.collectIfQuiet();
    assert.equal(collections, 1);
  });

  it('waits for a quiet moment, and drops a due collection that V8 made unneeded meanwhile', () => {
    let used = 7 * MB;
    let quiet = false;
    let collections = 0;
    const trim = new OldSpaceTrim({ oldSpaceUsed: () => used, collect: () => ((collections += 1), (used = 6.5 * MB)), quiet: () => quiet, stepBytes: 2 * MB });
    used = 9.5 * MB;
    assert.equal(trim.check(), true);
    assert.equal(trim.collectIfQuiet(), false, 'a probe in flight or a failure being confirmed');
    assert.equal(trim.collectIfQuiet(), false);
    assert.equal(trim.pending, true);
    quiet = true;
    assert.equal(trim.collectIfQuiet(), true);
    assert.equal(trim.pending, false);
    assert.equal(collections, 1);
    used = 9.5 * MB;
    quiet = false;
    assert.equal(trim.check(), true);
    used = 6 * MB;
    assert.equal(trim.check(), false, 'V8 collected meanwhile');
    quiet = true;
    assert.equal(trim.collectIfQuiet(), false);
    assert.equal(collections, 1);
  });

  it('collects in a real node with --expose-gc once quiet, and does nothing without it', () => {
    const module = fileURLToPath(new URL('../src/util/old-space-trim.js', import.meta.url));
    // 3 MB of objects kept across many scavenges (so they reach the old space), then dropped:
    // within two checks the trim's collection is due; it runs once the moment is quiet, and the
    // old space's used size falls.
    const script = `
      const { getHeapSpaceStatistics } = await import('node:v8');
      const old = () => getHeapSpaceStatistics().find((s) => s.space_name === 'old_space').space_used_size;
      let calls = 0;
      let quietAsked = 0;
      if (typeof globalThis.gc === 'function') { const real = globalThis.gc; globalThis.gc = () => { calls++; real(); }; }
      const m = await import(${JSON.stringify(module)});
      let quiet = false;
      const stop = m.startOldSpaceTrim(() => (quietAsked++, quiet));
      let kept = Array.from({ length: 60000 }, (_, i) => ({ i, s: 'x' + i }));
      for (let i = 0; i < 200; i++) Array.from({ length: 5000 }, (_, j) => ({ j }));
      const full = old();
      kept = undefined;
      await new Promise((r) => setTimeout(r, 4500));
      const whileBusy = calls;
      const askedWhileBusy = quietAsked;
      quiet = true;
      await new Promise((r) => setTimeout(r, 200));
      stop();
      console.log(JSON.stringify({ whileBusy, askedAgain: askedWhileBusy > 5, calls, fell: old() < full - 2 * 1024 * 1024 }));`;
    const run = (flags: string[]): unknown => JSON.parse(execFileSync(process.execPath, [...flags, '--input-type=module', '-e', script], { encoding: 'utf8' }));
    assert.deepEqual(run(['--expose-gc']), { whileBusy: 0, askedAgain: true, calls: 1, fell: true });
    assert.equal((run([]) as { calls: number }).calls, 0, 'without --expose-gc no collection is asked for');
  });
});
