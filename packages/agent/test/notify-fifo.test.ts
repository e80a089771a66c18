import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { silentLogger } from '@lbha/shared';
import { eventually } from '@lbha/test-support';
import { NotifyFifoReader, type NotifyEvent } from '../src/keepalived/notify-fifo.js';
import { runCommand } from '../src/util/run-command.js';

const dir = mkdtempSync(join(tmpdir(), 'lbha-fifo-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('notify FIFO reader', () => {
  it('creates the FIFO, reads events, and keeps reading after a writer closes (keepalived reload)', async () => {
    const path = join(dir, 'keepalived.fifo');
    const events: NotifyEvent[] = [];
    const reader = new NotifyFifoReader(path, (e) => events.push(e), silentLogger());
    await reader.start(runCommand);
    try {
      // Like keepalived: open for writing, write, close; then open again after the "reload".
      let fd = openSync(path, 'w');
      writeSync(fd, 'INSTANCE "vip-28" BACKUP 150\nINSTANCE "vip-28" MASTER 150\n');
      closeSync(fd);
      await eventually(() => events.length === 2);
      fd = openSync(path, 'w');
      writeSync(fd, 'INSTANCE "vip-28" FAULT 150\n');
      closeSync(fd);
      await eventually(() => events.length === 3);
      assert.deepEqual(
        events.map((e) => `${e.name}:${e.kind === 'state' ? e.state : e.kind}`),
        ['vip-28:backup', 'vip-28:master', 'vip-28:fault'],
      );
    } finally {
      reader.stop();
    }
  });

  it('refuses a path that exists as a regular file', async () => {
    const path = join(dir, 'not-a-fifo');
    writeFileSync(path, '');
    const reader = new NotifyFifoReader(path, () => undefined, silentLogger());
    await assert.rejects(reader.start(runCommand), /exists and is not a FIFO/);
  });
});
