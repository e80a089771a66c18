import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Finds the proto/ directory (for reflection), searching upwards from this module. */
export function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, 'proto');
    if (existsSync(join(candidate, 'lbha/v1/control.proto'))) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('proto/lbha/v1/control.proto not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}
