// Small JSON documents in the agent's state directory, written atomically.
import { mkdir, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { StateError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';

export class JsonFile<T> {
  constructor(readonly path: string) {}

  /** The stored value, or undefined when missing or unreadable (a corrupt cache is not fatal). */
  async load(): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(this.path, 'utf8')) as T;
    } catch {
      return undefined;
    }
  }

  async save(value: T): Promise<void> {
    try {
      await mkdir(dirname(this.path), { recursive: true });
      await writeFileAtomic(this.path, `${JSON.stringify(value, null, 1)}\n`, 0o600);
    } catch (cause) {
      throw new StateError(this.path, `cannot write: ${(cause as Error).message}`, { cause });
    }
  }

  async remove(): Promise<void> {
    await unlink(this.path).catch(() => undefined);
  }
}
