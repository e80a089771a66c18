// Generates TypeScript from proto/ with ts-proto (through buf, which ships its own compiler).
// The output in packages/shared/generated/ is build output: never edited, never committed.
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(join(root, 'packages/shared/generated'), { recursive: true, force: true });
const buf = join(root, 'node_modules/.bin/buf');
execFileSync(buf, ['generate', '--template', 'buf.gen.yaml'], { cwd: join(root, 'proto'), stdio: 'inherit' });
