// The agent's one way to run a program: every outcome resolves (never throws), with the program's
// own words, and the finished child lets go of its pipes and listeners (util/run-command.ts says
// why) without an error after the outcome going unhandled.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeOutcome, runCommand } from '../src/util/run-command.js';

describe('runCommand', () => {
  it('gives the exit code and the output, stderr first', async () => {
    const ok = await runCommand(process.execPath, ['-e', 'process.stdout.write("out\\n"); process.stderr.write("err\\n")']);
    assert.equal(ok.exitCode, 0);
    assert.equal(ok.stdout, 'out\n');
    assert.equal(ok.output, 'err\nout');
    assert.equal(ok.timedOut, false);
    assert.equal(ok.spawnError, undefined);

    const failed = await runCommand(process.execPath, ['-e', 'console.error("no such table"); process.exit(3)']);
    assert.equal(failed.exitCode, 3);
    assert.equal(failed.output, 'no such table');
    assert.equal(describeOutcome(failed), 'no such table');
  });

  it('says why a program could not be started', async () => {
    const r = await runCommand('/nonexistent/lbha-no-such-program', ['x']);
    assert.equal(r.exitCode, undefined);
    assert.match(r.spawnError ?? '', /^cannot run \/nonexistent\/lbha-no-such-program: ENOENT/);
    assert.equal(describeOutcome(r), r.spawnError);
  });

  it('kills a program that runs past its timeout', async () => {
    const r = await runCommand(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { timeoutMs: 200 });
    assert.equal(r.timedOut, true);
    assert.match(describeOutcome(r), /^timed out/);
  });

  it('runs many commands at once, each with its own outcome', async () => {
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => runCommand(process.execPath, ['-e', `process.stdout.write("${i}"); process.exit(${i % 3})`])));
    outcomes.forEach((o, i) => {
      assert.equal(o.stdout, String(i));
      assert.equal(o.exitCode, i % 3);
    });
  });
});
