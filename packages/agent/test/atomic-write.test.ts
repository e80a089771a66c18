// Files holding secrets (keepalived.conf with auth_pass, the cached desired state) get the mode
// asked for even when a crashed run of the same pid left the temporary file behind with another.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { writeFileAtomic } from '../src/util/atomic-write.js';

describe('writeFileAtomic', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lbha-atomic-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the mode asked for over a leftover temporary file that is readable by others', async () => {
    const file = join(dir, 'keepalived.conf');
    // Whatever temporary name this process picks next, a world-readable leftover is there.
    for (let n = 1; n <= 200; n++) writeFileSync(join(dir, `.keepalived.conf.${process.pid}.${n}.tmp`), 'old\n', { mode: 0o644 });
    await writeFileAtomic(file, 'auth_pass secret\n', 0o600);
    assert.equal(readFileSync(file, 'utf8'), 'auth_pass secret\n');
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });
});
