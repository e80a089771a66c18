import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigApplier } from '../src/keepalived/config-applier.js';
import { keepalivedFiles } from '../src/keepalived/keepalived-files.js';
import type { CommandRunner } from '../src/util/run-command.js';

const dir = mkdtempSync(join(tmpdir(), 'lbha-applier-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('keepalived config applier', () => {
  it('tests a candidate, never touches the live file on refusal, keeps the last good one on success', async () => {
    const files = keepalivedFiles({ configFile: join(dir, 'keepalived.conf'), notifyFifo: join(dir, 'fifo'), trackDir: join(dir, 'track') });
    writeFileSync(files.configFile, 'old\n');
    let accept = false;
    const tested: string[] = [];
    const run: CommandRunner = async (_file, args) => {
      tested.push(readFileSync(args[2] as string, 'utf8'));
      return accept
        ? { exitCode: 0, output: '', stdout: '', timedOut: false, spawnError: undefined }
        : { exitCode: 5, output: `(${args[2]}: Line 3) unknown keyword 'bogus'`, stdout: '', timedOut: false, spawnError: undefined };
    };
    const a = new ConfigApplier({ binary: 'keepalived', files, run });

    const refused = await a.test('new\n');
    assert.equal(refused.ok, false);
    assert.match((refused as { error: string }).error, new RegExp(`keepalived rejected the configuration \\(keepalived -t\\): \\(${files.configFile.replaceAll('/', '\\/')}: Line 3\\)`));
    assert.equal(readFileSync(files.configFile, 'utf8'), 'old\n');
    assert.deepEqual(readdirSync(dir).sort(), ['keepalived.conf'], 'no candidate or temporary file left behind');

    accept = true;
    assert.deepEqual(await a.test('new\n'), { ok: true, changed: true });
    await a.commit('new\n');
    assert.equal(readFileSync(files.configFile, 'utf8'), 'new\n');
    assert.equal(readFileSync(files.lastGoodFile, 'utf8'), 'old\n');

    assert.deepEqual(await a.test('new\n'), { ok: true, changed: false }, 'unchanged text is not even tested');
    assert.equal(tested.length, 2);
    assert.equal(existsSync(`${files.configFile}.candidate`), false);
  });
});
