import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { removeStaleUnixSocket, unixSocketPath } from '../src/unix-socket.js';

describe('stale unix sockets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-sock-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('parses unix addresses', () => {
    assert.equal(unixSocketPath('unix:///run/x.sock'), '/run/x.sock');
    assert.equal(unixSocketPath('unix:rel.sock'), 'rel.sock');
    assert.equal(unixSocketPath('127.0.0.1:7400'), undefined);
  });

  it('removes a socket nobody listens on, keeps a live one and plain files', async () => {
    const path = join(dir, 'c.sock');
    const server = createServer((c) => c.destroy());
    await new Promise<void>((r) => server.listen(path, r));
    try {
      assert.equal(await removeStaleUnixSocket(`unix://${path}`), false, 'live socket kept');
      assert.ok(existsSync(path));
    } finally {
      await new Promise((r) => server.close(r));
    }
    // Simulate a crash: the listener is SIGKILLed, its socket file stays.
    const dead = join(dir, 'dead.sock');
    const r = spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(dead)}, () => process.kill(process.pid, 'SIGKILL'))`], { stdio: 'ignore', timeout: 10_000 });
    assert.equal(r.signal, 'SIGKILL');
    assert.ok(existsSync(dead), 'a killed listener leaves its socket file');
    assert.equal(await removeStaleUnixSocket(`unix://${dead}`), true);
    assert.ok(!existsSync(dead));
    const plain = join(dir, 'plain');
    writeFileSync(plain, 'x');
    assert.equal(await removeStaleUnixSocket(`unix://${plain}`), false);
    assert.ok(existsSync(plain));
  });
});
