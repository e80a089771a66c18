import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, from test/dist/support/. */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = {
  agent: join(ROOT, 'packages/agent/dist/src/bin/lbha-agent.js'),
  coordinator: join(ROOT, 'packages/coordinator/dist/src/bin/lbha-coordinator.js'),
  cli: join(ROOT, 'packages/cli/dist/src/bin/lbha.js'),
};
