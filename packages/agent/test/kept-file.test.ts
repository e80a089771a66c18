// Files the kernel generates, read through kept descriptors: a read from offset 0 sees the
// kernel's figures of now, reads from further offsets go on where the previous one ended, and a
// path that is missing or goes away reads as -1 until it is there again.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { closeKeptFiles, readKept } from '../src/util/kept-file.js';
import { passiveOpens } from '../src/services/listen-queue.js';

const dirs: string[] = [];
after(() => {
  closeKeptFiles();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('kept files', () => {
  it('reads the kernel figures of now through a kept descriptor (/proc/net/snmp)', async () => {
    const before = passiveOpens();
    assert.ok(before !== undefined, 'PassiveOpens of this namespace');
    const server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      for (let i = 1; i <= 3; i++) {
        await new Promise<void>((resolve, reject) => {
          const c = connect((server.address() as AddressInfo).port, '127.0.0.1', () => c.destroy());
          c.once('close', () => resolve());
          c.once('error', reject);
        });
        // Other processes of the namespace may open connections too: at least ours are counted.
        assert.ok((passiveOpens() as number) >= before + i, `after ${i} accepted connections`);
      }
    } finally {
      server.close();
    }
  });

  it('reads a long file in pieces, each from where the previous one ended', () => {
    const buffer = Buffer.alloc(4096);
    let text = '';
    for (;;) {
      const n = readKept('/proc/self/maps', buffer, 100, text.length);
      if (n <= 0) break;
      text += buffer.toString('latin1', 0, n);
    }
    // The same process's maps, read at once: the same first line, as many lines give or take
    // what reading them allocated.
    const whole = readFileSync('/proc/self/maps', 'latin1');
    assert.equal(text.split('\n')[0], whole.split('\n')[0]);
    assert.ok(Math.abs(text.split('\n').length - whole.split('\n').length) < 5);
    // From the start again: the first bytes again.
    const n = readKept('/proc/self/maps', buffer, 100, 0);
    assert.equal(buffer.toString('latin1', 0, n), text.slice(0, n));
  });

  it('reads -1 for a path that is missing, and the file once it is there', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbha-kept-'));
    dirs.push(dir);
    const path = join(dir, 'counter');
    const buffer = Buffer.alloc(64);
    assert.equal(readKept(path, buffer, 64, 0), -1);
    writeFileSync(path, '41\n');
    assert.equal(buffer.toString('latin1', 0, readKept(path, buffer, 64, 0)), '41\n');
    // Rewritten in place, as the kernel's files are: the kept descriptor reads the new text.
    writeFileSync(path, '42\n');
    assert.equal(buffer.toString('latin1', 0, readKept(path, buffer, 64, 0)), '42\n');
  });
});
