// Files other processes read (keepalived.conf, track files, cached state) are replaced in one
// step: a reader sees the old content or the new one, never half of it, even after a crash.
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

let counter = 0;

export async function writeFileAtomic(path: string, data: string, mode = 0o644): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${++counter}.tmp`);
  const fh = await open(tmp, 'w', mode);
  try {
    // The mode applies only to a file open() creates: one left by a crashed run keeps its own.
    await fh.chmod(mode);
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  // The rename is durable only once the directory entry is on disk.
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } catch {
    // Some filesystems (tmpfs) refuse fsync on directories; the rename is still atomic.
  } finally {
    await dir.close();
  }
}
